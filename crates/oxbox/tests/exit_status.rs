//! oxbox exits with the guest's status, and passes signals on to it.
//! Needs root; skips otherwise.

mod common;

use common::{WaitingContainer, can_run_containers, run};
use nix::sys::signal::Signal;

#[test]
fn guest_exit_status_is_propagated() {
    if !can_run_containers() {
        return;
    }
    for code in ["0", "3", "126", "127"] {
        assert_eq!(
            run(&["do", "--", "exit", code]).status.code(),
            Some(code.parse().unwrap())
        );
    }
}

#[test]
fn guest_killed_by_signal_exits_128_plus_n() {
    if !can_run_containers() {
        return;
    }
    assert_eq!(run(&["do", "--", "segv"]).status.code(), Some(128 + 11));
}

#[test]
fn signals_are_forwarded_to_pid_1() {
    if !can_run_containers() {
        return;
    }
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGWINCH,
    ] {
        let status = WaitingContainer::start().signal_and_wait(signal);
        assert_eq!(status.code(), Some(100 + signal as i32), "{signal:?}");
    }
}

#[test]
fn guest_starts_with_default_sigpipe_and_no_blocked_signals() {
    if !can_run_containers() {
        return;
    }
    let r = common::report(&run(&["do", "--", "report"]));
    assert_eq!(r["sigpipe"], "default");
    assert_eq!(r["sigmask_empty"], "1");
}
