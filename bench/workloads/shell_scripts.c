/*
 * shell_scripts: UnixBench's "Shell Scripts (N concurrent)". Each
 * iteration starts COPIES busybox shells at once, each running a script
 * that sorts a text file, dumps it with od, greps it through tee and wc,
 * and removes its files, and waits for all of them: a burst of fork, exec,
 * pipes and small files.
 *
 * Needs /bin/sh and the busybox applets the script names in the root.
 *
 * Usage: shell_scripts COPIES ITERATIONS   Prints: ns_per_op=<float>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* After UnixBench's tst.sh; $1 is the copy's own directory. */
static const char SCRIPT[] =
	"cd \"$1\" || exit 1\n"
	"sort >sort.$$ <../sort.src\n"
	"od sort.$$ | sort -n -k 1 >od.$$\n"
	"grep the sort.$$ | tee grep.$$ | wc >wc.$$\n"
	"rm sort.$$ grep.$$ od.$$ wc.$$\n";

static const char *WORDS[] = { "the", "quick", "brown", "fox", "jumps", "over",
			       "lazy", "dog", "pack", "my", "box", "with", "five",
			       "dozen", "liquor", "jugs" };

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char dir[64];

static int write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A fixed pseudo-random text: 1,000 lines of words. */
static int write_sort_source(void)
{
	char path[128];
	snprintf(path, sizeof path, "%s/sort.src", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	unsigned state = 12345;
	for (int line = 0; line < 1000; line++) {
		for (int w = 0; w < 8; w++) {
			state = state * 1103515245u + 12345u;
			fprintf(f, "%s%s", w ? " " : "", WORDS[(state >> 16) % 16]);
		}
		fputc('\n', f);
	}
	return fclose(f);
}

/* Removes what main() set up (the scripts remove their own files). */
static void remove_setup(int copies)
{
	char path[128];
	for (int c = 0; c < copies; c++) {
		snprintf(path, sizeof path, "%s/%d", dir, c);
		rmdir(path);
	}
	snprintf(path, sizeof path, "%s/tst.sh", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/sort.src", dir);
	unlink(path);
	rmdir(dir);
}

static int run_copies(int copies)
{
	for (int c = 0; c < copies; c++) {
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			char script[128], work[128];
			snprintf(script, sizeof script, "%s/tst.sh", dir);
			snprintf(work, sizeof work, "%s/%d", dir, c);
			char *argv[] = { "sh", script, work, NULL };
			char *envp[] = { "PATH=/bin", NULL };
			execve("/bin/sh", argv, envp);
			_exit(127);
		}
	}
	int failed = 0, status;
	for (int c = 0; c < copies; c++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	int copies = argc == 3 ? atoi(argv[1]) : 0;
	long n = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
	if (copies <= 0 || n <= 0) {
		fprintf(stderr, "usage: %s COPIES ITERATIONS\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof dir, "/tmp/shell_scripts.%d", (int)getpid());
	if (mkdir(dir, 0755) != 0 || write_file("tst.sh", SCRIPT) != 0 || write_sort_source() != 0) {
		perror("shell_scripts: setting up");
		return 1;
	}
	for (int c = 0; c < copies; c++) {
		char work[128];
		snprintf(work, sizeof work, "%s/%d", dir, c);
		if (mkdir(work, 0755) != 0) {
			perror("shell_scripts: mkdir");
			return 1;
		}
	}
	if (run_copies(copies) != 0) {
		fprintf(stderr, "shell_scripts: a script failed (is /bin/sh busybox?)\n");
		return 1;
	}
	double start = now_ns();
	for (long i = 0; i < n; i++)
		if (run_copies(copies) != 0) {
			fprintf(stderr, "shell_scripts: a script failed\n");
			return 1;
		}
	printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)n);
	remove_setup(copies);
	return 0;
}
