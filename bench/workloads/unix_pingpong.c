/*
 * unix_pingpong: a unix stream socket round trip between two processes
 * (lmbench's "AF_UNIX sock stream latency"). A parent and a child made by
 * socketpair() pass one byte back and forth.
 *
 * A runtime without unix sockets is not measured: if socketpair() fails,
 * the program prints `unsupported=<why>` and no number.
 *
 * Usage: unix_pingpong ITERATIONS    Prints: ns_per_op=<float>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		printf("unsupported=socketpair(AF_UNIX, SOCK_STREAM): %s\n", strerror(errno));
		return 0;
	}
	long warmup = 100;
	pid_t pid = fork();
	if (pid < 0) {
		perror("unix_pingpong: fork");
		return 1;
	}
	if (pid == 0) {
		char c;
		close(sv[0]);
		for (long i = 0; i < n + warmup; i++)
			if (read(sv[1], &c, 1) != 1 || write(sv[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	char c = 'x';
	double start = 0;
	for (long i = 0; i < n + warmup; i++) {
		if (i == warmup)
			start = now_ns();
		if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) {
			perror("unix_pingpong");
			return 1;
		}
	}
	double elapsed = now_ns() - start;
	int status;
	waitpid(pid, &status, 0);
	printf("ns_per_op=%.3f\n", elapsed / (double)n);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
