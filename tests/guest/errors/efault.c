/*
 * Bad pointers give EFAULT, in every family, and never crash the program or
 * the kernel: the kernel must copy user memory through a checked path.
 * Raw syscall() is used so that libc cannot intercept a NULL first.
 */
#include "check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    int fd = open("/data/words.txt", O_RDONLY);
    int wfd = open(path("out"), O_CREAT | O_RDWR, 0644);
    char buf[64];

    CHECK_ERR("read_into_bad_pointer", syscall(SYS_read, fd, BAD_PTR, 10), EFAULT);
    CHECK_ERR("read_into_null", syscall(SYS_read, fd, NULL, 10), EFAULT);
    CHECK_EQ("read_null_len0_is_not_a_fault", syscall(SYS_read, fd, NULL, 0), 0);
    CHECK_ERR("write_from_bad_pointer", syscall(SYS_write, wfd, BAD_PTR, 10), EFAULT);
    CHECK_ERR("pread_into_bad_pointer", syscall(SYS_pread64, fd, BAD_PTR, 10, 0), EFAULT);
    CHECK_ERR("pwrite_from_bad_pointer", syscall(SYS_pwrite64, wfd, BAD_PTR, 10, 0), EFAULT);
    CHECK_ERR("readv_bad_iovec_array", syscall(SYS_readv, fd, BAD_PTR, 1), EFAULT);
    struct iovec iov = {.iov_base = BAD_PTR, .iov_len = 10};
    CHECK_ERR("readv_bad_iov_base", syscall(SYS_readv, fd, &iov, 1), EFAULT);
    CHECK_ERR("writev_bad_iov_base", syscall(SYS_writev, wfd, &iov, 1), EFAULT);

    /* A buffer that starts mapped and runs into an unmapped page. */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + 4096, 4096);
    memset(two, 'q', 4096);
    long r = syscall(SYS_write, wfd, two + 4096 - 8, 64);
    if (r == 8 || (r == -1 && errno == EFAULT))
        pass("write_running_off_the_mapping_stops_at_the_hole");
    else
        failf("write_running_off_the_mapping_stops_at_the_hole", "returned %ld (%s)", r,
              errname(errno));
    CHECK_ERR("write_starting_in_the_hole", syscall(SYS_write, wfd, two + 4096, 8), EFAULT);
    CHECK_ERR("read_into_read_only_page",
              syscall(SYS_read, fd, mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                                         0), 10),
              EFAULT);

    CHECK_ERR("open_bad_path_pointer", syscall(SYS_open, BAD_PTR, O_RDONLY), EFAULT);
    CHECK_ERR("openat_bad_path_pointer", syscall(SYS_openat, AT_FDCWD, BAD_PTR, O_RDONLY),
              EFAULT);
    CHECK_ERR("openat_null_path", syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY), EFAULT);
    struct stat st;
    CHECK_ERR("stat_null_path", syscall(SYS_newfstatat, AT_FDCWD, NULL, &st, 0), EFAULT);
    CHECK_ERR("stat_bad_statbuf", syscall(SYS_newfstatat, AT_FDCWD, "/", BAD_PTR, 0), EFAULT);
    CHECK_ERR("fstat_bad_statbuf", syscall(SYS_fstat, fd, BAD_PTR), EFAULT);
    CHECK_ERR("statx_bad_buffer",
              syscall(SYS_statx, AT_FDCWD, "/", 0, STATX_BASIC_STATS, BAD_PTR), EFAULT);
    CHECK_ERR("access_bad_path", syscall(SYS_access, BAD_PTR, F_OK), EFAULT);
    CHECK_ERR("readlink_bad_path", syscall(SYS_readlink, BAD_PTR, buf, sizeof buf), EFAULT);
    CHECK_ERR("readlink_bad_buffer", syscall(SYS_readlink, "/data/tree/link", BAD_PTR, 10),
              EFAULT);
    int dfd = open("/data", O_RDONLY | O_DIRECTORY);
    CHECK_ERR("getdents64_bad_buffer", syscall(SYS_getdents64, dfd, BAD_PTR, 4096), EFAULT);
    CHECK_ERR("getcwd_bad_buffer", syscall(SYS_getcwd, BAD_PTR, 256), EFAULT);
    CHECK_ERR("chdir_bad_path", syscall(SYS_chdir, BAD_PTR), EFAULT);
    CHECK_ERR("mkdir_bad_path", syscall(SYS_mkdir, BAD_PTR, 0755), EFAULT);
    CHECK_ERR("unlink_bad_path", syscall(SYS_unlink, BAD_PTR), EFAULT);
    CHECK_ERR("rename_bad_old_path", syscall(SYS_rename, BAD_PTR, path("x")), EFAULT);
    CHECK_ERR("rename_bad_new_path", syscall(SYS_rename, path("out"), BAD_PTR), EFAULT);
    CHECK_ERR("pipe2_bad_array", syscall(SYS_pipe2, BAD_PTR, 0), EFAULT);

    CHECK_ERR("uname_bad_buffer", syscall(SYS_uname, BAD_PTR), EFAULT);
    CHECK_ERR("clock_gettime_syscall_bad_buffer",
              syscall(SYS_clock_gettime, CLOCK_MONOTONIC, BAD_PTR), EFAULT);
    CHECK_ERR("nanosleep_bad_request", syscall(SYS_nanosleep, BAD_PTR, NULL), EFAULT);
    CHECK_ERR("getrandom_bad_buffer", syscall(SYS_getrandom, BAD_PTR, 16, 0), EFAULT);
    CHECK_ERR("rt_sigaction_bad_new_action",
              syscall(SYS_rt_sigaction, SIGUSR1, BAD_PTR, NULL, 8), EFAULT);
    CHECK_ERR("rt_sigaction_bad_old_action",
              syscall(SYS_rt_sigaction, SIGUSR1, NULL, BAD_PTR, 8), EFAULT);
    CHECK_ERR("rt_sigprocmask_bad_set",
              syscall(SYS_rt_sigprocmask, SIG_BLOCK, BAD_PTR, NULL, 8), EFAULT);
    CHECK_ERR("prlimit64_bad_old_limit",
              syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, BAD_PTR), EFAULT);
    CHECK_ERR("sysinfo_bad_buffer", syscall(SYS_sysinfo, BAD_PTR), EFAULT);

    /* Nothing above was written: the file is still empty. */
    CHECK("fstat_still_works_after_faults", fstat(wfd, &st) == 0);
    if (st.st_size == 0 || st.st_size == 8)
        pass("faulting_writes_wrote_nothing_beyond_the_mapped_bytes");
    else
        failf("faulting_writes_wrote_nothing_beyond_the_mapped_bytes", "size %ld",
              (long)st.st_size);
    return finish();
}
