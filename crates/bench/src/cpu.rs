//! CPU time, the steadier measure on a shared machine: this process's own ([`process_cpu_seconds`],
//! per timed run) and that of every other process while a side ran ([`OtherCpu`], which says
//! whether the wall-clock figures were disturbed). Both read Linux's `/proc`; elsewhere they
//! report nothing rather than a wrong figure.
//!
//! The load average is not used: it counts a benchmark's own threads too, so it cannot tell a
//! busy benchmark from a busy machine.

use std::ops::Range;
use std::time::Instant;

/// CPU seconds (user and system, all threads) this process has used; `None` where `/proc` cannot
/// tell.
pub fn process_cpu_seconds() -> Option<f64> {
    self_stat_seconds(11..13)
}

/// This process's CPU seconds plus those of the children it has waited for.
fn own_and_children_cpu_seconds() -> Option<f64> {
    self_stat_seconds(11..15)
}

/// The sum of a range of `/proc/self/stat` fields, counted from the first field after the command
/// name (which may hold spaces, so the fields start after the last ')'), in clock ticks of 1/100 s
/// on Linux: `11..13` is utime and stime (fields 14 and 15), `13..15` cutime and cstime (the
/// children waited for).
fn self_stat_seconds(fields: Range<usize>) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let mut ticks = 0.0;
    for i in fields {
        ticks += f.get(i)?.parse::<f64>().ok()?;
    }
    Some(ticks / 100.0)
}

/// Seconds all cores spent on anything but idling since boot, from the first line of
/// `/proc/stat` (user, nice, system, irq, softirq and steal, in ticks of 1/100 s).
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    (f.len() >= 8).then(|| (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100.0)
}

/// CPU time that processes other than this one and its children take over a stretch of time:
/// the machine's busy time less our own (children included once waited for).
#[derive(Debug, Clone, Copy)]
pub struct OtherCpu {
    start: Instant,
    machine: Option<f64>,
    own: Option<f64>,
}

impl OtherCpu {
    /// Starts counting.
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
            machine: machine_busy_seconds(),
            own: own_and_children_cpu_seconds(),
        }
    }

    /// `(other processes' CPU seconds, wall seconds)` since [`OtherCpu::start`]; `None` where
    /// `/proc` cannot tell.
    pub fn finish(&self) -> Option<(f64, f64)> {
        let machine = machine_busy_seconds()? - self.machine?;
        let own = own_and_children_cpu_seconds()? - self.own?;
        Some(((machine - own).max(0.0), self.start.elapsed().as_secs_f64()))
    }
}

/// The line that says how much CPU other processes took while `sides` ran (each `(name, what
/// [`OtherCpu::finish`] gave)`), and whether that disturbed the figures; `None` where `/proc`
/// told nothing.
pub fn others_line(sides: &[(&str, Option<(f64, f64)>)]) -> Option<String> {
    let shares: Vec<String> = sides
        .iter()
        .filter_map(|(side, o)| {
            o.map(|(other, wall)| {
                format!(
                    "{other:.1} s during {side}'s {wall:.0} s ({:.0}% of one core)",
                    100.0 * other / wall.max(1e-9)
                )
            })
        })
        .collect();
    if shares.is_empty() {
        return None;
    }
    let busy = sides
        .iter()
        .any(|(_, o)| o.is_some_and(|(other, wall)| other > 0.1 * wall));
    Some(format!(
        "  other processes used {}{}",
        shares.join(" and "),
        if busy {
            ": they shared the cores, so the figures are lower than on an idle machine and the \
             ratios are noisier (CPU time is the steadier comparison)"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_grows_with_work_where_proc_exists() {
        let Some(c0) = process_cpu_seconds() else {
            return;
        };
        let t0 = Instant::now();
        let mut x = 0u64;
        while t0.elapsed().as_secs_f64() < 0.05 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
        assert!(process_cpu_seconds().unwrap() >= c0);
        assert!(
            OtherCpu::start()
                .finish()
                .is_some_and(|(o, w)| o >= 0.0 && w >= 0.0)
        );
    }

    #[test]
    fn the_line_names_each_side_and_flags_a_busy_machine() {
        assert_eq!(others_line(&[("a", None)]), None);
        let quiet = others_line(&[("rewardlab", Some((0.5, 10.0)))]).unwrap();
        assert!(
            quiet.contains("0.5 s during rewardlab's 10 s (5% of one core)"),
            "{quiet}"
        );
        assert!(!quiet.contains("shared the cores"));
        let busy = others_line(&[("a", Some((0.1, 10.0))), ("b", Some((5.0, 10.0)))]).unwrap();
        assert!(
            busy.contains(" and ") && busy.contains("shared the cores"),
            "{busy}"
        );
    }
}
