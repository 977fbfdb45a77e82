/*
 * Time without syscalls: glibc reads clocks through the vDSO, so 10000
 * clock_gettime, gettimeofday and time calls must (almost) never enter the
 * kernel, as the --stats report shows.
 */
#include "check.h"

#include <sys/time.h>
#include <time.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct timespec prev = {0, 0}, now;
    struct timeval tv;
    int backwards = 0;
    for (int i = 0; i < 10000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec < prev.tv_sec || (now.tv_sec == prev.tv_sec && now.tv_nsec < prev.tv_nsec))
            backwards++;
        prev = now;
        gettimeofday(&tv, NULL);
        (void)time(NULL);
    }
    CHECK_EQ("monotonic_never_went_backwards", backwards, 0);
    return finish();
}
