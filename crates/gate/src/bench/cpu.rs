//! CPU time by thread name: the bench runs the gate on a runtime of its own, and counts
//! what its threads spend apart from the client's and the upstream's.

use std::time::Duration;

/// CPU time (user and system) used so far by this process's threads whose names start
/// with `prefix`. A thread that has ended is no longer counted: the runtimes' threads live
/// as long as the bench.
pub fn used(prefix: &str) -> Duration {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let mut ticks = 0u64;
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        ticks += user_and_system(&stat);
    }
    Duration::from_secs_f64(ticks as f64 / tick)
}

/// utime + stime, in clock ticks, from a /proc/…/stat line (fields 14 and 15, counted
/// after the name, which may hold spaces and parentheses of its own).
fn user_and_system(stat: &str) -> u64 {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_spaces_and_parentheses() {
        let stat = "4242 (bench-gate (x) 1) S 1 1 1 0 -1 4194368 10 0 0 0 37 5 0 0 20 0 3 0 9";
        assert_eq!(user_and_system(stat), 42);
    }

    #[test]
    fn this_thread_is_counted_by_its_name() {
        let counted = std::thread::Builder::new()
            .name("cpu-probe".into())
            .spawn(|| {
                // Busy until 50 ms are counted; a name not matched counts nothing, ever.
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed() < Duration::from_secs(20) {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                    if used("cpu-probe") >= Duration::from_millis(50) {
                        return (true, used("another-name"));
                    }
                }
                (false, Duration::ZERO)
            })
            .expect("thread")
            .join()
            .expect("join");
        assert_eq!(counted, (true, Duration::ZERO));
    }
}
