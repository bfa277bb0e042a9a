//! The baud rates townhall sets on a serial console: one list that a device rule, a `!tail`
//! and the daemon's termios mapping all check against.

pub const BAUD_RATES: [u32; 13] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000,
];

/// The list as help text says it.
pub const RATES: &str = "1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000 or 2000000";

pub fn is_rate(rate: u32) -> bool {
    BAUD_RATES.contains(&rate)
}
