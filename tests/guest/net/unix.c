/*
 * Named unix sockets: stream and datagram sockets bound to paths (in the
 * scratch directory, relative and absolute) and to abstract names,
 * getsockname/getpeername, descriptors passed with SCM_RIGHTS (the
 * receiver reads a file through the descriptor it got), SCM_CREDENTIALS
 * with SO_PASSCRED, sendmmsg/recvmmsg, and the errors of taken, missing
 * and kernel-owned (/proc) names.
 */
#include "check.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t unix_addr(struct sockaddr_un *a, const char *name, int abstract)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (abstract) {
        memcpy(a->sun_path + 1, name, n);
        return offsetof(struct sockaddr_un, sun_path) + 1 + n;
    }
    memcpy(a->sun_path, name, n);
    return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static void stream_server(const char *what, const char *name, int abstract)
{
    char label[96];
#define L(s) (snprintf(label, sizeof label, "%s_%s", what, s), label)
    struct sockaddr_un a, got;
    socklen_t len = unix_addr(&a, name, abstract), glen;
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_EQ(L("bind"), bind(srv, (struct sockaddr *)&a, len), 0);
    CHECK_EQ(L("listen"), listen(srv, 4), 0);
    glen = sizeof got;
    CHECK_EQ(L("getsockname"), getsockname(srv, (struct sockaddr *)&got, &glen), 0);
    CHECK_EQ(L("getsockname_len"), glen, len);
    CHECK(L("getsockname_same"), memcmp(&got, &a, len) == 0);
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_ERR(L("bind_taken_name"), bind(other, (struct sockaddr *)&a, len), EADDRINUSE);
    close(other);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, len) != 0)
            _exit(2);
        write(c, "from child", 10);
        char b[4];
        read(c, b, sizeof b);
        _exit(0);
    }
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    int conn = accept(srv, (struct sockaddr *)&peer, &plen);
    CHECK(L("accept"), conn >= 0);
    CHECK_EQ(L("accepted_peer_is_unnamed"), plen, offsetof(struct sockaddr_un, sun_path));
    char buf[16] = {0};
    CHECK_EQ(L("read_from_child"), read(conn, buf, sizeof buf), 10);
    CHECK(L("child_data"), strcmp(buf, "from child") == 0);
    glen = sizeof got;
    CHECK_EQ(L("accepted_getsockname"), getsockname(conn, (struct sockaddr *)&got, &glen), 0);
    CHECK_EQ(L("accepted_getsockname_len"), glen, len);
    write(conn, "bye", 3);
    int status;
    waitpid(child, &status, 0);
    CHECK_EQ(L("child_exit"), status, 0);
    close(conn);
    close(srv);
}

/* A one-byte message carrying one SOL_SOCKET control message of `type`
 * with `len` bytes of `data`, in `ctl` (CMSG_SPACE(len) bytes). */
static struct msghdr with_cmsg(struct iovec *iov, char *ctl, int type, const void *data, size_t len)
{
    memset(ctl, 0, CMSG_SPACE(len));
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = CMSG_SPACE(len)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(c), data, len);
    return m;
}

static void pass_descriptors(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int file = open(path("passed.txt"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(file, "through a socket", 16);
    pid_t child = fork();
    if (child == 0) {
        char data, ctl[CMSG_SPACE(2 * sizeof(int))];
        struct iovec iov = {&data, 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
        if (recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC) != 1)
            _exit(2);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(2 * sizeof(int)))
            _exit(3);
        int fds[2];
        memcpy(fds, CMSG_DATA(c), sizeof fds);
        char buf[32] = {0};
        if (pread(fds[0], buf, sizeof buf, 0) != 16 || strcmp(buf, "through a socket") != 0)
            _exit(4);
        if (fcntl(fds[0], F_GETFD) != FD_CLOEXEC)
            _exit(5);
        if (write(fds[1], "!", 1) != 1)
            _exit(6);
        _exit(0);
    }
    int p[2];
    pipe(p);
    char ctl[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = {"F", 1};
    int fds[2] = {file, p[1]};
    struct msghdr m = with_cmsg(&iov, ctl, SCM_RIGHTS, fds, sizeof fds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    CHECK_EQ("sendmsg_scm_rights", sendmsg(sv[0], &m, 0), 1);
    int status;
    waitpid(child, &status, 0);
    CHECK_EQ("child_used_passed_descriptors", WEXITSTATUS(status), 0);
    char bang = 0;
    CHECK_EQ("pipe_written_through_passed_end", read(p[0], &bang, 1), 1);
    CHECK_EQ("pipe_content", bang, '!');

    fds[0] = 99;
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    CHECK_ERR("scm_rights_closed_fd_is_ebadf", sendmsg(sv[0], &m, 0), EBADF);
    c->cmsg_len = 8;
    CHECK_ERR("cmsg_len_too_short_is_einval", sendmsg(sv[0], &m, 0), EINVAL);
    close(file);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void credentials(void)
{
    int sv[2], on = 1;
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    CHECK_EQ("so_passcred", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
    char ctl[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {"c", 1};
    struct ucred me = {getpid(), getuid(), getgid()};
    struct msghdr m = with_cmsg(&iov, ctl, SCM_CREDENTIALS, &me, sizeof me);
    CHECK_EQ("send_own_credentials", sendmsg(sv[0], &m, 0), 1);
    CHECK_EQ("send_without_credentials", send(sv[0], "d", 1, 0), 1);
    for (int i = 0; i < 2; i++) {
        char data, rctl[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec riov = {&data, 1};
        struct msghdr r = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rctl, .msg_controllen = sizeof rctl};
        CHECK_EQ("recv_with_credentials", recvmsg(sv[1], &r, 0), 1);
        struct cmsghdr *rc = CMSG_FIRSTHDR(&r);
        struct ucred got = {0};
        if (rc && rc->cmsg_type == SCM_CREDENTIALS)
            memcpy(&got, CMSG_DATA(rc), sizeof got);
        CHECK("received_credentials_are_senders", got.pid == getpid() && got.uid == getuid() && got.gid == getgid());
        CHECK_EQ("received_controllen", r.msg_controllen, CMSG_SPACE(sizeof(struct ucred)));
    }
    close(sv[0]);
    close(sv[1]);
}

static void datagrams(void)
{
    struct sockaddr_un a, b, from;
    socklen_t alen = unix_addr(&a, path("dgram-a"), 0);
    socklen_t blen = unix_addr(&b, "oxbox-test-dgram-b", 1);
    int sa = socket(AF_UNIX, SOCK_DGRAM, 0), sb = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CHECK_EQ("dgram_bind_path", bind(sa, (struct sockaddr *)&a, alen), 0);
    CHECK_EQ("dgram_bind_abstract", bind(sb, (struct sockaddr *)&b, blen), 0);
    struct stat st;
    CHECK_EQ("socket_file_exists", stat(path("dgram-a"), &st), 0);
    CHECK("socket_file_is_socket", S_ISSOCK(st.st_mode));
    CHECK_EQ("sendto_abstract", sendto(sa, "to b", 4, 0, (struct sockaddr *)&b, blen), 4);
    char buf[16] = {0};
    socklen_t flen = sizeof from;
    CHECK_EQ("recvfrom", recvfrom(sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 4);
    CHECK_EQ("recvfrom_len", flen, alen);
    CHECK("recvfrom_sender_path", strcmp(from.sun_path, path("dgram-a")) == 0);
    flen = 4;
    sendto(sa, "x", 1, 0, (struct sockaddr *)&b, blen);
    CHECK_EQ("recvfrom_short_addr_buffer", recvfrom(sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 1);
    CHECK_EQ("recvfrom_reports_full_len", flen, alen);

    struct mmsghdr msgs[3];
    struct iovec iovs[3];
    char out[3][8] = {"m0", "m11", "m222"};
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_base = out[i];
        iovs[i].iov_len = strlen(out[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &b;
        msgs[i].msg_hdr.msg_namelen = blen;
    }
    CHECK_EQ("sendmmsg_three", sendmmsg(sa, msgs, 3, 0), 3);
    CHECK_EQ("sendmmsg_len_set", msgs[2].msg_len, 4);
    char in[4][8];
    struct mmsghdr r[4];
    struct iovec riov[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) {
        riov[i].iov_base = in[i];
        riov[i].iov_len = sizeof in[i];
        r[i].msg_hdr.msg_iov = &riov[i];
        r[i].msg_hdr.msg_iovlen = 1;
    }
    CHECK_EQ("recvmmsg_gets_three", recvmmsg(sb, r, 4, MSG_DONTWAIT, NULL), 3);
    CHECK("recvmmsg_lengths", r[0].msg_len == 2 && r[1].msg_len == 3 && r[2].msg_len == 4);
    CHECK_ERR("recvmmsg_empty_is_eagain", recvmmsg(sb, r, 4, MSG_DONTWAIT, NULL), EAGAIN);

    struct sockaddr_un missing;
    socklen_t mlen = unix_addr(&missing, path("nobody"), 0);
    CHECK_ERR("sendto_missing_path_is_enoent", sendto(sa, "x", 1, 0, (struct sockaddr *)&missing, mlen), ENOENT);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_ERR("connect_missing_path_is_enoent", connect(c, (struct sockaddr *)&missing, mlen), ENOENT);
    CHECK_ERR("connect_to_dgram_socket_is_eprototype", connect(c, (struct sockaddr *)&a, alen), EPROTOTYPE);
    close(c);
    close(sa);
    close(sb);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    stream_server("path", path("stream-sock"), 0);
    CHECK_EQ("chdir_scratch", chdir(check_scratch), 0);
    stream_server("relative_path", "relative-sock", 0);
    stream_server("abstract", "oxbox-test-abstract", 1);
    pass_descriptors();
    credentials();
    datagrams();
    return finish();
}
