/*
 * How a guest ends, for the exit-status scenarios:
 *   exit.c return N   - return N from main (exit_group via libc)
 *   exit.c group N    - raw exit_group(N)
 *   exit.c thread N   - raw exit(N) of the only thread
 *   exit.c segv       - a write to address 8 (killed by SIGSEGV)
 * argv[1] is the scratch directory, as for every guest program.
 */
#include "check.h"

int main(int argc, char **argv)
{
    if (argc < 3)
        return 100;
    int n = argc > 3 ? atoi(argv[3]) : 0;
    printf("exiting by %s %d\n", argv[2], n);
    fflush(stdout);
    if (strcmp(argv[2], "return") == 0)
        return n;
    if (strcmp(argv[2], "group") == 0)
        syscall(SYS_exit_group, n);
    if (strcmp(argv[2], "thread") == 0)
        syscall(SYS_exit, n);
    if (strcmp(argv[2], "segv") == 0)
        *(volatile int *)8 = 1;
    return 101;
}
