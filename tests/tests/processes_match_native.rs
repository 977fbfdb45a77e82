//! The process model: fork, vfork, posix_spawn, execve (its errors, `#!`
//! scripts, close-on-exec), wait4/waitpid/waitid, pipes between parent and
//! child, and poll/select/epoll on a pipe a child writes to, exercised by
//! `tests/guest/process/fork_exec_wait.c`; posix_spawn's errors
//! (`tests/guest/process/posix_spawn_errors.c`); threads; signals between
//! threads and waited for (`tests/guest/signals/threads.c`); stopped and
//! continued jobs and reparenting (`tests/guest/signals/stop.c`); handlers
//! that interrupt blocking calls, with and without SA_RESTART, and the
//! mask swap of ppoll/pselect6/epoll_pwait (`tests/guest/signals/interrupt.c`);
//! a signal that comes as a blocking call starts (`tests/guest/signals/racing.c`);
//! socket calls with SO_RCVTIMEO/SO_SNDTIMEO, which SA_RESTART does not
//! restart (`tests/guest/signals/socket_timeouts.c`); background children
//! of a subshell that exits live on under pid 1. Each
//! program must pass natively first; under oxbox it must print exactly the
//! same `ok` lines.

use oxbox_integration::{Compare, Run, guest_matches_native, require_root};

#[test]
fn fork_exec_wait_and_pipes_match_native() {
    require_root!();
    guest_matches_native(Run::guest("process/fork_exec_wait"));
}

#[test]
fn posix_spawn_returns_the_errno_of_a_child_that_cannot_start() {
    require_root!();
    guest_matches_native(Run::guest("process/posix_spawn_errors"));
}

#[test]
fn threads_match_native() {
    require_root!();
    guest_matches_native(Run::guest("process/threads"));
}

#[test]
fn per_thread_masks_sigtimedwait_and_signalfd_match_native() {
    require_root!();
    guest_matches_native(Run::guest("signals/threads"));
}

#[test]
fn stopped_and_continued_jobs_and_reparenting_match_native() {
    require_root!();
    guest_matches_native(Run::guest("signals/stop"));
}

#[test]
fn a_signal_arriving_as_a_blocking_call_starts_interrupts_it() {
    require_root!();
    guest_matches_native(Run::guest("signals/racing"));
}

#[test]
fn socket_calls_with_a_timeout_are_not_restarted() {
    require_root!();
    guest_matches_native(Run::guest("signals/socket_timeouts"));
}

#[test]
fn handlers_interrupt_blocking_calls_and_restart_them_as_linux_does() {
    require_root!();
    guest_matches_native(Run::guest("signals/interrupt"));
}

/// A subshell starts 20 background sleeps and exits at once: reparented to
/// pid 1, they all live on (counted from pid 1's own `/proc`, without a
/// fork). Those still starting (between their execve and the new kernel's
/// handler for the parent-death notice) used to die of that notice.
#[test]
fn background_children_of_an_exited_subshell_live_on_under_pid_1() {
    require_root!();
    let script = "(i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done); \
                  sleep 1; set -- /proc/[0-9]*; echo $# processes";
    let (native, _) = Run::new(["sh", "-c", script]).matches_native(Compare::All);
    assert_eq!(native.stdout(), "21 processes\n", "{}", native.describe());
}
