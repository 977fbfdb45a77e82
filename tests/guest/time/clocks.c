/*
 * Time: clock_gettime through the vDSO (glibc's path) and through the raw
 * syscall, gettimeofday, time, clock_getres and nanosleep. Only orderings
 * and lower bounds are checked, never durations that depend on load.
 */
#include "check.h"

#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>

static long long ns(struct timespec t)
{
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct timespec a, b, r;

    CHECK("vdso_is_mapped", getauxval(AT_SYSINFO_EHDR) != 0);
    CHECK_EQ("clock_gettime_monotonic", clock_gettime(CLOCK_MONOTONIC, &a), 0);
    CHECK_EQ("clock_gettime_monotonic_again", clock_gettime(CLOCK_MONOTONIC, &b), 0);
    CHECK("monotonic_never_goes_back", ns(b) >= ns(a));
    CHECK("tv_nsec_in_range", a.tv_nsec >= 0 && a.tv_nsec < 1000000000L);
    CHECK_EQ("clock_gettime_syscall", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b), 0);
    CHECK("syscall_and_vdso_agree_on_monotonic", ns(b) >= ns(a));

    CHECK_EQ("clock_gettime_realtime", clock_gettime(CLOCK_REALTIME, &a), 0);
    CHECK("realtime_is_after_2024", a.tv_sec > 1704067200);
    struct timeval tv;
    CHECK_EQ("gettimeofday", gettimeofday(&tv, NULL), 0);
    CHECK("gettimeofday_agrees_with_realtime", tv.tv_sec >= a.tv_sec);
    /* time() reads the coarse clock, which may lag a tick behind. */
    time_t t = time(NULL);
    CHECK("time_agrees_with_realtime", t + 1 >= a.tv_sec);
    CHECK_EQ("clock_gettime_boottime", clock_gettime(CLOCK_BOOTTIME, &a), 0);
    CHECK_EQ("clock_gettime_process_cputime", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a), 0);
    CHECK_EQ("clock_gettime_monotonic_raw", clock_gettime(CLOCK_MONOTONIC_RAW, &a), 0);
    CHECK_EQ("clock_gettime_monotonic_coarse", clock_gettime(CLOCK_MONOTONIC_COARSE, &a), 0);
    CHECK_ERR("clock_gettime_bad_clock_is_einval", syscall(SYS_clock_gettime, 12345, &a), EINVAL);
    CHECK_EQ("clock_getres_monotonic", clock_getres(CLOCK_MONOTONIC, &r), 0);
    CHECK("monotonic_resolution_at_most_1ms", r.tv_sec == 0 && r.tv_nsec > 0 && r.tv_nsec <= 1000000);

    /* nanosleep sleeps at least what it was asked (a lower bound only).
     * glibc's nanosleep() issues clock_nanosleep, so the nanosleep syscall
     * itself is called raw. */
    struct timespec req = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_EQ("nanosleep_syscall_20ms", syscall(SYS_nanosleep, &req, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK("nanosleep_slept_at_least_requested", ns(b) - ns(a) >= 20 * 1000 * 1000);
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_EQ("libc_nanosleep_20ms", nanosleep(&req, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK("libc_nanosleep_slept_at_least_requested", ns(b) - ns(a) >= 20 * 1000 * 1000);
    struct timespec bad = {.tv_sec = 0, .tv_nsec = 1000000000L};
    CHECK_ERR("nanosleep_bad_nsec_is_einval", syscall(SYS_nanosleep, &bad, NULL), EINVAL);
    struct timespec neg = {.tv_sec = -1, .tv_nsec = 0};
    CHECK_ERR("nanosleep_negative_is_einval", syscall(SYS_nanosleep, &neg, NULL), EINVAL);
    struct timespec zero = {0, 0};
    CHECK_EQ("nanosleep_zero", syscall(SYS_nanosleep, &zero, NULL), 0);
    return finish();
}
