/*
 * execl: UnixBench's "Execl Throughput". The process replaces itself with
 * execve() of its own static binary, again and again, without forking:
 * the cost of loading a program (under oxbox, of starting a new kernel
 * image) without the cost of creating a process.
 *
 * The start time travels down the chain in argv; CLOCK_MONOTONIC is one
 * clock for the whole machine, so the last link can compute the total.
 *
 * Usage: execl ITERATIONS            Prints: ns_per_op=<float>
 *        execl --link LEFT TOTAL START_NS   (one link of the chain)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Execs the next link; returns only on failure. */
static int next_link(const char *self, long left, long total, const char *start)
{
	char left_s[32], total_s[32];
	snprintf(left_s, sizeof left_s, "%ld", left);
	snprintf(total_s, sizeof total_s, "%ld", total);
	char *argv[] = { (char *)self, "--link", left_s, total_s, (char *)start, NULL };
	char *envp[] = { NULL };
	execve(self, argv, envp);
	perror("execl: execve");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--link") == 0) {
		long left = strtol(argv[2], NULL, 10);
		long total = strtol(argv[3], NULL, 10);
		if (left > 0)
			return next_link(argv[0], left - 1, total, argv[4]);
		double start = strtod(argv[4], NULL);
		printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)total);
		return 0;
	}
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	char start[64];
	snprintf(start, sizeof start, "%.0f", now_ns());
	/* n execs in all: this one and n - 1 more down the chain. */
	return next_link(argv[0], n - 1, n, start);
}
