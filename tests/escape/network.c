/*
 * Host services: argv: scratch directory, the port of a TCP listener on
 * the host's 127.0.0.1 and the name of an abstract unix socket the host
 * listens on. The container has its own network namespace (loopback only),
 * so neither may be reached, from guest code or from the kernel's text.
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/un.h>

static struct sockaddr_in tcp;
static struct sockaddr_un unix_addr;
static socklen_t unix_len;

static long connect_to(long family, const void *addr, socklen_t len, uintptr_t gadget)
{
    long fd = raw6(SYS_socket, family, SOCK_STREAM, 0, 0, 0, 0);
    if (fd < 0)
        return fd;
    return gadget ? via_kernel(gadget, SYS_connect, fd, (long)addr, len, 0, 0, 0)
                  : raw6(SYS_connect, fd, (long)addr, len, 0, 0, 0);
}

static long tcp_from_kernel_text(void *gadget)
{
    return connect_to(AF_INET, &tcp, sizeof tcp, (uintptr_t)gadget);
}

static long unix_from_kernel_text(void *gadget)
{
    return connect_to(AF_UNIX, &unix_addr, unix_len, (uintptr_t)gadget);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 4)
        return 2;
    tcp.sin_family = AF_INET;
    tcp.sin_port = htons(atoi(argv[2]));
    tcp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unix_addr.sun_family = AF_UNIX;
    /* Abstract: a leading NUL, then the name. */
    strncpy(unix_addr.sun_path + 1, argv[3], sizeof unix_addr.sun_path - 2);
    unix_len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[3]);

    long r = connect_to(AF_INET, &tcp, sizeof tcp, 0);
    probe("net:host-loopback-tcp", r == 0, "%s", outcome(r));
    r = connect_to(AF_UNIX, &unix_addr, unix_len, 0);
    probe("net:host-abstract-unix", r == 0, "%s", outcome(r));
    uintptr_t gadget = kernel_syscall_gadget();
    if (gadget) {
        /* connect returns 0 on success, where the stub does not return. */
        int status;
        in_child(tcp_from_kernel_text, (void *)gadget, &status);
        probe("net:host-loopback-tcp-from-kernel-text",
              !WIFEXITED(status) || WEXITSTATUS(status) == 0, "%s", child_end(status));
        in_child(unix_from_kernel_text, (void *)gadget, &status);
        probe("net:host-abstract-unix-from-kernel-text",
              !WIFEXITED(status) || WEXITSTATUS(status) == 0, "%s", child_end(status));
    }
    return escape_finish();
}
