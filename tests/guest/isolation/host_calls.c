/*
 * Host calls a container must never reach, issued with a bare `syscall`
 * instruction from guest code (no libc wrapper in between): each must come
 * back as an error from the oxbox kernel and change nothing. Prints one
 * line per call, "call <name> <errno name | SUCCEEDED>", then the hostname
 * the container still sees, and writes a marker file into the scratch
 * directory (argv[1]) that a successful tmpfs mount over /tmp would hide.
 *
 * Run under oxbox only: natively, as root, these calls would succeed.
 */
#include "check.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/utsname.h>

static long raw6(long nr, long a, long b, long c, long d, long e, long f)
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

static void call(const char *name, long ret)
{
    printf("call %s %s\n", name, ret < 0 && ret > -4096 ? errname((int)-ret) : "SUCCEEDED");
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    static const char pwned[] = "pwned-by-guest";
    char buf[64];

    call("mount", raw6(SYS_mount, (long)"oxbox-pwned", (long)"/tmp", (long)"tmpfs", 0, 0, 0));
    call("umount2", raw6(SYS_umount2, (long)"/", 2 /* MNT_DETACH */, 0, 0, 0, 0));
    call("sethostname", raw6(SYS_sethostname, (long)pwned, sizeof pwned - 1, 0, 0, 0, 0));
    call("setdomainname", raw6(SYS_setdomainname, (long)pwned, sizeof pwned - 1, 0, 0, 0, 0));
    call("ptrace", raw6(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0, 0, 0));
    call("unshare", raw6(SYS_unshare, CLONE_NEWNS | CLONE_NEWUTS, 0, 0, 0, 0, 0));
    call("setns", raw6(SYS_setns, 0, 0, 0, 0, 0, 0));
    call("chroot", raw6(SYS_chroot, (long)"/tmp", 0, 0, 0, 0, 0));
    call("pivot_root", raw6(SYS_pivot_root, (long)"/tmp", (long)"/tmp", 0, 0, 0, 0));
    call("bpf", raw6(SYS_bpf, 0 /* BPF_MAP_CREATE */, (long)buf, 0, 0, 0, 0));
    call("keyctl", raw6(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 1, 0, 0, 0));
    call("perf_event_open", raw6(SYS_perf_event_open, (long)buf, 0, -1, -1, 0, 0));
    call("userfaultfd", raw6(SYS_userfaultfd, 0, 0, 0, 0, 0, 0));
    call("io_uring_setup", raw6(SYS_io_uring_setup, 8, (long)buf, 0, 0, 0, 0));
    call("process_vm_readv", raw6(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0));
    call("open_by_handle_at", raw6(SYS_open_by_handle_at, AT_FDCWD, (long)buf, 0, 0, 0, 0));
    call("init_module", raw6(SYS_init_module, (long)buf, 0, (long)"", 0, 0, 0));
    call("kexec_load", raw6(SYS_kexec_load, 0, 0, 0, 0, 0, 0));

    struct utsname u;
    uname(&u);
    printf("nodename %s\n", u.nodename);
    int fd = open(path("after-mount"), O_CREAT | O_WRONLY, 0644);
    CHECK("marker_written_after_mount_attempt", fd >= 0 && write(fd, "still here", 10) == 10);
    close(fd);
    return finish();
}
