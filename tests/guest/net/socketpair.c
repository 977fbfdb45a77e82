/*
 * socketpair in its three types: data both ways, message boundaries,
 * MSG_PEEK, MSG_DONTWAIT, shutdown, EPIPE with MSG_NOSIGNAL and SIGPIPE
 * reaching a guest handler, SO_TYPE/SO_DOMAIN/SO_PEERCRED, readiness in
 * poll and epoll, a pair shared with a forked child, and stat through
 * /proc/self/fd following to the socket (and /dev/stdin to the pipe the
 * test harness gives).
 */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static volatile sig_atomic_t pipe_signals;
static void on_sigpipe(int sig) { (void)sig; pipe_signals++; }

static int getopt_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0 || len != sizeof v)
        return -2;
    return v;
}

static void stream_pair(void)
{
    int sv[2];
    char buf[32] = {0};
    CHECK_EQ("stream_pair_created", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_EQ("stream_type_is_stream", getopt_int(sv[0], SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    CHECK_EQ("stream_domain_is_unix", getopt_int(sv[0], SOL_SOCKET, SO_DOMAIN), AF_UNIX);
    char link[64];
    struct stat st;
    struct statx stx;
    snprintf(link, sizeof link, "/proc/self/fd/%d", sv[0]);
    CHECK("stat_proc_fd_follows_to_socket", stat(link, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK("lstat_proc_fd_is_link", lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK("statx_proc_fd_follows_to_socket", statx(AT_FDCWD, link, 0, STATX_TYPE, &stx) == 0 && S_ISSOCK(stx.stx_mode));
    CHECK("stat_dev_stdin_follows_to_pipe", stat("/dev/stdin", &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK_EQ("stream_write_a", write(sv[0], "hello", 5), 5);
    CHECK_EQ("stream_write_b", send(sv[0], " world", 6, 0), 6);
    CHECK_EQ("stream_peek_sees_data", recv(sv[1], buf, 5, MSG_PEEK), 5);
    CHECK("stream_peek_content", memcmp(buf, "hello", 5) == 0);
    memset(buf, 0, sizeof buf);
    CHECK_EQ("stream_read_merges_writes", read(sv[1], buf, sizeof buf), 11);
    CHECK("stream_read_content", strcmp(buf, "hello world") == 0);
    CHECK_ERR("stream_dontwait_empty_is_eagain", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    CHECK_EQ("stream_other_way", send(sv[1], "back", 4, 0), 4);
    CHECK_EQ("stream_other_way_read", recv(sv[0], buf, sizeof buf, 0), 4);

    struct pollfd p = {.fd = sv[0], .events = POLLIN | POLLOUT};
    CHECK_EQ("poll_writable_not_readable", poll(&p, 1, 0), 1);
    CHECK_EQ("poll_revents_out_only", p.revents, POLLOUT);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, got;
    CHECK_EQ("epoll_add", epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
    CHECK_EQ("epoll_nothing_yet", epoll_wait(ep, &got, 1, 0), 0);
    send(sv[1], "x", 1, 0);
    CHECK_EQ("epoll_readable", epoll_wait(ep, &got, 1, 1000), 1);
    CHECK_EQ("epoll_data", got.data.u32, 7);
    recv(sv[0], buf, 1, 0);
    close(ep);

    CHECK_EQ("shutdown_write", shutdown(sv[1], SHUT_WR), 0);
    CHECK_EQ("read_after_peer_shutdown_is_eof", read(sv[0], buf, sizeof buf), 0);
    CHECK_ERR("shutdown_bad_how", shutdown(sv[0], 7), EINVAL);
    close(sv[1]);
    CHECK_ERR("send_to_closed_peer_nosignal_is_epipe", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    CHECK_EQ("no_sigpipe_with_nosignal", pipe_signals, 0);
    signal(SIGPIPE, on_sigpipe);
    CHECK_ERR("write_to_closed_peer_is_epipe", write(sv[0], "x", 1), EPIPE);
    CHECK_EQ("sigpipe_reached_handler", pipe_signals, 1);
    signal(SIGPIPE, SIG_IGN);
    CHECK_ERR("ignored_sigpipe_still_epipe", send(sv[0], "x", 1, 0), EPIPE);
    CHECK_EQ("ignored_sigpipe_not_counted", pipe_signals, 1);
    signal(SIGPIPE, SIG_DFL);
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_set, NULL);
    CHECK_ERR("blocked_sigpipe_still_epipe", send(sv[0], "x", 1, 0), EPIPE);
    sigpending(&pending);
    CHECK("blocked_sigpipe_is_pending", sigismember(&pending, SIGPIPE));
    siginfo_t si;
    CHECK_EQ("pending_sigpipe_taken_by_sigtimedwait", sigtimedwait(&pipe_set, &si, &(struct timespec){0}), SIGPIPE);
    sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);
    close(sv[0]);
}

static void message_pairs(void)
{
    int types[] = {SOCK_DGRAM, SOCK_SEQPACKET};
    const char *names[] = {"dgram", "seqpacket"};
    for (int i = 0; i < 2; i++) {
        int sv[2];
        char buf[16], name[64];
#define NAMED(what) (snprintf(name, sizeof name, "%s_%s", names[i], what), name)
        CHECK_EQ(NAMED("pair_created"), socketpair(AF_UNIX, types[i], 0, sv), 0);
        CHECK_EQ(NAMED("type"), getopt_int(sv[1], SOL_SOCKET, SO_TYPE), types[i]);
        send(sv[0], "one", 3, 0);
        send(sv[0], "three", 5, 0);
        CHECK_EQ(NAMED("boundary_kept"), recv(sv[1], buf, sizeof buf, 0), 3);
        CHECK_EQ(NAMED("truncated_read"), recv(sv[1], buf, 2, 0), 2);
        CHECK_ERR(NAMED("rest_discarded"), recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
        send(sv[0], "four", 4, 0);
        CHECK_EQ(NAMED("trunc_reports_real_length"), recv(sv[1], buf, 1, MSG_TRUNC), 4);
        close(sv[0]);
        close(sv[1]);
    }
}

static void peercred_and_fork(void)
{
    int sv[2];
    CHECK_EQ("pair_for_child", socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct ucred cred;
    socklen_t len = sizeof cred;
    CHECK_EQ("peercred", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
    CHECK("peercred_is_self", cred.pid == getpid() && cred.uid == getuid() && cred.gid == getgid());
    CHECK_EQ("peercred_len", len, sizeof cred);
    gid_t groups[8];
    len = sizeof groups;
    CHECK_EQ("peergroups", getsockopt(sv[0], SOL_SOCKET, SO_PEERGROUPS, groups, &len), 0);
    CHECK("peergroups_are_own_groups", len == sizeof(gid_t) && groups[0] == getgid());
    len = 0;
    CHECK_ERR("peergroups_short_buffer_is_erange", getsockopt(sv[0], SOL_SOCKET, SO_PEERGROUPS, groups, &len), ERANGE);
    CHECK_EQ("peergroups_length_needed", len, sizeof(gid_t));
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        char buf[8];
        ssize_t n = read(sv[1], buf, sizeof buf);
        for (ssize_t i = 0; i < n; i++)
            buf[i] -= 32;
        write(sv[1], buf, n);
        _exit(0);
    }
    close(sv[1]);
    char buf[8] = {0};
    write(sv[0], "ping", 4);
    CHECK_EQ("child_answered", read(sv[0], buf, sizeof buf), 4);
    CHECK("child_uppercased", memcmp(buf, "PING", 4) == 0);
    int status;
    CHECK_EQ("child_reaped", waitpid(child, &status, 0), child);
    CHECK_EQ("eof_after_child_exit", read(sv[0], buf, sizeof buf), 0);
    close(sv[0]);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    stream_pair();
    message_pairs();
    peercred_and_fork();
    return finish();
}
