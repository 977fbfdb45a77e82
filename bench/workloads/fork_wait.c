/*
 * fork_wait: process creation and teardown. Each iteration forks a child
 * that exits at once, and waits for it (lmbench's "fork+exit").
 *
 * Usage: fork_wait ITERATIONS        Prints: ns_per_op=<float>
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

static int spawn_and_reap(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(0);
	int status;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? 0 : -1;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	if (spawn_and_reap() != 0) {
		perror("fork_wait: warm-up");
		return 1;
	}
	double start = now_ns();
	for (long i = 0; i < n; i++)
		if (spawn_and_reap() != 0) {
			perror("fork_wait");
			return 1;
		}
	printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)n);
	return 0;
}
