/*
 * Host files outside the rootfs. argv: scratch directory, the host path of
 * a secret file beside the rootfs, the secret's text. Every way of naming
 * the file is tried; reading the secret's text anywhere is a leak.
 */
#include "escape.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static const char *secret_path, *secret_text;

/* Whether `p` opens and reads as the secret; *err gets the errno if not. */
static int reads_secret(const char *p, int *err)
{
    char buf[256] = {0};
    int fd = open(p, O_RDONLY);
    if (fd < 0) {
        *err = errno;
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    *err = n < 0 ? errno : 0;
    return n > 0 && strstr(buf, secret_text) != NULL;
}

static void try_path(const char *name, const char *p)
{
    int err = 0;
    int leaked = reads_secret(p, &err);
    probe(name, leaked, "%s", leaked ? p : err ? errname(err) : "opened, not the secret");
}

/* `..` enough times to climb from any depth the rootfs could sit at. */
static const char *climb(const char *from)
{
    static char buf[2][4096];
    static int next;
    char *b = buf[next++ % 2];
    snprintf(b, sizeof buf[0], "%s", from);
    for (int i = 0; i < 40; i++)
        strcat(b, "/..");
    strcat(b, secret_path);
    return b;
}

static void proc_roots(void)
{
    DIR *d = opendir("/proc");
    int tried = 0, leaked = 0;
    char p[4096], where[8300] = "";
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int err;
        snprintf(p, sizeof p, "/proc/%s/root%s", e->d_name, secret_path);
        tried++;
        if (reads_secret(p, &err)) {
            leaked = 1;
            snprintf(where, sizeof where, "%s", p);
        }
        char link[4096] = {0};
        snprintf(p, sizeof p, "/proc/%s/root", e->d_name);
        if (readlink(p, link, sizeof link - 1) > 0 && strcmp(link, "/") != 0) {
            leaked = 1;
            snprintf(where, sizeof where, "%s -> %s", p, link);
        }
    }
    if (d)
        closedir(d);
    probe("file:/proc/<pid>/root", leaked, "%s",
          leaked ? where : tried ? "every root is the container's" : "no pid listed");
}

/* chroot into a subdirectory, climb out with `..` relative to the old
 * root (the classic escape), chroot there and read the secret. */
static long chroot_climb(void *arg)
{
    (void)arg;
    const char *jail = path("jail");
    if (mkdir(jail, 0755) != 0 || chroot(jail) != 0)
        return -errno;
    for (int i = 0; i < 64; i++)
        if (chdir("..") != 0)
            return -errno;
    if (chroot(".") != 0)
        return -errno;
    int err;
    return reads_secret(secret_path, &err) ? 0 : -(err ? err : ENOENT);
}

/* Descriptors the runtime might have left open: any beyond 0-2 that the
 * guest can use is a leak. */
static void guest_fds(void)
{
    char open_fds[512] = "";
    for (int fd = 3; fd < 4096; fd++)
        if (raw6(SYS_fcntl, fd, F_GETFD, 0, 0, 0, 0) >= 0)
            snprintf(open_fds + strlen(open_fds), sizeof open_fds - strlen(open_fds), " %d", fd);
    probe("fd:inherited", open_fds[0] != 0, "%s",
          open_fds[0] ? open_fds : "only 0, 1 and 2 are open");
}

/*
 * The same from the kernel's text, which sees the kernel's own descriptors
 * (its image, the shared memory, the log) too: none may be a directory,
 * since `openat(dirfd, "..")` from a host directory leaves the rootfs,
 * unless it is the root of a read-only tree of its own (the copy of
 * `/proc/sys`, a detached mount): `..` from it lists as itself and its
 * mount is read-only (a chmod fails with EROFS). Each open one is duplicated to 900 (dup3
 * returns 900 or an error, never 0, so the stub returns) and read as a
 * directory (getdents64 answers ENOTDIR for anything else, EBADF for an
 * O_PATH descriptor). Runs in a child, which prints the probe.
 */
static int closed_read_only_tree(uintptr_t g)
{
    /* Only calls that do not return 0 here: the gadget returns only then.
     * The descriptors opened stay open; the scan runs in a child. */
    static char here[4096], up[4096];
    long self = via_kernel(g, SYS_openat, 900, (long)".", O_RDONLY | O_DIRECTORY, 0, 0, 0);
    long parent = via_kernel(g, SYS_openat, 900, (long)"..", O_RDONLY | O_DIRECTORY, 0, 0, 0);
    if (self < 0 || parent < 0)
        return 0;
    long n = via_kernel(g, SYS_getdents64, self, (long)here, sizeof here, 0, 0, 0);
    long m = via_kernel(g, SYS_getdents64, parent, (long)up, sizeof up, 0, 0, 0);
    return n > 0 && n == m && memcmp(here, up, (size_t)n) == 0 &&
           via_kernel(g, SYS_fchmodat, 900, (long)".", 0555, 0, 0, 0) == -EROFS;
}

static long scan_kernel_fds(void *arg)
{
    uintptr_t g = *(uintptr_t *)arg;
    char open_fds[512] = "", dirs[512] = "", buf[4096];
    for (int fd = 3; fd < 1024; fd++) {
        if (fd == 900 || via_kernel(g, SYS_dup3, fd, 900, 0, 0, 0, 0) != 900)
            continue;
        snprintf(open_fds + strlen(open_fds), sizeof open_fds - strlen(open_fds), " %d", fd);
        if (via_kernel(g, SYS_getdents64, 900, (long)buf, sizeof buf, 0, 0, 0) != -ENOTDIR &&
            !closed_read_only_tree(g))
            snprintf(dirs + strlen(dirs), sizeof dirs - strlen(dirs), " %d", fd);
    }
    if (dirs[0])
        probe("fd:from-kernel-text", 1, "directories open:%s", dirs);
    else
        probe("fd:from-kernel-text", 0, "no directory among the kernel's fds:%s", open_fds);
    fflush(stdout);
    return -escape_leaks;
}

static void kernel_fds(uintptr_t gadget)
{
    int status;
    in_child(scan_kernel_fds, &gadget, &status);
    if (!WIFEXITED(status))
        probe("fd:from-kernel-text", 1, "the scan died (%s)", child_end(status));
    else if (WEXITSTATUS(status) != 0)
        escape_leaks++;
}

/* A file handle for inode 2 (the root of an ext4 file system) as the
 * "shocker" exploit builds it, and one for the container's own root. */
static void by_handle(void)
{
    struct {
        unsigned int bytes;
        int type;
        unsigned char f[128];
    } h = {.bytes = 8, .type = 1};
    uint32_t ino_gen[2] = {2, 0};
    memcpy(h.f, ino_gen, sizeof ino_gen);
    long r = raw6(SYS_open_by_handle_at, AT_FDCWD, (long)&h, O_RDONLY, 0, 0, 0);
    probe("file:open_by_handle_at", r >= 0, "%s", outcome(r));
    h.bytes = sizeof h.f;
    int mount_id;
    r = raw6(SYS_name_to_handle_at, AT_FDCWD, (long)"/", (long)&h, (long)&mount_id, 0, 0);
    probe("file:name_to_handle_at", r >= 0, "%s", outcome(r));
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 4)
        return 2;
    secret_path = argv[2];
    secret_text = argv[3];

    try_path("file:absolute-path", secret_path);
    try_path("file:dotdot-from-root", climb(""));
    try_path("file:dotdot-from-scratch", climb(check_scratch));
    char link[4096];
    snprintf(link, sizeof link, "%s", path("abs-link"));
    symlink(secret_path, link);
    try_path("file:guest-symlink-absolute", link);
    snprintf(link, sizeof link, "%s", path("rel-link"));
    symlink(climb(".."), link);
    try_path("file:guest-symlink-relative", link);
    try_path("file:/proc/self/cwd", climb("/proc/self/cwd"));
    try_path("file:/proc/self/root", climb("/proc/self/root"));
    proc_roots();

    int status;
    in_child(chroot_climb, NULL, &status);
    probe("file:chroot-and-climb", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s",
          child_end(status));
    by_handle();
    guest_fds();
    uintptr_t gadget = kernel_syscall_gadget();
    if (gadget)
        kernel_fds(gadget);
    else
        probe("fd:from-kernel-text", 0, "kernel text unreadable");
    return escape_finish();
}
