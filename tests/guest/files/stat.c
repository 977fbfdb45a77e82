/*
 * fstat, newfstatat (stat, lstat, fstatat, AT_EMPTY_PATH), statx and
 * access: what ls, find and every libc use to look at files.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    const char *f = path("file");
    int fd = open(f, O_CREAT | O_RDWR, 0600);
    CHECK_EQ("create_file", write(fd, "0123456789", 10), 10);

    struct stat st, st2;
    CHECK_EQ("fstat_returns_0", fstat(fd, &st), 0);
    CHECK("fstat_is_regular", S_ISREG(st.st_mode));
    CHECK_EQ("fstat_size", st.st_size, 10);
    CHECK_EQ("fstat_owner_perms_from_create_mode", st.st_mode & 0700, 0600);
    CHECK_EQ("fstat_nlink_1", st.st_nlink, 1);
    CHECK_EQ("fstat_uid_is_container_root", st.st_uid, 0);
    CHECK_EQ("fstat_gid_is_container_root", st.st_gid, 0);
    CHECK("fstat_blksize_positive", st.st_blksize > 0);

    CHECK_EQ("stat_returns_0", stat(f, &st2), 0);
    CHECK("stat_same_inode_as_fstat", st2.st_ino == st.st_ino && st2.st_dev == st.st_dev);
    CHECK_EQ("fstatat_empty_path_stats_the_fd", fstatat(fd, "", &st2, AT_EMPTY_PATH), 0);
    CHECK("fstatat_empty_path_same_inode", st2.st_ino == st.st_ino);
    int dfd = open(check_scratch, O_RDONLY | O_DIRECTORY);
    CHECK_EQ("fstatat_relative_to_dirfd", fstatat(dfd, "file", &st2, 0), 0);
    CHECK("fstatat_relative_same_inode", st2.st_ino == st.st_ino);
    CHECK_ERR("fstatat_empty_path_without_flag_is_enoent", fstatat(fd, "", &st2, 0), ENOENT);

    CHECK_EQ("stat_dir", stat(check_scratch, &st2), 0);
    CHECK("stat_dir_is_dir", S_ISDIR(st2.st_mode));
    CHECK_EQ("stat_root", stat("/", &st2), 0);
    CHECK("stat_root_is_dir", S_ISDIR(st2.st_mode));
    CHECK_EQ("stat_busybox", stat("/bin/busybox", &st2), 0);
    CHECK("stat_busybox_is_executable_file", S_ISREG(st2.st_mode) && (st2.st_mode & 0111));

    /* /data/tree/link -> a/d.txt (12 bytes of content) */
    CHECK_EQ("lstat_symlink", lstat("/data/tree/link", &st2), 0);
    CHECK("lstat_symlink_is_link", S_ISLNK(st2.st_mode));
    CHECK_EQ("lstat_symlink_size_is_target_length", st2.st_size, 7);
    CHECK_EQ("stat_follows_symlink", stat("/data/tree/link", &st2), 0);
    CHECK("stat_symlink_target_is_regular", S_ISREG(st2.st_mode) && st2.st_size == 12);
    CHECK_EQ("stat_through_dir_symlink", stat("/data/tree/dirlink/b/c.txt", &st2), 0);
    CHECK_ERR("stat_dangling_symlink_is_enoent", stat("/data/tree/dangling", &st2), ENOENT);
    CHECK_EQ("lstat_dangling_symlink", lstat("/data/tree/dangling", &st2), 0);
    CHECK_ERR("stat_missing_is_enoent", stat(path("missing"), &st2), ENOENT);
    CHECK_ERR("stat_below_a_file_is_enotdir", stat(path("file/x"), &st2), ENOTDIR);
    CHECK_ERR("stat_empty_path_is_enoent", stat("", &st2), ENOENT);
    CHECK_ERR("fstat_bad_fd_is_ebadf", fstat(-1, &st2), EBADF);

    struct statx sx;
    CHECK_EQ("statx_returns_0", statx(AT_FDCWD, f, 0, STATX_BASIC_STATS, &sx), 0);
    CHECK("statx_mask_has_basic_fields",
          (sx.stx_mask & (STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_INO)) ==
              (STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_INO));
    CHECK("statx_is_regular", S_ISREG(sx.stx_mode));
    CHECK_EQ("statx_size", sx.stx_size, 10);
    CHECK("statx_ino_matches_fstat", sx.stx_ino == st.st_ino);
    CHECK("statx_dev_matches_fstat",
          makedev(sx.stx_dev_major, sx.stx_dev_minor) == st.st_dev);
    CHECK_EQ("statx_uid", sx.stx_uid, 0);
    CHECK_EQ("statx_empty_path_on_fd", statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx), 0);
    CHECK_EQ("statx_empty_path_size", sx.stx_size, 10);
    CHECK_EQ("statx_nofollow", statx(AT_FDCWD, "/data/tree/link", AT_SYMLINK_NOFOLLOW,
                                     STATX_TYPE, &sx), 0);
    CHECK("statx_nofollow_is_link", S_ISLNK(sx.stx_mode));
    CHECK_ERR("statx_missing_is_enoent", statx(AT_FDCWD, path("missing"), 0, STATX_SIZE, &sx),
              ENOENT);
    CHECK_ERR("statx_bad_flags_is_einval",
              statx(AT_FDCWD, f, 0x7fff0000, STATX_SIZE, &sx), EINVAL);

    CHECK_EQ("access_f_ok_existing", access(f, F_OK), 0);
    CHECK_EQ("access_r_ok_w_ok", access(f, R_OK | W_OK), 0);
    CHECK_ERR("access_x_ok_without_any_x_bit_is_eacces", access(f, X_OK), EACCES);
    CHECK_EQ("access_x_ok_on_busybox", access("/bin/busybox", X_OK), 0);
    CHECK_EQ("access_x_ok_on_dir", access(check_scratch, X_OK), 0);
    CHECK_ERR("access_missing_is_enoent", access(path("missing"), F_OK), ENOENT);
    CHECK_ERR("access_bad_mode_is_einval", access(f, 0x40), EINVAL);
    CHECK_EQ("faccessat_relative_to_dirfd", faccessat(dfd, "file", R_OK, 0), 0);
    return finish();
}
