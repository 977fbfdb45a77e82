//! The matrix: every workload on every runtime, repeated and interleaved.
//!
//! Runs are interleaved (repeat 1 of every cell, then repeat 2...) rather
//! than grouped per runtime, so that a slow drift of the machine (thermal
//! state, a build on the other core) spreads over all runtimes instead of
//! biasing one; the runtime order also rotates between repeats.
//!
//! Each cell first makes a short pilot run. It checks the runtime works
//! at all (a broken one is reported once, not `repeats` times) and sizes
//! the real runs: runtimes differ by four orders of magnitude on getppid
//! (gVisor's ptrace platform ~65 us, a patched call a few ns), so a fixed
//! count is either too short for one or minutes long for the other.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::oxbox_stats::OxboxStats;
use crate::report::{RuntimeResult, WorkloadResult};
use crate::runtime::{Availability, RunRequest, Runner, RuntimeKind};
use crate::workload::{Measure, Unsupported, Workload};

/// How long and how often to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    pub workloads: Vec<&'static Workload>,
    pub runtimes: Vec<RuntimeKind>,
    pub repeats: usize,
    /// Fixed iterations for every cell; `None` calibrates per cell.
    pub iterations: Option<u64>,
    /// The duration a calibrated run aims for.
    pub target: Duration,
    /// Caps calibrated counts below each workload's own maximum.
    pub max_iterations: Option<u64>,
    /// How long a server is loaded in a measured run.
    pub server_seconds: u64,
    /// Quick mode: a network workload's measured runs repeat its pilot's
    /// small amount instead of lasting `server_seconds`.
    pub quick: bool,
    pub verbose: bool,
}

/// One workload's built binary and its results so far.
struct Cell {
    result: RuntimeResult,
    iterations: u64,
}

/// Runs the plan; `binaries[i]` is what `plan.workloads[i]` runs (its
/// built program, or a server's Debian rootfs), or why there is none.
pub fn run(
    plan: &Plan,
    runner: &Runner,
    binaries: &[Result<PathBuf, String>],
) -> Vec<WorkloadResult> {
    // Per workload, per runtime (in plan order).
    let mut cells: Vec<Vec<Cell>> = plan
        .workloads
        .iter()
        .zip(binaries)
        .map(|(workload, binary)| {
            plan.runtimes
                .iter()
                .filter(|&&kind| workload.group.runs_on(kind))
                .map(|&kind| prepare(plan, runner, workload, binary, kind))
                .collect()
        })
        .collect();

    for repeat in 0..plan.repeats {
        for (w, workload) in plan.workloads.iter().enumerate() {
            let n = cells[w].len();
            for k in 0..n {
                let cell = &mut cells[w][(k + repeat) % n];
                let Ok(binary) = &binaries[w] else { continue };
                if !cell.result.is_active() {
                    continue;
                }
                let kind = cell.result.runtime;
                match measure(runner, workload, binary, kind, cell.iterations, false) {
                    Ok(m) => {
                        if plan.verbose {
                            eprintln!(
                                "  {} on {kind}, repeat {}: {} {}",
                                workload.name,
                                repeat + 1,
                                m.value,
                                workload.unit
                            );
                        }
                        cell.result.add_sample(m.value, m.wall);
                    }
                    Err(e) => {
                        eprintln!(
                            "  {} on {kind}, repeat {}: {e:#}",
                            workload.name,
                            repeat + 1
                        );
                        cell.result.add_failure(format!("{e:#}"));
                    }
                }
            }
        }
    }

    // One counting run per cell, after the timed ones and with the same
    // iteration count, so the patched fraction describes those runs.
    for (w, workload) in plan.workloads.iter().enumerate() {
        for cell in &mut cells[w] {
            let kind = cell.result.runtime;
            let Ok(binary) = &binaries[w] else { continue };
            if !cell.result.is_active()
                || !kind.has_counters()
                || workload.measure != Measure::SelfTimed
            {
                continue;
            }
            eprintln!("{} on {kind}: counting run", workload.name);
            match measure(runner, workload, binary, kind, cell.iterations, true) {
                Ok(m) => {
                    if let Some(warning) = missed_calls(workload, cell.iterations, m.stats.as_ref())
                    {
                        eprintln!("  {} on {kind}: {warning}", workload.name);
                        cell.result.warnings.push(warning);
                    }
                    cell.result.add_counting_run(m.value, m.stats);
                }
                Err(e) => {
                    eprintln!("  {} on {kind}, counting run: {e:#}", workload.name);
                    cell.result.add_counting_failure(format!("{e:#}"));
                }
            }
        }
    }

    plan.workloads
        .iter()
        .zip(cells)
        .map(|(workload, cells)| {
            let mut result = WorkloadResult {
                name: workload.name.to_string(),
                group: workload.group,
                description: workload.description.to_string(),
                unit: workload.unit.to_string(),
                higher_is_better: workload.higher_is_better(),
                bulk: workload.is_bulk(),
                load: workload.server().map(|s| s.load_description()),
                minus_native: workload.minus_native,
                step_of: workload.step_of.map(String::from),
                runtimes: cells.into_iter().map(|c| c.result).collect(),
            };
            result.finish();
            result
        })
        .collect()
}

/// Checks availability and calibrates one cell.
fn prepare(
    plan: &Plan,
    runner: &Runner,
    workload: &Workload,
    binary: &Result<PathBuf, String>,
    kind: RuntimeKind,
) -> Cell {
    let skip = |result| Cell {
        result,
        iterations: 0,
    };
    let binary = match binary {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("{} on {kind}: {why}", workload.name);
            return skip(RuntimeResult::failed(kind, why.clone()));
        }
    };
    match runner.availability(workload, kind) {
        Availability::Ready => {}
        Availability::Skipped(why) => {
            eprintln!("{} on {kind}: skipped ({why})", workload.name);
            return skip(RuntimeResult::skipped(kind, why));
        }
        Availability::Broken(why) => {
            eprintln!("{} on {kind}: {why}", workload.name);
            return skip(RuntimeResult::failed(kind, why));
        }
    }
    let max = plan
        .max_iterations
        .map_or(workload.iterations.max, |m| m.min(workload.iterations.max));
    let pilot_iterations = match workload.server() {
        Some(server) => server.pilot_amount(),
        None => workload.iterations.pilot.min(max).max(1),
    };
    eprintln!(
        "{} on {kind}: pilot run, {pilot_iterations} iterations",
        workload.name
    );
    let pilot = match measure(runner, workload, binary, kind, pilot_iterations, false) {
        Ok(m) => m.value,
        Err(e) => {
            eprintln!("{} on {kind}: {e:#}", workload.name);
            return skip(match e.downcast_ref::<Unsupported>() {
                Some(why) => RuntimeResult::unsupported(kind, why.0.clone()),
                None => RuntimeResult::failed(kind, format!("{e:#}")),
            });
        }
    };
    let iterations = match (workload.measure, plan.iterations) {
        (Measure::Network(_), _) if plan.quick => pilot_iterations,
        (Measure::Server(_) | Measure::Network(_), _) => {
            workload.server().map_or(pilot_iterations, |s| {
                s.amount_for(pilot, plan.server_seconds)
            })
        }
        (Measure::SelfTimed, Some(fixed)) => fixed,
        (Measure::SelfTimed, None) => calibrate(
            pilot * workload.ns_per_unit,
            plan.target,
            pilot_iterations,
            max,
        ),
        _ => pilot_iterations,
    };
    eprintln!(
        "{} on {kind}: {pilot} {} in the pilot; {iterations} iterations per run",
        workload.name, workload.unit
    );
    let mut result = RuntimeResult::new(kind);
    result.iterations = Some(iterations);
    result.note = runner.remark(workload, kind);
    Cell { result, iterations }
}

/// The iteration count that makes a run last about `target`, given the
/// pilot's per-operation cost in nanoseconds.
pub fn calibrate(ns_per_op: f64, target: Duration, min: u64, max: u64) -> u64 {
    let wanted = if ns_per_op > 0.0 {
        target.as_nanos() as f64 / ns_per_op
    } else {
        f64::INFINITY
    };
    let wanted = if wanted.is_finite() {
        two_digits(wanted)
    } else {
        max
    };
    wanted.clamp(min, max.max(min))
}

/// `wanted` rounded to two significant digits: reports read better with
/// 1,100,000 iterations than with 1,093,457.
pub fn two_digits(wanted: f64) -> u64 {
    let magnitude = 10f64.powi(wanted.max(1.0).log10().floor() as i32 - 1);
    ((wanted / magnitude).round() * magnitude) as u64
}

/// A warning if the counters report fewer calls of the workload's loop
/// syscall than the loop made: then some path serves calls uncounted and
/// the patched fraction describes only the rest.
fn missed_calls(
    workload: &Workload,
    iterations: u64,
    stats: Option<&OxboxStats>,
) -> Option<String> {
    let name = workload.loop_syscall?;
    let counted = stats?.calls_of(name);
    (counted < iterations).then(|| {
        format!("counters missed calls: {name} counted {counted} times in a loop of {iterations}")
    })
}

/// What one run measured.
struct Measurement {
    /// The workload's own result.
    value: f64,
    /// The run's wall-clock time, container start and teardown included.
    wall: Duration,
    /// oxbox's counters, on a counting run.
    stats: Option<OxboxStats>,
}

/// One run of `workload` on `kind`; `counting` turns oxbox's counters on.
fn measure(
    runner: &Runner,
    workload: &Workload,
    binary: &std::path::Path,
    kind: RuntimeKind,
    iterations: u64,
    counting: bool,
) -> Result<Measurement> {
    let request = RunRequest {
        kind,
        workload,
        binary,
        iterations,
        counting,
    };
    if let Some(server) = workload.server() {
        let output = runner.serve(&request, server)?;
        return Ok(Measurement {
            value: server.parse(&output.stdout)?,
            wall: output.wall,
            stats: None,
        });
    }
    if workload.measure == Measure::ResidentMemory {
        return Ok(Measurement {
            value: runner.resident_kib(&request)?,
            wall: Duration::ZERO,
            stats: None,
        });
    }
    let output = runner.run(&request)?;
    let value = match workload.measure {
        m if m.is_wall_clock() => output.wall.as_secs_f64() * 1e9 / workload.ns_per_unit,
        _ => workload.parse(&output.stdout)?,
    };
    let stats = counting
        .then(|| OxboxStats::parse(&output.stderr))
        .flatten();
    Ok(Measurement {
        value,
        wall: output.wall,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn counters_that_miss_loop_calls_are_flagged() {
        let w = &crate::workload::GETPPID;
        let full = OxboxStats::parse("oxbox-stats syscall=getppid nr=110 patched=1099 trapped=1\n");
        assert_eq!(missed_calls(w, 1000, full.as_ref()), None);
        let short = OxboxStats::parse("oxbox-stats syscall=getppid nr=110 patched=0 trapped=1\n");
        let warning = missed_calls(w, 1000, short.as_ref()).unwrap();
        assert!(
            warning.contains("getppid counted 1 times in a loop of 1000"),
            "{warning}"
        );
        // No stats at all is reported elsewhere, not as missed calls.
        assert_eq!(missed_calls(w, 1000, None), None);
    }

    /// The whole pipeline on the one runtime every machine has: gcc build,
    /// pilot, calibration, repeats, parsing. No timing is asserted.
    #[test]
    fn getppid_runs_natively_end_to_end() {
        let tmp = tempfile::tempdir().unwrap();
        let workload = &crate::workload::GETPPID;
        let binary = workload.build(&tmp.path().join("cache")).unwrap();
        let runner = Runner::new(
            tmp.path().join("scratch"),
            Err("not needed".into()),
            PathBuf::from("/nonexistent/oxbox"),
            Duration::from_secs(60),
        );
        let plan = Plan {
            workloads: vec![workload],
            runtimes: vec![RuntimeKind::Native, RuntimeKind::Oxbox],
            repeats: 3,
            iterations: None,
            target: Duration::from_millis(5),
            max_iterations: Some(10_000),
            server_seconds: 1,
            quick: false,
            verbose: false,
        };
        let results = run(&plan, &runner, &[Ok(binary)]);
        let native = &results[0].runtimes[0];
        assert_eq!(native.status, crate::report::Status::Ok);
        assert_eq!(native.samples.len(), 3);
        assert!(native.samples.iter().all(|&ns| ns > 0.0));
        assert!(native.iterations.unwrap() <= 10_000);
        // A missing oxbox binary is reported, never measured.
        let oxbox = &results[0].runtimes[1];
        assert_eq!(oxbox.status, crate::report::Status::Failed);
        assert!(oxbox.summary.is_none());
    }

    /// The oxbox plumbing against a stand-in that checks the command line
    /// oxbox is promised (`do --rootfs R [--stats] -- /getppid N`) and
    /// prints what the real kernel prints: timed runs without counters,
    /// one counting run with them.
    #[test]
    fn oxbox_row_carries_result_and_patched_fraction() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join("oxbox");
        std::fs::write(
            &fake,
            r#"#!/bin/sh
[ "$1" = do ] && [ "$2" = --rootfs ] || exit 9
root=$3; shift 3
if [ "$1" = --stats ]; then stats=1; shift; fi
[ "$1" = -- ] && [ -x "$root$2" ] || exit 8
n=$3
if [ "$stats" = 1 ]; then
    [ "$OXBOX_STATS" = 1 ] || exit 7
    echo ns_per_op=7.5
    echo "oxbox-stats syscall=getppid nr=110 patched=$((n - 1)) trapped=1" >&2
    echo "oxbox-stats total patched=$((n - 1)) trapped=1 sites=1" >&2
else
    echo ns_per_op=5.5
fi
"#,
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let guest = tmp.path().join("guest");
        std::fs::write(&guest, "").unwrap();
        std::fs::set_permissions(&guest, std::fs::Permissions::from_mode(0o755)).unwrap();
        let runner = Runner::new(
            tmp.path().join("scratch"),
            Err("not needed".into()),
            fake,
            Duration::from_secs(60),
        );
        let plan = Plan {
            workloads: vec![&crate::workload::GETPPID],
            runtimes: vec![RuntimeKind::Oxbox],
            repeats: 2,
            iterations: Some(1000),
            target: Duration::from_millis(5),
            max_iterations: None,
            server_seconds: 1,
            quick: false,
            verbose: false,
        };
        let results = run(&plan, &runner, &[Ok(guest)]);
        let oxbox = &results[0].runtimes[0];
        assert_eq!(oxbox.failures, Vec::<String>::new());
        assert_eq!(oxbox.samples, [5.5, 5.5]);
        let counters = oxbox.oxbox.as_ref().unwrap();
        assert_eq!((counters.patched, counters.trapped), (999, 1));
        assert_eq!(counters.patched_fraction, Some(0.999));
        assert_eq!(counters.counting_runs, [7.5]);
    }

    #[test]
    fn calibration_aims_at_the_target_duration() {
        // 200 ns/op for 0.3 s: 1.5 M iterations.
        assert_eq!(
            calibrate(200.0, SECOND * 3 / 10, 1_000, 10_000_000),
            1_500_000
        );
        // 65 us/op: a few thousand.
        assert_eq!(
            calibrate(65_000.0, SECOND * 3 / 10, 1_000, 10_000_000),
            4_600
        );
    }

    #[test]
    fn calibration_is_clamped() {
        assert_eq!(calibrate(1.0, SECOND, 1_000, 10_000_000), 10_000_000);
        assert_eq!(calibrate(0.0, SECOND, 1_000, 10_000_000), 10_000_000);
        assert_eq!(calibrate(1e9, SECOND, 1_000, 10_000_000), 1_000);
    }
}
