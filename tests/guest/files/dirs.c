/*
 * Directories and names: mkdir, getdents64, chdir, getcwd, rename, unlink
 * and readlinkat, with their error cases (EEXIST, ENOENT, ENOTDIR, EISDIR,
 * EINVAL, ERANGE).
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists dir with raw getdents64, sorted, as "name:type name:type ...". */
static const char *list(const char *dir, size_t bufsize)
{
    static char out[1024];
    char buf[4096], *names[64];
    int n = 0;
    out[0] = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return "open failed";
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, bufsize);
        if (got < 0) {
            snprintf(out, sizeof out, "getdents64 failed: %s", errname(errno));
            close(fd);
            return out;
        }
        if (got == 0)
            break;
        for (long off = 0; off < got;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            char *s = malloc(300);
            snprintf(s, 300, "%s:%s", d->d_name,
                     d->d_type == DT_DIR ? "d" : d->d_type == DT_REG ? "f"
                                             : d->d_type == DT_LNK ? "l" : "?");
            if (n < 64)
                names[n++] = s;
            off += d->d_reclen;
        }
    }
    close(fd);
    qsort(names, n, sizeof names[0], cmp);
    for (int i = 0; i < n; i++) {
        strcat(out, names[i]);
        strcat(out, i + 1 < n ? " " : "");
    }
    return out;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct stat st;
    char buf[512];

    CHECK_EQ("mkdir_returns_0", mkdir(path("d"), 0755), 0);
    CHECK("mkdir_made_a_dir", stat(path("d"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_ERR("mkdir_existing_is_eexist", mkdir(path("d"), 0755), EEXIST);
    CHECK_ERR("mkdir_missing_parent_is_enoent", mkdir(path("no/d"), 0755), ENOENT);
    close(open(path("d/a"), O_CREAT | O_WRONLY, 0644));
    close(open(path("d/b"), O_CREAT | O_WRONLY, 0644));
    CHECK_EQ("mkdir_nested", mkdir(path("d/sub"), 0755), 0);
    CHECK_ERR("mkdir_below_a_file_is_enotdir", mkdir(path("d/a/x"), 0755), ENOTDIR);
    CHECK_ERR("mkdir_over_a_file_is_eexist", mkdir(path("d/a"), 0755), EEXIST);

    const char *l = list(path("d"), sizeof buf);
    if (strcmp(l, "..:d .:d a:f b:f sub:d") == 0)
        pass("getdents64_lists_entries_with_types");
    else
        failf("getdents64_lists_entries_with_types", "got [%s]", l);
    /* 64 bytes hold one or two records: the listing must continue. */
    l = list(path("d"), 64);
    if (strcmp(l, "..:d .:d a:f b:f sub:d") == 0)
        pass("getdents64_small_buffer_resumes");
    else
        failf("getdents64_small_buffer_resumes", "got [%s]", l);
    l = list("/data/tree", sizeof buf);
    if (strcmp(l, "..:d .:d a:d dangling:l dirlink:l e:d empty-dir:d link:l") == 0)
        pass("getdents64_fixture_tree");
    else
        failf("getdents64_fixture_tree", "got [%s]", l);
    int dfd = open(path("d"), O_RDONLY | O_DIRECTORY);
    CHECK_ERR("getdents64_buffer_too_small_is_einval", syscall(SYS_getdents64, dfd, buf, 8),
              EINVAL);
    close(dfd);
    int ffd = open(path("d/a"), O_RDONLY);
    CHECK_ERR("getdents64_on_file_is_enotdir", syscall(SYS_getdents64, ffd, buf, sizeof buf),
              ENOTDIR);
    close(ffd);
    CHECK_ERR("getdents64_bad_fd_is_ebadf", syscall(SYS_getdents64, 555, buf, sizeof buf), EBADF);

    CHECK("getcwd_starts_at_root", getcwd(buf, sizeof buf) && strcmp(buf, "/") == 0);
    CHECK_EQ("chdir_into_scratch", chdir(check_scratch), 0);
    CHECK("getcwd_after_chdir", getcwd(buf, sizeof buf) && strcmp(buf, check_scratch) == 0);
    CHECK_EQ("chdir_relative", chdir("d/sub"), 0);
    CHECK("getcwd_after_relative_chdir",
          getcwd(buf, sizeof buf) && strcmp(buf, path("d/sub")) == 0);
    CHECK_EQ("chdir_dotdot", chdir(".."), 0);
    CHECK_EQ("relative_open_uses_cwd", access("a", F_OK), 0);
    CHECK_ERR("chdir_to_file_is_enotdir", chdir("a"), ENOTDIR);
    CHECK_ERR("chdir_missing_is_enoent", chdir("missing"), ENOENT);
    CHECK("failed_chdir_keeps_cwd", getcwd(buf, sizeof buf) && strcmp(buf, path("d")) == 0);
    CHECK_ERR("getcwd_small_buffer_is_erange", syscall(SYS_getcwd, buf, 2), ERANGE);
    CHECK_EQ("chdir_root", chdir("/"), 0);
    CHECK_EQ("chdir_dotdot_at_root_stays", chdir(".."), 0);
    CHECK("getcwd_dotdot_of_root_is_root", getcwd(buf, sizeof buf) && strcmp(buf, "/") == 0);

    CHECK_EQ("rename_file", rename(path("d/a"), path("d/z")), 0);
    CHECK_ERR("rename_source_gone", access(path("d/a"), F_OK), ENOENT);
    CHECK_EQ("rename_target_exists", access(path("d/z"), F_OK), 0);
    int fd = open(path("d/z"), O_WRONLY);
    write(fd, "zz", 2);
    close(fd);
    CHECK_EQ("rename_over_existing_file", rename(path("d/z"), path("d/b")), 0);
    CHECK("rename_replaced_content", stat(path("d/b"), &st) == 0 && st.st_size == 2);
    CHECK_ERR("rename_missing_is_enoent", rename(path("d/missing"), path("d/q")), ENOENT);
    CHECK_ERR("rename_dir_into_itself_is_einval", rename(path("d"), path("d/sub/d")), EINVAL);
    CHECK_ERR("rename_file_over_dir_is_eisdir", rename(path("d/b"), path("d/sub")), EISDIR);
    CHECK_EQ("rename_dir", rename(path("d/sub"), path("d/sub2")), 0);

    CHECK_EQ("unlink_file", unlink(path("d/b")), 0);
    CHECK_ERR("unlinked_file_is_gone", access(path("d/b"), F_OK), ENOENT);
    CHECK_ERR("unlink_missing_is_enoent", unlink(path("d/b")), ENOENT);
    CHECK_ERR("unlink_dir_is_eisdir", unlink(path("d/sub2")), EISDIR);
    CHECK_ERR("unlink_below_a_file_is_enotdir", unlink("/data/words.txt/x"), ENOTDIR);

    /* /data/tree/link -> a/d.txt */
    memset(buf, 0, sizeof buf);
    CHECK_EQ("readlink_returns_length", readlink("/data/tree/link", buf, sizeof buf), 7);
    CHECK("readlink_content_not_nul_terminated_beyond", strcmp(buf, "a/d.txt") == 0);
    memset(buf, 0, sizeof buf);
    CHECK_EQ("readlink_truncates_to_buffer", readlink("/data/tree/link", buf, 3), 3);
    CHECK("readlink_truncated_content", strcmp(buf, "a/d") == 0);
    int tfd = open("/data/tree", O_RDONLY | O_DIRECTORY);
    memset(buf, 0, sizeof buf);
    CHECK_EQ("readlinkat_relative_to_dirfd", readlinkat(tfd, "dirlink", buf, sizeof buf), 1);
    CHECK("readlinkat_content", strcmp(buf, "a") == 0);
    CHECK_EQ("readlink_dangling", readlink("/data/tree/dangling", buf, sizeof buf), 14);
    CHECK_ERR("readlink_regular_file_is_einval", readlink("/data/words.txt", buf, sizeof buf),
              EINVAL);
    CHECK_ERR("readlink_missing_is_enoent", readlink("/data/missing", buf, sizeof buf), ENOENT);
    CHECK_ERR("readlink_zero_size_is_einval", readlink("/data/tree/link", buf, 0), EINVAL);
    return finish();
}
