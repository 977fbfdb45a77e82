/*
 * TCP and UDP over loopback, IPv4 and IPv6: a server and a forked client,
 * accept4 flags, getsockname/getpeername, the options servers set
 * (SO_REUSEADDR, SO_KEEPALIVE, TCP_NODELAY, SO_RCVBUF, IPV6_V6ONLY and
 * some twenty more, read back), SO_REUSEPORT listeners sharing a port,
 * non-blocking connect (EINPROGRESS, then POLLOUT and SO_ERROR), a refused
 * connection, shutdown, and UDP sendto/recvfrom/connect.
 */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int getopt_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0)
        return -2;
    return v;
}

/* A listening socket on an ephemeral loopback port; its address in *a. */
static int listener(int family, struct sockaddr_storage *a, socklen_t *len)
{
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)a;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        *len = sizeof *in6;
    }
    if (bind(s, (struct sockaddr *)a, *len) != 0 || listen(s, 8) != 0)
        return -1;
    getsockname(s, (struct sockaddr *)a, len);
    return s;
}

static void echo_server(int family, const char *what)
{
    char label[96];
#define L(s) (snprintf(label, sizeof label, "%s_%s", what, s), label)
    struct sockaddr_storage a;
    socklen_t alen;
    int srv = listener(family, &a, &alen);
    CHECK(L("listening"), srv >= 0);
    CHECK_EQ(L("reuseaddr_set"), getopt_int(srv, SOL_SOCKET, SO_REUSEADDR), 1);
    CHECK_EQ(L("acceptconn"), getopt_int(srv, SOL_SOCKET, SO_ACCEPTCONN), 1);
    CHECK_EQ(L("protocol_is_tcp"), getopt_int(srv, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
    if (family == AF_INET6)
        CHECK_EQ(L("v6only_set"), getopt_int(srv, IPPROTO_IPV6, IPV6_V6ONLY), 1);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(family, SOCK_STREAM, IPPROTO_TCP), on = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        if (connect(c, (struct sockaddr *)&a, alen) != 0)
            _exit(2);
        char buf[64];
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0)
            write(c, buf, n);
        _exit(n == 0 ? 0 : 3);
    }
    struct sockaddr_storage peer, mine;
    socklen_t plen = sizeof peer, mlen = sizeof mine;
    int conn = accept4(srv, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
    CHECK(L("accepted"), conn >= 0);
    CHECK_EQ(L("accepted_family"), peer.ss_family, family);
    CHECK_EQ(L("accepted_addr_len"), plen, alen);
    CHECK_EQ(L("accept4_cloexec"), fcntl(conn, F_GETFD), FD_CLOEXEC);
    CHECK(L("accept4_nonblock"), fcntl(conn, F_GETFL) & O_NONBLOCK);
    CHECK_EQ(L("getpeername"), getpeername(conn, (struct sockaddr *)&mine, &mlen), 0);
    CHECK(L("getpeername_matches_accept"), mlen == plen && memcmp(&mine, &peer, plen) == 0);
    int flags = fcntl(conn, F_GETFL);
    fcntl(conn, F_SETFL, flags & ~O_NONBLOCK);
    int on = 1;
    CHECK_EQ(L("keepalive"), setsockopt(conn, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on), 0);
    CHECK_EQ(L("keepalive_read_back"), getopt_int(conn, SOL_SOCKET, SO_KEEPALIVE), 1);
    CHECK_EQ(L("nodelay"), setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on), 0);
    CHECK_EQ(L("nodelay_read_back"), getopt_int(conn, IPPROTO_TCP, TCP_NODELAY), 1);
    int rcvbuf = 65536;
    CHECK_EQ(L("rcvbuf"), setsockopt(conn, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    CHECK_EQ(L("rcvbuf_doubled"), getopt_int(conn, SOL_SOCKET, SO_RCVBUF), 2 * 65536);
    char big[100000], back[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    size_t sent = 0, got = 0;
    while (got < sizeof big) {
        if (sent < sizeof big) {
            ssize_t n = send(conn, big + sent, sizeof big - sent > 4096 ? 4096 : sizeof big - sent, 0);
            if (n > 0)
                sent += n;
        }
        ssize_t n = recv(conn, back + got, sizeof back - got, sent < sizeof big ? MSG_DONTWAIT : 0);
        if (n > 0)
            got += n;
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break;
    }
    CHECK_EQ(L("echoed_all"), got, sizeof big);
    CHECK(L("echoed_same_bytes"), memcmp(big, back, sizeof big) == 0);
    CHECK_EQ(L("shutdown_wr"), shutdown(conn, SHUT_WR), 0);
    CHECK_EQ(L("eof_after_client_sees_shutdown"), recv(conn, back, 1, 0), 0);
    int status;
    waitpid(child, &status, 0);
    CHECK_EQ(L("client_exit"), status, 0);
    close(conn);
    close(srv);
}

static void nonblocking_connect(void)
{
    struct sockaddr_storage a;
    socklen_t alen;
    int srv = listener(AF_INET, &a, &alen);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(c, (struct sockaddr *)&a, alen), e = errno;
    CHECK("nonblocking_connect_starts", r == 0 || (r == -1 && e == EINPROGRESS));
    struct pollfd p = {.fd = c, .events = POLLOUT};
    CHECK_EQ("nonblocking_connect_becomes_writable", poll(&p, 1, 5000), 1);
    CHECK_EQ("nonblocking_connect_so_error_0", getopt_int(c, SOL_SOCKET, SO_ERROR), 0);
    /* The first connect after completion reports it; later ones EISCONN. */
    CHECK_EQ("connect_again_completes", connect(c, (struct sockaddr *)&a, alen), 0);
    CHECK_ERR("connect_third_time_is_eisconn", connect(c, (struct sockaddr *)&a, alen), EISCONN);
    int conn = accept(srv, NULL, NULL);
    CHECK("accept_without_address", conn >= 0);
    close(conn);
    close(c);
    /* The listener gone, its port refuses connections. */
    close(srv);
    c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_ERR("connect_closed_port_is_econnrefused", connect(c, (struct sockaddr *)&a, alen), ECONNREFUSED);
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r = connect(c, (struct sockaddr *)&a, alen);
    e = errno;
    CHECK("nonblocking_refused_starts", r == -1 && (e == EINPROGRESS || e == ECONNREFUSED));
    if (e == EINPROGRESS) {
        p.fd = c;
        poll(&p, 1, 5000);
    }
    CHECK_EQ("nonblocking_refused_so_error", e == ECONNREFUSED ? e : getopt_int(c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    close(c);
}

/* Sets an int option and reads it back; prints what was read so that the
 * comparison with native catches any difference. */
static void option_round_trip(int fd, int level, int name, const char *what, int value)
{
    char label[96];
    int got = -1;
    socklen_t len = sizeof got;
    int set = setsockopt(fd, level, name, &value, sizeof value);
    int get = getsockopt(fd, level, name, &got, &len);
    snprintf(label, sizeof label, "option_%s", what);
    if (set == 0 && get == 0)
        printf("ok %s = %d\n", label, got);
    else
        printf("ok %s: set %d get %d errno %s\n", label, set, get, errname(errno));
}

static void server_options(void)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    option_round_trip(s, SOL_SOCKET, SO_REUSEPORT, "so_reuseport", 1);
    option_round_trip(s, SOL_SOCKET, SO_SNDBUF, "so_sndbuf", 32768);
    option_round_trip(s, SOL_SOCKET, SO_RCVLOWAT, "so_rcvlowat", 16);
    option_round_trip(s, SOL_SOCKET, SO_PRIORITY, "so_priority", 3);
    option_round_trip(s, SOL_SOCKET, SO_OOBINLINE, "so_oobinline", 1);
    option_round_trip(s, IPPROTO_TCP, TCP_KEEPIDLE, "tcp_keepidle", 30);
    option_round_trip(s, IPPROTO_TCP, TCP_KEEPINTVL, "tcp_keepintvl", 5);
    option_round_trip(s, IPPROTO_TCP, TCP_KEEPCNT, "tcp_keepcnt", 4);
    option_round_trip(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, "tcp_defer_accept", 1);
    option_round_trip(s, IPPROTO_TCP, TCP_FASTOPEN, "tcp_fastopen", 16);
    option_round_trip(s, IPPROTO_TCP, TCP_USER_TIMEOUT, "tcp_user_timeout", 10000);
    option_round_trip(s, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "tcp_notsent_lowat", 65536);
    option_round_trip(s, IPPROTO_TCP, TCP_CORK, "tcp_cork", 1);
    option_round_trip(s, IPPROTO_IPV6, IPV6_V6ONLY, "ipv6_v6only", 0);
    option_round_trip(s, IPPROTO_IPV6, IPV6_TCLASS, "ipv6_tclass", 0x10);
    option_round_trip(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, "ipv6_unicast_hops", 9);
    struct linger lg = {1, 5}, lg2;
    socklen_t len = sizeof lg2;
    CHECK_EQ("so_linger_set", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    CHECK("so_linger_get", getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &len) == 0 && lg2.l_onoff == 1 && lg2.l_linger == 5);
    struct timeval tv = {2, 500000}, tv2;
    len = sizeof tv2;
    CHECK_EQ("so_rcvtimeo_set", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    CHECK("so_rcvtimeo_get", getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv2, &len) == 0 && tv2.tv_sec == 2 && tv2.tv_usec == 500000);
    char cc[16] = {0};
    len = sizeof cc;
    CHECK_EQ("tcp_congestion_get", getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, cc, &len), 0);
    printf("ok tcp_congestion = %s\n", cc);
    CHECK_EQ("so_bindtodevice_lo", setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3), 0);
    struct tcp_info ti;
    len = sizeof ti;
    CHECK_EQ("tcp_info", getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    CHECK_EQ("tcp_info_state_close", ti.tcpi_state, TCP_CLOSE);
    /* Two listeners share a port with SO_REUSEPORT. */
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t alen = sizeof a;
    CHECK_EQ("reuseport_first_bind", bind(s, (struct sockaddr *)&a, alen), 0);
    getsockname(s, (struct sockaddr *)&a, &alen);
    int t = socket(AF_INET6, SOCK_STREAM, 0), on = 1;
    setsockopt(t, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt(t, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
    CHECK_EQ("reuseport_second_bind", bind(t, (struct sockaddr *)&a, alen), 0);
    int u = socket(AF_INET6, SOCK_STREAM, 0);
    CHECK_ERR("without_reuseport_eaddrinuse", bind(u, (struct sockaddr *)&a, alen), EADDRINUSE);
    close(s);
    close(t);
    close(u);
}

static void udp(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, sb = sa, from;
    socklen_t len = sizeof sa, flen = sizeof from;
    CHECK_EQ("udp_bind_a", bind(a, (struct sockaddr *)&sa, len), 0);
    CHECK_EQ("udp_bind_b", bind(b, (struct sockaddr *)&sb, len), 0);
    getsockname(a, (struct sockaddr *)&sa, &len);
    getsockname(b, (struct sockaddr *)&sb, &len);
    CHECK("udp_ports_assigned", sa.sin_port != 0 && sb.sin_port != 0 && sa.sin_port != sb.sin_port);
    CHECK_EQ("udp_sendto", sendto(a, "datagram", 8, 0, (struct sockaddr *)&sb, len), 8);
    char buf[16] = {0};
    CHECK_EQ("udp_recvfrom", recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 8);
    CHECK("udp_from_is_a", flen == sizeof from && from.sin_port == sa.sin_port && from.sin_addr.s_addr == sa.sin_addr.s_addr);
    CHECK_EQ("udp_connect", connect(b, (struct sockaddr *)&sa, len), 0);
    CHECK_EQ("udp_send_connected", send(b, "reply", 5, 0), 5);
    CHECK_EQ("udp_recv_reply", recv(a, buf, sizeof buf, 0), 5);
    CHECK_ERR("udp_getpeername_unconnected", getpeername(a, (struct sockaddr *)&from, &flen), ENOTCONN);
    /* IP_PKTINFO control messages, as DNS servers use them, both ways. */
    int on = 1;
    CHECK_EQ("ip_pktinfo_on", setsockopt(a, IPPROTO_IP, IP_PKTINFO, &on, sizeof on), 0);
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {"pkt", 3};
    struct msghdr m = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = {.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK)};
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    CHECK_EQ("sendmsg_with_pktinfo", sendmsg(b, &m, 0), 3);
    char data[8], rbuf[256];
    struct iovec riov = {data, sizeof data};
    struct msghdr r = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rbuf, .msg_controllen = sizeof rbuf};
    CHECK_EQ("recvmsg_with_pktinfo", recvmsg(a, &r, 0), 3);
    c = CMSG_FIRSTHDR(&r);
    CHECK("recvmsg_pktinfo_cmsg", c && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO);
    if (c) {
        memcpy(&pi, CMSG_DATA(c), sizeof pi);
        CHECK("recvmsg_pktinfo_local_address", pi.ipi_addr.s_addr == htonl(INADDR_LOOPBACK) && pi.ipi_ifindex == 1);
    }
    close(a);
    close(b);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    echo_server(AF_INET, "ipv4");
    echo_server(AF_INET6, "ipv6");
    nonblocking_connect();
    server_options();
    udp();
    return finish();
}
