//! Cgroups: where a container's processes are counted, limited and frozen.
//!
//! Both layouts are handled: the unified v2 hierarchy (one directory, when
//! `/sys/fs/cgroup/cgroup.controllers` exists) and v1 (one hierarchy per
//! controller, found in `/proc/self/mountinfo`). A container gets the same
//! relative path in every hierarchy: `linux.cgroupsPath` from the config,
//! or `/oxbox/ID`. The limits come from the OCI `linux.resources`:
//! memory, pids, cpu shares/quota/period, cpuset and the device rules (see
//! [`crate::devices`]: files of the v1 controller, an eBPF program on v2).

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::devices::DeviceRules;
use crate::error::{Error, Result};

/// Compiles `rules` and attaches the program to the v2 cgroup `dir`.
/// Called once, at create: programs attached to a cgroup add up (each must
/// allow), so `update` leaves the devices alone, as runc's does.
fn attach_device_filter(dir: &Path, rules: &DeviceRules) -> Result<()> {
    let program = rules.program()?;
    if program.is_empty() {
        return Ok(());
    }
    let loaded = crate::bpf::load_device_filter(&program)
        .map_err(|e| Error::io("load the device filter for", dir, e))?;
    crate::bpf::attach_device_filter(dir, &loaded)
        .map_err(|e| Error::io("attach the device filter to", dir, e))
}

/// v2's `memory.swap.max` for an OCI memory+swap limit `swap` (v1's
/// meaning): the swap alone, as runc converts it.
fn v2_swap(swap: i64, memory: Option<i64>) -> Result<String> {
    if swap < 0 {
        return Ok("max".into());
    }
    match memory {
        Some(memory) if memory > 0 && swap >= memory => Ok((swap - memory).to_string()),
        Some(memory) if memory > 0 => Err(Error::Config(format!(
            "memory+swap limit {swap} should be at least the memory limit {memory}"
        ))),
        _ => Err(Error::Config(
            "a swap limit needs a memory limit on cgroup v2".into(),
        )),
    }
}

/// Where cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup directories of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cgroup {
    /// The unified hierarchy: one directory.
    V2(PathBuf),
    /// One directory per v1 controller, `(controllers, dir)`.
    V1(Vec<(Vec<String>, PathBuf)>),
}

impl Cgroup {
    /// The container's cgroup at `relative` (absolute-looking, e.g.
    /// `/docker/ID`) on this host; nothing is created.
    pub fn locate(relative: &Path) -> Result<Self> {
        let relative = relative.strip_prefix("/").unwrap_or(relative);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Error::Config(format!(
                "invalid cgroups path {:?}",
                relative.display()
            )));
        }
        if Path::new(CGROUP_ROOT).join("cgroup.controllers").exists() {
            return Ok(Self::V2(Path::new(CGROUP_ROOT).join(relative)));
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
        Ok(Self::V1(
            v1_hierarchies(&mountinfo)
                .into_iter()
                .map(|(controllers, mount)| (controllers, mount.join(relative)))
                .collect(),
        ))
    }

    /// Creates the directories and moves `pid` into them.
    pub fn create_and_join(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            fs::create_dir_all(dir).map_err(|e| Error::io("create cgroup", dir, e))?;
        }
        if let Self::V1(hierarchies) = self
            && let Some((_, dir)) = hierarchies
                .iter()
                .find(|(c, _)| c.iter().any(|c| c == "cpuset"))
        {
            inherit_cpuset(dir)?;
        }
        for dir in self.dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies `resources`; limits the host lacks a controller for are
    /// errors, as the user asked for them.
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let mut files = self.limit_files(resources)?;
        self.order_memory_and_swap(&mut files);
        if let Some(rules) = resources.devices() {
            let rules = DeviceRules::from_config(rules)?;
            match self {
                Self::V1(_) => files.extend(rules.v1_writes()),
                Self::V2(dir) => attach_device_filter(dir, &rules)?,
            }
        }
        for (file, value) in files {
            let path = self
                .file(file)
                .ok_or_else(|| Error::Config(format!("no cgroup controller for {file}")))?;
            write(&path, &value)?;
        }
        Ok(())
    }

    /// `(file, value)` pairs for `resources` in this layout, but for the
    /// device rules.
    fn limit_files(&self, resources: &LinuxResources) -> Result<Vec<(&'static str, String)>> {
        let v2 = matches!(self, Self::V2(_));
        let mut files = Vec::new();
        if let Some(memory) = resources.memory() {
            if let Some(limit) = memory.limit() {
                let value = if limit < 0 {
                    if v2 { "max".into() } else { "-1".into() }
                } else {
                    limit.to_string()
                };
                files.push((
                    if v2 {
                        "memory.max"
                    } else {
                        "memory.limit_in_bytes"
                    },
                    value,
                ));
            }
            if let Some(swap) = memory.swap().filter(|s| *s != 0) {
                files.push(if v2 {
                    ("memory.swap.max", v2_swap(swap, memory.limit())?)
                } else {
                    ("memory.memsw.limit_in_bytes", swap.max(-1).to_string())
                });
            }
            if let Some(reservation) = memory.reservation().filter(|r| *r > 0) {
                files.push((
                    if v2 {
                        "memory.low"
                    } else {
                        "memory.soft_limit_in_bytes"
                    },
                    reservation.to_string(),
                ));
            }
        }
        if let Some(pids) = resources.pids() {
            let limit = pids.limit();
            files.push((
                "pids.max",
                if limit <= 0 {
                    "max".into()
                } else {
                    limit.to_string()
                },
            ));
        }
        if let Some(cpu) = resources.cpu() {
            if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
                if v2 {
                    // runc's conversion of shares [2, 262144] to weight [1, 10000].
                    let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                    files.push(("cpu.weight", weight.to_string()));
                } else {
                    files.push(("cpu.shares", shares.to_string()));
                }
            }
            let period = cpu.period().filter(|p| *p > 0);
            match (cpu.quota().filter(|q| *q != 0), v2) {
                (Some(quota), true) => {
                    let quota = if quota < 0 {
                        "max".into()
                    } else {
                        quota.to_string()
                    };
                    files.push(("cpu.max", format!("{quota} {}", period.unwrap_or(100_000))));
                }
                (quota, false) => {
                    if let Some(period) = period {
                        files.push(("cpu.cfs_period_us", period.to_string()));
                    }
                    if let Some(quota) = quota {
                        files.push(("cpu.cfs_quota_us", quota.to_string()));
                    }
                }
                (None, true) => {}
            }
            if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
                files.push(("cpuset.cpus", cpus.clone()));
            }
            if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
                files.push(("cpuset.mems", mems.clone()));
            }
        }
        Ok(files)
    }

    /// v1 keeps the memory limit at or below the memory+swap one: when the
    /// new memory limit is above the current memory+swap limit (raising
    /// both, as `update` may), memory+swap goes first.
    fn order_memory_and_swap(&self, files: &mut [(&'static str, String)]) {
        let position = |name: &str| files.iter().position(|(file, _)| *file == name);
        let (Some(memory), Some(swap)) = (
            position("memory.limit_in_bytes"),
            position("memory.memsw.limit_in_bytes"),
        ) else {
            return;
        };
        let current = self.read_number("memory.memsw.limit_in_bytes");
        let new_memory: Option<u64> = files[memory].1.parse().ok();
        // -1 (no limit) raises it; a number above the current one too.
        if new_memory.is_none() || new_memory > current {
            files.swap(memory, swap);
        }
    }

    /// Whether the host accounts swap per cgroup, so that a memory+swap
    /// limit can be set; asked of the root cgroup (`locate("/")`), where
    /// v1's `memory.memsw.*` files exist only then.
    pub fn accounts_swap(&self) -> bool {
        match self {
            Self::V1(_) => self
                .file("memory.memsw.limit_in_bytes")
                .is_some_and(|f| f.exists()),
            Self::V2(dir) => fs::read_to_string(dir.join("cgroup.controllers"))
                .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory")),
        }
    }

    /// Freezes (`pause`) or thaws (`resume`) every process in the cgroup.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (file, value) = match self {
            Self::V2(_) => ("cgroup.freeze", if frozen { "1" } else { "0" }),
            Self::V1(_) => ("freezer.state", if frozen { "FROZEN" } else { "THAWED" }),
        };
        let path = self
            .file(file)
            .ok_or_else(|| Error::WrongState("the host has no cgroup freezer".into()))?;
        write(&path, value)?;
        // v1 goes through FREEZING; wait until the state settles.
        for _ in 0..1000 {
            if self.is_frozen() == frozen {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(Error::WrongState(format!(
            "the cgroup did not {} in time",
            if frozen { "freeze" } else { "thaw" }
        )))
    }

    /// Whether the cgroup is frozen.
    pub fn is_frozen(&self) -> bool {
        let (file, frozen) = match self {
            Self::V2(_) => ("cgroup.freeze", "1"),
            Self::V1(_) => ("freezer.state", "FROZEN"),
        };
        self.file(file)
            .and_then(|path| fs::read_to_string(path).ok())
            .is_some_and(|text| text.trim() == frozen)
    }

    /// The pids of every process in the cgroup, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let path = self
            .file("cgroup.procs")
            .ok_or_else(|| Error::WrongState("the container has no cgroup".into()))?;
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let mut pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// A number from a stats file, such as `memory.current`.
    pub fn read_number(&self, file: &str) -> Option<u64> {
        let text = fs::read_to_string(self.file(file)?).ok()?;
        text.trim().parse().ok()
    }

    /// How many processes the memory controller killed for want of memory
    /// (`oom_kill` in v1's `memory.oom_control`, v2's `memory.events`);
    /// `None` when the host does not count them.
    pub fn oom_kills(&self) -> Option<u64> {
        let file = match self {
            Self::V2(_) => "memory.events",
            Self::V1(_) => "memory.oom_control",
        };
        let text = fs::read_to_string(self.file(file)?).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// The names of the cgroups directly below this one, in any hierarchy
    /// under v1 (a runtime killed while it made its cgroup may have left
    /// it in some only), for sweeping the ones a killed runtime left.
    pub fn children(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .dirs()
            .into_iter()
            .filter_map(|dir| fs::read_dir(dir).ok())
            .flat_map(|entries| entries.flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Removes the directories (once their processes are gone).
    pub fn remove(&self) -> Result<()> {
        for dir in self.dirs() {
            let mut attempt = 0;
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    // Processes just killed may take a moment to leave.
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 200 => {
                        attempt += 1;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(e) => return Err(Error::io("remove cgroup", dir, e)),
                }
            }
        }
        Ok(())
    }

    fn dirs(&self) -> Vec<&PathBuf> {
        match self {
            Self::V2(dir) => vec![dir],
            Self::V1(hierarchies) => hierarchies.iter().map(|(_, dir)| dir).collect(),
        }
    }

    /// The file named `name` (`memory.max`, `pids.max`...) in the
    /// hierarchy of its controller; `cgroup.procs` from any.
    fn file(&self, name: &str) -> Option<PathBuf> {
        match self {
            Self::V2(dir) => Some(dir.join(name)),
            Self::V1(hierarchies) => {
                let controller = name.split('.').next().unwrap_or("");
                let controller = if controller == "cgroup" {
                    "pids"
                } else {
                    controller
                };
                hierarchies
                    .iter()
                    .find(|(c, _)| c.iter().any(|c| c == controller))
                    .or_else(|| {
                        (controller == "pids")
                            .then(|| hierarchies.first())
                            .flatten()
                    })
                    .map(|(_, dir)| dir.join(name))
            }
        }
    }
}

/// The v1 hierarchies in `mountinfo`: `(controllers, mount point)`.
fn v1_hierarchies(mountinfo: &str) -> Vec<(Vec<String>, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut right = right.split_whitespace();
            if right.next()? != "cgroup" {
                return None;
            }
            let mount_point = left.split_whitespace().nth(4)?;
            let options = right.nth(1)?;
            let controllers: Vec<String> = options
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                .map(|o| o.strip_prefix("name=").unwrap_or(o).to_owned())
                .collect();
            Some((controllers, PathBuf::from(mount_point)))
        })
        .collect()
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and no
/// process may join it: copy them from the nearest ancestor, top down.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| d.join("cpuset.cpus").exists())
        .collect();
    chain.reverse();
    for pair in chain.windows(2) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let child = pair[1].join(file);
            let current = fs::read_to_string(&child).unwrap_or_default();
            if current.trim().is_empty() {
                let parent = fs::read_to_string(pair[0].join(file))
                    .map_err(|e| Error::io("read", pair[0].join(file), e))?;
                write(&child, parent.trim())?;
            }
        }
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn resources() -> LinuxResources {
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn v1_hierarchies_are_read_from_mountinfo() {
        let found = v1_hierarchies(MOUNTINFO);
        assert_eq!(found.len(), 4);
        assert_eq!(
            found[0],
            (vec!["cpu".to_string()], "/sys/fs/cgroup/cpu".into())
        );
        assert_eq!(found[3].0, ["systemd"]);
    }

    #[test]
    fn limits_are_written_in_each_layouts_files() {
        let v1 = Cgroup::V1(
            v1_hierarchies(MOUNTINFO)
                .into_iter()
                .map(|(c, m)| (c, m.join("docker/x")))
                .collect(),
        );
        assert_eq!(
            v1.limit_files(&resources()).unwrap(),
            [
                ("memory.limit_in_bytes", "67108864".to_string()),
                ("pids.max", "100".into()),
                ("cpu.shares", "512".into()),
                ("cpu.cfs_period_us", "100000".into()),
                ("cpu.cfs_quota_us", "50000".into()),
            ]
        );
        assert_eq!(
            v1.file("memory.limit_in_bytes"),
            Some("/sys/fs/cgroup/memory/docker/x/memory.limit_in_bytes".into())
        );
        let v2 = Cgroup::V2("/sys/fs/cgroup/docker/x".into());
        assert_eq!(
            v2.limit_files(&resources()).unwrap(),
            [
                ("memory.max", "67108864".to_string()),
                ("pids.max", "100".into()),
                ("cpu.weight", "20".into()),
                ("cpu.max", "50000 100000".into()),
            ]
        );
    }

    #[test]
    fn swap_limits_are_memory_plus_swap_on_v1_and_swap_alone_on_v2() {
        let with_swap = |limit: Option<i64>, swap: i64| {
            let mut memory = LinuxMemoryBuilder::default().swap(swap);
            if let Some(limit) = limit {
                memory = memory.limit(limit);
            }
            LinuxResourcesBuilder::default()
                .memory(memory.build().unwrap())
                .build()
                .unwrap()
        };
        let v1 = Cgroup::V1(vec![(vec!["memory".into()], "/nonexistent/x".into())]);
        let v2 = Cgroup::V2("/nonexistent/x".into());
        let mut files = v1
            .limit_files(&with_swap(Some(64 << 20), 128 << 20))
            .unwrap();
        v1.order_memory_and_swap(&mut files);
        // Nothing to read the current limit from: memory+swap goes first.
        assert_eq!(
            files,
            [
                ("memory.memsw.limit_in_bytes", "134217728".to_string()),
                ("memory.limit_in_bytes", "67108864".into()),
            ]
        );
        assert_eq!(
            v2.limit_files(&with_swap(Some(64 << 20), 128 << 20))
                .unwrap(),
            [
                ("memory.max", "67108864".to_string()),
                ("memory.swap.max", "67108864".into()),
            ]
        );
        assert_eq!(
            v2.limit_files(&with_swap(Some(64 << 20), -1)).unwrap()[1],
            ("memory.swap.max", "max".into())
        );
        for (limit, swap, why) in [
            (Some(64 << 20), 32 << 20, "at least the memory limit"),
            (None, 32 << 20, "needs a memory limit"),
        ] {
            let err = v2.limit_files(&with_swap(limit, swap)).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn cgroups_paths_cannot_climb() {
        assert!(Cgroup::locate(Path::new("/docker/../../etc")).is_err());
    }
}
