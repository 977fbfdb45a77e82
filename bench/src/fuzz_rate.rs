//! The syscall fuzzer's rate inside oxbox: `tests/guest/fuzz/syscalls.c`,
//! the program the robustness test runs, makes random calls with random,
//! boundary and pointer-shaped arguments for a fixed time, and every one
//! must come back with a result or an errno. Calls per second is how fast
//! the kernel turns hostile input away (most calls fail their checks).
//!
//! It runs under oxbox only, with the rootfs read-only and its scratch
//! files on a small tmpfs: natively, under runc or under crun it would run
//! as root against the host kernel and change the host.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::runtime::Runner;
use crate::workload::{CSource, build_static};

/// The fuzzer's source and the header it shares with the other guest
/// programs of the tests.
const FUZZER: CSource = (
    "syscalls.c",
    include_str!("../../tests/guest/fuzz/syscalls.c"),
);
const CHECK_H: CSource = ("check.h", include_str!("../../tests/guest/check.h"));

/// The seed of every measured run: the same calls each time.
const SEED: u64 = 1;

/// One fuzzing run's numbers, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FuzzRate {
    /// How long the fuzzer was asked to run.
    pub seconds: u64,
    pub seed: u64,
    /// The fuzzer's summary line.
    pub summary: Result<FuzzSummary, String>,
}

/// What the fuzzer's summary line says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FuzzSummary {
    pub rounds: u64,
    pub calls: u64,
    pub calls_per_second: f64,
    /// The line itself (how the rounds ended).
    pub line: String,
}

impl FuzzRate {
    /// One line for the reports.
    pub fn describe(&self) -> String {
        let run = format!(
            "the syscall fuzzer inside oxbox (seed {}, {} s)",
            self.seed, self.seconds
        );
        match &self.summary {
            Ok(s) => format!(
                "{run}: {:.0} calls/s, {} calls in {} rounds (each round a fresh process)",
                s.calls_per_second, s.calls, s.rounds
            ),
            Err(e) => format!("{run}: not measured: {}", e.lines().next().unwrap_or("")),
        }
    }
}

/// Runs the fuzzer under oxbox for `seconds`.
pub fn measure(runner: &Runner, cache: &std::path::Path, seconds: u64) -> FuzzRate {
    FuzzRate {
        seconds,
        seed: SEED,
        summary: run(runner, cache, seconds).map_err(|e| format!("{e:#}")),
    }
}

fn run(runner: &Runner, cache: &std::path::Path, seconds: u64) -> Result<FuzzSummary> {
    let binary = build_static(cache, FUZZER, &[CHECK_H])?;
    let rootfs = tempfile::Builder::new()
        .prefix("oxbox-bench-fuzz-")
        .tempdir()
        .context("creating the fuzzer's rootfs")?;
    fs::create_dir(rootfs.path().join("tmp"))?;
    fs::copy(&binary, rootfs.path().join("fuzz")).context("copying the fuzzer")?;
    let argv = [
        "/fuzz",
        "/tmp/fuzz",
        &seconds.to_string(),
        &SEED.to_string(),
    ]
    .map(String::from);
    // Rounds that block are killed after a fraction of a second; the
    // margin only bounds a lost run.
    let limit = Duration::from_secs(seconds + 60);
    let output = runner.oxbox_do(
        rootfs.path(),
        &["--read-only", "--tmpfs", "/tmp:size=16m"],
        &argv,
        limit,
    )?;
    parse_summary(&output.stdout).ok_or_else(|| {
        anyhow!(
            "no summary line in the fuzzer's output:\n{}",
            output.stdout.trim()
        )
    })
}

/// Reads `fuzz seed S: R rounds, C calls in T s, N calls/s; rounds ended: ...`.
fn parse_summary(stdout: &str) -> Option<FuzzSummary> {
    let line = stdout.lines().find(|l| l.starts_with("fuzz seed "))?;
    let (_, rest) = line.split_once(": ")?;
    let mut words = rest.split_whitespace();
    let rounds = words.next()?.parse().ok()?;
    let calls = words.nth(1)?.parse().ok()?;
    let calls_per_second = words.nth(4)?.parse().ok()?;
    Some(FuzzSummary {
        rounds,
        calls,
        calls_per_second,
        line: line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_gives_rounds_calls_and_rate() {
        let out = "round 3 (seed 4) killed by 11 after 7 calls; last: ...\n\
                   fuzz seed 1: 812 rounds, 401234 calls in 3.0 s, 133745 calls/s; rounds ended: \
                   800 clean, 2 other exit, 10 by signal, 0 blocked\nsignal SEGV: 10 rounds\n";
        let s = parse_summary(out).expect("a summary");
        assert_eq!((s.rounds, s.calls), (812, 401_234));
        assert_eq!(s.calls_per_second, 133_745.0);
        assert!(s.line.ends_with("0 blocked"));
        let rate = FuzzRate {
            seconds: 3,
            seed: 1,
            summary: Ok(s),
        };
        assert!(rate.describe().ends_with(
            ": 133745 calls/s, 401234 calls in 812 rounds (each round a fresh process)"
        ));
    }

    #[test]
    fn output_without_a_summary_gives_none() {
        assert_eq!(
            parse_summary("round 1 (seed 2) exited 134 after 5 calls\n"),
            None
        );
        assert_eq!(parse_summary("fuzz seed 1: many rounds\n"), None);
    }
}
