//! Parsers and checks for single config values. Each error says what the value is not, in
//! words fit for a Diagnostic (which adds where it is and what to write instead).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// What a single config value is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    #[error("`{0}` is not a valid Unix user name")]
    UnixName(String),
    #[error("`{0}` is not a Matrix user ID")]
    MatrixUser(String),
    #[error("`{0}` is not a Matrix room ID or alias")]
    RoomRef(String),
    #[error("`{0}` is not a Matrix room ID")]
    RoomId(String),
    #[error("the path is empty")]
    EmptyPath,
    #[error("`{}` climbs out of the home with `..`", .0.display())]
    ClimbsOut(PathBuf),
    #[error("`{}` is absolute; it must be relative to the home", .0.display())]
    AbsoluteInHome(PathBuf),
    #[error("`{}` names the home itself", .0.display())]
    TheHomeItself(PathBuf),
    #[error("`{}` is not an absolute path", .0.display())]
    NotAbsolute(PathBuf),
    #[error("`{}` contains `..`", .0.display())]
    DotDot(PathBuf),
    #[error("`{0}` is not a memory size")]
    Memory(String),
    #[error("`{0}` is not a CPU quota")]
    CpuQuota(String),
    #[error("`{0}` is not a duration")]
    Duration(String),
    #[error("`{0}` is not an octal file mode")]
    FileMode(String),
    #[error("`{0}` is not a valid environment variable name")]
    EnvName(String),
    #[error("`{0}` is not an http:// or https:// URL without spaces or quotes")]
    BaseUrl(String),
}

/// A Unix user name that `useradd` accepts on every distro we target.
pub fn unix_name(s: &str) -> Result<(), BadValue> {
    let ok_first = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let ok_rest = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if s.is_empty() || s.len() > 32 || !ok_first || !ok_rest {
        return Err(BadValue::UnixName(s.into()));
    }
    Ok(())
}

/// `@localpart:server`; returns the server name.
pub fn matrix_user(s: &str) -> Result<&str, BadValue> {
    let bad = || BadValue::MatrixUser(s.into());
    let rest = s.strip_prefix('@').ok_or_else(bad)?;
    let (local, server) = rest.split_once(':').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(c));
    if !local_ok || server.is_empty() || server.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(server)
}

/// A room ID (`!opaque:server`, or just `!opaque` from room version 12 on) or an alias
/// (`#name:server`).
pub fn room_ref(s: &str) -> Result<(), BadValue> {
    let alias = s.starts_with('#')
        && s[1..]
            .split_once(':')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty());
    let id = s.starts_with('!') && s.len() > 1 && !s[1..].starts_with(':');
    let ok = (alias || id) && !s.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(BadValue::RoomRef(s.into()))
    }
}

/// A room ID (`!id:server`, or a v12 ID without a server): what the chat can post to.
pub fn room_id(s: &str) -> Result<(), BadValue> {
    match s.starts_with('!') && room_ref(s).is_ok() && s.len() <= 255 {
        true => Ok(()),
        false => Err(BadValue::RoomId(s.into())),
    }
}

/// A path relative to a resident's home that cannot leave it.
pub fn home_relative(p: &Path) -> Result<PathBuf, BadValue> {
    if p.as_os_str().is_empty() {
        return Err(BadValue::EmptyPath);
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(BadValue::ClimbsOut(p.into()));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(BadValue::AbsoluteInHome(p.into()));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(BadValue::TheHomeItself(p.into()));
    }
    Ok(out)
}

/// An absolute, normalised host path (no `..`).
pub fn absolute(p: &Path) -> Result<PathBuf, BadValue> {
    if !p.is_absolute() {
        return Err(BadValue::NotAbsolute(p.into()));
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return Err(BadValue::DotDot(p.into())),
            _ => {}
        }
    }
    Ok(out)
}

/// Sizes as systemd writes them: bytes, or a number with K, M, G or T (powers of 1024).
pub fn memory(s: &str) -> Result<u64, BadValue> {
    let bad = || BadValue::Memory(s.into());
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    n.checked_mul(mult).filter(|&b| b > 0).ok_or_else(bad)
}

/// CPU quota as a percentage of one CPU, e.g. `150%`.
pub fn cpu_percent(s: &str) -> Result<u32, BadValue> {
    s.strip_suffix('%')
        .and_then(|n| n.trim().parse::<u32>().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| BadValue::CpuQuota(s.into()))
}

pub fn duration(s: &str) -> Result<Duration, BadValue> {
    humantime::parse_duration(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| BadValue::Duration(s.into()))
}

/// An octal file mode without setuid/setgid/sticky bits.
pub fn file_mode(s: &str) -> Result<u32, BadValue> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|&m| m <= 0o777)
        .ok_or_else(|| BadValue::FileMode(s.into()))
}

pub fn env_name(s: &str) -> Result<(), BadValue> {
    let ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BadValue::EnvName(s.into()))
    }
}

/// A model API's URL: it ends up in a TOML string on codex's command line, so nothing
/// that could end the string or the argument.
pub fn base_url(s: &str) -> Result<(), BadValue> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && s.len() <= 2000
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'\\".contains(c)) =>
        {
            Ok(())
        }
        _ => Err(BadValue::BaseUrl(s.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(base_url("http://127.0.0.1:8080/v1").is_ok() && base_url("https://x").is_ok());
        for bad in [
            "ftp://x",
            "http://",
            "http://a\"b",
            "http://a b",
            "http://a\\b",
            "127.0.0.1",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
        assert!(unix_name("ada").is_ok());
        assert!(unix_name("_svc-2").is_ok());
        for bad in ["", "Ada", "1ada", "a b", "a.b", &"x".repeat(33)] {
            assert!(unix_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matrix_ids() {
        assert_eq!(matrix_user("@ada:town.test"), Ok("town.test"));
        for bad in ["ada:town.test", "@ada", "@:x", "@Ada:x", "@a:"] {
            assert!(matrix_user(bad).is_err(), "{bad}");
        }
        assert!(
            room_ref("!abc:x").is_ok() && room_ref("#lab:x").is_ok() && room_ref("lab").is_err()
        );
        assert!(
            room_ref("!C-96Sczz1vaFPecOlxtS-TNq83_A5KRkq_m7GFd6v3U").is_ok(),
            "room v12 IDs have no server"
        );
        assert!(room_ref("#lab").is_err() && room_ref("!").is_err());
    }

    #[test]
    fn relative_paths_stay_home() {
        assert_eq!(
            home_relative(Path::new("./work/src")),
            Ok(PathBuf::from("work/src"))
        );
        assert!(home_relative(Path::new("../vox")).is_err());
        assert!(home_relative(Path::new("a/../../b")).is_err());
        assert!(home_relative(Path::new("/etc")).is_err());
        assert!(home_relative(Path::new(".")).is_err());
    }

    #[test]
    fn sizes_quotas_durations_modes() {
        assert_eq!(memory("4G"), Ok(4 << 30));
        assert_eq!(memory("512"), Ok(512));
        assert!(memory("4GB").is_err() && memory("0").is_err());
        assert_eq!(cpu_percent("150%"), Ok(150));
        assert!(cpu_percent("1.5").is_err());
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(duration("soon").is_err());
        assert_eq!(file_mode("0400"), Ok(0o400));
        assert!(file_mode("4755").is_err() && file_mode("9").is_err());
    }
}
