/*
 * getppid: the cheapest system call there is, in a tight loop.
 *
 * Usage: getppid ITERATIONS
 * Prints: ns_per_op=<float>
 *
 * It calls glibc's getppid() wrapper on purpose: statically linked, the
 * wrapper is the 7-byte sequence `mov $0x6e,%eax; syscall`, which is the
 * site oxbox patches into `call *slot`. `syscall(SYS_getppid)` would go
 * through glibc's generic syscall() with a register-moved number instead.
 *
 * A short untimed warm-up runs first so that one-off costs (the first trap
 * and the patching of the site under oxbox, page faults) stay out of the
 * timed loop. CLOCK_MONOTONIC is read through the vDSO, so the timing
 * itself issues no system call on any runtime that keeps a vDSO.
 */
#include <stdio.h>
#include <stdlib.h>
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
	if (argc != 2) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	char *end;
	long n = strtol(argv[1], &end, 10);
	if (*end != '\0' || n <= 0) {
		fprintf(stderr, "getppid: bad iteration count '%s'\n", argv[1]);
		return 2;
	}

	/* volatile sink: the compiler must not drop the calls. */
	volatile pid_t sink = 0;
	long warmup = n / 10 < 1000 ? n / 10 : 1000;
	for (long i = 0; i < warmup; i++)
		sink = getppid();

	double start = now_ns();
	for (long i = 0; i < n; i++)
		sink = getppid();
	double elapsed = now_ns() - start;
	(void)sink;

	printf("ns_per_op=%.3f\n", elapsed / (double)n);
	return 0;
}
