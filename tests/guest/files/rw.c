/*
 * openat, read, write, pread64, pwrite64, readv, writev, preadv, pwritev,
 * lseek and close on a regular file, with the flags programs rely on
 * (O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_CLOEXEC, O_DIRECTORY) and the
 * errors they get wrong (EEXIST, EBADF, EISDIR, ENOTDIR, EINVAL).
 */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    char buf[256];
    const char *f = path("rw.txt");

    int fd = open(f, O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK("open_creat_returns_lowest_free_fd_3", fd == 3);
    CHECK_EQ("write_returns_byte_count", write(fd, "hello world\n", 12), 12);
    CHECK_EQ("lseek_set_returns_new_offset", lseek(fd, 0, SEEK_SET), 0);
    memset(buf, 0, sizeof buf);
    CHECK_EQ("read_returns_what_was_written", read(fd, buf, sizeof buf), 12);
    CHECK("read_content_matches", memcmp(buf, "hello world\n", 12) == 0);
    CHECK_EQ("read_at_eof_returns_0", read(fd, buf, sizeof buf), 0);
    CHECK_EQ("read_null_buf_len0_returns_0", read(fd, NULL, 0), 0);
    CHECK_EQ("lseek_cur_moves_relative", lseek(fd, -6, SEEK_CUR), 6);
    CHECK_EQ("lseek_end_returns_size", lseek(fd, 0, SEEK_END), 12);
    CHECK_ERR("lseek_before_start_is_einval", lseek(fd, -100, SEEK_SET), EINVAL);
    CHECK_ERR("lseek_bad_whence_is_einval", lseek(fd, 0, 42), EINVAL);

    CHECK_EQ("pwrite_at_offset", pwrite(fd, "WORLD", 5, 6), 5);
    CHECK_EQ("pwrite_keeps_file_offset", lseek(fd, 0, SEEK_CUR), 12);
    memset(buf, 0, sizeof buf);
    CHECK_EQ("pread_at_offset", pread(fd, buf, 5, 6), 5);
    CHECK("pread_sees_pwrite", memcmp(buf, "WORLD", 5) == 0);
    CHECK_EQ("pread_past_eof_returns_0", pread(fd, buf, 5, 1000), 0);
    CHECK_ERR("pread_negative_offset_is_einval", pread(fd, buf, 5, -1), EINVAL);

    struct iovec wv[3] = {
        {.iov_base = "ab", .iov_len = 2},
        {.iov_base = "", .iov_len = 0},
        {.iov_base = "cde", .iov_len = 3},
    };
    lseek(fd, 0, SEEK_END);
    CHECK_EQ("writev_gathers_all_iovecs", writev(fd, wv, 3), 5);
    char r1[3] = {0}, r2[8] = {0};
    struct iovec rv[2] = {{.iov_base = r1, .iov_len = 3}, {.iov_base = r2, .iov_len = 8}};
    lseek(fd, 10, SEEK_SET);
    CHECK_EQ("readv_scatters_up_to_eof", readv(fd, rv, 2), 7);
    CHECK("readv_content_split_across_iovecs",
          memcmp(r1, "D\na", 3) == 0 && memcmp(r2, "bcde", 4) == 0);

    struct iovec pv[2] = {{.iov_base = "XY", .iov_len = 2}, {.iov_base = "Z", .iov_len = 1}};
    CHECK_EQ("pwritev_at_offset", pwritev(fd, pv, 2, 0), 3);
    memset(r1, 0, sizeof r1);
    struct iovec qv[1] = {{.iov_base = r1, .iov_len = 3}};
    CHECK_EQ("preadv_at_offset", preadv(fd, qv, 1, 0), 3);
    CHECK("preadv_sees_pwritev", memcmp(r1, "XYZ", 3) == 0);
    CHECK_EQ("pwritev_preadv_keep_offset", lseek(fd, 0, SEEK_CUR), 17);

    /* A hole: writing past EOF extends the file with zeros. */
    CHECK_EQ("lseek_past_eof_is_allowed", lseek(fd, 100, SEEK_SET), 100);
    CHECK_EQ("write_past_eof", write(fd, "!", 1), 1);
    struct stat st;
    CHECK("fstat_size_includes_hole", fstat(fd, &st) == 0 && st.st_size == 101);
    memset(buf, 'x', sizeof buf);
    CHECK_EQ("pread_in_hole", pread(fd, buf, 10, 50), 10);
    CHECK("hole_reads_as_zeros", memcmp(buf, "\0\0\0\0\0\0\0\0\0\0", 10) == 0);
    CHECK_EQ("close_returns_0", close(fd), 0);
    CHECK_ERR("close_twice_is_ebadf", close(fd), EBADF);

    /* A large transfer crosses page and pipe-buffer sizes. */
    enum { BIG = 1 << 20 };
    char *big = malloc(BIG), *back = malloc(BIG);
    for (int i = 0; i < BIG; i++)
        big[i] = (char)(i * 7 + i / 4096);
    fd = open(path("big"), O_CREAT | O_RDWR, 0644);
    CHECK_EQ("write_1mib", write(fd, big, BIG), BIG);
    CHECK_EQ("pread_1mib", pread(fd, back, BIG, 0), BIG);
    CHECK("1mib_roundtrip_intact", memcmp(big, back, BIG) == 0);
    close(fd);

    fd = open(f, O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    CHECK_EQ("o_append_write", write(fd, "END", 3), 3);
    CHECK("o_append_writes_at_end", fstat(fd, &st) == 0 && st.st_size == 104);
    CHECK_ERR("read_on_write_only_fd_is_ebadf", read(fd, buf, 1), EBADF);
    close(fd);

    fd = open(f, O_RDONLY);
    CHECK_ERR("write_on_read_only_fd_is_ebadf", write(fd, "x", 1), EBADF);
    CHECK_EQ("o_rdonly_open_reads_appended_tail", pread(fd, buf, 3, 101), 3);
    CHECK("appended_tail_content", memcmp(buf, "END", 3) == 0);
    close(fd);

    CHECK_ERR("o_creat_o_excl_on_existing_is_eexist",
              open(f, O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
    fd = open(f, O_RDWR | O_TRUNC);
    CHECK("o_trunc_empties_file", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0);
    close(fd);

    fd = open(f, O_RDONLY | O_CLOEXEC);
    CHECK_EQ("o_cloexec_sets_fd_cloexec", fcntl(fd, F_GETFD), FD_CLOEXEC);
    close(fd);
    fd = open(f, O_RDONLY);
    CHECK_EQ("no_o_cloexec_leaves_fd_flags_clear", fcntl(fd, F_GETFD), 0);
    close(fd);

    CHECK_ERR("o_directory_on_file_is_enotdir", open(f, O_RDONLY | O_DIRECTORY), ENOTDIR);
    CHECK_ERR("open_dir_for_writing_is_eisdir", open(check_scratch, O_WRONLY), EISDIR);
    int dfd = open(check_scratch, O_RDONLY | O_DIRECTORY);
    CHECK("open_dir_o_directory", dfd >= 0);
    CHECK_ERR("read_on_dir_fd_is_eisdir", read(dfd, buf, 10), EISDIR);
    fd = openat(dfd, "rw.txt", O_RDONLY);
    CHECK("openat_relative_to_dirfd", fd >= 0);
    close(fd);
    CHECK_ERR("openat_relative_to_file_fd_is_enotdir",
              openat(open(f, O_RDONLY), "x", O_RDONLY), ENOTDIR);
    CHECK_ERR("openat_relative_to_bad_fd_is_ebadf", openat(777, "rw.txt", O_RDONLY), EBADF);
    fd = openat(777, f, O_RDONLY);
    CHECK("openat_absolute_ignores_dirfd", fd >= 0);
    close(fd);
    CHECK_ERR("open_missing_is_enoent", open(path("missing"), O_RDONLY), ENOENT);
    CHECK_ERR("open_in_missing_dir_is_enoent", open(path("no/such/file"), O_CREAT | O_RDWR, 0644),
              ENOENT);
    CHECK_ERR("open_below_a_file_is_enotdir", open(path("rw.txt/x"), O_RDONLY), ENOTDIR);
    CHECK_ERR("open_empty_path_is_enoent", open("", O_RDONLY), ENOENT);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_ERR("open_component_over_255_is_enametoolong", open(longname, O_RDONLY), ENAMETOOLONG);
    return finish();
}
