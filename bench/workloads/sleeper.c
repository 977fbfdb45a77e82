/*
 * sleeper: says it is up, then sleeps. The harness sums the proportional
 * set size (PSS) of the runtime's processes while it sleeps and kills
 * them; the sleep is bounded so that nothing outlives a lost harness.
 *
 * Usage: sleeper SECONDS             Prints: ready
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int seconds = argc == 2 ? atoi(argv[1]) : 0;
	if (seconds <= 0) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	sleep((unsigned)seconds);
	return 0;
}
