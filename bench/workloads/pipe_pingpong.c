/*
 * pipe_pingpong: IPC latency. A parent and a child pass one byte back and
 * forth over two pipes; the result is the time of one round trip (two
 * writes, two reads and two context switches; lmbench's "pipe latency").
 *
 * Usage: pipe_pingpong ITERATIONS    Prints: ns_per_op=<float>
 */
#include <stdio.h>
#include <stdlib.h>
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
	int to_child[2], to_parent[2];
	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe_pingpong: pipe");
		return 1;
	}
	long warmup = 100;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		for (long i = 0; i < n + warmup; i++)
			if (read(to_child[0], &c, 1) != 1 || write(to_parent[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	char c = 'x';
	double start = 0;
	for (long i = 0; i < n + warmup; i++) {
		if (i == warmup)
			start = now_ns();
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
			perror("pipe_pingpong");
			return 1;
		}
	}
	double elapsed = now_ns() - start;
	int status;
	waitpid(pid, &status, 0);
	printf("ns_per_op=%.3f\n", elapsed / (double)n);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
