/*
 * Host devices: device nodes made with mknod (the host's disk, memory,
 * kernel log) must not open onto the host's devices, from guest code or
 * from the kernel's text, and the host's own nodes bound into /dev keep
 * their mode, owner and times. argv: scratch directory; the test checks that no
 * device node appeared in it on the host.
 */
#include "escape.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static const struct {
    const char *name;
    mode_t type;
    unsigned major, minor;
} devices[] = {
    {"sda", S_IFBLK, 8, 0},     {"vda", S_IFBLK, 253, 0}, {"mem", S_IFCHR, 1, 1},
    {"kmem", S_IFCHR, 1, 2},    {"port", S_IFCHR, 1, 4},  {"kmsg", S_IFCHR, 1, 11},
    {"loop0", S_IFBLK, 7, 0},   {"tty0", S_IFCHR, 4, 0},
};

static const char *node;
static dev_t node_dev;
static mode_t node_type;
static uintptr_t gadget;

/* mknodat from the kernel's text returns 0 on success, where the stub
 * does not return: in a child. */
static long mknod_from_kernel_text(void *unused)
{
    (void)unused;
    return via_kernel(gadget, SYS_mknodat, AT_FDCWD, (long)node, node_type | 0600, node_dev, 0,
                      0);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    gadget = kernel_syscall_gadget();
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        char name[64], where[600];
        snprintf(where, sizeof where, "%s", path(devices[i].name));
        dev_t dev = makedev(devices[i].major, devices[i].minor);
        long r = raw6(SYS_mknodat, AT_FDCWD, (long)where, devices[i].type | 0600, dev, 0, 0);
        long fd = r == 0 ? raw6(SYS_openat, AT_FDCWD, (long)where, O_RDONLY, 0, 0, 0) : r;
        char byte;
        long n = fd >= 0 ? raw6(SYS_read, fd, (long)&byte, 1, 0, 0, 0) : fd;
        snprintf(name, sizeof name, "mknod:%s", devices[i].name);
        probe(name, n >= 0, "mknod %s, open %s, read %s", outcome(r), outcome(fd), outcome(n));
        if (fd >= 0)
            close(fd);
        unlink(where);
        if (!gadget)
            continue;
        node = where;
        node_dev = dev;
        node_type = devices[i].type;
        int status;
        in_child(mknod_from_kernel_text, NULL, &status);
        int blocked = (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        struct stat st;
        int exists = lstat(where, &st) == 0;
        snprintf(name, sizeof name, "mknod-from-kernel-text:%s", devices[i].name);
        probe(name, !blocked || exists, "%s%s", child_end(status), exists ? ", node exists" : "");
        unlink(where);
    }
    /* The host's harmless devices are bound into /dev and the guest's root
     * is the host's root uid: their mode, owner and times must stay out of
     * reach. The values asked for are the nodes' own (0666, root), so a
     * leak changes only their ctime, which the test reads on the host. */
    long zero = raw6(SYS_openat, AT_FDCWD, (long)"/dev/zero", O_RDONLY, 0, 0, 0);
    long urandom = raw6(SYS_openat, AT_FDCWD, (long)"/dev/urandom", O_RDONLY, 0, 0, 0);
    struct {
        const char *name;
        long ret;
    } meta[] = {
        {"chmod:/dev/null", raw6(SYS_chmod, (long)"/dev/null", 0666, 0, 0, 0, 0)},
        {"fchmod:/dev/zero", raw6(SYS_fchmod, zero, 0666, 0, 0, 0, 0)},
        {"chown:/dev/full", raw6(SYS_chown, (long)"/dev/full", 0, 0, 0, 0, 0)},
        {"utimensat:/dev/random",
         raw6(SYS_utimensat, AT_FDCWD, (long)"/dev/random", 0, 0, 0, 0)},
        {"futimens:/dev/urandom", raw6(SYS_utimensat, urandom, 0, 0, 0, 0, 0)},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "host-device:%s", meta[i].name);
        probe(name, meta[i].ret >= 0, "%s", outcome(meta[i].ret));
    }

    /* A mode with every type bit, S_IFCHR's among them, is no type at
     * all: EINVAL from the kernel, which must not pass it to the host
     * (whose allowlist would kill the process for it). */
    char where[600];
    snprintf(where, sizeof where, "%s", path("no-type"));
    long r = raw6(SYS_mknodat, AT_FDCWD, (long)where, 0170600, makedev(1, 1), 0, 0);
    probe("mknod:invalid-type", r >= 0, "%s", outcome(r));
    return escape_finish();
}
