/*
 * tar_extract: busybox tar extracting a source tree. The harness puts the
 * archive at /tree.tar in the root; each iteration extracts it into a
 * fresh directory of /tmp with `tar xf` and waits for it. Removing the
 * tree afterwards (rm -rf) is not timed.
 *
 * Usage: tar_extract ITERATIONS      Prints: ns_per_op=<float>
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs /bin/<argv[0]> and waits; 0 if it exited 0. */
static int run(char *const argv[])
{
	char path[64];
	snprintf(path, sizeof path, "/bin/%s", argv[0]);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *envp[] = { "PATH=/bin", NULL };
		execve(path, argv, envp);
		_exit(127);
	}
	int status;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int extract_once(long i, double *elapsed)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/tmp/tar_extract.%d.%ld", (int)getpid(), i);
	if (mkdir(dir, 0755) != 0)
		return -1;
	char *tar[] = { "tar", "xf", "/tree.tar", "-C", dir, NULL };
	double start = now_ns();
	int rc = run(tar);
	*elapsed += now_ns() - start;
	char *rm[] = { "rm", "-rf", dir, NULL };
	return rc != 0 ? rc : run(rm);
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	double elapsed = 0;
	if (extract_once(-1, &elapsed) != 0) {
		fprintf(stderr, "tar_extract: tar xf /tree.tar failed\n");
		return 1;
	}
	elapsed = 0;
	for (long i = 0; i < n; i++)
		if (extract_once(i, &elapsed) != 0) {
			fprintf(stderr, "tar_extract: extraction %ld failed\n", i);
			return 1;
		}
	printf("ns_per_op=%.3f\n", elapsed / (double)n);
	return 0;
}
