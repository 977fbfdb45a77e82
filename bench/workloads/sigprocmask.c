/*
 * sigprocmask: a cheap system call that no runtime answers without its
 * ordinary entry path, in a tight loop.
 *
 * Usage: sigprocmask ITERATIONS
 * Prints: ns_per_op=<float>
 *
 * getppid measures the cheapest call there is, but oxbox answers getppid
 * (and getpid, gettid, the user and group ids) in a stub of a few
 * instructions that never enters its kernel's dispatcher. This loop reads
 * the signal mask instead: sigprocmask(SIG_BLOCK, NULL, &old). On Linux
 * and under runc it is about as cheap as getppid; gVisor's Sentry answers
 * it from its own task state; oxbox keeps signal masks in its kernel, so
 * the call goes through the common entry (save registers, switch to the
 * kernel stack, dispatch, return) and nothing else: no host system call.
 * Every process that handles signals makes it often (shells, glibc's
 * fork and posix_spawn, Python), so it is also a real call, not a
 * contrived one.
 *
 * With a NULL set glibc's wrapper goes straight to its
 * `mov $0xe,%eax; syscall` site, the site oxbox patches into a call.
 * A short untimed warm-up keeps the first trap and the patching out of
 * the timed loop; CLOCK_MONOTONIC is read through the vDSO.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
		fprintf(stderr, "sigprocmask: bad iteration count '%s'\n", argv[1]);
		return 2;
	}

	sigset_t old;
	long warmup = n / 10 < 1000 ? n / 10 : 1000;
	for (long i = 0; i < warmup; i++)
		if (sigprocmask(SIG_BLOCK, NULL, &old) != 0) {
			perror("sigprocmask");
			return 1;
		}

	double start = now_ns();
	for (long i = 0; i < n; i++)
		sigprocmask(SIG_BLOCK, NULL, &old);
	double elapsed = now_ns() - start;

	printf("ns_per_op=%.3f\n", elapsed / (double)n);
	return 0;
}
