/*
 * Shared by the escape programs of tests/escape: each tries one way out of
 * the container and prints one line per probe,
 *   probe <name> blocked <how>      the attempt failed as it must
 *   probe <name> leaked <what>      the guest reached the host
 * and the test (tests/tests/escape_attempts_are_blocked.rs) prints them as a
 * table, checks the host side where a guest cannot tell, and fails on any
 * leak. Run under oxbox only: natively, as root, many of these succeed.
 *
 * Three ways to issue a call are offered, because the host allowlist must
 * hold for each: a raw `syscall` instruction in guest code (trapped into
 * the oxbox kernel), the 32-bit `int $0x80` entry, and a `syscall`
 * instruction inside the kernel's own text, which the host's seccomp
 * filter lets through to the host if (and only if) the allowlist does.
 */
#ifndef OXBOX_ESCAPE_H
#define OXBOX_ESCAPE_H

#include "check.h"

#include <elf.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

static int escape_leaks;

__attribute__((unused, format(printf, 3, 4))) static void probe(const char *name, int leaked,
                                                                const char *fmt, ...)
{
    va_list ap;
    printf("probe %s %s ", name, leaked ? "leaked" : "blocked");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    escape_leaks += leaked;
}

/* "EPERM", "ENOENT", ... for a raw result, or "success" for a value >= 0. */
__attribute__((unused)) static const char *outcome(long ret)
{
    return ret < 0 && ret > -4096 ? errname((int)-ret) : "success";
}

__attribute__((unused)) static long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* The 32-bit entry: i386 numbers, arguments in ebx, ecx, edx, esi, edi. */
__attribute__((unused)) static long int80(long nr, long a, long b, long c, long d, long e)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory");
    return ret;
}

/* Reads of the kernel's memory may fault (a hardened kernel would unmap it
 * from the guest): they run under a SIGSEGV/SIGBUS guard. */
static sigjmp_buf escape_fault_jump;

static void escape_fault(int sig)
{
    (void)sig;
    siglongjmp(escape_fault_jump, 1);
}

/*
 * The address of `syscall; test %rax,%rax; jz 1f; ret` inside the kernel's
 * executable segment (the kernel's thread-creation stub): jumped to with a
 * `call`, it issues any syscall from kernel text and returns to the caller
 * when the result is not 0. Found through the kernel image's own ELF
 * header at its fixed base address. 0 if the kernel's memory cannot be read
 * or holds no such sequence.
 */
__attribute__((unused)) static uintptr_t kernel_syscall_gadget(void)
{
    static const unsigned char want[] = {0x0f, 0x05, 0x48, 0x85, 0xc0, 0x74, 0x01, 0xc3};
    const uintptr_t base = 0x7e0000000000UL;
    struct sigaction sa = {.sa_handler = escape_fault}, old_segv, old_bus;
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    uintptr_t found = 0;
    if (sigsetjmp(escape_fault_jump, 1) == 0) {
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
        if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0) {
            const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
            for (int i = 0; i < eh->e_phnum && !found; i++) {
                if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
                    continue;
                const unsigned char *p = (const unsigned char *)ph[i].p_vaddr;
                for (size_t off = 0; off + sizeof want <= ph[i].p_memsz; off++)
                    if (memcmp(p + off, want, sizeof want) == 0) {
                        found = (uintptr_t)(p + off);
                        break;
                    }
            }
        }
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return found;
}

/* Issues syscall `nr` from the kernel's text through `gadget`. The call
 * pushes a return address, so the red zone is stepped over first. */
__attribute__((unused)) static long via_kernel(uintptr_t gadget, long nr, long a, long b, long c,
                                               long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("sub $128, %%rsp\n\t"
                     "call *%[g]\n\t"
                     "add $128, %%rsp"
                     : "=a"(ret)
                     : [g] "r"(gadget), "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                       "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/*
 * Runs `attempt` in a child process and describes how it ended: the child
 * prints nothing itself; it exits with the attempt's result folded into
 * its status (0 for success, else the errno), or dies. A host filter that
 * refuses a call from kernel text kills the child with SIGSYS.
 */
__attribute__((unused)) static void in_child(long (*attempt)(void *), void *arg, int *status)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long ret = attempt(arg);
        _exit(ret < 0 && ret > -4096 ? (int)-ret : 0);
    }
    waitpid(pid, status, 0);
}

/* How a child of in_child ended, for the probe line. */
__attribute__((unused)) static const char *child_end(int status)
{
    static char buf[64];
    if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)) ?: "?");
    else if (WEXITSTATUS(status) == 0)
        snprintf(buf, sizeof buf, "success");
    else
        snprintf(buf, sizeof buf, "%s", errname(WEXITSTATUS(status)));
    return buf;
}

/* What every escape program returns: 0 when nothing leaked. */
__attribute__((unused)) static int escape_finish(void)
{
    fflush(stdout);
    return escape_leaks ? 1 : 0;
}

#endif
