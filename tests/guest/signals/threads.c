/*
 * Signals and threads, as on Linux: each thread has its own mask (a new
 * thread inherits its creator's), a process-directed signal goes to a
 * thread that does not block it, a thread-directed one (pthread_kill,
 * rt_tgsigqueueinfo) waits on its thread only; a signal blocked by every
 * thread stays pending for the process. Waiting for signals instead of
 * handling them: sigtimedwait/sigwaitinfo (with the sender's siginfo,
 * sigqueue's value, a child's exit status) and signalfd read, polled and
 * watched by epoll. A blocked signal whose default action kills waits
 * instead, and a handler interrupts another thread's blocking read.
 */
#include "check.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static volatile sig_atomic_t handled_sig;
static volatile pid_t handled_tid;
static volatile int handled_value;

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static void record(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    handled_tid = gettid_();
    handled_value = si->si_value.sival_int;
    handled_sig = sig;
}

static void on(int sig)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = record;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: blocking calls see EINTR */
    sigaction(sig, &sa, NULL);
}

static sigset_t just(int sig)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    return s;
}

static int blocked(int sig)
{
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, sig);
}

/* A worker thread and the main thread take turns through these. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int step;
static pid_t worker_tid;
static int worker_inherited, worker_pending_usr2, worker_waited, worker_read_err;
static int pipe_fds[2];

static void wait_step(int want)
{
    pthread_mutex_lock(&lock);
    while (step < want)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void set_step(int s)
{
    pthread_mutex_lock(&lock);
    step = s;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
    (void)arg;
    worker_tid = gettid_();
    worker_inherited = blocked(SIGUSR1);
    sigset_t usr1 = just(SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    sigset_t usr2 = just(SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);
    set_step(1);

    /* Step 2: main sent SIGUSR1 to the process; it blocks it, we do not. */
    while (!handled_sig)
        usleep(1000);
    set_step(3);

    /* Step 4: main sent SIGUSR2 to this thread, which blocks it. */
    wait_step(4);
    sigset_t pending;
    sigpending(&pending);
    worker_pending_usr2 = sigismember(&pending, SIGUSR2);
    int sig = 0;
    sigwait(&usr2, &sig);
    worker_waited = sig;
    set_step(5);

    /* Step 6: a read that blocks until main's pthread_kill interrupts it. */
    char c;
    handled_sig = 0;
    set_step(6);
    worker_read_err = read(pipe_fds[0], &c, 1) == -1 ? errno : 0;
    set_step(7);

    /* Step 8: SIGUSR2 is pending for the process (every thread blocks
     * it); unblocking it here runs the handler on this thread. */
    wait_step(8);
    handled_sig = 0;
    pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
    set_step(9);
    return NULL;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    on(SIGUSR1);
    on(SIGUSR2);
    pipe(pipe_fds);

    sigset_t usr1 = just(SIGUSR1), usr2 = just(SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    wait_step(1);
    CHECK("new_thread_inherits_the_mask", worker_inherited);
    CHECK("masks_are_per_thread", blocked(SIGUSR1) && !blocked(SIGUSR2));

    handled_sig = 0;
    kill(getpid(), SIGUSR1);
    wait_step(3);
    CHECK("process_signal_goes_to_the_thread_that_does_not_block_it",
          handled_sig == SIGUSR1 && handled_tid == worker_tid);

    handled_sig = 0;
    pthread_kill(t, SIGUSR2);
    sigset_t pending;
    sigpending(&pending);
    CHECK("thread_signal_is_not_pending_for_other_threads", !sigismember(&pending, SIGUSR2));
    set_step(4);
    wait_step(5);
    CHECK("thread_signal_is_pending_for_its_thread", worker_pending_usr2);
    CHECK("sigwait_takes_the_thread_signal", worker_waited == SIGUSR2 && handled_sig == 0);

    wait_step(6);
    /* Until the read returns: a signal sent before it started is handled
     * without interrupting it. */
    for (;;) {
        pthread_mutex_lock(&lock);
        int done = step >= 7;
        pthread_mutex_unlock(&lock);
        if (done)
            break;
        pthread_kill(t, SIGUSR1);
        usleep(20 * 1000);
    }
    CHECK("handler_interrupts_another_threads_read",
          worker_read_err == EINTR && handled_sig == SIGUSR1 && handled_tid == worker_tid);

    pthread_sigmask(SIG_BLOCK, &usr2, NULL);
    handled_sig = 0;
    kill(getpid(), SIGUSR2);
    sigpending(&pending);
    CHECK("signal_blocked_by_every_thread_stays_pending", sigismember(&pending, SIGUSR2) && handled_sig == 0);
    set_step(8);
    wait_step(9);
    CHECK("unblocking_thread_takes_the_process_signal", handled_sig == SIGUSR2 && handled_tid == worker_tid);
    pthread_join(t, NULL);

    /* Waiting for signals: sigqueue's value and siginfo reach sigtimedwait. */
    union sigval v = {.sival_int = 42};
    sigqueue(getpid(), SIGUSR1, v);
    siginfo_t si;
    struct timespec ts = {5, 0};
    int sig = sigtimedwait(&usr1, &si, &ts);
    CHECK("sigtimedwait_takes_a_queued_signal",
          sig == SIGUSR1 && si.si_code == SI_QUEUE && si.si_value.sival_int == 42 && si.si_pid == getpid());
    struct timespec short_wait = {0, 10 * 1000 * 1000};
    CHECK_ERR("sigtimedwait_times_out_with_eagain", sigtimedwait(&usr1, &si, &short_wait), EAGAIN);
    raise(SIGUSR1);
    CHECK_ERR("sigtimedwait_bad_info_is_efault", syscall(SYS_rt_sigtimedwait, &usr1, BAD_PTR, &ts, 8), EFAULT);
    CHECK_ERR("sigtimedwait_bad_size_is_einval", syscall(SYS_rt_sigtimedwait, &usr1, &si, &ts, 4), EINVAL);

    /* Real-time signals queue: three sent, three taken, in order. */
    sigset_t rt = just(SIGRTMIN + 1);
    pthread_sigmask(SIG_BLOCK, &rt, NULL);
    for (int i = 1; i <= 3; i++) {
        v.sival_int = i;
        sigqueue(getpid(), SIGRTMIN + 1, v);
    }
    int order = 0;
    for (int i = 1; i <= 3; i++)
        if (sigwaitinfo(&rt, &si) == SIGRTMIN + 1 && si.si_value.sival_int == i)
            order++;
    CHECK_EQ("realtime_signals_queue_in_order", order, 3);

    /* rt_tgsigqueueinfo to this thread, with a handler. */
    pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
    handled_sig = 0;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_value.sival_int = 7;
    syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid_(), SIGUSR2, &si);
    CHECK("tgsigqueueinfo_passes_its_siginfo", handled_sig == SIGUSR2 && handled_value == 7);
    CHECK_ERR("sigqueueinfo_bad_info_is_efault", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR2, BAD_PTR), EFAULT);
    CHECK_ERR("sigqueueinfo_bad_signal_is_einval", syscall(SYS_rt_sigqueueinfo, getpid(), 65, &si), EINVAL);

    /* A blocked SIGTERM with the default action waits instead of killing. */
    sigset_t term = just(SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, NULL);
    raise(SIGTERM);
    sigpending(&pending);
    CHECK("blocked_default_sigterm_stays_pending", sigismember(&pending, SIGTERM));
    CHECK_EQ("sigwaitinfo_takes_it", sigwaitinfo(&term, &si), SIGTERM);

    /* A child's exit, waited for as SIGCHLD. */
    sigset_t chld = just(SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, NULL);
    pid_t child = fork();
    if (child == 0)
        _exit(3);
    sig = sigwaitinfo(&chld, &si);
    CHECK("sigchld_siginfo_has_the_exit_status",
          sig == SIGCHLD && si.si_code == CLD_EXITED && si.si_pid == child && si.si_status == 3);
    waitpid(child, NULL, 0);

    /* signalfd: readable through read, poll and epoll. */
    int sfd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
    CHECK("signalfd_creates_a_descriptor", sfd >= 0);
    struct signalfd_siginfo ssi;
    CHECK_ERR("signalfd_empty_read_is_eagain", read(sfd, &ssi, sizeof ssi), EAGAIN);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    CHECK_EQ("epoll_sees_no_signal_yet", epoll_wait(ep, &out, 1, 0), 0);
    kill(getpid(), SIGUSR1);
    struct pollfd pfd = {.fd = sfd, .events = POLLIN};
    CHECK("poll_sees_the_signal", poll(&pfd, 1, 5000) == 1 && (pfd.revents & POLLIN));
    CHECK("epoll_sees_the_signal", epoll_wait(ep, &out, 1, 5000) == 1 && out.data.fd == sfd);
    CHECK("signalfd_read_gives_the_siginfo",
          read(sfd, &ssi, sizeof ssi) == sizeof ssi && ssi.ssi_signo == SIGUSR1 &&
              ssi.ssi_code == SI_USER && (pid_t)ssi.ssi_pid == getpid());
    CHECK_ERR("signalfd_is_empty_again", read(sfd, &ssi, sizeof ssi), EAGAIN);
    CHECK_ERR("signalfd_bad_size_is_einval", syscall(SYS_signalfd4, -1, &usr1, 4, 0), EINVAL);
    CHECK_ERR("signalfd_bad_mask_is_efault", syscall(SYS_signalfd4, -1, BAD_PTR, 8, 0), EFAULT);
    CHECK_ERR("signalfd_on_a_pipe_is_einval", signalfd(pipe_fds[0], &usr1, 0), EINVAL);
    int same = signalfd(sfd, &usr2, 0);
    CHECK_EQ("signalfd_updates_its_mask_in_place", same, sfd);
    close(ep);
    close(sfd);

    return finish();
}
