/*
 * pipe_throughput: UnixBench's "Pipe Throughput". One process writes 512
 * bytes into a pipe and reads them back, in a loop: the cost of the pipe
 * path itself, with no context switch.
 *
 * Usage: pipe_throughput ITERATIONS  Prints: ns_per_op=<float>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 512

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int round_trip(const int fds[2], char *buf)
{
	return write(fds[1], buf, CHUNK) == CHUNK && read(fds[0], buf, CHUNK) == CHUNK ? 0 : -1;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe_throughput: pipe");
		return 1;
	}
	char buf[CHUNK];
	memset(buf, 'x', sizeof buf);
	for (long i = 0; i < 1000; i++)
		if (round_trip(fds, buf) != 0) {
			perror("pipe_throughput: warm-up");
			return 1;
		}
	double start = now_ns();
	for (long i = 0; i < n; i++)
		if (round_trip(fds, buf) != 0) {
			perror("pipe_throughput");
			return 1;
		}
	printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)n);
	return 0;
}
