/*
 * Shared by every guest program of tests/guest: a tiny check harness.
 *
 * A program runs natively and under oxbox, and the test compares the two
 * outputs line by line, so every check prints exactly one line:
 *   ok <name>
 *   FAIL <name>: <what happened>
 * Lines must be deterministic: no addresses, times or host-specific ids.
 * The program exits 1 if any check failed.
 *
 * argv[1] is always a fresh, empty scratch directory the program may write
 * into; path(name) joins it with name.
 */
#ifndef OXBOX_GUEST_CHECK_H
#define OXBOX_GUEST_CHECK_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int check_failures;
static const char *check_scratch = "/tmp";

/* Line-buffered stdout so a crash still shows how far the program got. */
__attribute__((unused)) static void begin(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        check_scratch = argv[1];
}

__attribute__((unused)) static int finish(void)
{
    fflush(stdout);
    return check_failures ? 1 : 0;
}

__attribute__((unused)) static const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

__attribute__((unused)) static void pass(const char *name)
{
    printf("ok %s\n", name);
}

__attribute__((unused, format(printf, 2, 3))) static void failf(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    check_failures++;
}

/* CHECK(name, cond): cond must hold; errno is shown when it does not. */
#define CHECK(name, cond)                                                    \
    do {                                                                     \
        errno = 0;                                                           \
        if (cond)                                                            \
            pass(name);                                                      \
        else                                                                 \
            failf(name, "%s is false (errno %s)", #cond, errname(errno));    \
    } while (0)

/* CHECK_ERR(name, expr, err): expr must return -1 and set errno to err. */
#define CHECK_ERR(name, expr, err)                                           \
    do {                                                                     \
        errno = 0;                                                           \
        long check_r_ = (long)(expr);                                        \
        int check_e_ = errno;                                                \
        if (check_r_ == -1 && check_e_ == (err))                             \
            pass(name);                                                      \
        else if (check_r_ == -1)                                             \
            failf(name, "%s failed with %s, expected %s", #expr,             \
                  errname(check_e_), errname(err));                          \
        else                                                                 \
            failf(name, "%s returned %ld, expected -1 with %s", #expr,       \
                  check_r_, errname(err));                                   \
    } while (0)

/* CHECK_EQ(name, expr, want): expr (an integer) must equal want. */
#define CHECK_EQ(name, expr, want)                                           \
    do {                                                                     \
        errno = 0;                                                           \
        long check_r_ = (long)(expr);                                        \
        long check_w_ = (long)(want);                                        \
        if (check_r_ == check_w_)                                            \
            pass(name);                                                      \
        else                                                                 \
            failf(name, "%s = %ld, expected %ld (errno %s)", #expr,          \
                  check_r_, check_w_, errname(errno));                       \
    } while (0)

/* path(name): check_scratch + "/" + name, in one of 8 rotating buffers. */
__attribute__((unused)) static const char *path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", check_scratch, name);
    return b;
}

/* An address no program maps: the first page above the null page. */
#define BAD_PTR ((void *)1)

#endif
