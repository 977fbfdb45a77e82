/*
 * Host tool (not a guest program): prints the seccomp filters installed in
 * process argv[1], read with PTRACE_SECCOMP_GET_FILTER (needs root). The
 * process is seized, interrupted while the filters are read, and detached
 * again. Output: for each filter, innermost (most recently installed)
 * first, a line "filter <index> <instructions>", then one line per
 * instruction "<code> <jt> <jf> <k>" in decimal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dump_seccomp PID\n");
        return 2;
    }
    pid_t pid = atoi(argv[1]);
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0 || ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0) {
        fprintf(stderr, "dump_seccomp: cannot seize %d: %s\n", pid, strerror(errno));
        return 1;
    }
    if (waitpid(pid, NULL, __WALL) != pid) {
        fprintf(stderr, "dump_seccomp: waitpid %d: %s\n", pid, strerror(errno));
        return 1;
    }
    int status = 0;
    for (long index = 0;; index++) {
        long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)index, NULL);
        if (n < 0) {
            /* ENOENT past the last filter. */
            if (errno != ENOENT || index == 0) {
                fprintf(stderr, "dump_seccomp: filter %ld: %s\n", index, strerror(errno));
                status = 1;
            }
            break;
        }
        struct sock_filter *prog = calloc(n, sizeof *prog);
        if (!prog || ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)index, prog) != n) {
            fprintf(stderr, "dump_seccomp: reading filter %ld: %s\n", index, strerror(errno));
            status = 1;
            break;
        }
        printf("filter %ld %ld\n", index, n);
        for (long i = 0; i < n; i++)
            printf("%u %u %u %u\n", prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
        free(prog);
    }
    ptrace(PTRACE_DETACH, pid, 0, 0);
    return status;
}
