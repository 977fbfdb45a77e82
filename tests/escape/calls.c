/*
 * Host calls a container must never make, three ways each: a raw
 * `syscall` instruction in guest code (which the oxbox kernel answers),
 * the 32-bit `int $0x80` entry (which the host filter refuses for every
 * process), and a `syscall` instruction inside the kernel's own text
 * (which the host filter kills unless the host allowlist has the call; the
 * capabilities and namespaces the runtime dropped stand behind that).
 * argv: scratch directory. The test checks the host's hostname, domain
 * name, clock, mounts and modules afterwards.
 */
#include "escape.h"

#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/time.h>
#include <time.h>

/* In .data of a non-PIE static binary, so that 32-bit registers can point
 * at them for the int 0x80 entry. */
static char pwned[] = "oxbox-pwned";
static char scratch[4096];
static char tmpfs[] = "tmpfs";
static char root[] = "/";
static char module[] = "oxbox_no_such_module";
static struct timeval later;
static struct timespec later_ts;
static union bpf_attr bpf_attr = {.map_type = BPF_MAP_TYPE_ARRAY,
                                  .key_size = 4,
                                  .value_size = 4,
                                  .max_entries = 1};
static struct perf_event_attr perf_attr = {.type = PERF_TYPE_SOFTWARE,
                                           .size = sizeof(struct perf_event_attr),
                                           .config = PERF_COUNT_SW_CPU_CLOCK};
static char uring_params[120];
static char handle[136] = {8, 0, 0, 0, 1, 0, 0, 0, 2};
static char session_keyring_type[] = "user";
static char log_buf[256];

struct call {
    const char *name;
    long nr64, nr32;
    long a, b, c, d, e;
};

static struct call calls[] = {
    {"mount", SYS_mount, 21, (long)pwned, (long)scratch, (long)tmpfs, 0, 0},
    {"umount2", SYS_umount2, 52, (long)root, 2 /* MNT_DETACH */, 0, 0, 0},
    {"sethostname", SYS_sethostname, 74, (long)pwned, sizeof pwned - 1, 0, 0, 0},
    {"setdomainname", SYS_setdomainname, 121, (long)pwned, sizeof pwned - 1, 0, 0, 0},
    {"settimeofday", SYS_settimeofday, 79, (long)&later, 0, 0, 0, 0},
    {"clock_settime", SYS_clock_settime, 264, CLOCK_REALTIME, (long)&later_ts, 0, 0, 0},
    {"ptrace", SYS_ptrace, 26, 0 /* PTRACE_TRACEME */, 0, 0, 0, 0},
    {"bpf", SYS_bpf, 357, BPF_MAP_CREATE, (long)&bpf_attr, sizeof bpf_attr, 0, 0},
    {"perf_event_open", SYS_perf_event_open, 336, (long)&perf_attr, 0, -1, -1, 0},
    {"keyctl", SYS_keyctl, 288, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 1, 0, 0},
    {"add_key", SYS_add_key, 286, (long)session_keyring_type, (long)pwned, (long)pwned, 5, -3},
    {"io_uring_setup", SYS_io_uring_setup, 425, 8, (long)uring_params, 0, 0, 0},
    {"userfaultfd", SYS_userfaultfd, 374, 0, 0, 0, 0, 0},
    {"unshare", SYS_unshare, 310, CLONE_NEWNS | CLONE_NEWUTS, 0, 0, 0, 0},
    {"setns", SYS_setns, 346, 0, 0, 0, 0, 0},
    {"pivot_root", SYS_pivot_root, 217, (long)scratch, (long)scratch, 0, 0, 0},
    {"init_module", SYS_init_module, 128, (long)log_buf, sizeof log_buf, (long)pwned, 0, 0},
    {"finit_module", SYS_finit_module, 350, 0, (long)pwned, 0, 0, 0},
    {"delete_module", SYS_delete_module, 129, (long)module, 0x800 /* O_NONBLOCK */, 0, 0, 0},
    {"kexec_load", SYS_kexec_load, 283, 0, 0, 0, 0, 0},
    {"process_vm_readv", SYS_process_vm_readv, 347, 1, 0, 0, 0, 0},
    {"open_by_handle_at", SYS_open_by_handle_at, 342, -100, (long)handle, 0, 0, 0},
    {"syslog", SYS_syslog, 103, 3 /* SYSLOG_ACTION_READ_ALL */, (long)log_buf, sizeof log_buf, 0,
     0},
    {"iopl", SYS_iopl, 110, 3, 0, 0, 0, 0},
    {"ioperm", SYS_ioperm, 101, 0x80, 1, 1, 0, 0},
    {"acct", SYS_acct, 51, (long)scratch, 0, 0, 0, 0},
    {"reboot", SYS_reboot, 88, 0xfee1dead, 672274793, 0x89abcdef /* CAD_ON */, 0, 0},
};

static uintptr_t gadget;
static const struct call *current;

/* uretprobe (335) and uprobe (336) are answered by the host before any
 * seccomp filter (Linux 6.11 and later), from any code: outside a uprobe
 * trampoline they only kill the caller (SIGILL) or fail (ENXIO). */
static long host_answered(void *nr)
{
    return raw6((long)nr, 0, 0, 0, 0, 0, 0);
}

static long from_kernel_text(void *unused)
{
    (void)unused;
    const struct call *c = current;
    return via_kernel(gadget, c->nr64, c->a, c->b, c->c, c->d, c->e, 0);
}

/* Host tunables a guest would love to write. Under oxbox /proc/sys is
 * the kernel's: a write may be refused or stay in the container; which,
 * the test reads on the host. */
static const struct {
    const char *path, *value;
} sysctls[] = {
    {"/proc/sys/kernel/core_pattern", "|/tmp/oxbox-pwned"},
    {"/proc/sys/kernel/hostname", "oxbox-pwned"},
    {"/proc/sys/kernel/domainname", "oxbox-pwned"},
    {"/proc/sys/kernel/modprobe", "/tmp/oxbox-pwned"},
    {"/proc/sys/vm/swappiness", "17"},
    {"/proc/sys/net/ipv4/ip_forward", "1"},
    {"/proc/sysrq-trigger", "h"},
};

static void write_sysctls(void)
{
    for (size_t i = 0; i < sizeof sysctls / sizeof sysctls[0]; i++) {
        long fd = raw6(SYS_openat, -100, (long)sysctls[i].path, 1 /* O_WRONLY */, 0, 0, 0);
        long n = fd >= 0 ? raw6(SYS_write, fd, (long)sysctls[i].value,
                                (long)strlen(sysctls[i].value), 0, 0, 0)
                         : fd;
        printf("attempt sysctl:%s %s\n", sysctls[i].path, outcome(n));
        if (fd >= 0)
            close(fd);
    }
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    snprintf(scratch, sizeof scratch, "%s", check_scratch);
    gettimeofday(&later, NULL);
    later.tv_sec += 100;
    later_ts.tv_sec = later.tv_sec;
    gadget = kernel_syscall_gadget();
    probe("kernel-text:syscall-found", 0, "%s",
          gadget ? "a `syscall; ret` in the kernel's text is callable" : "kernel text unreadable");
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const struct call *c = &calls[i];
        char name[96];
        long r = raw6(c->nr64, c->a, c->b, c->c, c->d, c->e, 0);
        snprintf(name, sizeof name, "syscall:%s", c->name);
        probe(name, r >= 0, "%s", outcome(r));
        r = int80(c->nr32, c->a, c->b, c->c, c->d, c->e);
        snprintf(name, sizeof name, "int80:%s", c->name);
        probe(name, r >= 0, "%s", outcome(r));
        if (!gadget)
            continue;
        /* Killed by SIGSYS (not in the allowlist) or an error from the
         * host: blocked. Anything else, including a success, where the
         * kernel's stub does not return, is a leak. */
        current = c;
        int status;
        in_child(from_kernel_text, NULL, &status);
        int blocked = (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        snprintf(name, sizeof name, "kernel-text:%s", c->name);
        probe(name, !blocked, "%s", child_end(status));
    }
    write_sysctls();
    static const struct {
        const char *name;
        long nr;
    } before_seccomp[] = {{"uretprobe", 335}, {"uprobe", 336}};
    for (size_t i = 0; i < 2; i++) {
        int status;
        in_child(host_answered, (void *)before_seccomp[i].nr, &status);
        char name[64];
        snprintf(name, sizeof name, "before-seccomp:%s", before_seccomp[i].name);
        int harmless = (WIFSIGNALED(status) && WTERMSIG(status) == SIGILL) ||
                       (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        probe(name, !harmless, "%s (the host's answer; no filter sees it)", child_end(status));
    }
    return escape_finish();
}
