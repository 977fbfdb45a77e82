/*
 * Syscall sites the kernel patches and then sees used in other ways:
 * - one raw clone site used for forks (which patch it), then for a thread
 *   on a stack of its own and a vfork on a stack (which a patched call
 *   cannot serve: the kernel takes them as a trap again), then for a fork
 *   again;
 * - one site that takes the syscall number from a register
 *   (`mov %esi,%eax; syscall`, as glibc's _exit does) used for several
 *   calls, before and across forks;
 * - children that exit through the same site again and again (a site a
 *   fork child hands its parent to patch).
 * Natively each call simply works; under oxbox every use must too.
 */
#include "check.h"
#include <sched.h>
#include <sys/wait.h>

static volatile int child_ran;

__attribute__((noreturn, used)) static void clone_child(void)
{
    child_ran = 1;
    asm volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" ::: "memory");
    __builtin_unreachable();
}

/* One clone site for every call; a child given a stack runs clone_child. */
__attribute__((noinline)) static long raw_clone(unsigned long flags, void *stack)
{
    long ret;
    register long r10 asm("r10") = 0;
    register long r8 asm("r8") = 0;
    asm volatile("mov $56, %%eax\n\t"
                 "syscall\n\t"
                 "test %%rax, %%rax\n\t"
                 "jnz 1f\n\t"
                 "test %%rsi, %%rsi\n\t"
                 "jz 1f\n\t"
                 "and $-16, %%rsp\n\t"
                 "call clone_child\n\t"
                 "1:"
                 : "=a"(ret)
                 : "D"(flags), "S"(stack), "d"(0), "r"(r10), "r"(r8)
                 : "rcx", "r11", "memory");
    return ret;
}

/* One `mov %esi,%eax; syscall; cmp $-4096,%rax` site for any call. */
__attribute__((noinline)) static long by_register(long nr, long arg)
{
    long ret;
    asm volatile("mov %%esi, %%eax\n\t"
                 "syscall\n\t"
                 "cmp $-4096, %%rax\n\t"
                 : "=a"(ret)
                 : "S"(nr), "D"(arg)
                 : "rcx", "r11", "memory", "cc");
    return ret;
}

static int fork_and_reap(int status)
{
    long pid = raw_clone(SIGCHLD, 0);
    if (pid == 0)
        _exit(status);
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == status;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    int forks = 1;
    for (int i = 0; i < 5; i++)
        forks &= fork_and_reap(7);
    CHECK("forks through one clone site", forks);

    char *stack = malloc(65536);
    long tid = raw_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                             CLONE_SYSVSEM,
                         stack + 65536);
    for (int i = 0; i < 5000 && !child_ran; i++)
        usleep(1000);
    CHECK("a thread from the same site runs on its stack", tid > 0 && child_ran);

    /* What a vfork child writes is not checked: POSIX leaves it undefined,
     * and oxbox gives such a child a copy of the memory. */
    long pid = raw_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, stack + 65536);
    int st;
    CHECK("a vfork on a stack from the same site is reaped",
          pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK("a fork from the same site after them", fork_and_reap(3));

    long self = getpid(), parent = getppid();
    int calls = 1;
    for (int i = 0; i < 5; i++) {
        calls &= by_register(SYS_getpid, 0) == self;
        calls &= by_register(SYS_getppid, 0) == parent;
        long fd = by_register(SYS_dup, 1);
        calls &= fd > 2 && by_register(SYS_close, fd) == 0;
        calls &= by_register(SYS_close, 9999) == -EBADF;
    }
    CHECK("one register-numbered site serves several calls", calls);
    int children = 1;
    for (int i = 0; i < 5; i++) {
        pid_t c = fork();
        if (c == 0)
            _exit(by_register(SYS_getppid, 0) == self ? 5 : 6);
        children &= waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 5;
    }
    CHECK("fork children use it too and exit through libc", children);
    return finish();
}
