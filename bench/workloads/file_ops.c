/*
 * file_ops: file system loops on a file in /tmp of the container's root.
 *
 *   file_ops stat N        stat() of one path (lmbench's "stat")
 *   file_ops open N        open() + close() of one path (lmbench's
 *                          "open/close")
 *   file_ops copy BYTES N  UnixBench's "File Copy": read BYTES from one
 *                          1 MiB file and write them to another; at the
 *                          end of the source both files seek back to 0
 *
 * Prints: ns_per_op=<float> (one copy operation is one read + one write).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOURCE_SIZE (1 << 20)

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char path_a[64], path_b[64];

static void remove_files(void)
{
	unlink(path_a);
	unlink(path_b);
}

static int make_file(const char *path, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	char block[4096];
	memset(block, 'a', sizeof block);
	for (size_t done = 0; done < size; done += sizeof block)
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			return -1;
	return fd;
}

static int stat_op(void)
{
	struct stat st;
	return stat(path_a, &st);
}

static int open_op(void)
{
	int fd = open(path_a, O_RDONLY);
	return fd < 0 ? -1 : close(fd);
}

static int src_fd, dst_fd;
static char *copy_buf;
static size_t copy_size;

static int copy_op(void)
{
	ssize_t got = read(src_fd, copy_buf, copy_size);
	if (got == 0) {
		if (lseek(src_fd, 0, SEEK_SET) != 0 || lseek(dst_fd, 0, SEEK_SET) != 0)
			return -1;
		got = read(src_fd, copy_buf, copy_size);
	}
	if (got <= 0)
		return -1;
	return write(dst_fd, copy_buf, (size_t)got) == got ? 0 : -1;
}

static int usage(const char *self)
{
	fprintf(stderr, "usage: %s stat|open N | copy BYTES N\n", self);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage(argv[0]);
	int (*op)(void);
	long n = strtol(argv[argc - 1], NULL, 10);
	snprintf(path_a, sizeof path_a, "/tmp/file_ops.%d.a", (int)getpid());
	snprintf(path_b, sizeof path_b, "/tmp/file_ops.%d.b", (int)getpid());
	atexit(remove_files);
	if (strcmp(argv[1], "copy") == 0 && argc == 4) {
		copy_size = (size_t)strtol(argv[2], NULL, 10);
		copy_buf = malloc(copy_size ? copy_size : 1);
		src_fd = make_file(path_a, SOURCE_SIZE);
		dst_fd = open(path_b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (copy_size == 0 || src_fd < 0 || dst_fd < 0 || lseek(src_fd, 0, SEEK_SET) != 0) {
			perror("file_ops: setting up the copy");
			return 1;
		}
		op = copy_op;
	} else if (argc == 3 && (strcmp(argv[1], "stat") == 0 || strcmp(argv[1], "open") == 0)) {
		int fd = make_file(path_a, 4096);
		if (fd < 0 || close(fd) != 0) {
			perror("file_ops: creating the file");
			return 1;
		}
		op = argv[1][0] == 's' ? stat_op : open_op;
	} else {
		return usage(argv[0]);
	}
	if (n <= 0)
		return usage(argv[0]);
	for (long i = 0; i < 1000; i++)
		if (op() != 0) {
			perror("file_ops: warm-up");
			return 1;
		}
	double start = now_ns();
	for (long i = 0; i < n; i++)
		if (op() != 0) {
			perror("file_ops");
			return 1;
		}
	printf("ns_per_op=%.3f\n", (now_ns() - start) / (double)n);
	return 0;
}
