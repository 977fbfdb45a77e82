/*
 * Socket calls given bad arguments fail as on Linux: EFAULT for unreadable
 * or unwritable pointers, EBADF for descriptors that are not open,
 * ENOTSOCK for descriptors that are not sockets, EAFNOSUPPORT for
 * unknown families, EINVAL, ENOPROTOOPT,
 * EOPNOTSUPP, EPROTONOSUPPORT, ESOCKTNOSUPPORT, EMSGSIZE.
 */
#include "check.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Opaque to the compiler, which would otherwise warn about the calls. */
static void *volatile bad = BAD_PTR;

int main(int argc, char **argv)
{
    begin(argc, argv);
    int s = socket(AF_INET, SOCK_STREAM, 0), sv[2], v = 1;
    socklen_t len = sizeof v;
    char buf[16];
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

    CHECK_ERR("socket_unknown_family", socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
    CHECK_ERR("socket_bad_type", socket(AF_INET, 99, 0), EINVAL);
    CHECK_ERR("socket_bad_flags", socket(AF_INET, SOCK_STREAM | 0x40, 0), EINVAL);
    CHECK_ERR("socket_stream_udp", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    CHECK_ERR("socket_unix_bad_protocol", socket(AF_UNIX, SOCK_STREAM, 7), EPROTONOSUPPORT);
    CHECK_ERR("socket_unix_rdm", socket(AF_UNIX, SOCK_RDM, 0), ESOCKTNOSUPPORT);
    CHECK_ERR("socketpair_inet", socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
    CHECK_ERR("socketpair_bad_sv", socketpair(AF_UNIX, SOCK_STREAM, 0, bad), EFAULT);

    CHECK_ERR("bind_bad_addr", bind(s, BAD_PTR, sizeof in), EFAULT);
    CHECK_ERR("bind_negative_len", bind(s, (struct sockaddr *)&in, -1), EINVAL);
    CHECK_ERR("bind_huge_len", bind(s, (struct sockaddr *)&in, 4096), EINVAL);
    CHECK_ERR("bind_short_len", bind(s, (struct sockaddr *)&in, 4), EINVAL);
    CHECK_ERR("connect_bad_addr", connect(s, BAD_PTR, sizeof in), EFAULT);
    CHECK_ERR("connect_wrong_family", connect(s, (struct sockaddr *)&(struct sockaddr_un){.sun_family = AF_UNIX}, sizeof(struct sockaddr_un)), EAFNOSUPPORT);
    CHECK_ERR("getsockname_bad_len_ptr", getsockname(s, (struct sockaddr *)&in, BAD_PTR), EFAULT);
    len = sizeof in;
    CHECK_ERR("getsockname_bad_addr", getsockname(s, BAD_PTR, &len), EFAULT);
    len = -1;
    CHECK_ERR("getsockname_negative_len", getsockname(s, (struct sockaddr *)&in, &len), EINVAL);
    len = sizeof in;
    CHECK_ERR("getpeername_unconnected", getpeername(s, (struct sockaddr *)&in, &len), ENOTCONN);
    CHECK_ERR("accept_not_listening", accept(s, NULL, NULL), EINVAL);
    CHECK_ERR("send_unconnected_tcp", send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
    CHECK_ERR("recv_unconnected_tcp", recv(s, buf, 1, MSG_DONTWAIT), ENOTCONN);
    CHECK_ERR("setsockopt_bad_value", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, BAD_PTR, sizeof v), EFAULT);
    CHECK_ERR("setsockopt_short_value", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2), EINVAL);
    CHECK_ERR("setsockopt_unknown_option", setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v), ENOPROTOOPT);
    CHECK_ERR("setsockopt_unknown_level", setsockopt(s, 9999, 1, &v, sizeof v), ENOPROTOOPT);
    len = sizeof v;
    CHECK_ERR("getsockopt_bad_value", getsockopt(s, SOL_SOCKET, SO_TYPE, bad, &len), EFAULT);
    CHECK_ERR("getsockopt_bad_len", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, bad), EFAULT);
    len = -1;
    CHECK_ERR("getsockopt_negative_len", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len), EINVAL);
    CHECK_ERR("sendmsg_bad_msghdr", sendmsg(s, BAD_PTR, 0), EFAULT);
    CHECK_ERR("recvmsg_bad_msghdr", recvmsg(s, BAD_PTR, 0), EFAULT);
    m.msg_iovlen = 5000;
    CHECK_ERR("sendmsg_too_many_iovecs", sendmsg(s, &m, 0), EMSGSIZE);
    m.msg_iovlen = 1;
    m.msg_iov = BAD_PTR;
    CHECK_ERR("sendmsg_bad_iov", sendmsg(s, &m, 0), EFAULT);

    int file = open("/data", O_RDONLY | O_DIRECTORY);
    CHECK_ERR("bind_on_file_is_enotsock", bind(file, (struct sockaddr *)&in, sizeof in), ENOTSOCK);
    CHECK_ERR("listen_on_file_is_enotsock", listen(file, 1), ENOTSOCK);
    CHECK_ERR("accept_on_file_is_enotsock", accept(file, NULL, NULL), ENOTSOCK);
    CHECK_ERR("sendto_on_file_is_enotsock", sendto(file, "x", 1, 0, NULL, 0), ENOTSOCK);
    CHECK_ERR("recvmsg_on_file_is_enotsock", recvmsg(file, &(struct msghdr){0}, 0), ENOTSOCK);
    CHECK_ERR("getsockopt_on_file_is_enotsock", getsockopt(file, SOL_SOCKET, SO_TYPE, &v, &(socklen_t){4}), ENOTSOCK);
    CHECK_ERR("setsockopt_unknown_on_file_is_enotsock", setsockopt(file, SOL_SOCKET, 9999, &v, 4), ENOTSOCK);
    CHECK_ERR("shutdown_on_file_is_enotsock", shutdown(file, SHUT_RD), ENOTSOCK);

    int fds[] = {42, -1, 1 << 30, 1020};
    for (int i = 0; i < 4; i++) {
        char name[64];
        int fd = fds[i];
#define BAD(what, expr)                                                      \
    do {                                                                     \
        snprintf(name, sizeof name, "%s_fd_%d_is_ebadf", what, i);          \
        CHECK_ERR(name, expr, EBADF);                                        \
    } while (0)
        BAD("bind", bind(fd, (struct sockaddr *)&in, sizeof in));
        BAD("connect", connect(fd, (struct sockaddr *)&in, sizeof in));
        BAD("listen", listen(fd, 1));
        BAD("accept", accept(fd, NULL, NULL));
        BAD("accept4", accept4(fd, NULL, NULL, 0));
        BAD("send", send(fd, "x", 1, 0));
        BAD("recv", recv(fd, buf, 1, 0));
        BAD("sendmsg", sendmsg(fd, &(struct msghdr){0}, 0));
        BAD("recvmsg", recvmsg(fd, &(struct msghdr){0}, 0));
        BAD("shutdown", shutdown(fd, SHUT_RDWR));
        BAD("getsockopt", getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &(socklen_t){4}));
        BAD("setsockopt", setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, 4));
        BAD("getsockname", getsockname(fd, (struct sockaddr *)&in, &(socklen_t){sizeof in}));
        /* The descriptor is looked up before the other arguments are read. */
        BAD("bind_bad_addr", bind(fd, bad, sizeof in));
        BAD("connect_bad_addr", connect(fd, bad, sizeof in));
        BAD("connect_negative_len", connect(fd, (struct sockaddr *)&in, -1));
        BAD("accept_bad_len", accept(fd, bad, bad));
        BAD("getpeername_bad_len", getpeername(fd, bad, bad));
        BAD("sendto_bad_addr", sendto(fd, "x", 1, 0, bad, sizeof in));
        BAD("recvfrom_bad_len", recvfrom(fd, buf, 1, 0, bad, bad));
        BAD("sendmsg_bad_msghdr", sendmsg(fd, bad, 0));
        BAD("recvmsg_bad_msghdr", recvmsg(fd, bad, 0));
        BAD("setsockopt_bad_value", setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, bad, 4));
        BAD("getsockopt_bad_len", getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, bad));
    }
    close(file);
    close(s);
    return finish();
}
