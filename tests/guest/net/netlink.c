/*
 * The container's interfaces, seen through route netlink (a link and an
 * address dump, as iproute2 asks) and through the interface ioctls
 * (SIOCGIFCONF, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFMTU,
 * SIOCGIFADDR, SIOCGIFNETMASK), plus the queue ioctls on sockets and the
 * errors of unknown interfaces and bad pointers.
 */
#include "check.h"
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static void *volatile bad = BAD_PTR;

/* Sends a dump request of `type` and counts the answers; `*lo` is set
 * when an answer names the loopback (by name for links, by index and
 * address for addresses). */
static int dump(int nl, int type, int *lo)
{
    struct {
        struct nlmsghdr h;
        struct rtgenmsg g;
    } req = {.h = {.nlmsg_len = sizeof req, .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1},
             .g = {.rtgen_family = AF_UNSPEC}};
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(nl, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) != sizeof req)
        return -1;
    static char buf[32768];
    int count = 0;
    for (;;) {
        struct iovec iov = {buf, sizeof buf};
        struct sockaddr_nl from;
        struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(nl, &m, 0);
        if (n <= 0 || from.nl_pid != 0)
            return -2;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE)
                return count;
            if (h->nlmsg_type == NLMSG_ERROR)
                return -3;
            count++;
            if (type == RTM_GETLINK) {
                struct ifinfomsg *ifi = NLMSG_DATA(h);
                int len = IFLA_PAYLOAD(h);
                for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
                    if (a->rta_type == IFLA_IFNAME && strcmp(RTA_DATA(a), "lo") == 0 && ifi->ifi_index == 1)
                        *lo = 1;
            } else {
                struct ifaddrmsg *ifa = NLMSG_DATA(h);
                int len = IFA_PAYLOAD(h);
                for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
                    if (a->rta_type == IFA_LOCAL && ifa->ifa_family == AF_INET && ifa->ifa_index == 1 &&
                        *(uint32_t *)RTA_DATA(a) == htonl(INADDR_LOOPBACK))
                        *lo = 1;
            }
        }
    }
}

static void route_netlink(void)
{
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), v = -1;
    CHECK("netlink_route_socket", nl >= 0);
    socklen_t len = sizeof v;
    CHECK_EQ("netlink_so_type", (getsockopt(nl, SOL_SOCKET, SO_TYPE, &v, &len), v), SOCK_RAW);
    CHECK_EQ("netlink_so_protocol", (getsockopt(nl, SOL_SOCKET, SO_PROTOCOL, &v, &len), v), NETLINK_ROUTE);
    int one = 1, size = 32768;
    CHECK_EQ("netlink_ext_ack", setsockopt(nl, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one), 0);
    CHECK_EQ("netlink_sndbuf", setsockopt(nl, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    CHECK_EQ("netlink_bind", bind(nl, (struct sockaddr *)&me, sizeof me), 0);
    len = sizeof me;
    CHECK_EQ("netlink_getsockname", getsockname(nl, (struct sockaddr *)&me, &len), 0);
    CHECK_EQ("netlink_port_is_pid", me.nl_pid, getpid());
    int lo = 0;
    CHECK_EQ("netlink_link_dump_has_one_link", dump(nl, RTM_GETLINK, &lo), 1);
    CHECK("netlink_link_is_lo", lo);
    lo = 0;
    CHECK("netlink_addr_dump", dump(nl, RTM_GETADDR, &lo) >= 1);
    CHECK("netlink_addr_127_0_0_1_on_lo", lo);
    int dgram = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
    CHECK("netlink_dgram_socket", dgram >= 0);
    close(dgram);
    close(nl);
}

static void interface_ioctls(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq reqs[8];
    struct ifconf conf = {.ifc_len = sizeof reqs, .ifc_req = reqs};
    CHECK_EQ("siocgifconf", ioctl(s, SIOCGIFCONF, &conf), 0);
    CHECK_EQ("siocgifconf_one_entry", conf.ifc_len, sizeof(struct ifreq));
    CHECK("siocgifconf_lo", strcmp(reqs[0].ifr_name, "lo") == 0);
    struct ifconf size_only = {.ifc_len = 0, .ifc_buf = NULL};
    CHECK_EQ("siocgifconf_null_asks_length", ioctl(s, SIOCGIFCONF, &size_only), 0);
    CHECK_EQ("siocgifconf_length", size_only.ifc_len, sizeof(struct ifreq));

    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    CHECK_EQ("siocgifindex", ioctl(s, SIOCGIFINDEX, &r), 0);
    CHECK_EQ("siocgifindex_lo_is_1", r.ifr_ifindex, 1);
    CHECK_EQ("siocgifflags", ioctl(s, SIOCGIFFLAGS, &r), 0);
    CHECK("siocgifflags_up_loopback", (r.ifr_flags & (IFF_UP | IFF_LOOPBACK)) == (IFF_UP | IFF_LOOPBACK));
    CHECK_EQ("siocgifmtu", ioctl(s, SIOCGIFMTU, &r), 0);
    CHECK_EQ("siocgifmtu_65536", r.ifr_mtu, 65536);
    CHECK_EQ("siocgifaddr", ioctl(s, SIOCGIFADDR, &r), 0);
    CHECK_EQ("siocgifaddr_127_0_0_1", ((struct sockaddr_in *)&r.ifr_addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ("siocgifnetmask", ioctl(s, SIOCGIFNETMASK, &r), 0);
    CHECK_EQ("siocgifnetmask_8", ((struct sockaddr_in *)&r.ifr_netmask)->sin_addr.s_addr, htonl(0xff000000));
    memset(&r, 0, sizeof r);
    r.ifr_ifindex = 1;
    CHECK_EQ("siocgifname", ioctl(s, SIOCGIFNAME, &r), 0);
    CHECK("siocgifname_1_is_lo", strcmp(r.ifr_name, "lo") == 0);
    CHECK_EQ("if_nametoindex", if_nametoindex("lo"), 1);
    strcpy(r.ifr_name, "nosuch0");
    CHECK_ERR("siocgifindex_unknown_is_enodev", ioctl(s, SIOCGIFINDEX, &r), ENODEV);
    CHECK_ERR("siocgifindex_bad_pointer", ioctl(s, SIOCGIFINDEX, bad), EFAULT);
    CHECK_ERR("siocgifconf_bad_pointer", ioctl(s, SIOCGIFCONF, bad), EFAULT);
    close(s);

    int sv[2], queued = -1;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[0], "12345", 5);
    CHECK_EQ("siocoutq", ioctl(sv[0], SIOCOUTQ, &queued), 0);
    /* Unix sockets count the buffers' memory, not only the bytes. */
    CHECK("siocoutq_unread_data", queued >= 5);
    CHECK_EQ("siocinq", ioctl(sv[1], SIOCINQ, &queued), 0);
    CHECK_EQ("siocinq_readable_bytes", queued, 5);
    close(sv[0]);
    close(sv[1]);
}

static void control_buffers(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct iovec iov = {"x", 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = NULL, .msg_controllen = 16};
    CHECK_ERR("sendmsg_null_control_with_length_is_efault", sendmsg(sv[0], &m, 0), EFAULT);
    m.msg_controllen = 0;
    CHECK_EQ("sendmsg_no_control", sendmsg(sv[0], &m, 0), 1);
    static char big[1 << 20];
    char c;
    struct iovec riov = {&c, 1};
    struct msghdr r = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = big, .msg_controllen = sizeof big};
    CHECK_EQ("recvmsg_huge_control_buffer", recvmsg(sv[1], &r, 0), 1);
    CHECK_EQ("recvmsg_no_control_received", r.msg_controllen, 0);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    route_netlink();
    interface_ioctls();
    control_buffers();
    return finish();
}
