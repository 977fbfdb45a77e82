//! `oxbox do`'s resource limits: Docker's `--memory`, `--memory-swap`,
//! `--pids-limit` and `--cpus`, with Docker's syntax, enforced by a cgroup of the container's
//! own that the OCI runtime's cgroup code creates, fills and removes; and
//! Docker's `--ulimit`, the first process's `setrlimit` limits.
//!
//! `--ulimit nofile` is the guest kernel's to enforce (its descriptor
//! table); the other names it accepts are set on the container's host
//! process, where the host enforces them as on any process: the guest's
//! calls that they limit are host calls. `stack` and `data` are refused:
//! the guest's stack and heap are the oxbox kernel's, which the host's
//! limits would not measure.
//!
//! The container's processes join the cgroup before the guest's first
//! instruction (the sandbox's `on_namespaces` hook, as for `oxbox create`),
//! so a fork bomb or a memory hog is held from its start; every process of
//! the container, the kernel's included, counts against the limits.

use std::path::PathBuf;

use clap::Args;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};
use oxbox_oci::cgroups::Cgroup;
use oxbox_sandbox::spec::Rlimit;

/// Docker's smallest memory limit: below it a container cannot even start.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The CFS period `--cpus` is expressed in, as Docker sets it (100 ms).
const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug, Default, Args)]
pub struct LimitArgs {
    /// Memory limit: a number with an optional unit b, k, m, g (binary
    /// multiples, as Docker's), at least 6m; the container is killed when
    /// it needs more
    #[arg(short = 'm', long = "memory", value_name = "BYTES", value_parser = parse_memory)]
    pub memory: Option<i64>,

    /// Memory plus swap the container may use, as Docker's: at least
    /// --memory (equal: no swap), -1 for unlimited swap [default: twice
    /// --memory where the host accounts swap]
    #[arg(long = "memory-swap", value_name = "BYTES", value_parser = parse_memory_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,

    /// Most processes and threads the container may have (0 or -1: no limit)
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,

    /// CPU time the container may use, in CPUs (1.5: one and a half CPUs' worth)
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    pub cpus: Option<f64>,

    /// A resource limit of the container's processes, as `ulimit` sets it:
    /// nofile, nproc, core, cpu, fsize, locks, memlock, msgqueue, nice,
    /// rss, rtprio, rttime or sigpending; HARD defaults to SOFT, -1 or
    /// infinity is unlimited [default: oxbox's own limits]
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]", value_parser = parse_ulimit)]
    pub ulimits: Vec<Rlimit>,
}

impl LimitArgs {
    /// The OCI resources these flags ask for, or `None` when none is set.
    fn resources(&self) -> anyhow::Result<Option<LinuxResources>> {
        if self.memory.is_none() && self.memory_swap.is_some() {
            anyhow::bail!(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
            );
        }
        if self.memory.is_none() && self.pids_limit.is_none() && self.cpus.is_none() {
            return Ok(None);
        }
        let mut resources = LinuxResourcesBuilder::default();
        if let Some(limit) = self.memory {
            let mut memory = LinuxMemoryBuilder::default().limit(limit);
            if let Some(swap) = self.swap_limit(limit)? {
                memory = memory.swap(swap);
            }
            resources = resources.memory(memory.build()?);
        }
        if let Some(limit) = self.pids_limit {
            resources = resources.pids(LinuxPidsBuilder::default().limit(limit).build()?);
        }
        if let Some(cpus) = self.cpus {
            if cpus > available_cpus() as f64 {
                anyhow::bail!(
                    "range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available",
                    available_cpus(),
                    available_cpus()
                );
            }
            let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
            resources = resources.cpu(
                LinuxCpuBuilder::default()
                    .quota(quota)
                    .period(CPU_PERIOD_US)
                    .build()?,
            );
        }
        Ok(Some(resources.build()?))
    }

    /// The memory+swap limit for a memory limit of `memory`, as Docker's
    /// daemon sets it: `--memory-swap`, or twice the memory by default; on
    /// a host that does not account swap, none (with Docker's warning when
    /// the user asked for one).
    fn swap_limit(&self, memory: i64) -> anyhow::Result<Option<i64>> {
        if self.memory_swap.is_some_and(|s| s > 0 && s < memory) {
            anyhow::bail!("Minimum memoryswap limit should be larger than memory limit, see usage");
        }
        let accounted = Cgroup::locate(std::path::Path::new("/")).is_ok_and(|c| c.accounts_swap());
        if !accounted {
            if self.memory_swap.is_some_and(|s| s != -1) {
                eprintln!(
                    "WARNING: Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
                );
            }
            return Ok(None);
        }
        Ok(Some(self.memory_swap.unwrap_or(memory * 2)))
    }

    /// The `--ulimit` limits, one per resource (the last given wins, as
    /// with Docker).
    pub fn rlimits(&self) -> Vec<Rlimit> {
        let mut limits: Vec<Rlimit> = Vec::new();
        for limit in &self.ulimits {
            limits.retain(|l| l.resource != limit.resource);
            limits.push(*limit);
        }
        limits
    }

    /// The container's cgroup, created empty, when a limit is asked for.
    pub fn cgroup(&self) -> anyhow::Result<Option<ContainerCgroup>> {
        let Some(resources) = self.resources()? else {
            return Ok(None);
        };
        sweep_stale_cgroups();
        let path = PathBuf::from(format!("{PARENT}/{PREFIX}{}", std::process::id()));
        let cgroup = Cgroup::locate(&path)?;
        Ok(Some(ContainerCgroup { cgroup, resources }))
    }
}

/// Where `oxbox do` containers' cgroups live, and how their names start
/// (the monitor's pid follows).
const PARENT: &str = "/oxbox";
const PREFIX: &str = "do-";

/// Removes the cgroups of `oxbox do` monitors that are gone (killed with
/// SIGKILL, they could not remove their own), so none accumulate.
fn sweep_stale_cgroups() {
    let Ok(parent) = Cgroup::locate(std::path::Path::new(PARENT)) else {
        return;
    };
    for name in parent.children() {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let stale = Cgroup::locate(&PathBuf::from(format!("{PARENT}/{name}")));
        if let Err(e) = stale.and_then(|c| c.remove()) {
            tracing::warn!("cannot remove the stale cgroup {PARENT}/{name}: {e}");
        }
    }
}

/// The cgroup holding one `oxbox do` container, removed when it is dropped.
pub struct ContainerCgroup {
    cgroup: Cgroup,
    resources: LinuxResources,
}

impl ContainerCgroup {
    /// Moves the container's first process (host pid `pid`) into the
    /// cgroup and applies the limits, before the guest runs.
    pub fn join(&self, pid: i32) -> oxbox_sandbox::Result<()> {
        let setup = || -> oxbox_oci::Result<()> {
            self.cgroup.create_and_join(pid)?;
            self.cgroup.apply(&self.resources)
        };
        setup().map_err(|e| oxbox_sandbox::Error::Setup(format!("resource limits: {e}")))
    }

    /// Says on stderr, as Docker's `docker run` lets the user find out,
    /// that the container was killed for want of memory, when the memory
    /// controller counted an OOM kill.
    pub fn report_oom(&self) {
        if self.cgroup.oom_kills().is_some_and(|kills| kills > 0) {
            let limit = self.resources.memory().as_ref().and_then(|m| m.limit());
            let limit = limit.map_or(String::new(), |l| format!(" (limit {})", human_bytes(l)));
            eprintln!("oxbox: the container ran out of memory{limit} and was killed (OOM)");
        }
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.cgroup.remove() {
            tracing::warn!("cannot remove the container's cgroup: {e}");
        }
    }
}

/// CPUs this process may run on.
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `-m`: a size (see [`parse_size`]) of at least [`MIN_MEMORY`].
fn parse_memory(text: &str) -> Result<i64, String> {
    let bytes = parse_size(text)?;
    if bytes < MIN_MEMORY {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    Ok(bytes)
}

/// `--memory-swap`: a size, or `-1` for unlimited swap.
fn parse_memory_swap(text: &str) -> Result<i64, String> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    parse_size(text)
}

/// Docker's sizes: `64m`, `1g`, `512mb`, `100000` (bytes), binary
/// multiples.
fn parse_size(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{text}'");
    let lower = text.trim().to_ascii_lowercase();
    let unitless = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, shift) = match unitless.chars().last() {
        Some('k') => (&unitless[..unitless.len() - 1], 10),
        Some('m') => (&unitless[..unitless.len() - 1], 20),
        Some('g') => (&unitless[..unitless.len() - 1], 30),
        Some('t') => (&unitless[..unitless.len() - 1], 40),
        _ => (unitless, 0),
    };
    let number: f64 = digits.trim().parse().map_err(|_| invalid())?;
    if !number.is_finite() || number < 0.0 {
        return Err(invalid());
    }
    let bytes = number * (1u64 << shift) as f64;
    if bytes > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as i64)
}

/// `--cpus`: a positive decimal, to two places as Docker keeps it.
fn parse_cpus(text: &str) -> Result<f64, String> {
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of CPUs: '{text}'"))?;
    if !cpus.is_finite() || cpus < 0.01 {
        return Err(format!(
            "invalid number of CPUs: '{text}': it must be at least 0.01"
        ));
    }
    Ok(cpus)
}

/// Docker's `--ulimit` names (go-units' table), their `RLIMIT_*` numbers,
/// and whether oxbox can honour them (see the module's doc).
const ULIMITS: [(&str, i32, bool); 15] = [
    ("core", libc::RLIMIT_CORE as i32, true),
    ("cpu", libc::RLIMIT_CPU as i32, true),
    ("data", libc::RLIMIT_DATA as i32, false),
    ("fsize", libc::RLIMIT_FSIZE as i32, true),
    ("locks", libc::RLIMIT_LOCKS as i32, true),
    ("memlock", libc::RLIMIT_MEMLOCK as i32, true),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as i32, true),
    ("nice", libc::RLIMIT_NICE as i32, true),
    ("nofile", libc::RLIMIT_NOFILE as i32, true),
    ("nproc", libc::RLIMIT_NPROC as i32, true),
    ("rss", libc::RLIMIT_RSS as i32, true),
    ("rtprio", libc::RLIMIT_RTPRIO as i32, true),
    ("rttime", libc::RLIMIT_RTTIME as i32, true),
    ("sigpending", libc::RLIMIT_SIGPENDING as i32, true),
    ("stack", libc::RLIMIT_STACK as i32, false),
];

/// `--ulimit NAME=SOFT[:HARD]`, read and refused as Docker's CLI does
/// (go-units' `ParseUlimit`, its messages included): HARD defaults to
/// SOFT, `-1` and `infinity` mean unlimited, and a soft limit above the
/// hard one is an error. Values become `rlim_t` as Docker converts them.
fn parse_ulimit(text: &str) -> Result<Rlimit, String> {
    let Some((name, values)) = text.split_once('=') else {
        return Err(format!("invalid ulimit argument: {text}"));
    };
    let Some(&(_, resource, supported)) = ULIMITS.iter().find(|(n, ..)| *n == name) else {
        return Err(format!("invalid ulimit type: {name}"));
    };
    let (soft, hard) = match values.split(':').collect::<Vec<_>>()[..] {
        [soft] => {
            let soft = ulimit_value(soft)?;
            (soft, soft)
        }
        [soft, hard] => {
            let hard = ulimit_value(hard)?;
            (ulimit_value(soft)?, hard)
        }
        _ => {
            return Err(format!(
                "too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
            ));
        }
    };
    if hard != -1 && soft == -1 {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"
        ));
    }
    if hard != -1 && soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    if !supported {
        return Err(format!(
            "--ulimit {name} is not supported by oxbox: the guest's stack and heap are its kernel's, which the host's limit would not measure"
        ));
    }
    Ok(Rlimit {
        resource,
        soft: soft as u64,
        hard: hard as u64,
    })
}

/// One limit value: a decimal `int64` as Go's `strconv.ParseInt` reads it
/// (with its error messages), or `infinity` (-1).
fn ulimit_value(text: &str) -> Result<i64, String> {
    if text == "infinity" {
        return Ok(-1);
    }
    text.parse().map_err(|e: std::num::ParseIntError| {
        let reason = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.ParseInt: parsing \"{text}\": {reason}")
    })
}

/// `64 MiB`-style sizes for messages.
fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.0} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_read_as_dockers() {
        assert_eq!(parse_memory("64m"), Ok(64 << 20));
        assert_eq!(parse_memory("64MB"), Ok(64 << 20));
        assert_eq!(parse_memory("1g"), Ok(1 << 30));
        assert_eq!(parse_memory("1.5g"), Ok(3 << 29));
        assert_eq!(parse_memory("8388608"), Ok(8 << 20));
        assert_eq!(parse_memory("abc"), Err("invalid size: 'abc'".into()));
        assert_eq!(parse_memory("-5m"), Err("invalid size: '-5m'".into()));
        assert_eq!(
            parse_memory("4m"),
            Err("Minimum memory limit allowed is 6MB".into())
        );
    }

    #[test]
    fn cpus_are_positive_decimals() {
        assert_eq!(parse_cpus("1.5"), Ok(1.5));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("lots").is_err());
    }

    #[test]
    fn flags_become_oci_resources() {
        let limits = LimitArgs {
            memory: Some(64 << 20),
            memory_swap: None,
            pids_limit: Some(32),
            cpus: Some(0.5),
            ulimits: Vec::new(),
        };
        let resources = limits.resources().unwrap().unwrap();
        let memory = resources.memory().as_ref().unwrap();
        assert_eq!(memory.limit(), Some(64 << 20));
        // Docker's default swap, where the host can limit it.
        let accounted = Cgroup::locate(std::path::Path::new("/")).is_ok_and(|c| c.accounts_swap());
        assert_eq!(memory.swap(), accounted.then_some(128 << 20));
        assert_eq!(resources.pids().as_ref().unwrap().limit(), 32);
        let cpu = resources.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
        assert!(LimitArgs::default().resources().unwrap().is_none());
        let too_many = LimitArgs {
            cpus: Some(available_cpus() as f64 + 1.0),
            ..LimitArgs::default()
        };
        assert!(too_many.resources().is_err());
    }

    #[test]
    fn swap_limits_get_dockers_checks() {
        let limits = |memory, memory_swap| LimitArgs {
            memory,
            memory_swap,
            ..LimitArgs::default()
        };
        for (args, message) in [
            (
                limits(None, Some(64 << 20)),
                "You should always set the Memory limit",
            ),
            (
                limits(Some(64 << 20), Some(32 << 20)),
                "Minimum memoryswap limit should be larger than memory limit",
            ),
        ] {
            let err = args.resources().unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
        assert!(limits(Some(64 << 20), Some(-1)).resources().is_ok());
        assert!(limits(Some(64 << 20), Some(64 << 20)).resources().is_ok());
        assert_eq!(parse_memory_swap("-1"), Ok(-1));
        assert_eq!(parse_memory_swap("1m"), Ok(1 << 20));
        assert!(parse_memory_swap("-2").is_err());
    }

    #[test]
    fn ulimits_read_as_dockers() {
        let nofile = |soft, hard| {
            Ok(Rlimit {
                resource: libc::RLIMIT_NOFILE as i32,
                soft,
                hard,
            })
        };
        assert_eq!(parse_ulimit("nofile=64:128"), nofile(64, 128));
        assert_eq!(parse_ulimit("nofile=64"), nofile(64, 64));
        assert_eq!(parse_ulimit("nofile=+64"), nofile(64, 64));
        assert_eq!(parse_ulimit("nofile=-1"), nofile(u64::MAX, u64::MAX));
        assert_eq!(parse_ulimit("nofile=10:infinity"), nofile(10, u64::MAX));
        let core = parse_ulimit("core=0:-1").unwrap();
        assert_eq!(
            (core.resource, core.soft, core.hard),
            (libc::RLIMIT_CORE as i32, 0, u64::MAX)
        );
    }

    #[test]
    fn bad_ulimits_get_dockers_messages() {
        for (text, message) in [
            ("nofile", "invalid ulimit argument: nofile"),
            ("files=1", "invalid ulimit type: files"),
            ("Nofile=1", "invalid ulimit type: Nofile"),
            (
                "nofile=1:2:3",
                "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
            ),
            (
                "nofile=abc",
                "strconv.ParseInt: parsing \"abc\": invalid syntax",
            ),
            ("nofile=", "strconv.ParseInt: parsing \"\": invalid syntax"),
            (
                "nofile=1:x",
                "strconv.ParseInt: parsing \"x\": invalid syntax",
            ),
            (
                "nofile=99999999999999999999",
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
            ),
            (
                "nofile=128:64",
                "ulimit soft limit must be less than or equal to hard limit: 128 > 64",
            ),
            (
                "nofile=-1:64",
                "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 64",
            ),
        ] {
            assert_eq!(parse_ulimit(text), Err(message.to_string()), "{text}");
        }
        for unsupported in ["stack=8192", "data=1:2"] {
            let error = parse_ulimit(unsupported).unwrap_err();
            assert!(error.contains("is not supported by oxbox"), "{error}");
        }
    }

    #[test]
    fn the_last_ulimit_of_a_name_wins() {
        let ulimits = ["nofile=10", "nproc=5", "nofile=20:30"]
            .map(|u| parse_ulimit(u).unwrap())
            .to_vec();
        let limits = LimitArgs {
            ulimits,
            ..LimitArgs::default()
        };
        let got: Vec<_> = limits
            .rlimits()
            .iter()
            .map(|l| (l.resource, l.soft, l.hard))
            .collect();
        assert_eq!(
            got,
            [
                (libc::RLIMIT_NPROC as i32, 5, 5),
                (libc::RLIMIT_NOFILE as i32, 20, 30)
            ]
        );
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(512), "512 B");
    }
}
