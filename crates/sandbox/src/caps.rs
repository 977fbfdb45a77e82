//! Capabilities: the container's first process gives up all but a few.
//!
//! The guest's root keeps on the host only the capabilities whose effect
//! the oxbox kernel passes through to host calls and which a container's
//! root has under Docker: [`GUEST_ROOT`], the file-permission overrides
//! (so root in the container reads a `0750 redis:redis` directory and
//! `chown`s its data as Docker's root does) and binding ports below 1024.
//! Every other one is dropped: the bounding set keeps only these (so no
//! `execve` can grant another back; the kernel's own re-exec keeps them
//! for a root guest, as Linux does for root), the ambient and inheritable
//! sets are cleared. A non-root guest user keeps none. The bounding set
//! goes first, because dropping from it needs `CAP_SETPCAP`.

use std::io;

use libc::c_ulong;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Capability numbers are below this (`CAP_LAST_CAP` is 40 on Linux 6.x).
const MAX_CAPABILITIES: c_ulong = 64;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `CAP_CHOWN`, `CAP_DAC_OVERRIDE`, `CAP_FOWNER`, `CAP_FSETID`, `CAP_KILL`
/// and `CAP_NET_BIND_SERVICE` (numbers from `linux/capability.h`), in the
/// order of [`GUEST_ROOT_NAMES`].
const GUEST_ROOT_NUMBERS: [u32; 6] = [0, 1, 3, 4, 5, 10];

/// The names of the capabilities a root guest may keep on the host, as
/// OCI configs spell them.
pub const GUEST_ROOT_NAMES: [&str; 6] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
];

/// The capabilities a root guest keeps by default (Docker's default set
/// narrowed to those that matter to the host calls the kernel makes).
pub const GUEST_ROOT: u64 = {
    let mut mask = 0;
    let mut i = 0;
    while i < GUEST_ROOT_NUMBERS.len() {
        mask |= 1 << GUEST_ROOT_NUMBERS[i];
        i += 1;
    }
    mask
};

/// The mask of the [`GUEST_ROOT_NAMES`] entries among `names`; other
/// names are not kept on the host whatever is asked.
pub fn guest_root_mask<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    names
        .into_iter()
        .filter_map(|name| GUEST_ROOT_NAMES.iter().position(|n| *n == name))
        .fold(0, |mask, i| mask | 1 << GUEST_ROOT_NUMBERS[i])
}

/// The capability sets of the calling thread, as 64-bit masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// What the thread may use now.
    pub effective: u64,
    /// What it may make effective.
    pub permitted: u64,
    /// What `execve` may pass on.
    pub inheritable: u64,
}

/// Leaves the calling thread only `keep` (of what it holds) in its
/// effective and permitted sets and empties the inheritable and ambient
/// sets. The bounding set is limited separately ([`limit_bounding_set`]),
/// earlier: that needs `CAP_SETPCAP`, which a change to a non-root user
/// takes away before this runs.
pub fn keep_only(keep: u64) -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT takes only integer arguments.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
            0,
            0,
            0,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let held = get()?.permitted & keep;
    set(CapSets {
        effective: held,
        permitted: held,
        inheritable: 0,
    })
}

/// Drops every capability but `keep` from the bounding set, so no later
/// `execve` can gain another; the kernel answers `EINVAL` past its last
/// capability.
pub fn limit_bounding_set(keep: u64) -> io::Result<()> {
    for cap in (0..MAX_CAPABILITIES).filter(|cap| keep & (1 << cap) == 0) {
        // SAFETY: PR_CAPBSET_DROP takes only integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINVAL) && cap > 0 {
                return Ok(());
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Reads the calling thread's capability sets (`capget`).
pub fn get() -> io::Result<CapSets> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` and `data` are valid, writable, and laid out as the
    // kernel's version-3 structures (one header, two data elements).
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    Ok(CapSets {
        effective: join(|d| d.effective),
        permitted: join(|d| d.permitted),
        inheritable: join(|d| d.inheritable),
    })
}

/// Sets the calling thread's capability sets (`capset`).
fn set(sets: CapSets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |v: u64| [v as u32, (v >> 32) as u32];
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [0, 1].map(|n| CapData {
        effective: e[n],
        permitted: p[n],
        inheritable: i[n],
    });
    // SAFETY: `header` and `data` are valid and laid out as the kernel's
    // version-3 structures; capset only reads `data`.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capget_agrees_with_proc_status() {
        let sets = get().unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(sets.effective, field("CapEff:"));
        assert_eq!(sets.permitted, field("CapPrm:"));
        assert_eq!(sets.inheritable, field("CapInh:"));
    }

    #[test]
    fn guest_root_names_map_to_their_numbers() {
        assert_eq!(GUEST_ROOT, 0b100_0011_1011);
        assert_eq!(guest_root_mask(GUEST_ROOT_NAMES), GUEST_ROOT);
        assert_eq!(
            guest_root_mask(["CAP_KILL", "CAP_SYS_ADMIN", "CAP_CHOWN"]),
            1 << 5 | 1
        );
    }

    #[test]
    fn setting_the_current_sets_again_succeeds() {
        // capset with unchanged sets is always allowed, so this checks the
        // structure layout without giving anything up.
        set(get().unwrap()).unwrap();
    }
}
