//! Capabilities: the container's first process gives up every one.
//!
//! The guest runs as uid 0 but must hold no privilege: the bounding set is
//! emptied (so `execve` can never grant a capability back), the ambient set
//! cleared, and the effective, permitted and inheritable sets zeroed. The
//! bounding set goes first, because dropping from it needs `CAP_SETPCAP`.

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

/// Empties every capability set of the calling thread, the ambient set
/// included. The bounding set is emptied separately
/// ([`drop_bounding_set`]), earlier: that needs `CAP_SETPCAP`, which a
/// change to a non-root user takes away before this runs.
pub fn drop_all() -> io::Result<()> {
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
    set(CapSets::default())
}

/// Drops every capability from the bounding set, so no later `execve`
/// can gain one; the kernel answers `EINVAL` past its last capability.
pub fn drop_bounding_set() -> io::Result<()> {
    for cap in 0..MAX_CAPABILITIES {
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
    fn setting_the_current_sets_again_succeeds() {
        // capset with unchanged sets is always allowed, so this checks the
        // structure layout without giving anything up.
        set(get().unwrap()).unwrap();
    }
}
