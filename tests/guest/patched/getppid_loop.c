/*
 * The hot path: glibc's getppid() wrapper (a `mov $110,%eax; syscall`
 * site) called 10000 times. The first call traps into the kernel, which
 * rewrites the site into a call; the rest must arrive by the patched call,
 * as the kernel's --stats report shows.
 */
#include "check.h"

int main(int argc, char **argv)
{
    begin(argc, argv);
    long sum = 0;
    for (int i = 0; i < 10000; i++)
        sum += getppid();
    CHECK_EQ("getppid_10000_times_is_always_0", sum, 0);
    return finish();
}
