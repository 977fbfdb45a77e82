//! `oxbox do`'s resource limits: Docker's `--memory`, `--pids-limit` and
//! `--cpus`, with Docker's syntax, enforced by a cgroup of the container's
//! own that the OCI runtime's cgroup code creates, fills and removes.
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

    /// Most processes and threads the container may have (0 or -1: no limit)
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,

    /// CPU time the container may use, in CPUs (1.5: one and a half CPUs' worth)
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    pub cpus: Option<f64>,
}

impl LimitArgs {
    /// The OCI resources these flags ask for, or `None` when none is set.
    fn resources(&self) -> anyhow::Result<Option<LinuxResources>> {
        if self.memory.is_none() && self.pids_limit.is_none() && self.cpus.is_none() {
            return Ok(None);
        }
        let mut resources = LinuxResourcesBuilder::default();
        if let Some(limit) = self.memory {
            resources = resources.memory(LinuxMemoryBuilder::default().limit(limit).build()?);
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

/// Docker's memory sizes: `64m`, `1g`, `512mb`, `100000` (bytes), binary
/// multiples, at least [`MIN_MEMORY`].
fn parse_memory(text: &str) -> Result<i64, String> {
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
    let bytes = bytes as i64;
    if bytes < MIN_MEMORY {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    Ok(bytes)
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
            pids_limit: Some(32),
            cpus: Some(0.5),
        };
        let resources = limits.resources().unwrap().unwrap();
        assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(64 << 20));
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
    fn sizes_print_in_binary_units() {
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(512), "512 B");
    }
}
