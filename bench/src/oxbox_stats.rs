//! The interception counters oxbox prints at exit with `--stats`.
//!
//! A trapped call costs about ten native syscalls and a patched one a few
//! nanoseconds, so the patched fraction explains oxbox's number: a
//! workload that stays on the trap path is slow for that reason alone.
//! The kernel writes, on stderr, one line per syscall number used
//!
//! ```text
//! oxbox-stats syscall=getppid nr=110 patched=999999 trapped=1
//! ```
//!
//! and a total line
//!
//! ```text
//! oxbox-stats total patched=<n> trapped=<n> sites=<patched sites>
//! ```
//!
//! Other stderr lines are the guest's and are ignored, as are unknown
//! `key=value` fields, so the kernel may add counters without breaking
//! the harness.

use serde::Serialize;

const PREFIX: &str = "oxbox-stats";

/// Counters of one syscall number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyscallCounts {
    pub name: String,
    pub nr: u32,
    pub patched: u64,
    pub trapped: u64,
}

/// The totals line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Totals {
    pub patched: u64,
    pub trapped: u64,
    /// How many distinct call sites were rewritten.
    pub sites: u64,
}

/// Everything oxbox reported for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct OxboxStats {
    pub syscalls: Vec<SyscallCounts>,
    pub total: Option<Totals>,
}

impl OxboxStats {
    /// Extracts the stats lines from a run's stderr; `None` if it has none.
    ///
    /// Every guest process prints its own counters when it exits or execs
    /// (a forked child starts from zero), so the lines of all the
    /// processes of a run are summed.
    pub fn parse(stderr: &str) -> Option<Self> {
        let mut stats = Self::default();
        let mut seen = false;
        for line in stderr.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some(PREFIX) {
                continue;
            }
            let rest: Vec<&str> = words.collect();
            if rest.first() == Some(&"total") {
                let total = stats.total.get_or_insert_with(Totals::default);
                total.patched += field(&rest, "patched").unwrap_or(0);
                total.trapped += field(&rest, "trapped").unwrap_or(0);
                total.sites += field(&rest, "sites").unwrap_or(0);
                seen = true;
            } else if let Some(nr) = field(&rest, "nr") {
                let nr = u32::try_from(nr).unwrap_or(u32::MAX);
                let (patched, trapped) = (
                    field(&rest, "patched").unwrap_or(0),
                    field(&rest, "trapped").unwrap_or(0),
                );
                match stats.syscalls.iter_mut().find(|s| s.nr == nr) {
                    Some(counts) => {
                        counts.patched += patched;
                        counts.trapped += trapped;
                    }
                    None => {
                        let name = rest
                            .iter()
                            .find_map(|w| w.strip_prefix("syscall="))
                            .unwrap_or("?");
                        stats.syscalls.push(SyscallCounts {
                            name: name.to_string(),
                            nr,
                            patched,
                            trapped,
                        });
                    }
                }
                seen = true;
            }
        }
        seen.then_some(stats)
    }

    /// Patched and trapped calls over the whole run: the totals line, or
    /// the sum of the per-syscall lines if the kernel printed none.
    pub fn totals(&self) -> Totals {
        self.total.unwrap_or_else(|| Totals {
            patched: self.syscalls.iter().map(|s| s.patched).sum(),
            trapped: self.syscalls.iter().map(|s| s.trapped).sum(),
            sites: 0,
        })
    }
}

impl OxboxStats {
    /// Calls of the syscall `name`, patched or trapped.
    pub fn calls_of(&self, name: &str) -> u64 {
        self.syscalls
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.patched + s.trapped)
            .sum()
    }
}

/// patched / (patched + trapped), `None` when both are zero.
pub fn fraction(patched: u64, trapped: u64) -> Option<f64> {
    let all = patched + trapped;
    (all > 0).then(|| patched as f64 / all as f64)
}

fn field(words: &[&str], key: &str) -> Option<u64> {
    words.iter().find_map(|w| {
        w.strip_prefix(key)?
            .strip_prefix('=')
            .and_then(|v| v.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
guest says hello
oxbox-stats syscall=getppid nr=110 patched=999999 trapped=1
oxbox-stats syscall=write nr=1 patched=0 trapped=1
oxbox-stats total patched=999999 trapped=2 sites=1
";

    #[test]
    fn per_syscall_and_total_lines_are_parsed() {
        let stats = OxboxStats::parse(SAMPLE).unwrap();
        assert_eq!(
            stats.syscalls[0],
            SyscallCounts {
                name: "getppid".into(),
                nr: 110,
                patched: 999_999,
                trapped: 1
            }
        );
        assert_eq!(stats.syscalls.len(), 2);
        assert_eq!(
            stats.total,
            Some(Totals {
                patched: 999_999,
                trapped: 2,
                sites: 1
            })
        );
    }

    #[test]
    fn patched_fraction_uses_the_totals() {
        let stats = OxboxStats::parse(SAMPLE).unwrap();
        let f = {
            let t = stats.totals();
            fraction(t.patched, t.trapped)
        }
        .unwrap();
        assert!((f - 999_999.0 / 1_000_001.0).abs() < 1e-12);
    }

    #[test]
    fn without_a_total_line_the_syscall_lines_are_summed() {
        let stats =
            OxboxStats::parse("oxbox-stats syscall=getppid nr=110 patched=3 trapped=1\n").unwrap();
        assert_eq!(stats.total, None);
        assert_eq!(
            {
                let t = stats.totals();
                fraction(t.patched, t.trapped)
            },
            Some(0.75)
        );
    }

    #[test]
    fn calls_of_a_syscall_add_both_doors() {
        let stats = OxboxStats::parse(SAMPLE).unwrap();
        assert_eq!(stats.calls_of("getppid"), 1_000_000);
        assert_eq!(stats.calls_of("write"), 1);
        assert_eq!(stats.calls_of("read"), 0);
    }

    #[test]
    fn every_process_lines_are_summed() {
        let stats = OxboxStats::parse(
            "oxbox-stats syscall=wait4 nr=61 patched=5 trapped=1\n\
             oxbox-stats total patched=5 trapped=3 sites=2\n\
             oxbox-stats syscall=wait4 nr=61 patched=0 trapped=1\n\
             oxbox-stats syscall=exit_group nr=231 patched=0 trapped=1\n\
             oxbox-stats total patched=0 trapped=2 sites=0\n",
        )
        .unwrap();
        assert_eq!(stats.calls_of("wait4"), 7);
        assert_eq!(stats.syscalls.len(), 2);
        assert_eq!(
            stats.total,
            Some(Totals {
                patched: 5,
                trapped: 5,
                sites: 2
            })
        );
    }

    #[test]
    fn stderr_without_stats_gives_none() {
        assert_eq!(OxboxStats::parse("error: no such file\n"), None);
        assert_eq!(OxboxStats::parse(""), None);
        // The prefix must be a word of its own.
        assert_eq!(OxboxStats::parse("oxbox-statsx total patched=1\n"), None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let stats = OxboxStats::parse(
            "oxbox-stats total patched=9 trapped=1 sites=2 emulated=4 future=x\n",
        )
        .unwrap();
        assert_eq!(
            {
                let t = stats.totals();
                fraction(t.patched, t.trapped)
            },
            Some(0.9)
        );
        assert_eq!(stats.totals().sites, 2);
    }

    #[test]
    fn no_counted_calls_has_no_fraction() {
        assert_eq!(fraction(0, 0), None);
        assert_eq!(fraction(1, 0), Some(1.0));
    }
}
