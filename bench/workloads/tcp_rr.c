/*
 * tcp_rr: netperf's TCP_RR over one TCP connection. The server (inside
 * the container) echoes what it reads; the client (on the host) sends a
 * request of SIZE bytes, reads the SIZE-byte answer, and again, with
 * TCP_NODELAY on both ends, so every round trip is two small segments and
 * the number is the request/response latency.
 *
 * Usage:
 *   tcp_rr serve ADDRESS PORT
 *       listens on ADDRESS:PORT and serves one connection after the other
 *       (the harness's readiness probe, then the client) until killed.
 *   tcp_rr client ADDRESS PORT SIZE ROUNDS
 *       prints ns_per_op=<float>: the mean round trip over ROUNDS, after
 *       a warm-up of 100.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 65536
#define WARMUP 100

static char buf[MAX_SIZE];

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int address(const char *ip, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
		fprintf(stderr, "tcp_rr: bad address %s\n", ip);
		return -1;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		perror("tcp_rr: TCP_NODELAY");
}

/* Reads exactly n bytes; 0 at a clean end of stream before any byte. */
static int read_full(int fd, char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got == 0 && r == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return 1;
}

/*
 * After EAGAIN from a blocking socket, which only runsc's host network
 * (20221219, ptrace platform) returns, once a first answer went out:
 * waits with poll() for `events` and says whether to try again.
 */
static int ready_again(int fd, short events)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return 0;
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, -1) >= 0 || errno == EINTR;
}

static int write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && (errno == EINTR || ready_again(fd, POLLOUT)))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int serve(const char *ip, const char *port)
{
	struct sockaddr_in sa;
	if (address(ip, port, &sa) != 0)
		return 2;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 16) != 0) {
		perror("tcp_rr: listen");
		return 1;
	}
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("tcp_rr: accept");
			return 1;
		}
		nodelay(c);
		/* Echo whatever comes, as it comes, until the client closes. */
		for (;;) {
			ssize_t r = read(c, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || ready_again(c, POLLIN)))
				continue;
			if (r <= 0 || write_full(c, buf, (size_t)r) != 0)
				break;
		}
		close(c);
	}
}

static int client(const char *ip, const char *port, long size, long rounds)
{
	struct sockaddr_in sa;
	if (address(ip, port, &sa) != 0)
		return 2;
	if (size <= 0 || size > MAX_SIZE || rounds <= 0) {
		fprintf(stderr, "tcp_rr: SIZE must be 1..%d and ROUNDS positive\n", MAX_SIZE);
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("tcp_rr: connect");
		return 1;
	}
	nodelay(s);
	memset(buf, 'r', (size_t)size);
	double start = 0;
	for (long i = 0; i < rounds + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		buf[0] = (char)i;
		if (write_full(s, buf, (size_t)size) != 0 || read_full(s, buf, (size_t)size) != 1) {
			fprintf(stderr, "tcp_rr: round trip %ld: %s\n", i,
				errno ? strerror(errno) : "connection closed");
			return 1;
		}
		if (buf[0] != (char)i) {
			fprintf(stderr, "tcp_rr: round trip %ld: wrong answer\n", i);
			return 1;
		}
	}
	printf("ns_per_op=%.1f\n", (now_ns() - start) / (double)rounds);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3], strtol(argv[4], NULL, 10), strtol(argv[5], NULL, 10));
	fprintf(stderr, "usage: %s serve ADDRESS PORT | client ADDRESS PORT SIZE ROUNDS\n", argv[0]);
	return 2;
}
