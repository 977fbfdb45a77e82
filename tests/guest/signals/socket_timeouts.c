/*
 * Socket calls interrupted by a handler that has SA_RESTART: Linux
 * restarts them, except an input call (accept, recv*, read) on a socket
 * with a receive timeout (SO_RCVTIMEO) and an output call (send*, write)
 * on one with a send timeout (SO_SNDTIMEO), which fail with EINTR
 * (signal(7)).
 *
 * SIGALRM comes 100 ms after the call starts blocking; the timeouts are
 * 5 s, so a call that went on waiting would end with EAGAIN instead. In
 * the restarted cases the handler writes the byte the call waits for, so
 * the restarted call completes.
 */
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

static int wake_fd = -1;

static void on_alarm(int sig)
{
    (void)sig;
    if (wake_fd >= 0)
        write(wake_fd, "w", 1);
}

static void arm_timer(void)
{
    struct itimerval it = {.it_value = {.tv_usec = 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void set_timeout(int fd, int option)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

static void pair(int sv[2])
{
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

/* Fills the send buffer of sv[0] (nothing reads sv[1]). */
static void fill(int fd)
{
    char buf[4096] = {0};
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    while (send(fd, buf, sizeof buf, 0) > 0)
        ;
    while (send(fd, buf, 1, 0) > 0)
        ;
    fcntl(fd, F_SETFL, flags);
}

/*
 * recv on a fresh pair whose receiving end has timeout `option` (none if
 * negative) set, with the handler writing the byte it waits for.
 */
static long restarted_recv(int option)
{
    int sv[2];
    char c;
    pair(sv);
    if (option >= 0)
        set_timeout(sv[0], option);
    wake_fd = sv[1];
    arm_timer();
    long got = recv(sv[0], &c, 1, 0);
    close(sv[0]);
    close(sv[1]);
    return got;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    int sv[2];
    char c;

    /* recv without a timeout: restarted, then gets the handler's byte. */
    CHECK_EQ("recv_without_timeout_is_restarted", restarted_recv(-1), 1);
    /* A send timeout does not change how receiving restarts. */
    CHECK_EQ("recv_with_only_sndtimeo_is_restarted", restarted_recv(SO_SNDTIMEO), 1);

    /* The same with SO_RCVTIMEO: EINTR. */
    pair(sv);
    set_timeout(sv[0], SO_RCVTIMEO);
    wake_fd = -1;
    arm_timer();
    CHECK_ERR("recv_with_rcvtimeo_fails_with_eintr", recv(sv[0], &c, 1, 0), EINTR);
    arm_timer();
    CHECK_ERR("read_with_rcvtimeo_fails_with_eintr", read(sv[0], &c, 1), EINTR);
    struct msghdr msg = {0};
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    arm_timer();
    CHECK_ERR("recvmsg_with_rcvtimeo_fails_with_eintr", recvmsg(sv[0], &msg, 0), EINTR);
    close(sv[0]);
    close(sv[1]);

    /* send on a full buffer with SO_SNDTIMEO: EINTR. */
    pair(sv);
    fill(sv[0]);
    set_timeout(sv[0], SO_SNDTIMEO);
    wake_fd = -1;
    arm_timer();
    CHECK_ERR("send_with_sndtimeo_fails_with_eintr", send(sv[0], "x", 1, 0), EINTR);
    arm_timer();
    CHECK_ERR("write_with_sndtimeo_fails_with_eintr", write(sv[0], "x", 1), EINTR);
    close(sv[0]);
    close(sv[1]);

    /* accept with SO_RCVTIMEO on the listening socket: EINTR. */
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path("listener"));
    CHECK("bind", bind(l, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK("listen", listen(l, 1) == 0);
    set_timeout(l, SO_RCVTIMEO);
    arm_timer();
    CHECK_ERR("accept_with_rcvtimeo_fails_with_eintr", accept(l, NULL, NULL), EINTR);
    close(l);
    return finish();
}
