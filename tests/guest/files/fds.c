/*
 * The descriptor table: dup, dup2, dup3, fcntl, pipe2, close and terminal
 * ioctls on things that are not terminals.
 */
#include "check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <termios.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    char buf[64];

    /* Nothing but stdin, stdout and stderr is open at start: whatever the
     * kernel keeps for itself is invisible to the guest. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    long limit = rl.rlim_cur > 65536 ? 65536 : (long)rl.rlim_cur;
    int extra = 0;
    for (int fd = 3; fd < limit; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            extra++;
    CHECK_EQ("only_fds_0_1_2_open_at_start", extra, 0);
    CHECK("stdout_is_open", fcntl(1, F_GETFD) != -1);

    int fd = open("/data/words.txt", O_RDONLY);
    CHECK_EQ("open_gets_fd_3", fd, 3);
    int d = dup(fd);
    CHECK_EQ("dup_returns_lowest_free", d, 4);
    CHECK_EQ("read_through_original", read(fd, buf, 5), 5);
    CHECK_EQ("dup_shares_offset", lseek(d, 0, SEEK_CUR), 5);
    CHECK_EQ("dup_clears_cloexec", fcntl(d, F_GETFD), 0);
    CHECK_EQ("dup2_to_chosen_fd", dup2(fd, 10), 10);
    CHECK_EQ("dup2_same_fd_is_noop", dup2(fd, fd), fd);
    CHECK_EQ("dup2_over_open_fd_replaces", dup2(d, 10), 10);
    CHECK_ERR("dup2_bad_old_fd_is_ebadf", dup2(77, 11), EBADF);
    CHECK_ERR("dup_bad_fd_is_ebadf", dup(-1), EBADF);
    CHECK_ERR("dup3_same_fd_is_einval", dup3(fd, fd, 0), EINVAL);
    CHECK_EQ("dup3_cloexec", dup3(fd, 11, O_CLOEXEC), 11);
    CHECK_EQ("dup3_cloexec_sets_flag", fcntl(11, F_GETFD), FD_CLOEXEC);
    CHECK_ERR("dup3_bad_flags_is_einval", dup3(fd, 12, O_NONBLOCK), EINVAL);
    CHECK_ERR("dup2_to_negative_is_ebadf", dup2(fd, -2), EBADF);
    CHECK_ERR("dup2_beyond_rlimit_is_ebadf", dup2(fd, (int)limit + 5), EBADF);

    CHECK_EQ("f_dupfd_at_least_arg", fcntl(fd, F_DUPFD, 20), 20);
    CHECK_EQ("f_dupfd_next_free", fcntl(fd, F_DUPFD, 20), 21);
    CHECK_EQ("f_dupfd_cloexec", fcntl(fd, F_DUPFD_CLOEXEC, 30), 30);
    CHECK_EQ("f_dupfd_cloexec_sets_flag", fcntl(30, F_GETFD), FD_CLOEXEC);
    CHECK_EQ("f_setfd", fcntl(20, F_SETFD, FD_CLOEXEC), 0);
    CHECK_EQ("f_getfd_after_setfd", fcntl(20, F_GETFD), FD_CLOEXEC);
    CHECK_EQ("f_getfl_read_only", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK | O_APPEND),
             O_RDONLY);
    CHECK_EQ("f_setfl_nonblock", fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ("f_getfl_sees_nonblock", fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    CHECK_EQ("f_getfl_shared_by_dup", fcntl(d, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    CHECK_ERR("fcntl_bad_fd_is_ebadf", fcntl(99, F_GETFD), EBADF);
    CHECK_ERR("fcntl_bad_cmd_is_einval", fcntl(fd, 0x7fff), EINVAL);
    for (int i = 4; i < 40; i++)
        close(i);
    CHECK_ERR("close_bad_fd_is_ebadf", close(12345), EBADF);
    CHECK_ERR("close_negative_fd_is_ebadf", close(-1), EBADF);

    int p[2];
    CHECK_EQ("pipe2_returns_0", pipe2(p, 0), 0);
    CHECK("pipe2_gives_lowest_fds", p[0] == 4 && p[1] == 5);
    CHECK_EQ("pipe_write", write(p[1], "abc", 3), 3);
    memset(buf, 0, sizeof buf);
    CHECK_EQ("pipe_read", read(p[0], buf, sizeof buf), 3);
    CHECK("pipe_content", strcmp(buf, "abc") == 0);
    CHECK_ERR("pipe_read_end_not_writable_is_ebadf", write(p[0], "x", 1), EBADF);
    CHECK_ERR("pipe_lseek_is_espipe", lseek(p[0], 0, SEEK_SET), ESPIPE);
    CHECK_ERR("pipe_pread_is_espipe", pread(p[0], buf, 1, 0), ESPIPE);
    CHECK_ERR("tcgets_on_pipe_is_enotty", ioctl(p[0], TCGETS, &(struct termios){0}), ENOTTY);
    CHECK_EQ("isatty_pipe_is_false", isatty(p[0]), 0);
    close(p[1]);
    CHECK_EQ("pipe_read_after_writer_closed_is_eof", read(p[0], buf, sizeof buf), 0);
    close(p[0]);

    CHECK_EQ("pipe2_nonblock", pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_ERR("empty_nonblocking_pipe_read_is_eagain", read(p[0], buf, 1), EAGAIN);
    CHECK_EQ("pipe2_cloexec_on_read_end", fcntl(p[0], F_GETFD), FD_CLOEXEC);
    CHECK_EQ("pipe2_cloexec_on_write_end", fcntl(p[1], F_GETFD), FD_CLOEXEC);
    CHECK_EQ("pipe2_nonblock_in_status_flags", fcntl(p[1], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    /* With SIGPIPE ignored, a write without reader fails with EPIPE instead
     * of killing the program. */
    signal(SIGPIPE, SIG_IGN);
    close(p[0]);
    CHECK_ERR("write_to_pipe_without_reader_is_epipe", write(p[1], "x", 1), EPIPE);
    close(p[1]);
    CHECK_ERR("pipe2_bad_flags_is_einval", pipe2(p, 0x4), EINVAL);

    struct termios t;
    struct winsize ws;
    CHECK_ERR("tcgets_on_file_is_enotty", ioctl(fd, TCGETS, &t), ENOTTY);
    CHECK_ERR("tiocgwinsz_on_file_is_enotty", ioctl(fd, TIOCGWINSZ, &ws), ENOTTY);
    CHECK_ERR("ioctl_bad_fd_is_ebadf", ioctl(66, TCGETS, &t), EBADF);
    CHECK_EQ("isatty_file_is_false", isatty(fd), 0);
    CHECK_EQ("isatty_stdin_pipe_is_false", isatty(0), 0);
    return finish();
}
