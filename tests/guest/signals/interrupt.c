/*
 * Signals that arrive while a thread is blocked in a syscall: the handler
 * runs at once, not when the call would have finished, and the call then
 * fails with EINTR or, if the handler has SA_RESTART and the call is one
 * Linux restarts, carries on (read on a pipe, wait4). poll, nanosleep and
 * friends fail with EINTR even with SA_RESTART. ppoll, pselect6 and
 * epoll_pwait put their signal mask in force while they wait, as
 * rt_sigsuspend does: a signal it lets through runs its handler (with the
 * call's mask) and the call fails with EINTR; the old mask is back after.
 *
 * The timer fires 100 ms after it is armed, normally while the call
 * blocks; the handler itself writes what the blocked call waits for, so a
 * handler that only ran when the call finished would never let it finish.
 */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static int wake_pipe[2];
static volatile sig_atomic_t handled;
static sigset_t handler_mask;

static void on_alarm(int sig)
{
    (void)sig;
    handled++;
    sigprocmask(SIG_SETMASK, NULL, &handler_mask);
    write(wake_pipe[1], "h", 1);
}

static void set_handler(int sig, int flags)
{
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* SIGALRM in 100 ms. */
static void arm_timer(void)
{
    struct itimerval it = {.it_value = {.tv_usec = 100000}};
    handled = 0;
    setitimer(ITIMER_REAL, &it, NULL);
}

static void drain(void)
{
    char buf[16];
    int flags = fcntl(wake_pipe[0], F_GETFL);
    fcntl(wake_pipe[0], F_SETFL, flags | O_NONBLOCK);
    while (read(wake_pipe[0], buf, sizeof buf) > 0)
        ;
    fcntl(wake_pipe[0], F_SETFL, flags);
}

static void blocking_read(int round)
{
    char c = 0;
    char name[96];

    set_handler(SIGALRM, SA_RESTART);
    arm_timer();
    long n = read(wake_pipe[0], &c, 1);
    snprintf(name, sizeof name, "read_restarts_after_an_sa_restart_handler_%d", round);
    CHECK(name, n == 1 && c == 'h' && handled == 1);

    set_handler(SIGALRM, 0);
    arm_timer();
    snprintf(name, sizeof name, "read_fails_with_eintr_without_sa_restart_%d", round);
    CHECK_ERR(name, read(wake_pipe[0], &c, 1), EINTR);
    snprintf(name, sizeof name, "handler_ran_before_the_interrupted_read_returned_%d", round);
    CHECK_EQ(name, handled, 1);
    drain();
}

/* A child that exits once the parent's handler has written to the pipe. */
static pid_t child_waiting_for_handler(void)
{
    pid_t child = fork();
    if (child == 0) {
        char c;
        _exit(read(wake_pipe[0], &c, 1) == 1 ? 7 : 1);
    }
    return child;
}

static void blocking_wait(void)
{
    int status = 0;
    set_handler(SIGALRM, SA_RESTART);
    pid_t child = child_waiting_for_handler();
    arm_timer();
    CHECK("wait4_restarts_after_an_sa_restart_handler",
          waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 7 &&
              handled == 1);

    set_handler(SIGALRM, 0);
    child = child_waiting_for_handler();
    arm_timer();
    CHECK_ERR("wait4_fails_with_eintr_without_sa_restart", waitpid(child, &status, 0), EINTR);
    CHECK("the_child_is_reaped_after_the_interrupted_wait",
          waitpid(child, &status, 0) == child && WEXITSTATUS(status) == 7);
}

static void never_restarted(void)
{
    set_handler(SIGALRM, SA_RESTART);
    struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
    int never_ready[2];
    pipe(never_ready);
    pfd.fd = never_ready[0];
    arm_timer();
    CHECK_ERR("poll_fails_with_eintr_even_with_sa_restart", poll(&pfd, 1, -1), EINTR);
    drain();

    struct timespec req = {.tv_sec = 30}, rem = {0};
    arm_timer();
    CHECK_ERR("nanosleep_fails_with_eintr_even_with_sa_restart", nanosleep(&req, &rem), EINTR);
    CHECK("nanosleep_reports_the_time_left", rem.tv_sec > 0 && rem.tv_sec <= 30);
    drain();

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(never_ready[0], &rd);
    arm_timer();
    CHECK_ERR("select_fails_with_eintr_even_with_sa_restart",
              select(never_ready[0] + 1, &rd, NULL, NULL, NULL), EINTR);
    drain();
    close(never_ready[0]);
    close(never_ready[1]);
}

/* SIGALRM blocked, SIGUSR2 blocked too; the call's mask lets SIGALRM
 * through only. */
static sigset_t blocked, call_mask;

static void expect_mask_swap(const char *call, long ret, int err)
{
    char name[96];
    snprintf(name, sizeof name, "%s_with_a_mask_fails_with_eintr", call);
    if (ret == -1 && err == EINTR)
        pass(name);
    else
        failf(name, "returned %ld (errno %s)", ret, errname(err));
    snprintf(name, sizeof name, "%s_runs_the_handler_its_mask_lets_through", call);
    CHECK_EQ(name, handled, 1);
    snprintf(name, sizeof name, "%s_handler_runs_with_the_call_mask", call);
    CHECK(name, sigismember(&handler_mask, SIGALRM) && !sigismember(&handler_mask, SIGUSR2));
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    snprintf(name, sizeof name, "%s_restores_the_old_mask", call);
    CHECK(name, sigismember(&now, SIGALRM) && sigismember(&now, SIGUSR2));
    drain();
}

static void mask_swapping_waits(void)
{
    set_handler(SIGALRM, SA_RESTART);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGALRM);
    sigaddset(&blocked, SIGUSR2);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    sigemptyset(&call_mask);

    int never_ready[2];
    pipe(never_ready);
    struct pollfd pfd = {.fd = never_ready[0], .events = POLLIN};
    arm_timer();
    long ret = ppoll(&pfd, 1, NULL, &call_mask);
    expect_mask_swap("ppoll", ret, errno);

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(never_ready[0], &rd);
    arm_timer();
    ret = pselect(never_ready[0] + 1, &rd, NULL, NULL, NULL, &call_mask);
    expect_mask_swap("pselect6", ret, errno);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, never_ready[0], &ev);
    arm_timer();
    ret = epoll_pwait(ep, &ev, 1, -1, &call_mask);
    expect_mask_swap("epoll_pwait", ret, errno);

    struct timespec forever = {.tv_sec = 60};
    arm_timer();
    ret = syscall(SYS_epoll_pwait2, ep, &ev, 1, &forever, &call_mask, 8);
    expect_mask_swap("epoll_pwait2", ret, errno);

    /* Already pending when the call starts: the same. */
    arm_timer();
    struct timespec later = {.tv_nsec = 300000000};
    nanosleep(&later, NULL);
    ret = ppoll(&pfd, 1, NULL, &call_mask);
    expect_mask_swap("ppoll_with_the_signal_already_pending", ret, errno);

    /* A ready descriptor wins over a pending signal, which stays pending
     * once the old mask is back. */
    write(never_ready[1], "x", 1);
    arm_timer();
    nanosleep(&later, NULL);
    handled = 0;
    CHECK_EQ("ppoll_ready_descriptor_returns_its_count", ppoll(&pfd, 1, NULL, &call_mask), 1);
    sigset_t pending;
    sigpending(&pending);
    CHECK("ppoll_signal_stays_pending_under_the_old_mask",
          sigismember(&pending, SIGALRM) && handled == 0);
    CHECK_ERR("ppoll_bad_sigset_size_is_einval",
              syscall(SYS_ppoll, &pfd, 1, NULL, &call_mask, 4), EINVAL);
    sigprocmask(SIG_UNBLOCK, &blocked, NULL);
    close(ep);
    close(never_ready[0]);
    close(never_ready[1]);
    drain();
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    pipe(wake_pipe);
    /* Twice: the first call from a site traps, later ones are patched. */
    blocking_read(1);
    blocking_read(2);
    blocking_wait();
    never_restarted();
    mask_swapping_waits();
    return finish();
}
