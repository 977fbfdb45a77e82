/*
 * syscall_mix: UnixBench's "System Call Overhead" loop. Each iteration
 * makes five cheap system calls: close(dup(fd)), getpid(), getuid() and
 * umask(). glibc issues each one (it caches none of them), so the loop
 * measures the entry path over a mix of calls, not one hot site.
 *
 * UnixBench dup()s fd 0; this duplicates a descriptor of its own so that
 * what a runtime does with the container's stdin cannot change the path.
 *
 * Usage: syscall_mix ITERATIONS      Prints: ns_per_op=<float>
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int one_round(int fd)
{
	int copy = dup(fd);
	if (copy < 0 || close(copy) != 0)
		return -1;
	(void)getpid();
	(void)getuid();
	(void)umask(022);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	int fd = open("/", O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror("syscall_mix: open /");
		return 1;
	}
	for (long i = 0; i < 1000; i++)
		if (one_round(fd) != 0) {
			perror("syscall_mix: warm-up");
			return 1;
		}
	double start = now_ns();
	for (long i = 0; i < n; i++)
		if (one_round(fd) != 0) {
			perror("syscall_mix");
			return 1;
		}
	printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)n);
	return 0;
}
