/*
 * fork_exec: starting a new program. Each iteration forks a child that
 * execs this same static binary in its do-nothing mode, and waits for it
 * (lmbench's "fork+execve"). Under oxbox the exec re-executes the kernel
 * image, so this measures that path too.
 *
 * Usage: fork_exec ITERATIONS        Prints: ns_per_op=<float>
 *        fork_exec --exit            Exits 0 at once (the exec'd child).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int spawn_and_reap(const char *self)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *argv[] = { (char *)self, "--exit", NULL };
		char *envp[] = { NULL };
		execve(self, argv, envp);
		_exit(127);
	}
	int status;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--exit") == 0)
		return 0;
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	if (spawn_and_reap(argv[0]) != 0) {
		fprintf(stderr, "fork_exec: the child could not exec %s\n", argv[0]);
		return 1;
	}
	double start = now_ns();
	for (long i = 0; i < n; i++)
		if (spawn_and_reap(argv[0]) != 0) {
			fprintf(stderr, "fork_exec: a child failed\n");
			return 1;
		}
	printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)n);
	return 0;
}
