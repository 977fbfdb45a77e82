/*
 * The 32-bit entry: `int $0x80` with the i386 number of sethostname (74)
 * from a 64-bit guest. The host kernel would accept it; oxbox must not let
 * it through (an error or the process's death are both fine), and the
 * hostname must not change. Prints the result and the hostname afterwards.
 *
 * Run under oxbox only.
 */
#include "check.h"

#include <sys/utsname.h>

/* In .data of a non-PIE static binary: addressable with 32-bit registers. */
static char name[] = "pwned-by-int80";

int main(int argc, char **argv)
{
    begin(argc, argv);
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(74L), "b"((long)name), "c"((long)sizeof name - 1)
                     : "memory");
    printf("int80_sethostname %s\n", ret < 0 && ret > -4096 ? errname((int)-ret) : "SUCCEEDED");
    struct utsname u;
    uname(&u);
    printf("nodename %s\n", u.nodename);
    return 0;
}
