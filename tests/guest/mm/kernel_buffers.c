/*
 * Every call that writes a result through a guest pointer must refuse a
 * pointer into the kernel's writable memory with EFAULT: otherwise the
 * host (or the kernel itself) would write there on the guest's behalf and
 * corrupt the kernel silently. argv: scratch, a writable kernel address
 * (inside the kernel heap), a kernel stack address.
 *
 * Run under oxbox only: natively these addresses are unmapped, and the
 * same calls fail with EFAULT for that reason instead.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#define ARCH_GET_FS 0x1003

static void refuse_kernel_buffers(const char *where, void *k)
{
    char name[128];
#define REFUSED(call, expr)                                                  \
    do {                                                                     \
        snprintf(name, sizeof name, "%s_into_%s_is_efault", call, where);    \
        CHECK_ERR(name, expr, EFAULT);                                       \
    } while (0)
    int file = open("/data/words.txt", O_RDONLY);
    int pair[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    int p[2];
    pipe(p);
    struct iovec iov = {k, 16};

    write(pair[1], "abcdefgh", 8);
    REFUSED("read", read(file, k, 16));
    REFUSED("pread", pread(file, k, 16, 0));
    REFUSED("readv", readv(file, &iov, 1));
    REFUSED("preadv2", preadv2(file, &iov, 1, 0, 0));
    REFUSED("recvfrom", recvfrom(pair[0], k, 4, 0, NULL, NULL));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    REFUSED("recvmsg", recvmsg(pair[0], &msg, 0));
    /* A message carrying a descriptor, so that receiving it has control
     * data to write. */
    char small[8] = "x";
    struct iovec ok = {small, 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } rights = {0};
    struct msghdr out = {.msg_iov = &ok, .msg_iovlen = 1, .msg_control = rights.buf,
                         .msg_controllen = sizeof rights.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&out);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &file, sizeof file);
    int carrier[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, carrier);
    sendmsg(carrier[1], &out, 0);
    struct msghdr ctl = {.msg_iov = &ok, .msg_iovlen = 1, .msg_control = k, .msg_controllen = 64};
    REFUSED("recvmsg_control", recvmsg(carrier[0], &ctl, 0));
    close(carrier[0]);
    close(carrier[1]);
    socklen_t len = 16;
    REFUSED("getsockname", getsockname(pair[0], k, &len));
    REFUSED("getsockopt", getsockopt(pair[0], SOL_SOCKET, SO_TYPE, k, &len));
    REFUSED("getsockopt_len", getsockopt(pair[0], SOL_SOCKET, SO_TYPE, small, k));
    REFUSED("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, k));
    REFUSED("pipe", pipe(k));
    REFUSED("stat", stat("/", k));
    REFUSED("fstat", fstat(file, k));
    REFUSED("statx", syscall(SYS_statx, AT_FDCWD, "/", 0, STATX_BASIC_STATS, k));
    REFUSED("statfs", statfs("/", k));
    REFUSED("fstatfs", fstatfs(file, k));
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    REFUSED("getdents64", syscall(SYS_getdents64, dir, k, 4096));
    REFUSED("readlink", readlink("/proc/self/exe", k, 64));
    REFUSED("getcwd", syscall(SYS_getcwd, k, 64));
    REFUSED("uname", uname(k));
    REFUSED("sysinfo", sysinfo(k));
    REFUSED("getrandom", syscall(SYS_getrandom, k, 16, 0));
    REFUSED("clock_gettime", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, k));
    REFUSED("clock_getres", syscall(SYS_clock_getres, CLOCK_MONOTONIC, k));
    REFUSED("gettimeofday", syscall(SYS_gettimeofday, k, NULL));
    REFUSED("time", syscall(SYS_time, k));
    REFUSED("getrlimit", getrlimit(RLIMIT_NOFILE, k));
    REFUSED("prlimit", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, k));
    REFUSED("getgroups", syscall(SYS_getgroups, 4, k));
    REFUSED("getresuid", syscall(SYS_getresuid, k, k, k));
    REFUSED("sched_getaffinity", syscall(SYS_sched_getaffinity, 0, 128, k));
    REFUSED("rt_sigaction_old", syscall(SYS_rt_sigaction, SIGUSR1, NULL, k, 8));
    REFUSED("rt_sigprocmask_old", syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, k, 8));
    REFUSED("rt_sigpending", syscall(SYS_rt_sigpending, k, 8));
    REFUSED("sigaltstack_old", syscall(SYS_sigaltstack, NULL, k));
    REFUSED("getitimer", syscall(SYS_getitimer, ITIMER_REAL, k));
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    REFUSED("timerfd_gettime", syscall(SYS_timerfd_gettime, tfd, k));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev);
    REFUSED("epoll_wait", epoll_wait(ep, k, 4, 0));
    REFUSED("poll", poll(k, 1, 0));
    REFUSED("select", select(pair[0] + 1, k, NULL, NULL, &(struct timeval){0, 0}));
    REFUSED("ioctl_fionread", ioctl(pair[0], FIONREAD, k));
    REFUSED("fcntl_getlk", fcntl(file, F_GETLK, k));
    REFUSED("arch_prctl_get_fs", syscall(SYS_arch_prctl, ARCH_GET_FS, k));
    REFUSED("prctl_get_name", prctl(PR_GET_NAME, k));
    REFUSED("set_tid_address", syscall(SYS_set_tid_address, k));
    off_t *offset = k;
    REFUSED("sendfile_offset", sendfile(p[1], file, offset, 4));
    pid_t child = fork();
    if (child == 0)
        _exit(3);
    REFUSED("wait4_status", wait4(child, k, 0, NULL));
    REFUSED("wait4_rusage", wait4(child, NULL, 0, k));
    REFUSED("waitid_info", waitid(P_PID, child, k, WEXITED));
    waitpid(child, NULL, 0);
    close(file);
    close(dir);
    close(tfd);
    close(ep);
#undef REFUSED
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 4) {
        failf("arguments", "usage: kernel_buffers SCRATCH HEAP STACK");
        return finish();
    }
    refuse_kernel_buffers("kernel_heap", (void *)strtoul(argv[2], NULL, 0));
    refuse_kernel_buffers("kernel_stack", (void *)strtoul(argv[3], NULL, 0));
    return finish();
}
