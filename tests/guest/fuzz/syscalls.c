/*
 * A syscall fuzzer: random system calls with random, boundary and
 * pointer-shaped arguments, seeded and reproducible. The oxbox kernel must
 * survive all of them: bad pointers give EFAULT, bad values EINVAL, and
 * the program can always finish and exit with its own status.
 *
 * argv: scratch directory (created; on a small tmpfs, with the rootfs
 * read-only: random paths must not damage the shared test rootfs),
 * seconds to run, seed. Never run it natively: as root on the host it
 * would change the host (its hostname, at least).
 *
 * pid 1 (this program) forks one child per round; the child makes up to
 * CALLS_PER_ROUND calls seeded with seed+round and exits. A child may kill
 * itself (unmapping its own code, a handler pointing nowhere, a bad FS
 * base): that is its own business. A child blocked for good (a random
 * mask swallowed its timer signal) is killed after ROUND_LIMIT_MS. The
 * summary line reports rounds, calls, calls per second and how rounds
 * ended; any round whose process exited with 134 (the kernel's panic
 * status) is reported with its last call, for a reproduction with the same
 * seed.
 *
 * Never issued, because they would legitimately end or escape the test
 * rather than probe the kernel:
 *   exit, exit_group (end the round early: fine, but wasteful),
 *   execve, execveat (replace the fuzzer), rt_sigreturn (a frame of random
 *   registers), fork, vfork, clone, clone3 (children that fuzz on, or
 *   threads on random stacks), vhangup, and uretprobe (335) and uprobe
 *   (336): the host answers those two itself, before any seccomp filter
 *   (Linux 6.11 and later), with SIGILL or ENXIO outside a uprobe
 *   trampoline, which ends the round without testing oxbox.
 * Rewritten before issue:
 *   kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo,
 *   pidfd_send_signal, pidfd_open, ptrace, process_vm_*, kcmp: aimed at
 *   the child itself, with a harmless signal (kill -1 or pid 1 would end
 *   the whole test);
 *   setrlimit (skipped), prlimit64 (read only): a tiny RLIMIT_NOFILE or
 *   RLIMIT_CPU would only end rounds early;
 *   mmap, mremap, brk (near the current break), fallocate, sendfile, splice, tee,
 *   copy_file_range, shmget: sizes below 16 MiB and no MAP_POPULATE or
 *   MAP_LOCKED, mlock*, so one child cannot take the machine's memory.
 */
#include "check.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#define CALLS_PER_ROUND 400
#define ROUND_LIMIT_MS 300
#define MAX_NR 470
#define ARENA_SIZE (64 << 10)
#define SIZE_CAP (16ul << 20)
#define KERNEL_BASE 0x7e0000000000ul

/* What the child shares with pid 1: progress, and the call in flight. */
struct shared {
    uint64_t calls;
    uint64_t nr;
    uint64_t args[6];
};

static struct shared *shared;
static uint64_t rng;

static uint64_t next(void)
{
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static unsigned pick(unsigned n)
{
    return (unsigned)(next() % n);
}

static char *arena;
static int fds[12];
static int nfds;
static const char *paths[16];
static int npaths;

static const uint64_t boundaries[] = {
    1, -1ull, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull, INT64_MAX, (uint64_t)INT64_MIN,
    4095, 4096, 4097, 0x7fffffffffffull, 0x800000000000ull, 0xffff800000000000ull, 255, 256,
    65535, 65536, -4096ull, -100ull /* AT_FDCWD */,
};

/* A pointer-shaped value: into the arena (anywhere, or at its end, where
 * copies run into the guard page), at the kernel's own memory, at nothing,
 * at non-canonical addresses, at the stack or the code. */
static uint64_t pointer(void)
{
    char local;
    switch (pick(10)) {
    case 0:
    case 1:
    case 2:
        return (uint64_t)(arena + (pick(ARENA_SIZE) & ~7u));
    case 3:
        return (uint64_t)(arena + ARENA_SIZE - pick(64));
    case 4:
        return KERNEL_BASE + ((next() % (1ull << 34)) & ~0xfffull) + pick(2) * pick(4096);
    case 5:
        return pick(2) ? 0 : pick(4096);
    case 6:
        return 0xdead0000ull + pick(4096);
    case 7:
        return 0x8000000000000000ull | next();
    case 8:
        return (uint64_t)&local - pick(256);
    default:
        return (uint64_t)&pointer + pick(64);
    }
}

static uint64_t fd(void)
{
    switch (pick(5)) {
    case 0:
    case 1:
        return fds[pick(nfds)];
    case 2:
        return pick(24);
    case 3:
        return 1000 + pick(24); /* the kernel's reserved descriptors */
    default:
        return boundaries[pick(sizeof boundaries / sizeof boundaries[0])];
    }
}

static uint64_t argument(void)
{
    switch (pick(10)) {
    case 0:
        return 0;
    case 1:
        return pick(17);
    case 2:
        return fd();
    case 3:
    case 4:
        return pointer();
    case 5:
        return (uint64_t)paths[pick(npaths)];
    case 6:
        return boundaries[pick(sizeof boundaries / sizeof boundaries[0])];
    case 7:
        return next();
    case 8:
        return next() & 0xfffff;
    default:
        return (uint32_t)next();
    }
}

static long raw6(long nr, uint64_t *a)
{
    register long r10 __asm__("r10") = a[3];
    register long r8 __asm__("r8") = a[4];
    register long r9 __asm__("r9") = a[5];
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* Returns 0 to skip the call, else applies the rewrites listed on top. */
static int tame(long nr, uint64_t *a)
{
    static const uint64_t harmless[] = {0, SIGCHLD, SIGURG, SIGWINCH, SIGALRM};
    uint64_t sig = harmless[pick(5)];
    switch (nr) {
    case SYS_exit:
    case SYS_exit_group:
    case SYS_execve:
    case SYS_execveat:
    case SYS_rt_sigreturn:
    case SYS_fork:
    case SYS_vfork:
    case SYS_clone:
    case SYS_clone3:
    case SYS_vhangup:
    case 335: /* uretprobe */
    case 336: /* uprobe */
        return 0;
    case SYS_kill:
        a[0] = getpid();
        a[1] = sig;
        return 1;
    case SYS_tkill:
        a[0] = gettid();
        a[1] = sig;
        return 1;
    case SYS_tgkill:
        a[0] = getpid();
        a[1] = gettid();
        a[2] = sig;
        return 1;
    case SYS_rt_sigqueueinfo:
    case SYS_rt_tgsigqueueinfo:
        a[0] = getpid();
        if (nr == SYS_rt_tgsigqueueinfo) {
            a[1] = gettid();
            a[2] = sig;
        } else {
            a[1] = sig;
        }
        return 1;
    case SYS_pidfd_open:
    case SYS_ptrace:
    case SYS_process_vm_readv:
    case SYS_process_vm_writev:
    case SYS_kcmp:
        a[nr == SYS_ptrace ? 1 : 0] = getpid();
        return 1;
    case SYS_pidfd_send_signal:
        a[1] = sig;
        return 1;
    case SYS_setrlimit:
        return 0;
    case SYS_prlimit64:
        a[0] = 0;
        a[2] = 0;
        return 1;
    case SYS_mmap:
        a[1] %= SIZE_CAP;
        a[3] &= ~(uint64_t)(MAP_POPULATE | MAP_LOCKED);
        return 1;
    case SYS_mremap:
        a[2] %= SIZE_CAP;
        return 1;
    case SYS_brk:
        a[0] = (uint64_t)sbrk(0) + pick(SIZE_CAP) - SIZE_CAP / 2;
        return 1;
    case SYS_fallocate:
        a[3] %= SIZE_CAP;
        return 1;
    case SYS_sendfile:
    case SYS_tee:
        a[3 - (nr == SYS_tee)] %= SIZE_CAP;
        return 1;
    case SYS_splice:
    case SYS_copy_file_range:
        a[4] %= SIZE_CAP;
        return 1;
    case SYS_shmget:
        a[1] %= SIZE_CAP;
        return 1;
    case SYS_mlock:
    case SYS_mlock2:
    case SYS_mlockall:
        return 0;
    }
    return 1;
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* Descriptors and paths worth aiming at, in the scratch directory. */
static void props(void)
{
    static char names[6][512];
    const char *leaves[] = {"f0", "f1", "d0", "d0/f2", "fifo", "link"};
    for (int i = 0; i < 6; i++) {
        snprintf(names[i], sizeof names[i], "%s/%s", check_scratch, leaves[i]);
        paths[npaths++] = names[i];
    }
    static char longpath[5000];
    memset(longpath, 'a', sizeof longpath - 1);
    static const char *fixed[] = {".", "", "/proc/self/status", "/proc/self/fd", "/dev/null",
                                  "/dev/zero", "f0", "/tmp"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        paths[npaths++] = fixed[i];
    paths[npaths++] = longpath;
    mkdir(names[2], 0755);
    nfds = 0;
    fds[nfds++] = open(names[0], O_RDWR | O_CREAT, 0644);
    fds[nfds++] = open(check_scratch, O_RDONLY | O_DIRECTORY);
    int p[2];
    if (pipe(p) == 0) {
        fds[nfds++] = p[0];
        fds[nfds++] = p[1];
    }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0) {
        fds[nfds++] = p[0];
        fds[nfds++] = p[1];
    }
    fds[nfds++] = socket(AF_INET, SOCK_DGRAM, 0);
    fds[nfds++] = eventfd(0, 0);
    fds[nfds++] = open("/dev/zero", O_RDONLY);
    fds[nfds++] = memfd_create("fuzz", 0);
    fds[nfds++] = open("/proc/self/status", O_RDONLY);
}

static void round_child(uint64_t seed)
{
    rng = seed * 0x9e3779b97f4a7c15ull + 1;
    int null = open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; i++)
        dup2(null, i);
    if (chdir(check_scratch) != 0)
        _exit(100);
    arena = mmap(NULL, ARENA_SIZE + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                 0);
    if (arena == MAP_FAILED)
        _exit(101);
    mprotect(arena + ARENA_SIZE, 4096, PROT_NONE);
    for (size_t i = 0; i < ARENA_SIZE; i += 8)
        *(uint64_t *)(arena + i) = pick(4) ? next() : pick(4) ? (uint64_t)paths[0] : pointer();
    props();
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval tick = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &tick, NULL);
    for (int i = 0; i < CALLS_PER_ROUND; i++) {
        uint64_t a[6];
        long nr = pick(64) ? (long)pick(MAX_NR) : (long)next() % 2048 | (pick(2) ? 0x40000000 : 0);
        for (int k = 0; k < 6; k++)
            a[k] = argument();
        if (!tame(nr, a))
            continue;
        shared->nr = nr;
        memcpy(shared->args, a, sizeof a);
        shared->calls++;
        raw6(nr, a);
    }
    _exit(0);
}

/* One line on how a round ended, with its last call. */
static void report(const char *how, int code, unsigned long round, uint64_t seed)
{
    printf("round %lu (seed %llu) %s %d after %llu calls; last: %llu(%#llx, %#llx, %#llx, %#llx, "
           "%#llx, %#llx)\n",
           round, (unsigned long long)(seed + round), how, code, (unsigned long long)shared->calls,
           (unsigned long long)shared->nr, (unsigned long long)shared->args[0],
           (unsigned long long)shared->args[1], (unsigned long long)shared->args[2],
           (unsigned long long)shared->args[3], (unsigned long long)shared->args[4],
           (unsigned long long)shared->args[5]);
}

/*
 * A round may have removed the scratch directory, or taken the permissions
 * off it or its parent (guest root has no capabilities, so mode 0 locks it
 * out as it would any user): the next round gets it back.
 */
static void restore_scratch(void)
{
    char parent[512];
    snprintf(parent, sizeof parent, "%s", check_scratch);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        chmod(parent, 01777);
    }
    mkdir(check_scratch, 0755);
    chmod(check_scratch, 0755);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 4)
        return 2;
    double seconds = atof(argv[2]);
    uint64_t seed = strtoull(argv[3], NULL, 0);
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return 3;
    /* Ends of rounds: exited normally, exited otherwise, killed by a
     * signal of their own, killed because they blocked for good. */
    unsigned long rounds = 0, calls = 0, clean = 0, other_exit = 0, signalled = 0, blocked = 0;
    unsigned long by_signal[65] = {0};
    double start = now();
    while (now() - start < seconds) {
        shared->calls = 0;
        restore_scratch();
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            printf("FAIL fork: %s\n", errname(errno));
            return 1;
        }
        if (pid == 0)
            round_child(seed + rounds);
        int status = 0, hung = 0;
        double deadline = now() + ROUND_LIMIT_MS / 1000.0;
        while (waitpid(pid, &status, WNOHANG) != pid) {
            if (now() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                hung = 1;
                break;
            }
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        calls += shared->calls;
        if (hung) {
            blocked++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            clean++;
        } else if (WIFEXITED(status)) {
            /* The first few, for a reproduction; then only counted. */
            if (other_exit++ < 10)
                report("exited", WEXITSTATUS(status), rounds, seed);
        } else {
            signalled++;
            by_signal[WTERMSIG(status) & 63]++;
            /* The first round each signal ended, for a reproduction. */
            if (by_signal[WTERMSIG(status) & 63] == 1)
                report("killed by", WTERMSIG(status), rounds, seed);
        }
        rounds++;
    }
    double elapsed = now() - start;
    printf("fuzz seed %llu: %lu rounds, %lu calls in %.1f s, %.0f calls/s; rounds ended: %lu "
           "clean, %lu other exit, %lu by signal, %lu blocked\n",
           (unsigned long long)seed, rounds, calls, elapsed, calls / elapsed, clean, other_exit,
           signalled, blocked);
    for (int s = 1; s < 65; s++)
        if (by_signal[s])
            printf("signal %s: %lu rounds\n", sigabbrev_np(s) ?: "?", by_signal[s]);
    fflush(stdout);
    return 0;
}
