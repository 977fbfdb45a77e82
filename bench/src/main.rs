//! `oxbox-bench`: runs each workload natively, under runc, crun, runsc and
//! oxbox, and prints how they compare.
//!
//! ```text
//! cargo run -p oxbox-bench --release -- [--quick] [--repeats N]
//!     [--iterations N] [--runtimes native,runc,runsc,oxbox] [--json F]
//! ```
//!
//! See `bench/README.md` for what is measured and how.

mod bpf;
mod bundle;
mod chart;
mod docker_seccomp;
mod dockerd;
mod fuzz_rate;
mod harness;
mod host_syscalls;
mod images;
mod lifecycle;
mod machine;
mod markdown;
mod network;
mod oxbox_stats;
mod report;
mod runtime;
mod servers;
mod tree;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use crate::docker_seccomp::{DockerProfile, KernelVersion, Target};
use crate::harness::Plan;
use crate::report::{Report, Settings};
use crate::runtime::{Runner, RuntimeKind};

/// Compare oxbox with native execution, runc (Docker's seccomp profile),
/// crun and gVisor on syscall-heavy workloads.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A fast smoke run (few iterations, 2 repeats): checks the harness
    /// works end to end; its numbers are not worth quoting.
    #[arg(long)]
    quick: bool,

    /// Measured runs per workload and runtime (after one pilot run).
    /// Default: 5, or 2 with --quick.
    #[arg(long, value_name = "N")]
    repeats: Option<usize>,

    /// A fixed iteration count for every run, instead of calibrating each
    /// runtime to --target-ms.
    #[arg(long, value_name = "N")]
    iterations: Option<u64>,

    /// How long a calibrated run should take, in milliseconds.
    /// Default: 300, or 20 with --quick.
    #[arg(long, value_name = "MS")]
    target_ms: Option<u64>,

    /// How long each measured server run loads its server, in seconds.
    /// Default: 5, or 1 with --quick.
    #[arg(long, value_name = "SECS")]
    server_seconds: Option<u64>,

    /// Runtimes to compare, in table order. `oxbox-sandbox` (oxbox with
    /// --network sandbox) runs the network group only.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "native,runc,crun,runsc,oxbox,oxbox-sandbox"
    )]
    runtimes: Vec<RuntimeKind>,

    /// Workloads to run (default: all, or those of --groups).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,

    /// Groups of workloads to run (syscall, processes, ipc, files,
    /// servers, network, costs, lifecycle, images; default: all). With
    /// --workloads, a workload runs if either names it.
    #[arg(long, value_delimiter = ',')]
    groups: Vec<String>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Write the full report into this directory: report.md, results.json
    /// and one PNG chart per workload group.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// The oxbox binary [default: target/release/oxbox in the workspace].
    /// `OXBOX_BIN` is the same setting the guest scenario tests read.
    #[arg(long, value_name = "PATH", env = "OXBOX_BIN")]
    oxbox: Option<PathBuf>,

    /// Docker's seccomp profile, applied to the OCI runtimes.
    #[arg(long, value_name = "PATH", default_value = docker_seccomp::DEFAULT_PROFILE_PATH)]
    seccomp_profile: PathBuf,

    /// Kill a run that takes longer than this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,

    /// Exit with an error unless these runtimes produced numbers (CI uses
    /// `--require native` to catch a broken harness without depending on
    /// runc or oxbox working).
    #[arg(long, value_delimiter = ',', value_name = "RUNTIMES")]
    require: Vec<RuntimeKind>,

    /// Keep the scratch directory (bundles, configs, each run's stdout
    /// and stderr) and print where it is.
    #[arg(long)]
    keep_scratch: bool,

    /// Print every run's result as it comes.
    #[arg(long, short)]
    verbose: bool,
}

/// The workspace the harness was built in: workloads are cached under its
/// `target/bench/`, and oxbox is looked for in its `target/release/`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("oxbox-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_json(report: &Report, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("results written to {}", path.display());
    Ok(())
}

/// `--out DIR`: the Markdown report, the JSON and a chart per group.
fn write_report_dir(report: &Report, runtimes: &[RuntimeKind], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_json(report, &dir.join("results.json"))?;
    let font = chart::load_font();
    let mut charts = Vec::new();
    for group in workload::Group::ALL {
        let workloads: Vec<_> = report
            .workloads
            .iter()
            .filter(|w| w.group == group)
            .collect();
        if workloads.is_empty() {
            continue;
        }
        // The runtimes asked for that have rows in this group.
        let present = markdown::runtimes_in(&workloads);
        let runtimes: Vec<RuntimeKind> = runtimes
            .iter()
            .copied()
            .filter(|kind| present.contains(kind))
            .collect();
        let runtimes = &runtimes[..];
        let file = format!("{}.png", group.name());
        let drawn = match &font {
            Ok(()) => chart::draw(&dir.join(&file), group, &workloads, runtimes)
                .map(|()| file)
                .map_err(|e| format!("{e:#}")),
            Err(e) => Err(format!("{e:#}")),
        };
        if let Err(why) = &drawn {
            eprintln!("oxbox-bench: no {} chart: {why}", group.name());
        }
        charts.push((group, drawn));
    }
    let path = dir.join("report.md");
    std::fs::write(&path, markdown::render(report, &charts))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// The workloads `names` and `groups` select, in report order: all when
/// both are empty.
fn select_workloads(
    names: &[String],
    groups: &[String],
) -> Result<Vec<&'static workload::Workload>> {
    for name in names {
        workload::by_name(name).with_context(|| format!("unknown workload {name:?}"))?;
    }
    let groups = groups
        .iter()
        .map(|name| {
            workload::Group::ALL
                .into_iter()
                .find(|g| g.name() == name)
                .with_context(|| {
                    let known: Vec<_> = workload::Group::ALL.iter().map(|g| g.name()).collect();
                    format!("unknown group {name:?} (known: {})", known.join(", "))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(workload::ALL
        .iter()
        .filter(|w| {
            (names.is_empty() && groups.is_empty())
                || names.iter().any(|n| n == w.name)
                || groups.contains(&w.group)
        })
        .collect())
}

/// Runs the benchmark; a runtime that fails is a row of the report, not an
/// error: only a broken harness (or `--require`) fails the process.
fn run(cli: Cli) -> Result<ExitCode> {
    let root = workspace_root();

    let workloads = select_workloads(&cli.workloads, &cli.groups)?;
    let mut runtimes = cli.runtimes.clone();
    runtimes.dedup();

    let cache = root.join("target").join("bench");
    // A server runs Debian's binaries from the scenario tests' cached
    // rootfs (built by debootstrap the first time): a build that fails is
    // the servers' error in the report, not the harness's.
    let debian = || {
        oxbox_integration::debian::try_debian()
            .map_err(|e| format!("no Debian rootfs: {e}"))
            // runc refuses a root reached through a symlink (the
            // worktrees' target/test-rootfs is one).
            .and_then(|root| {
                std::fs::canonicalize(root.path())
                    .map_err(|e| format!("{}: {e}", root.path().display()))
            })
    };
    // The image, built from the same Debian root, once for both phases.
    let mut image = None;
    let mut image_archive = || {
        image
            .get_or_insert_with(|| {
                debian().and_then(|root| {
                    images::build(&cache, &root, cli.quick).map_err(|e| format!("{e:#}"))
                })
            })
            .clone()
    };
    let binaries = workloads
        .iter()
        .map(|w| match w.measure {
            workload::Measure::Server(_) | workload::Measure::Network(_) => Ok(debian()),
            workload::Measure::Image(_) => Ok(image_archive().map(|i| i.archive)),
            _ => w.build(&cache).map(Ok),
        })
        .collect::<Result<Vec<_>>>()?;
    let image_description = image.and_then(|i| i.ok()).map(|i| i.description);

    let seccomp = KernelVersion::running()
        .and_then(|kernel| {
            DockerProfile::load(&cli.seccomp_profile)?.to_oci(&Target::docker_amd64(kernel))
        })
        .map_err(|e| format!("{e:#}"));
    let scratch = tempfile::Builder::new()
        .prefix("oxbox-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let oxbox = cli
        .oxbox
        .clone()
        .unwrap_or_else(|| root.join("target/release/oxbox"));
    let mut runner = Runner::new(
        scratch.path().to_path_buf(),
        seccomp,
        oxbox,
        Duration::from_secs(cli.timeout),
    );
    runner.keep_runs = cli.keep_scratch;
    if workloads
        .iter()
        .any(|w| matches!(w.measure, workload::Measure::Network(_)))
    {
        // A build failure is the tcp_rr rows' error, not the harness's.
        match workload::build_static(&cache, workload::TCP_RR_SOURCE, &[]) {
            Ok(binary) => runner.tcp_rr = Some(binary),
            Err(e) => eprintln!("oxbox-bench: {e:#}"),
        }
    }
    let mut tree = None;
    match tree::static_busybox() {
        Ok(busybox) => {
            if workloads.iter().any(|w| w.needs_tree) {
                let (archive, description) = tree::build_archive(scratch.path(), &busybox)?;
                runner.tree = Some(archive);
                tree = Some(description);
            }
            runner.busybox = Some(busybox);
        }
        // The workloads that need it fail with their own message.
        Err(e) => eprintln!("oxbox-bench: {e:#}"),
    }

    let plan = Plan {
        workloads,
        runtimes: runtimes.clone(),
        repeats: cli.repeats.unwrap_or(if cli.quick { 2 } else { 5 }).max(1),
        iterations: cli.iterations,
        target: Duration::from_millis(cli.target_ms.unwrap_or(if cli.quick { 20 } else { 300 })),
        max_iterations: cli.quick.then_some(100_000),
        server_seconds: cli
            .server_seconds
            .unwrap_or(if cli.quick { 1 } else { 5 })
            .max(1),
        quick: cli.quick,
        verbose: cli.verbose,
    };

    let mut machine = machine::describe(&root);
    machine.versions = runtimes
        .iter()
        .filter_map(|&kind| Some((kind.to_string(), runner.version(kind)?)))
        .collect();
    if plan
        .workloads
        .iter()
        .any(|w| w.measure == workload::Measure::DockerRun)
        && let Some(version) = runtime::first_line_of(Command::new("dockerd").arg("--version"))
    {
        machine.versions.insert("dockerd".into(), version);
    }

    // The container costs beyond the workloads (host syscalls reachable,
    // the fuzzer's rate): when that group runs.
    let costs = plan
        .workloads
        .iter()
        .any(|w| w.group == workload::Group::Costs);
    let host_syscalls = if costs {
        let sleeper = workload::MEMORY.build(&cache).ok();
        let kinds: Vec<RuntimeKind> = runtimes
            .iter()
            .copied()
            .filter(|&kind| kind != RuntimeKind::OxboxSandbox)
            .collect();
        host_syscalls::count_all(&kinds, &runner, sleeper.as_deref())
    } else {
        Vec::new()
    };
    let fuzz = (costs && runtimes.contains(&RuntimeKind::Oxbox))
        .then(|| fuzz_rate::measure(&runner, &cache, if cli.quick { 1 } else { 5 }));
    let results = harness::run(&plan, &runner, &binaries);
    machine.load_after = machine::load_average();
    let report = Report {
        machine,
        settings: Settings {
            quick: cli.quick,
            repeats: plan.repeats,
            iterations: plan.iterations,
            target_ms: plan.target.as_millis() as u64,
            server_seconds: plan.server_seconds,
            seccomp_profile: cli.seccomp_profile.display().to_string(),
        },
        workloads: results,
        host_syscalls,
        fuzz,
        tree,
        image: image_description,
    };
    println!("{}", report.render_text());
    if cli.keep_scratch {
        eprintln!("scratch directory kept: {}", scratch.keep().display());
    }
    if let Some(path) = &cli.json {
        write_json(&report, path)?;
    }
    if let Some(dir) = &cli.out {
        write_report_dir(&report, &runtimes, dir)?;
    }
    let missing: Vec<String> = cli
        .require
        .iter()
        .filter(|&&kind| {
            !report.workloads.iter().all(|w| {
                w.runtimes
                    .iter()
                    .any(|r| r.runtime == kind && r.status == report::Status::Ok)
            })
        })
        .map(|kind| kind.to_string())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "oxbox-bench: required runtime(s) produced no result: {}",
            missing.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_selected_by_name_and_group() {
        let names =
            |w: Vec<&workload::Workload>| -> Vec<&str> { w.iter().map(|w| w.name).collect() };
        assert_eq!(
            select_workloads(&[], &[]).unwrap().len(),
            workload::ALL.len()
        );
        let network = names(select_workloads(&[], &["network".into()]).unwrap());
        assert_eq!(
            network,
            [
                "iperf3_64",
                "iperf3_1k",
                "iperf3_64k",
                "iperf3_64k_reverse",
                "tcp_rr_1"
            ]
        );
        let both = names(select_workloads(&["getppid".into()], &["network".into()]).unwrap());
        assert_eq!(both[0], "getppid");
        assert_eq!(both.len(), 6);
        assert!(select_workloads(&["nope".into()], &[]).is_err());
        let err = select_workloads(&[], &["net".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("known: syscall"), "{err}");
    }
}
