/*
 * The devices of /dev the kernel answers itself: null, zero, full, random,
 * urandom and tty. Each must look (stat: character device, major:minor) and
 * behave like Linux's.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void device(const char *dev, unsigned maj, unsigned min)
{
    struct stat st;
    char name[128];
    snprintf(name, sizeof name, "stat_%s_is_char_device_%u_%u", dev + 5, maj, min);
    if (stat(dev, &st) != 0)
        failf(name, "stat failed: %s", errname(errno));
    else if (!S_ISCHR(st.st_mode))
        failf(name, "mode %o", st.st_mode);
    else if (major(st.st_rdev) != maj || minor(st.st_rdev) != min)
        failf(name, "rdev %u:%u", major(st.st_rdev), minor(st.st_rdev));
    else
        pass(name);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    char buf[4096];

    device("/dev/null", 1, 3);
    device("/dev/zero", 1, 5);
    device("/dev/full", 1, 7);
    device("/dev/random", 1, 8);
    device("/dev/urandom", 1, 9);
    device("/dev/tty", 5, 0);

    int fd = open("/dev/null", O_RDWR);
    CHECK("open_dev_null", fd >= 0);
    CHECK_EQ("read_dev_null_is_eof", read(fd, buf, sizeof buf), 0);
    CHECK_EQ("write_dev_null_swallows_all", write(fd, buf, sizeof buf), sizeof buf);
    CHECK_EQ("lseek_dev_null_is_0", lseek(fd, 100, SEEK_SET), 0);
    struct stat st;
    CHECK("fstat_dev_null_is_char_device", fstat(fd, &st) == 0 && S_ISCHR(st.st_mode));
    close(fd);

    fd = open("/dev/zero", O_RDWR);
    memset(buf, 'x', sizeof buf);
    CHECK_EQ("read_dev_zero_fills_request", read(fd, buf, sizeof buf), sizeof buf);
    int zeros = 1;
    for (size_t i = 0; i < sizeof buf; i++)
        zeros &= buf[i] == 0;
    CHECK("dev_zero_gives_zeros", zeros);
    CHECK_EQ("write_dev_zero_is_accepted", write(fd, "abc", 3), 3);
    close(fd);

    fd = open("/dev/full", O_RDWR);
    CHECK_ERR("write_dev_full_is_enospc", write(fd, "abc", 3), ENOSPC);
    buf[0] = 'x';
    CHECK_EQ("read_dev_full_gives_zeros", read(fd, buf, 16), 16);
    CHECK("dev_full_reads_zero", buf[0] == 0);
    close(fd);

    CHECK_ERR("open_missing_device_is_enoent", open("/dev/no-such-device", O_RDONLY), ENOENT);
    CHECK_ERR("create_in_dev_is_refused_or_absent_consistently",
              open("/dev/null/x", O_RDONLY), ENOTDIR);
    return finish();
}
