/*
 * Signals reach guest handlers as on Linux: plain and SA_SIGINFO handlers,
 * masks and pending signals, SA_RESETHAND, SA_NODEFER, the alternate stack,
 * a synchronous SIGSEGV caught and left with siglongjmp, alarm + pause,
 * sigsuspend, handlers that change the interrupted registers' world (FPU
 * state kept), and signals sent to a child.
 */
#include "check.h"
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

static volatile sig_atomic_t got, count, info_pid, info_code, on_alt;
static sigjmp_buf jump;
static char alt_stack[64 * 1024];

static void handler(int sig) { got = sig; count++; }

static void info_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got = sig;
    info_pid = si->si_pid;
    info_code = si->si_code;
}

static void alt_handler(int sig)
{
    char here;
    got = sig;
    on_alt = (uintptr_t)&here >= (uintptr_t)alt_stack && (uintptr_t)&here < (uintptr_t)alt_stack + sizeof alt_stack;
}

static void segv_handler(int sig) { (void)sig; siglongjmp(jump, 1); }

static void nested_handler(int sig)
{
    count++;
    if (count == 1)
        raise(sig); /* with SA_NODEFER this runs the handler again, nested */
}

int main(int argc, char **argv)
{
    begin(argc, argv);

    signal(SIGUSR1, handler);
    got = 0;
    kill(getpid(), SIGUSR1);
    CHECK("kill_runs_the_handler", got == SIGUSR1);

    struct sigaction sa = {0};
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    got = 0;
    raise(SIGUSR2);
    CHECK("siginfo_names_the_sender", got == SIGUSR2 && info_pid == getpid() && info_code == SI_TKILL);

    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    got = 0;
    kill(getpid(), SIGUSR1);
    CHECK("blocked_signal_waits", got == 0);
    sigset_t pending;
    sigpending(&pending);
    sigprocmask(SIG_SETMASK, &old, NULL);
    CHECK("unblocking_runs_the_pending_handler", got == SIGUSR1);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGHUP, &sa, NULL);
    raise(SIGHUP);
    struct sigaction now;
    sigaction(SIGHUP, NULL, &now);
    CHECK("resethand_restores_the_default", now.sa_handler == SIG_DFL);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = nested_handler;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGURG, &sa, NULL);
    count = 0;
    raise(SIGURG);
    CHECK("nodefer_lets_the_handler_nest", count == 2);

    stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = alt_handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGWINCH, &sa, NULL);
    raise(SIGWINCH);
    CHECK("onstack_handler_runs_on_the_alternate_stack", got == SIGWINCH && on_alt);

    signal(SIGSEGV, segv_handler);
    if (!sigsetjmp(jump, 1)) {
        *(volatile int *)8 = 1;
        failf("segv_reaches_the_handler", "no fault");
    } else {
        pass("segv_reaches_the_handler");
    }

    signal(SIGALRM, handler);
    got = 0;
    alarm(1);
    pause();
    CHECK("alarm_wakes_pause", got == SIGALRM);

    sigprocmask(SIG_BLOCK, &block, &old);
    kill(getpid(), SIGUSR1);
    got = 0;
    sigset_t wait_mask;
    sigemptyset(&wait_mask);
    int r = sigsuspend(&wait_mask);
    int err = errno;
    sigset_t after;
    sigprocmask(SIG_SETMASK, NULL, &after);
    CHECK("sigsuspend_returns_eintr_after_the_handler", r == -1 && err == EINTR && got == SIGUSR1);
    CHECK("sigsuspend_restores_the_mask", sigismember(&after, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);

    volatile double x = 1.5;
    for (int i = 0; i < 3; i++) {
        raise(SIGUSR1);
        x *= 2;
    }
    CHECK("fpu_state_survives_handlers", x == 12.0);

    pid_t child = fork();
    if (child == 0) {
        signal(SIGTERM, handler);
        got = 0;
        while (!got)
            pause();
        _exit(got == SIGTERM ? 7 : 1);
    }
    usleep(100 * 1000);
    kill(child, SIGTERM);
    int status;
    waitpid(child, &status, 0);
    CHECK("child_handler_runs_then_it_exits", WIFEXITED(status) && WEXITSTATUS(status) == 7);

    return finish();
}
