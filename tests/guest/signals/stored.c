/*
 * Signal state the kernel stores without delivering (this issue):
 * rt_sigaction set/get round trips and rt_sigprocmask masks, with their
 * EINVAL cases. No signal is raised.
 */
#include "check.h"

#include <signal.h>

static void handler(int sig)
{
    (void)sig;
}

static void other(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct sigaction sa, old;

    CHECK_EQ("default_disposition_query", sigaction(SIGUSR1, NULL, &old), 0);
    CHECK("default_disposition_is_sig_dfl", old.sa_handler == SIG_DFL);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sa.sa_flags = SA_RESTART;
    CHECK_EQ("sigaction_set_handler", sigaction(SIGUSR1, &sa, NULL), 0);
    memset(&old, 0, sizeof old);
    CHECK_EQ("sigaction_get", sigaction(SIGUSR1, NULL, &old), 0);
    CHECK("sigaction_get_returns_same_handler", old.sa_handler == handler);
    CHECK("sigaction_get_returns_mask", sigismember(&old.sa_mask, SIGUSR2) == 1 &&
                                            sigismember(&old.sa_mask, SIGINT) == 0);
    CHECK("sigaction_get_returns_flags", (old.sa_flags & SA_RESTART) != 0);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = other;
    sa.sa_flags = SA_SIGINFO;
    memset(&old, 0, sizeof old);
    CHECK_EQ("sigaction_swap", sigaction(SIGUSR1, &sa, &old), 0);
    CHECK("sigaction_swap_returns_previous", old.sa_handler == handler);
    CHECK_EQ("sigaction_get_siginfo", sigaction(SIGUSR1, NULL, &old), 0);
    CHECK("sigaction_siginfo_handler_kept",
          old.sa_sigaction == other && (old.sa_flags & SA_SIGINFO));

    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    CHECK_EQ("sigaction_ignore", sigaction(SIGTERM, &sa, NULL), 0);
    CHECK("sigaction_ignore_reads_back", sigaction(SIGTERM, NULL, &old) == 0 &&
                                             old.sa_handler == SIG_IGN);
    CHECK_ERR("sigaction_sigkill_is_einval", sigaction(SIGKILL, &sa, NULL), EINVAL);
    CHECK_ERR("sigaction_sigstop_is_einval", sigaction(SIGSTOP, &sa, NULL), EINVAL);
    CHECK_EQ("sigaction_query_sigkill_is_allowed", sigaction(SIGKILL, NULL, &old), 0);
    CHECK_ERR("sigaction_signal_0_is_einval", syscall(SYS_rt_sigaction, 0, NULL, &old, 8),
              EINVAL);
    CHECK_ERR("sigaction_signal_65_is_einval", syscall(SYS_rt_sigaction, 65, NULL, &old, 8),
              EINVAL);
    CHECK_ERR("rt_sigaction_bad_sigsetsize_is_einval",
              syscall(SYS_rt_sigaction, SIGUSR1, NULL, &old, 4), EINVAL);
    CHECK_EQ("sigaction_realtime_signal", sigaction(SIGRTMIN + 1, &sa, NULL), 0);

    sigset_t set, cur;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGHUP);
    CHECK_EQ("sigprocmask_initial_query", sigprocmask(SIG_SETMASK, NULL, &cur), 0);
    CHECK("initial_mask_is_empty", sigismember(&cur, SIGUSR2) == 0 && sigismember(&cur, SIGHUP) == 0);
    CHECK_EQ("sigprocmask_block", sigprocmask(SIG_BLOCK, &set, NULL), 0);
    CHECK_EQ("sigprocmask_get", sigprocmask(SIG_SETMASK, NULL, &cur), 0);
    CHECK("blocked_signals_in_mask", sigismember(&cur, SIGUSR2) == 1 && sigismember(&cur, SIGHUP) == 1 &&
                                         sigismember(&cur, SIGINT) == 0);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    CHECK_EQ("sigprocmask_unblock", sigprocmask(SIG_UNBLOCK, &set, &cur), 0);
    CHECK("unblock_returns_old_mask", sigismember(&cur, SIGHUP) == 1);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    CHECK("unblocked_signal_left_mask", sigismember(&cur, SIGHUP) == 0 && sigismember(&cur, SIGUSR2) == 1);
    sigfillset(&set);
    CHECK_EQ("sigprocmask_block_all", sigprocmask(SIG_SETMASK, &set, NULL), 0);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    CHECK("sigkill_and_sigstop_cannot_be_blocked",
          sigismember(&cur, SIGKILL) == 0 && sigismember(&cur, SIGSTOP) == 0 &&
              sigismember(&cur, SIGTERM) == 1);
    CHECK_ERR("sigprocmask_bad_how_is_einval", syscall(SYS_rt_sigprocmask, 99, &set, NULL, 8), EINVAL);
    CHECK_ERR("rt_sigprocmask_bad_sigsetsize_is_einval",
              syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 4), EINVAL);
    sigemptyset(&set);
    CHECK_EQ("sigprocmask_clear", sigprocmask(SIG_SETMASK, &set, NULL), 0);
    return finish();
}
