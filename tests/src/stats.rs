//! The kernel's `--stats` report.
//!
//! With `oxbox do --stats` the kernel prints, on stderr at exit, one line per
//! syscall it served and a total:
//!
//! ```text
//! oxbox-stats syscall=getppid nr=110 patched=9999 trapped=1
//! oxbox-stats total patched=10020 trapped=35 sites=12
//! ```
//!
//! `patched` counts calls that arrived through a rewritten call site,
//! `trapped` those that arrived by a SIGSYS trap, `sites` the rewritten
//! sites.

use std::collections::BTreeMap;

/// Counters of one syscall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub nr: u64,
    pub patched: u64,
    pub trapped: u64,
}

/// A parsed report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per syscall, keyed by the name the kernel printed.
    pub syscalls: BTreeMap<String, Counts>,
    pub total_patched: u64,
    pub total_trapped: u64,
    pub sites: u64,
}

impl Stats {
    /// Parses the `oxbox-stats` lines of `stderr`, ignoring everything else
    /// (the guest's own stderr). Fails if there is no total line or a stats
    /// line is malformed, so that a format drift is reported, not hidden.
    pub fn parse(stderr: &str) -> Result<Stats, String> {
        let mut stats = Stats::default();
        let mut saw_total = false;
        for line in stderr.lines() {
            let Some(rest) = line.strip_prefix("oxbox-stats ") else {
                continue;
            };
            let mut fields = BTreeMap::new();
            let mut words = rest.split_whitespace();
            let first = words.next().unwrap_or_default();
            for word in rest.split_whitespace() {
                if let Some((k, v)) = word.split_once('=') {
                    fields.insert(k, v);
                }
            }
            let num = |k: &str| -> Result<u64, String> {
                fields
                    .get(k)
                    .ok_or_else(|| format!("no {k}= in stats line {line:?}"))?
                    .parse()
                    .map_err(|e| format!("bad {k}= in stats line {line:?}: {e}"))
            };
            if first == "total" {
                stats.total_patched = num("patched")?;
                stats.total_trapped = num("trapped")?;
                stats.sites = num("sites")?;
                saw_total = true;
            } else {
                let name = fields
                    .get("syscall")
                    .ok_or_else(|| format!("stats line without syscall= {line:?}"))?;
                let counts = Counts {
                    nr: num("nr")?,
                    patched: num("patched")?,
                    trapped: num("trapped")?,
                };
                stats.syscalls.insert(name.to_string(), counts);
            }
        }
        if saw_total {
            Ok(stats)
        } else {
            Err(format!("no `oxbox-stats total` line in stderr:\n{stderr}"))
        }
    }

    /// The counters of syscall number `nr`, whatever name the kernel gave it.
    pub fn by_nr(&self, nr: u64) -> Option<Counts> {
        self.syscalls.values().copied().find(|c| c.nr == nr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_are_parsed_and_guest_lines_ignored() {
        let stats = Stats::parse(
            "guest says hi\n\
             oxbox-stats syscall=getppid nr=110 patched=9999 trapped=1\n\
             oxbox-stats syscall=write nr=1 patched=0 trapped=3\n\
             oxbox-stats total patched=9999 trapped=4 sites=2\n",
        )
        .unwrap();
        assert_eq!(
            stats.syscalls["getppid"],
            Counts {
                nr: 110,
                patched: 9999,
                trapped: 1
            }
        );
        assert_eq!(stats.by_nr(1).unwrap().trapped, 3);
        assert_eq!(
            (stats.total_patched, stats.total_trapped, stats.sites),
            (9999, 4, 2)
        );
    }

    #[test]
    fn a_report_without_total_is_an_error() {
        assert!(Stats::parse("oxbox-stats syscall=read nr=0 patched=1 trapped=0\n").is_err());
    }

    #[test]
    fn a_malformed_count_is_an_error() {
        assert!(
            Stats::parse(
                "oxbox-stats syscall=read nr=0 patched=x trapped=0\n\
                 oxbox-stats total patched=0 trapped=0 sites=0\n"
            )
            .is_err()
        );
    }
}
