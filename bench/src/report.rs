//! Results: aggregation over repeats, the text table and the JSON file.
//!
//! Medians, not means: a run that lands on a noisy moment (a host
//! interrupt, the other core's build) moves a mean but not a median. The
//! minimum is shown beside it as the best the runtime can do. Ratios are
//! taken between medians as this runtime / the other (lower is better for
//! a time, a size or a count; higher for the servers' requests per
//! second, which the verdicts and words take into account), against runc
//! because "how much faster than what Docker users get" is the question
//! the benchmark answers, and against runsc and native.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::fuzz_rate::FuzzRate;
use crate::host_syscalls::HostSyscalls;
use crate::oxbox_stats::{OxboxStats, SyscallCounts, Totals, fraction};
use crate::runtime::RuntimeKind;
use crate::workload::Group;

/// The whole run, as written to `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub workloads: Vec<WorkloadResult>,
    /// Host syscalls reachable from a container, per runtime.
    pub host_syscalls: Vec<HostSyscalls>,
    /// The syscall fuzzer's rate inside oxbox, when oxbox was measured.
    pub fuzz: Option<FuzzRate>,
    /// The source tree the tar workload extracts.
    pub tree: Option<String>,
    /// The image the image workloads import and unpack.
    pub image: Option<String>,
}

/// Where the numbers come from.
#[derive(Debug, Serialize, Default)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    /// Version line of each runtime's binary, when it has one.
    pub versions: BTreeMap<String, String>,
    pub gcc: Option<String>,
    /// The workspace commit the harness was built from.
    pub commit: Option<String>,
    /// 1-minute load average before and after the runs.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    /// Seconds since the Unix epoch at the start of the run.
    pub started_at: u64,
}

/// How the run was configured.
#[derive(Debug, Serialize)]
pub struct Settings {
    pub quick: bool,
    pub repeats: usize,
    /// A fixed iteration count, or `None` when calibrated per runtime.
    pub iterations: Option<u64>,
    pub target_ms: u64,
    /// Seconds a server is loaded in a measured run.
    pub server_seconds: u64,
    pub seccomp_profile: String,
}

/// One workload across all runtimes.
#[derive(Debug, Serialize)]
pub struct WorkloadResult {
    pub name: String,
    pub group: Group,
    pub description: String,
    pub unit: String,
    /// A larger number is better (requests per second): an oxbox / runc
    /// ratio above 1 is then oxbox ahead.
    pub higher_is_better: bool,
    /// How a server was loaded (the load generator's command line).
    pub load: Option<String>,
    /// The numbers include the guest's own (memory): ratios compare each
    /// runtime's overhead, its median minus native's.
    pub minus_native: bool,
    /// A step of the named workload: no target of its own.
    pub step_of: Option<String>,
    /// Bulk goodput (a network stream of 64 KiB writes): oxbox's sandbox
    /// mode has a target against runc on it, not elsewhere.
    pub bulk: bool,
    pub runtimes: Vec<RuntimeResult>,
}

/// Whether a runtime produced numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skipped,
    Failed,
    /// The guest reported that the runtime lacks what it needs (such as
    /// unix sockets): not a number, not a harness failure.
    Unsupported,
}

/// One cell of the matrix: a workload on a runtime, over all repeats.
#[derive(Debug, Serialize)]
pub struct RuntimeResult {
    pub runtime: RuntimeKind,
    pub status: Status,
    /// Why it was skipped, or a remark about the runtime's setup.
    pub note: Option<String>,
    pub iterations: Option<u64>,
    /// One value per successful run, in run order.
    pub samples: Vec<f64>,
    /// Wall-clock time of each successful run in milliseconds, start-up
    /// and teardown included.
    pub wall_ms: Vec<f64>,
    /// The error of each failed run.
    pub failures: Vec<String>,
    /// The error of each failed counting run.
    pub counting_failures: Vec<String>,
    /// Doubts about the results, such as counters that missed calls.
    pub warnings: Vec<String>,
    pub summary: Option<Summary>,
    /// This median minus native's, for workloads measured with the
    /// guest's own share in (memory).
    pub overhead: Option<f64>,
    /// This median / runc's (overheads when `minus_native`): below 1 is
    /// faster (smaller) than runc.
    pub vs_runc: Option<f64>,
    /// This median / runsc's, the same way.
    pub vs_runsc: Option<f64>,
    /// This median / native's median: the runtime's overhead.
    pub vs_native: Option<f64>,
    pub oxbox: Option<InterceptionSummary>,
    #[serde(skip)]
    oxbox_runs: Vec<OxboxStats>,
    #[serde(skip)]
    counting_runs: Vec<f64>,
}

/// Median, min and max of the samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

/// oxbox's interception counters, from its counting run(s).
#[derive(Debug, Clone, Serialize)]
pub struct InterceptionSummary {
    pub patched: u64,
    pub trapped: u64,
    /// The most patched sites a run reported (a per-run count, not summed).
    pub sites: u64,
    pub patched_fraction: Option<f64>,
    /// Per-syscall counters, summed over the runs.
    pub syscalls: Vec<SyscallCounts>,
    /// Runs whose stderr had no `oxbox-stats` lines.
    pub runs_without_stats: usize,
    /// The workload's result in the counting runs, counters on.
    pub counting_runs: Vec<f64>,
}

impl RuntimeResult {
    pub fn new(runtime: RuntimeKind) -> Self {
        Self {
            runtime,
            status: Status::Ok,
            note: None,
            iterations: None,
            samples: Vec::new(),
            wall_ms: Vec::new(),
            failures: Vec::new(),
            counting_failures: Vec::new(),
            warnings: Vec::new(),
            summary: None,
            overhead: None,
            vs_runc: None,
            vs_runsc: None,
            vs_native: None,
            oxbox: None,
            oxbox_runs: Vec::new(),
            counting_runs: Vec::new(),
        }
    }

    pub fn skipped(runtime: RuntimeKind, why: String) -> Self {
        Self {
            status: Status::Skipped,
            note: Some(why),
            ..Self::new(runtime)
        }
    }

    pub fn unsupported(runtime: RuntimeKind, why: String) -> Self {
        Self {
            status: Status::Unsupported,
            note: Some(why),
            ..Self::new(runtime)
        }
    }

    pub fn failed(runtime: RuntimeKind, why: String) -> Self {
        Self {
            status: Status::Failed,
            failures: vec![why],
            ..Self::new(runtime)
        }
    }

    /// Whether more runs should be attempted.
    pub fn is_active(&self) -> bool {
        self.status == Status::Ok
    }

    /// Records one successful timed run.
    pub fn add_sample(&mut self, value: f64, wall: Duration) {
        self.samples.push(value);
        self.wall_ms.push(wall.as_secs_f64() * 1e3);
    }

    /// Records a counting run: its counters, and its own result, which is
    /// kept apart from the samples because counting slows the calls.
    pub fn add_counting_run(&mut self, value: f64, stats: Option<OxboxStats>) {
        self.oxbox_runs.push(stats.unwrap_or_default());
        self.counting_runs.push(value);
    }

    /// Records a failed counting run.
    pub fn add_counting_failure(&mut self, error: String) {
        self.counting_failures.push(error);
    }

    /// Records one failed run.
    pub fn add_failure(&mut self, error: String) {
        self.failures.push(error);
    }

    /// Computes the summary once all runs are in.
    fn finish(&mut self) {
        self.summary = summarize(&self.samples);
        if self.summary.is_none() && self.status == Status::Ok {
            self.status = Status::Failed;
        }
        if !self.oxbox_runs.is_empty() {
            let mut summary = summarize_interception(&self.oxbox_runs);
            summary.counting_runs = self.counting_runs.clone();
            self.oxbox = Some(summary);
        }
    }
}

/// Median, min and max, or `None` without samples.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        median: median_of_sorted(&sorted),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        runs: sorted.len(),
    })
}

/// The middle value, or the mean of the two middle values.
fn median_of_sorted(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if !sorted.len().is_multiple_of(2) {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn summarize_interception(runs: &[OxboxStats]) -> InterceptionSummary {
    let mut syscalls: Vec<SyscallCounts> = Vec::new();
    let mut total = Totals::default();
    for run in runs {
        let t = run.totals();
        total.patched += t.patched;
        total.trapped += t.trapped;
        total.sites = total.sites.max(t.sites);
        for s in &run.syscalls {
            match syscalls.iter_mut().find(|x| x.nr == s.nr) {
                Some(x) => {
                    x.patched += s.patched;
                    x.trapped += s.trapped;
                }
                None => syscalls.push(s.clone()),
            }
        }
    }
    InterceptionSummary {
        patched: total.patched,
        trapped: total.trapped,
        sites: total.sites,
        patched_fraction: fraction(total.patched, total.trapped),
        syscalls,
        runs_without_stats: runs.iter().filter(|r| **r == OxboxStats::default()).count(),
        counting_runs: Vec::new(),
    }
}

impl WorkloadResult {
    /// The median of `kind`'s runs, once [`WorkloadResult::finish`] ran.
    pub fn median(&self, kind: RuntimeKind) -> Option<f64> {
        self.runtimes
            .iter()
            .find(|r| r.runtime == kind)
            .and_then(|r| r.summary)
            .map(|s| s.median)
    }

    /// Summarizes every runtime and computes the ratios between them.
    pub fn finish(&mut self) {
        for r in &mut self.runtimes {
            r.finish();
        }
        let median_of = |kind| self.median(kind);
        let native = median_of(RuntimeKind::Native);
        // What ratios compare: the median, or its excess over native.
        let compared = |median: f64| match (self.minus_native, native) {
            (false, _) => Some(median),
            (true, Some(native)) => Some(median - native),
            (true, None) => None,
        };
        let runc = median_of(RuntimeKind::Runc).and_then(compared);
        let runsc = median_of(RuntimeKind::Runsc).and_then(compared);
        for r in &mut self.runtimes {
            let Some(s) = r.summary else { continue };
            if self.minus_native {
                r.overhead = compared(s.median);
            }
            let this = compared(s.median);
            r.vs_runc = this.zip(runc).and_then(|(this, runc)| ratio(this, runc));
            r.vs_runsc = this.zip(runsc).and_then(|(this, runsc)| ratio(this, runsc));
            r.vs_native = native.and_then(|native| ratio(s.median, native));
        }
    }

    /// The row of runtime `kind`, if it was in the plan.
    pub fn row(&self, kind: RuntimeKind) -> Option<&RuntimeResult> {
        self.runtimes.iter().find(|r| r.runtime == kind)
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// Where oxbox stands on one workload against the targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// oxbox / runc, and whether it is within the group's target.
    pub vs_runc: Option<(f64, bool)>,
    /// oxbox / runsc, and whether oxbox is ahead (below 1).
    pub vs_runsc: Option<(f64, bool)>,
}

/// oxbox's sandbox network mode against runc on bulk goodput: at least
/// 80% of runc's (issue 5), as a cost ratio.
pub const SANDBOX_BULK_TARGET: (f64, &str) = (1.0 / 0.8, "at least 80% of runc's bulk goodput");

impl WorkloadResult {
    /// oxbox against the group's runc target and against runsc; `None`
    /// where either side has no number.
    #[cfg(test)]
    pub fn verdict(&self) -> Verdict {
        self.verdict_of(RuntimeKind::Oxbox)
    }

    /// The oxbox rows this workload judges: oxbox (host sockets) always,
    /// its sandbox mode where it was measured.
    pub fn judged_kinds(&self) -> Vec<RuntimeKind> {
        [RuntimeKind::Oxbox, RuntimeKind::OxboxSandbox]
            .into_iter()
            .filter(|&kind| self.row(kind).is_some())
            .collect()
    }

    /// `kind`'s target against runc, as the largest acceptable cost ratio
    /// and its words: the group's for oxbox; for its sandbox mode, 80% of
    /// runc's bulk goodput, and none elsewhere (judged against runsc
    /// only).
    pub fn runc_target(&self, kind: RuntimeKind) -> Option<(f64, &'static str)> {
        match kind {
            RuntimeKind::OxboxSandbox => self.bulk.then_some(SANDBOX_BULK_TARGET),
            _ => Some(self.group.runc_target()),
        }
    }

    /// `kind` (oxbox in one of its modes) against its runc target and
    /// against runsc; `None` where either side has no number, or where
    /// there is no runc target.
    pub fn verdict_of(&self, kind: RuntimeKind) -> Verdict {
        let row = self.row(kind);
        let limit = self.runc_target(kind).map(|(limit, _)| limit);
        // The targets are cost ratios: oxbox's time over the other's, or
        // the other's throughput over oxbox's.
        let cost = |r: f64| if self.higher_is_better { 1.0 / r } else { r };
        Verdict {
            vs_runc: row
                .and_then(|o| o.vs_runc)
                .zip(limit)
                .map(|(r, limit)| (r, cost(r) <= limit)),
            vs_runsc: row.and_then(|o| o.vs_runsc).map(|r| (r, cost(r) < 1.0)),
        }
    }
}

/// "met" or "not met".
pub fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

/// A ratio of oxbox to another runtime in words: `0.040x (25.0x ahead)`
/// for a time, `1.30x (1.30x ahead)` for a throughput.
pub fn describe_ratio(r: f64, higher_is_better: bool) -> String {
    let speedup = if higher_is_better { r } else { 1.0 / r };
    if speedup > 1.0 {
        format!("{} ({} ahead)", format_ratio(r), format_ratio(speedup))
    } else if speedup < 1.0 {
        format!(
            "{} ({} behind)",
            format_ratio(r),
            format_ratio(1.0 / speedup)
        )
    } else {
        format!("{} (the same)", format_ratio(r))
    }
}

impl Report {
    /// The human-readable report: machine, one table per workload, and
    /// where oxbox stands against its targets.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "machine: {} ({} cores), kernel {}",
            m.cpu, m.cores, m.kernel
        );
        for (name, version) in &m.versions {
            let _ = writeln!(out, "  {name}: {version}");
        }
        if let Some(gcc) = &m.gcc {
            let _ = writeln!(out, "  gcc: {gcc}");
        }
        if let Some(commit) = &m.commit {
            let _ = writeln!(out, "  oxbox commit: {commit}");
        }
        if let (Some(before), Some(after)) = (m.load_before, m.load_after) {
            // Only the load before counts: the runs themselves keep a core
            // busy, so the load after is at least ~1 on its own.
            let busy = if before > 0.5 {
                " (the machine was busy before the runs: expect noise)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  load average: {before:.2} before, {after:.2} after{busy}"
            );
        }
        let s = &self.settings;
        let iterations = match s.iterations {
            Some(n) => format!("{n} iterations"),
            None => format!("iterations calibrated to ~{} ms per run", s.target_ms),
        };
        let _ = writeln!(
            out,
            "settings: {} repeats, {iterations}{}",
            s.repeats,
            if s.quick { ", quick mode" } else { "" }
        );
        let mut group = None;
        for w in &self.workloads {
            if group != Some(w.group) {
                group = Some(w.group);
                let _ = write!(out, "\n== {} ==\n", w.group.title());
            }
            out.push('\n');
            out.push_str(&w.render_table());
            out.push_str(&w.render_targets());
        }
        if let Some(fuzz) = &self.fuzz {
            let _ = writeln!(out, "\n{}", fuzz.describe());
        }
        out
    }
}

impl WorkloadResult {
    fn render_table(&self) -> String {
        let header = [
            "runtime".to_string(),
            format!("median {}", self.unit),
            "min".to_string(),
            "runs".to_string(),
            "X/runc".to_string(),
            "X/native".to_string(),
            "patched".to_string(),
            "note".to_string(),
        ];
        let mut rows = vec![header];
        for r in &self.runtimes {
            let (median, min) = match r.summary {
                Some(s) => (format_value(s.median), format_value(s.min)),
                None => ("-".into(), "-".into()),
            };
            let attempted = r.samples.len() + r.failures.len();
            let runs = if r.samples.is_empty() && r.status != Status::Ok {
                "-".to_string()
            } else {
                format!("{}/{}", r.samples.len(), attempted)
            };
            let patched = r
                .oxbox
                .as_ref()
                .map(|o| match o.patched_fraction {
                    Some(f) => format_percent(f),
                    None => "no stats".into(),
                })
                .unwrap_or_else(|| "-".into());
            rows.push([
                r.runtime.to_string(),
                median,
                min,
                runs,
                r.vs_runc.map_or("-".into(), format_ratio),
                r.vs_native.map_or("-".into(), format_ratio),
                patched,
                note_of(r, &self.unit),
            ]);
        }
        let columns = rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                rows.iter()
                    .map(|row| row[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{}: {}\n", self.name, self.description);
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let w = widths[c];
                // Names and notes left-aligned, numbers right-aligned.
                if c == 0 || c == columns - 1 {
                    let _ = write!(line, "{cell:<w$}");
                } else {
                    let _ = write!(line, "{cell:>w$}");
                }
                if c + 1 < columns {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn render_targets(&self) -> String {
        self.judged_kinds()
            .into_iter()
            .map(|kind| self.render_target(kind))
            .collect()
    }

    fn render_target(&self, kind: RuntimeKind) -> String {
        let verdict = self.verdict_of(kind);
        let judged = |v: Option<(f64, bool)>| match (v, &self.step_of) {
            (Some((r, _)), Some(whole)) => format!(
                "{} (a step of {whole}, judged there)",
                describe_ratio(r, self.higher_is_better)
            ),
            (Some((r, ok)), None) => {
                format!("{}: {}", describe_ratio(r, self.higher_is_better), met(ok))
            }
            (None, _) => "not measured".into(),
        };
        let vs_runc = match self.runc_target(kind) {
            Some((_, target)) => format!("{kind} {target}: {}", judged(verdict.vs_runc)),
            None => format!("{kind}: no target against runc"),
        };
        format!(
            "target: {vs_runc}; ahead of runsc: {}\n",
            judged(verdict.vs_runsc)
        )
    }
}

/// The note column: the failure if there are only failures, else the
/// remark, plus how many runs failed.
fn note_of(r: &RuntimeResult, unit: &str) -> String {
    let mut parts = Vec::new();
    match r.status {
        Status::Skipped => parts.push(format!("skipped: {}", r.note.as_deref().unwrap_or(""))),
        Status::Unsupported => {
            parts.push(format!("unsupported: {}", r.note.as_deref().unwrap_or("")))
        }
        Status::Failed => {
            parts.push(format!(
                "error: {}",
                r.failures
                    .first()
                    .map_or("no successful run", String::as_str)
            ));
        }
        Status::Ok => {
            if let Some(note) = &r.note {
                parts.push(note.clone());
            }
            if !r.failures.is_empty() {
                parts.push(format!(
                    "{} run(s) failed: {}",
                    r.failures.len(),
                    r.failures[0]
                ));
            }
            parts.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
            if let Some(e) = r.counting_failures.first() {
                parts.push(format!("counting run failed: {e}"));
            }
            if let Some(o) = &r.oxbox {
                if o.runs_without_stats > 0 {
                    parts.push("counting run printed no oxbox-stats".to_string());
                } else {
                    let runs = o.counting_runs.len().max(1) as u64;
                    parts.push(format!(
                        "with --stats: {} {}, {} trapped calls, {} sites patched",
                        summarize(&o.counting_runs).map_or("-".into(), |s| format_value(s.median)),
                        unit,
                        o.trapped / runs,
                        o.sites
                    ));
                }
            }
        }
    }
    parts.join("; ")
}

/// A measurement with as many digits as are meaningful.
pub fn format_value(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.2}")
    } else if v < 10_000.0 {
        format!("{v:.1}")
    } else {
        group_thousands(v.round() as u64)
    }
}

/// A fraction as a percentage that never rounds up to 100%: 0.9999986
/// reads `>99.999%`, because "100%" would claim that nothing trapped.
pub fn format_percent(f: f64) -> String {
    let p = f * 100.0;
    if f < 1.0 && p >= 99.9995 {
        ">99.999%".to_string()
    } else {
        format!("{p:.3}%")
    }
}

/// A ratio such as `1.26x`, `43.1x` or `0.0042x`.
pub fn format_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.1}x")
    } else if r >= 0.1 {
        format!("{r:.2}x")
    } else {
        format!("{r:.4}x")
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
        assert_eq!(summarize(&[7.0]).unwrap().median, 7.0);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn median_ignores_an_outlier() {
        let s = summarize(&[200.0, 210.0, 205.0, 9_000.0, 207.0]).unwrap();
        assert_eq!(s.median, 207.0);
    }

    fn workload(rows: Vec<RuntimeResult>) -> WorkloadResult {
        WorkloadResult {
            name: "getppid".into(),
            group: Group::Syscall,
            description: "test".into(),
            unit: "ns/op".into(),
            higher_is_better: false,
            load: None,
            minus_native: false,
            step_of: None,
            bulk: false,
            runtimes: rows,
        }
    }

    fn measured(kind: RuntimeKind, samples: &[f64]) -> RuntimeResult {
        let mut r = RuntimeResult::new(kind);
        for &s in samples {
            r.add_sample(s, Duration::ZERO);
        }
        r
    }

    #[test]
    fn ratios_are_between_medians() {
        let mut w = workload(vec![
            measured(RuntimeKind::Native, &[200.0, 220.0, 210.0]),
            measured(RuntimeKind::Runc, &[280.0]),
            measured(RuntimeKind::Runsc, &[14_000.0]),
            measured(RuntimeKind::Oxbox, &[7.0]),
        ]);
        w.finish();
        let oxbox = w.row(RuntimeKind::Oxbox).unwrap();
        assert_eq!(oxbox.vs_runc, Some(7.0 / 280.0));
        assert_eq!(oxbox.vs_runsc, Some(7.0 / 14_000.0));
        assert_eq!(oxbox.vs_native, Some(7.0 / 210.0));
        assert_eq!(oxbox.overhead, None);
        assert_eq!(w.row(RuntimeKind::Runc).unwrap().vs_runc, Some(1.0));
    }

    #[test]
    fn memory_ratios_compare_overheads_over_native() {
        let mut w = workload(vec![
            measured(RuntimeKind::Native, &[100.0]),
            measured(RuntimeKind::Runc, &[1_100.0]),
            measured(RuntimeKind::Oxbox, &[600.0]),
        ]);
        w.minus_native = true;
        w.group = Group::Costs;
        w.finish();
        let oxbox = w.row(RuntimeKind::Oxbox).unwrap();
        assert_eq!(oxbox.overhead, Some(500.0));
        assert_eq!(oxbox.vs_runc, Some(0.5));
        assert_eq!(oxbox.vs_native, Some(6.0));
        assert_eq!(
            w.verdict(),
            Verdict {
                vs_runc: Some((0.5, true)),
                vs_runsc: None
            }
        );
    }

    #[test]
    fn without_runc_there_is_no_speedup() {
        let mut w = workload(vec![
            measured(RuntimeKind::Native, &[200.0]),
            RuntimeResult::skipped(RuntimeKind::Runc, "runc needs root".into()),
        ]);
        w.finish();
        assert_eq!(w.row(RuntimeKind::Native).unwrap().vs_runc, None);
        let text = w.render_table();
        assert!(text.contains("skipped: runc needs root"), "{text}");
    }

    #[test]
    fn a_runtime_with_only_failures_shows_its_error() {
        let mut oxbox = RuntimeResult::new(RuntimeKind::Oxbox);
        oxbox.add_failure("exit status: 1: ENOSYS".into());
        let mut w = workload(vec![oxbox]);
        w.finish();
        let row = w.row(RuntimeKind::Oxbox).unwrap();
        assert_eq!(row.status, Status::Failed);
        assert!(row.summary.is_none());
        let text = w.render_table();
        assert!(text.contains("error: exit status: 1: ENOSYS"), "{text}");
        assert!(w.render_targets().contains("not measured"));
    }

    #[test]
    fn oxbox_counters_come_from_the_counting_runs() {
        let stats = OxboxStats::parse(
            "oxbox-stats syscall=getppid nr=110 patched=99 trapped=1\n\
             oxbox-stats total patched=99 trapped=1 sites=1\n",
        );
        let mut r = RuntimeResult::new(RuntimeKind::Oxbox);
        r.add_sample(6.0, Duration::ZERO);
        r.add_counting_run(8.0, stats.clone());
        r.add_counting_run(8.5, stats);
        r.add_counting_run(9.0, None);
        r.finish();
        assert_eq!(r.samples, [6.0]);
        let o = r.oxbox.as_ref().unwrap();
        assert_eq!((o.patched, o.trapped, o.sites), (198, 2, 1));
        assert_eq!(o.patched_fraction, Some(0.99));
        assert_eq!(o.syscalls[0].patched, 198);
        assert_eq!(o.runs_without_stats, 1);
        assert_eq!(o.counting_runs, [8.0, 8.5, 9.0]);
    }

    #[test]
    fn oxbox_note_shows_the_counting_run() {
        let mut r = RuntimeResult::new(RuntimeKind::Oxbox);
        r.add_sample(6.0, Duration::ZERO);
        r.add_counting_run(
            8.25,
            OxboxStats::parse("oxbox-stats total patched=99 trapped=14 sites=8\n"),
        );
        r.finish();
        let note = note_of(&r, "ns/op");
        assert_eq!(
            note,
            "with --stats: 8.25 ns/op, 14 trapped calls, 8 sites patched"
        );
    }

    #[test]
    fn percentages_never_round_up_to_a_clean_100() {
        assert_eq!(format_percent(0.999_998_6), ">99.999%");
        assert_eq!(format_percent(1.0), "100.000%");
        assert_eq!(format_percent(0.95), "95.000%");
    }

    #[test]
    fn values_and_ratios_are_formatted_for_reading() {
        assert_eq!(format_value(6.123), "6.12");
        assert_eq!(format_value(219.478), "219.5");
        assert_eq!(format_value(64_732.4), "64,732");
        assert_eq!(format_value(1_234_567.0), "1,234,567");
        assert_eq!(format_ratio(43.14), "43.1x");
        assert_eq!(format_ratio(1.264), "1.26x");
        assert_eq!(format_ratio(0.004_26), "0.0043x");
    }

    #[test]
    fn targets_report_met_and_not_met() {
        let mut w = workload(vec![
            measured(RuntimeKind::Runc, &[200.0]),
            measured(RuntimeKind::Runsc, &[5.0]),
            measured(RuntimeKind::Oxbox, &[10.0]),
        ]);
        w.finish();
        let t = w.render_targets();
        assert!(
            t.contains("at least 25x faster than runc: 0.0500x (20.0x ahead): not met"),
            "{t}"
        );
        assert!(
            t.contains("ahead of runsc: 2.00x (2.00x behind): not met"),
            "{t}"
        );
        w.group = Group::Processes;
        assert_eq!(w.verdict().vs_runc, Some((0.05, true)));
    }

    /// Requests per second: more is better, so oxbox above runc is ahead.
    #[test]
    fn throughput_targets_are_met_from_above() {
        let mut w = workload(vec![
            measured(RuntimeKind::Runc, &[10_000.0]),
            measured(RuntimeKind::Runsc, &[20_000.0]),
            measured(RuntimeKind::Oxbox, &[15_000.0]),
        ]);
        w.group = Group::Servers;
        w.higher_is_better = true;
        w.unit = "req/s".into();
        w.finish();
        assert_eq!(
            w.verdict(),
            Verdict {
                vs_runc: Some((1.5, true)),
                vs_runsc: Some((0.75, false)),
            }
        );
        let t = w.render_targets();
        assert!(t.contains("1.50x (1.50x ahead): met"), "{t}");
        assert!(t.contains("0.75x (1.33x behind): not met"), "{t}");
        assert_eq!(describe_ratio(0.5, false), "0.50x (2.00x ahead)");
        assert_eq!(describe_ratio(2.0, false), "2.00x (2.00x behind)");
    }

    /// The network group: host-socket mode within 5% of runc, sandbox
    /// mode at least 80% of runc's bulk goodput and ahead of runsc; a
    /// latency is judged downwards, and a sandbox row without a runc
    /// target (not bulk) is judged against runsc only.
    #[test]
    fn network_rows_are_judged_per_mode() {
        let mut bulk = workload(vec![
            measured(RuntimeKind::Runc, &[10_000.0]),
            measured(RuntimeKind::Runsc, &[2_000.0]),
            measured(RuntimeKind::Oxbox, &[9_600.0]),
            measured(RuntimeKind::OxboxSandbox, &[7_900.0]),
        ]);
        bulk.group = Group::Network;
        bulk.higher_is_better = true;
        bulk.bulk = true;
        bulk.unit = "Mbit/s".into();
        bulk.finish();
        assert_eq!(
            bulk.judged_kinds(),
            [RuntimeKind::Oxbox, RuntimeKind::OxboxSandbox]
        );
        assert_eq!(bulk.verdict().vs_runc, Some((0.96, true)));
        let sandbox = bulk.verdict_of(RuntimeKind::OxboxSandbox);
        assert_eq!(sandbox.vs_runc, Some((0.79, false)));
        assert_eq!(sandbox.vs_runsc, Some((3.95, true)));
        let t = bulk.render_targets();
        assert!(
            t.contains(
                "target: oxbox within 5% of runc (host-socket mode): 0.96x (1.04x behind): met"
            ),
            "{t}"
        );
        assert!(
            t.contains("target: oxbox-sandbox at least 80% of runc's bulk goodput: 0.79x (1.27x behind): not met"),
            "{t}"
        );

        let mut rr = workload(vec![
            measured(RuntimeKind::Runc, &[20.0]),
            measured(RuntimeKind::Runsc, &[100.0]),
            measured(RuntimeKind::Oxbox, &[21.5]),
            measured(RuntimeKind::OxboxSandbox, &[60.0]),
        ]);
        rr.group = Group::Network;
        rr.unit = "us/op".into();
        rr.finish();
        // 21.5 us against 20: 7.5% slower, outside 5%.
        assert_eq!(rr.verdict().vs_runc.map(|(_, ok)| ok), Some(false));
        let sandbox = rr.verdict_of(RuntimeKind::OxboxSandbox);
        assert_eq!(sandbox.vs_runc, None);
        assert_eq!(sandbox.vs_runsc, Some((0.6, true)));
        let t = rr.render_targets();
        assert!(
            t.contains("target: oxbox-sandbox: no target against runc; ahead of runsc: 0.60x (1.67x ahead): met"),
            "{t}"
        );
        // Without a sandbox row, only oxbox is judged.
        let mut host_only = workload(vec![measured(RuntimeKind::Oxbox, &[1.0])]);
        host_only.finish();
        assert_eq!(host_only.judged_kinds(), [RuntimeKind::Oxbox]);
    }

    #[test]
    fn unsupported_runtimes_say_why() {
        let mut w = workload(vec![RuntimeResult::unsupported(
            RuntimeKind::Oxbox,
            "socketpair: Function not implemented".into(),
        )]);
        w.finish();
        let row = w.row(RuntimeKind::Oxbox).unwrap();
        assert_eq!(row.status, Status::Unsupported);
        let text = w.render_table();
        assert!(
            text.contains("unsupported: socketpair: Function not implemented"),
            "{text}"
        );
    }
}
