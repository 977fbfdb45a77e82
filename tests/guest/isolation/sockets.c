/*
 * Sockets a container must never get, asked for with a bare `syscall`
 * instruction: packet sockets, raw IP sockets, netlink families other
 * than route, and the families oxbox does not offer. Prints one line per
 * request, "socket <name> <errno name | SUCCEEDED>", then the same for
 * ioctls that would change an interface ("ioctl <name> ...").
 *
 * Run under oxbox only: natively, as root, most of these succeed.
 */
#include "check.h"

#include <linux/netlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void ask(const char *name, long domain, long type, long protocol)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(SYS_socket), "D"(domain), "S"(type), "d"(protocol)
                     : "rcx", "r11", "memory");
    printf("socket %s %s\n", name, ret < 0 && ret > -4096 ? errname((int)-ret) : "SUCCEEDED");
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    ask("packet_raw", AF_PACKET, SOCK_RAW, 0x0300 /* htons(ETH_P_ALL) */);
    ask("packet_dgram", AF_PACKET, SOCK_DGRAM, 0x0300);
    ask("inet_raw_icmp", AF_INET, SOCK_RAW, IPPROTO_ICMP);
    ask("inet_raw_raw", AF_INET, SOCK_RAW, IPPROTO_RAW);
    ask("inet6_raw", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    ask("inet_packet", AF_INET, SOCK_PACKET, 0x0300);
    ask("netlink_audit", AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
    ask("netlink_netfilter", AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    ask("netlink_uevent", AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT);
    ask("key", AF_KEY, SOCK_RAW, 2 /* PF_KEY_V2 */);
    ask("vsock", AF_VSOCK, SOCK_STREAM, 0);
    ask("alg", AF_ALG, SOCK_SEQPACKET, 0);
    ask("bluetooth", AF_BLUETOOTH, SOCK_RAW, 0);
    ask("inet_sctp", AF_INET, SOCK_STREAM, IPPROTO_SCTP);
    /* The allowed ones, for contrast. */
    ask("netlink_route", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    ask("inet_stream", AF_INET, SOCK_STREAM, 0);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    errno = 0;
    ioctl(s, SIOCSIFFLAGS, &r);
    printf("ioctl siocsifflags %s\n", errname(errno));
    ioctl(s, SIOCSIFMTU, &r);
    printf("ioctl siocsifmtu %s\n", errname(errno));
    return finish();
}
