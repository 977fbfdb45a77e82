//! Each syscall family the kernel implements, exercised by a static C
//! program of `tests/guest/<area>/<case>.c`, prints exactly the same
//! `ok`/`FAIL` lines under oxbox as on the host kernel, error cases
//! included (EFAULT on bad pointers, EBADF on bad descriptors, ENOENT,
//! EEXIST, ENOTDIR, EISDIR, EINVAL, ENOSYS for unknown numbers).
//!
//! The native run must pass on its own first: that validates the program,
//! so a difference under oxbox is a kernel bug, not a test bug.

use oxbox_abi::layout;
use oxbox_integration::{
    Compare, Run, assert_guest_passed, guest_matches_native, native_only, require_root,
};

#[test]
fn files_open_read_write_seek_match_native() {
    require_root!();
    guest_matches_native(Run::guest("files/rw"));
}

#[test]
fn files_stat_statx_access_match_native() {
    require_root!();
    guest_matches_native(Run::guest("files/stat"));
}

#[test]
fn files_directories_names_and_links_match_native() {
    require_root!();
    guest_matches_native(Run::guest("files/dirs"));
}

#[test]
fn files_descriptor_table_pipes_and_ioctls_match_native() {
    require_root!();
    guest_matches_native(Run::guest("files/fds"));
}

#[test]
fn bad_pointers_give_efault_in_every_family() {
    require_root!();
    guest_matches_native(Run::guest("errors/efault"));
}

#[test]
fn bad_descriptors_give_ebadf_in_every_call() {
    require_root!();
    guest_matches_native(Run::guest("errors/ebadf"));
}

#[test]
fn memory_mappings_and_brk_match_native() {
    require_root!();
    guest_matches_native(Run::guest("mm/mmap"));
}

#[test]
fn identity_is_the_container_view_pid_1_uid_0_and_hostname() {
    require_root!();
    let host = "ids-box";
    guest_matches_native(Run::guest("identity/ids").hostname(host).arg(host));
}

#[test]
fn clocks_and_sleeps_match_native() {
    require_root!();
    guest_matches_native(Run::guest("time/clocks"));
}

#[test]
fn getrandom_and_random_devices_match_native() {
    require_root!();
    guest_matches_native(Run::guest("random/getrandom"));
}

#[test]
fn dev_null_zero_full_random_tty_match_native() {
    require_root!();
    guest_matches_native(Run::guest("devices/dev"));
}

#[test]
fn proc_self_exe_fd_maps_status_match_native() {
    require_root!();
    guest_matches_native(Run::guest("procfs/self"));
}

#[test]
fn signal_actions_and_masks_are_stored_like_native() {
    require_root!();
    guest_matches_native(Run::guest("signals/stored"));
}

#[test]
fn rlimits_and_sysinfo_match_native() {
    require_root!();
    guest_matches_native(Run::guest("limits/rlimits"));
}

#[test]
fn unknown_syscalls_give_enosys() {
    require_root!();
    guest_matches_native(Run::guest("unknown/enosys"));
}

/// The guest shares its address space and descriptor table with the
/// kernel: mapping, unmapping, protecting or passing as a buffer any part
/// of the kernel's area or slot table must fail, and so must naming its
/// reserved descriptors. Oxbox only: natively those are free.
#[test]
fn memory_and_fd_calls_cannot_touch_the_kernel() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
        return;
    }
    let run = Run::guest("mm/kernel_regions")
        .arg(format!("{:#x}", layout::KERNEL_BASE))
        .arg(format!("{:#x}", layout::KERNEL_AREA_SIZE))
        .arg(format!("{:#x}", layout::SLOT_TABLE_ADDR))
        .arg(layout::RESERVED_FD_BASE.to_string());
    assert_guest_passed(&run.oxbox());
}

/// A guest writing through wild pointers or hoarding address space cannot
/// corrupt the kernel silently: its touches of the kernel's image, guard
/// pages and unused area fault in the guest, the host never places a guest
/// mapping in the kernel area, and /proc/self/maps does not show it.
/// Oxbox only: natively those addresses are ordinary.
#[test]
fn guest_cannot_corrupt_the_kernel() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
        return;
    }
    let hex = |value: u64| format!("{value:#x}");
    let run = Run::guest("mm/wild_pointers")
        .arg(hex(layout::KERNEL_BASE))
        .arg(hex(layout::KERNEL_AREA_SIZE))
        .arg(hex(layout::KERNEL_HEAP_BASE))
        .arg(hex(layout::KERNEL_HEAP_SIZE))
        .arg(hex(layout::KERNEL_STACKS_BASE));
    assert_guest_passed(&run.oxbox());
}

/// No call writes its result into the kernel's heap or stacks for the
/// guest: every output pointer there is `EFAULT`, checked before the host
/// or the kernel writes. Oxbox only: natively those addresses are unmapped.
#[test]
fn calls_never_write_results_into_the_kernel() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
        return;
    }
    let run = Run::guest("mm/kernel_buffers")
        .arg(format!("{:#x}", layout::KERNEL_HEAP_BASE + (1 << 20)))
        .arg(format!("{:#x}", layout::KERNEL_STACKS_BASE + 2 * 4096));
    assert_guest_passed(&run.oxbox());
}

#[test]
fn startup_thread_pointer_and_tid_address_match_native() {
    require_root!();
    guest_matches_native(Run::guest("process/startup"));
}

/// However the guest ends, `oxbox do` exits as the native process does:
/// its exit code modulo 256, or 128+N when killed by signal N.
#[test]
fn exit_statuses_match_native() {
    require_root!();
    for (how, code, want) in [
        ("return", 0, 0),
        ("return", 7, 7),
        ("group", 3, 3),
        ("group", 255, 255),
        ("group", 256, 0),
        ("thread", 42, 42),
        ("segv", 0, 128 + 11),
    ] {
        let run = Run::guest("process/exit").arg(how).arg(code.to_string());
        let (native, _) = run.matches_native(Compare::StdoutAndStatus);
        assert_eq!(native.status, want, "{}", native.describe());
        assert_eq!(native.stdout(), format!("exiting by {how} {code}\n"));
    }
}

/// Terminal ioctls (TCGETS, TCSETS, TIOCGWINSZ, TIOCSWINSZ) on a real
/// pseudo-terminal behave like Linux's.
#[test]
fn terminal_ioctls_on_a_pty_match_native() {
    require_root!();
    guest_matches_native(Run::guest("files/tty").terminal());
}

#[test]
fn signals_reach_guest_handlers_like_native() {
    require_root!();
    guest_matches_native(Run::guest("signals/delivery"));
}
