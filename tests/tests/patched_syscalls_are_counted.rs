//! The hot path is a patched call, and `--stats` shows it.
//!
//! A guest's first call at a `mov $nr,%eax; syscall` site traps into the
//! kernel (SIGSYS), which rewrites the site into `call *slot`; every later
//! call at that site is a plain function call into the kernel. The kernel
//! counts both per syscall and prints them with `oxbox do --stats`.
//! Patched sites then used in other ways (a clone site by a thread or a
//! vfork on a stack, a site that takes its number from a register, sites
//! fork children run) still give what they give natively.

use oxbox_abi::Sysno;
use oxbox_integration::{
    Compare, Outcome, Run, Stats, assert_guest_passed, native_only, require_root,
};

fn stats_of(o: &Outcome) -> Stats {
    Stats::parse(&o.stderr()).unwrap_or_else(|e| panic!("{e}\n{}", o.describe()))
}

/// `tests/guest/patched/shared_sites.c`: one clone site for forks, a
/// thread and a vfork on a stack; one `mov %esi,%eax` site for several
/// calls, in a parent and its fork children.
#[test]
fn patched_sites_used_for_forks_threads_and_several_calls_match_native() {
    require_root!();
    let (native, oxbox) =
        Run::guest("patched/shared_sites").matches_native(Compare::StdoutAndStatus);
    assert_guest_passed(&native);
    if let Some(oxbox) = oxbox {
        assert_guest_passed(&oxbox);
    }
}

/// glibc's `getppid()` is one `mov $110,%eax; syscall` site: of 10000
/// calls, at most the first few may trap, the rest must be patched.
#[test]
fn getppid_hot_loop_runs_through_a_patched_site() {
    require_root!();
    let run = Run::guest("patched/getppid_loop").stats();
    let (native, oxbox) = run.matches_native(Compare::StdoutAndStatus);
    assert_guest_passed(&native);
    let Some(oxbox) = oxbox else { return };
    assert_guest_passed(&oxbox);
    let stats = stats_of(&oxbox);
    let getppid = stats
        .by_nr(Sysno::getppid as u64)
        .unwrap_or_else(|| panic!("no getppid line in the stats\n{}", oxbox.describe()));
    assert_eq!(
        getppid.patched + getppid.trapped,
        10_000,
        "the program calls getppid exactly 10000 times\n{}",
        oxbox.describe()
    );
    assert!(
        getppid.patched > 9_000,
        "getppid stayed on the trap path: {getppid:?}\n{}",
        oxbox.describe()
    );
    assert!(stats.sites >= 1, "no patched site reported: {stats:?}");
    assert!(
        stats.total_patched >= getppid.patched,
        "the total must include getppid: {stats:?}"
    );
}

/// The guest keeps a vDSO: 10000 rounds of clock_gettime, gettimeofday and
/// time through glibc must not be 10000 kernel entries each.
#[test]
fn vdso_clocks_do_not_enter_the_kernel() {
    require_root!();
    let run = Run::guest("patched/clock_loop").stats();
    let (native, oxbox) = run.matches_native(Compare::StdoutAndStatus);
    assert_guest_passed(&native);
    let Some(oxbox) = oxbox else { return };
    let stats = stats_of(&oxbox);
    for sysno in [Sysno::clock_gettime, Sysno::gettimeofday, Sysno::time] {
        let calls = stats
            .by_nr(sysno as u64)
            .map_or(0, |c| c.patched + c.trapped);
        assert!(
            calls < 10,
            "{sysno:?} entered the kernel {calls} times: the vDSO is not used\n{}",
            oxbox.describe()
        );
    }
}

/// The per-syscall lines add up to the total line, and a syscall the
/// program makes a known number of times is counted exactly: identity/ids
/// calls getpid twice (once through glibc, once through syscall()).
#[test]
fn per_syscall_counts_add_up_to_the_total() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
        return;
    }
    let oxbox = Run::guest("identity/ids")
        .hostname("stats-box")
        .arg("stats-box")
        .stats()
        .oxbox();
    assert_guest_passed(&oxbox);
    let stats = stats_of(&oxbox);
    let patched: u64 = stats.syscalls.values().map(|c| c.patched).sum();
    let trapped: u64 = stats.syscalls.values().map(|c| c.trapped).sum();
    assert_eq!(
        (patched, trapped),
        (stats.total_patched, stats.total_trapped),
        "{stats:?}"
    );
    let getpid = stats
        .by_nr(Sysno::getpid as u64)
        .unwrap_or_else(|| panic!("getpid missing from the stats: {stats:?}"));
    assert_eq!(getpid.patched + getpid.trapped, 2, "{stats:?}");
    // The kernel names syscalls as everyone does.
    assert_eq!(stats.syscalls.get("getpid"), Some(&getpid), "{stats:?}");
    assert!(
        stats.by_nr(Sysno::write as u64).is_some(),
        "the program's output went through write: {stats:?}"
    );
}

/// Without `--stats` the guest's stderr is the guest's alone.
#[test]
fn stats_are_printed_only_when_asked() {
    require_root!();
    if native_only() {
        eprintln!("OXBOX_NATIVE_ONLY=1: skipped (oxbox only)");
        return;
    }
    let oxbox = Run::new(["cat", "/data/words.txt"]).oxbox();
    assert_eq!(oxbox.status, 0, "{}", oxbox.describe());
    assert!(
        !oxbox.stderr().contains("oxbox-stats"),
        "{}",
        oxbox.describe()
    );
}
