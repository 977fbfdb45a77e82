/*
 * Descriptors that are not open give EBADF in every call that takes one:
 * never opened, closed, negative, far beyond the table, or at the top of
 * the table, where the oxbox kernel keeps its own descriptors (natively the
 * same numbers are simply not open, so the answers must agree).
 */
#include "check.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>

static void all_calls_fail(const char *what, int fd)
{
    char name[128], buf[16];
    struct stat st;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
#define BAD(call, expr)                                                      \
    do {                                                                     \
        snprintf(name, sizeof name, "%s_on_%s_is_ebadf", call, what);        \
        CHECK_ERR(name, expr, EBADF);                                        \
    } while (0)
    BAD("read", read(fd, buf, sizeof buf));
    BAD("write", write(fd, "x", 1));
    BAD("pread", pread(fd, buf, 1, 0));
    BAD("pwrite", pwrite(fd, "x", 1, 0));
    BAD("readv", readv(fd, &iov, 1));
    BAD("writev", writev(fd, &iov, 1));
    BAD("lseek", lseek(fd, 0, SEEK_SET));
    BAD("fstat", syscall(SYS_fstat, fd, &st));
    BAD("fstatat_empty_path", fstatat(fd, "", &st, AT_EMPTY_PATH));
    BAD("openat_relative", openat(fd, "x", O_RDONLY));
    BAD("getdents64", syscall(SYS_getdents64, fd, buf, sizeof buf));
    BAD("fcntl_getfd", fcntl(fd, F_GETFD));
    BAD("fcntl_dupfd", fcntl(fd, F_DUPFD, 0));
    BAD("dup", dup(fd));
    BAD("dup2_from", dup2(fd, 9));
    BAD("ioctl_tcgets", ioctl(fd, TCGETS, &(struct termios){0}));
    BAD("mmap_file", (long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0));
    BAD("close", close(fd));
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    all_calls_fail("never_opened_fd", 42);
    all_calls_fail("negative_fd", -7);
    all_calls_fail("huge_fd", 1 << 30);
    int fd = open("/data/words.txt", O_RDONLY);
    close(fd);
    all_calls_fail("closed_fd", fd);
    /* The top of the default table (RLIMIT_NOFILE 1024): under oxbox this
     * is where the kernel keeps its own descriptors. */
    all_calls_fail("fd_1020", 1020);
    all_calls_fail("fd_1023", 1023);
    return finish();
}
