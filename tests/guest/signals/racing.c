/*
 * A signal that arrives as a blocking call starts still interrupts it.
 *
 * Each round arms a one-shot timer a few microseconds ahead, then reads
 * from a pipe nothing ever writes to. The delay cycles over 1-200 us, so
 * over the rounds the signal lands everywhere around the call: before it,
 * while the call is being set up, while it waits. The handler leaves with
 * siglongjmp, so wherever the signal lands the round ends: natively a
 * signal that comes after the call entered the kernel but before it went
 * to sleep makes it fail with EINTR at once (and a signal before the call
 * jumps past it). A kernel that kept such a signal pending until the end
 * of the call would block in that read for ever (the harness's timeout
 * then fails the test).
 *
 * The second part does the same with a handler that has SA_RESTART, which
 * must not change anything: the handler runs as the signal comes, and
 * never returns into the read.
 */
#include "check.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>

static sigjmp_buf env;

static void on_alarm(int sig)
{
    (void)sig;
    siglongjmp(env, 1);
}

/* Rounds of timer + read on an empty pipe; returns how many the signal ended. */
static int race(int fd, int rounds)
{
    volatile int ended = 0;
    for (volatile int i = 0; i < rounds; i++) {
        if (sigsetjmp(env, 1) == 0) {
            struct itimerval it = {.it_value = {.tv_usec = 1 + i % 200}};
            setitimer(ITIMER_REAL, &it, NULL);
            char c;
            read(fd, &c, 1);
            /* Not reached: nothing writes to the pipe. */
            return -1;
        }
        ended++;
    }
    return ended;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    int p[2];
    CHECK("pipe", pipe(p) == 0);
    const int rounds = 3000;

    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    CHECK_EQ("every_round_of_read_is_ended_by_its_signal", race(p[0], rounds), rounds);

    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    CHECK_EQ("with_sa_restart_too", race(p[0], rounds), rounds);
    return finish();
}
