/*
 * The minimal /proc/self the kernel answers: exe, fd/, maps and status.
 * The program is run as /guest/procfs/self, pid 1 of its container.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>

/* The open descriptors listed by /proc/self/fd, excluding the one the
 * listing itself uses, as "0 1 2 ...". */
static const char *fds(void)
{
    static char out[256];
    int seen[64] = {0};
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return strerror(errno);
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int n = atoi(e->d_name);
        if (n != self && n >= 0 && n < 64)
            seen[n] = 1;
    }
    closedir(d);
    out[0] = 0;
    for (int i = 0; i < 64; i++)
        if (seen[i])
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%d", out[0] ? " " : "", i);
    return out;
}

static char *slurp(const char *p)
{
    static char buf[65536];
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t n = 0;
    long r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    buf[n] = 0;
    close(fd);
    return buf;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    char buf[512];

    memset(buf, 0, sizeof buf);
    long n = readlink("/proc/self/exe", buf, sizeof buf);
    if (n > 0 && strcmp(buf, "/guest/procfs/self") == 0)
        pass("proc_self_exe_is_the_program_path");
    else
        failf("proc_self_exe_is_the_program_path", "readlink gave %ld '%s' (%s)", n, buf,
              errname(errno));
    memset(buf, 0, sizeof buf);
    n = readlink("/proc/1/exe", buf, sizeof buf);
    CHECK("proc_1_is_self", n > 0 && strcmp(buf, "/guest/procfs/self") == 0);
    CHECK("proc_self_is_a_symlink_to_1",
          readlink("/proc/self", buf, sizeof buf) == 1 && buf[0] == '1');

    const char *l = fds();
    if (strcmp(l, "0 1 2") == 0)
        pass("proc_self_fd_lists_0_1_2");
    else
        failf("proc_self_fd_lists_0_1_2", "got [%s]", l);
    int fd = open("/data/words.txt", O_RDONLY);
    l = fds();
    if (strcmp(l, "0 1 2 3") == 0)
        pass("proc_self_fd_shows_new_fd");
    else
        failf("proc_self_fd_shows_new_fd", "got [%s]", l);
    memset(buf, 0, sizeof buf);
    readlink("/proc/self/fd/3", buf, sizeof buf);
    CHECK("proc_self_fd_link_names_the_file", strcmp(buf, "/data/words.txt") == 0);
    int again = open("/proc/self/fd/3", O_RDONLY);
    CHECK("open_through_proc_self_fd", again >= 0 && read(again, buf, 4) == 4 &&
                                           memcmp(buf, "pear", 4) == 0);
    close(again);
    close(fd);
    CHECK_ERR("proc_self_fd_of_closed_fd_is_enoent", readlink("/proc/self/fd/3", buf, sizeof buf),
              ENOENT);

    char *maps = slurp("/proc/self/maps");
    CHECK("proc_self_maps_readable", maps && strlen(maps) > 0);
    if (maps) {
        CHECK("maps_has_program", strstr(maps, " /guest/procfs/self\n") != NULL);
        CHECK("maps_has_stack", strstr(maps, "[stack]\n") != NULL);
        /* main's address lies in an executable mapping of the program. */
        uintptr_t pc = (uintptr_t)&main;
        int found = 0;
        for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
            unsigned long lo, hi;
            char perms[5];
            if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && pc >= lo && pc < hi)
                found = perms[2] == 'x' && strstr(line, "/guest/procfs/self") != NULL;
        }
        CHECK("maps_main_is_in_executable_program_mapping", found);
    }

    char *status = slurp("/proc/self/status");
    CHECK("proc_self_status_readable", status != NULL);
    if (status) {
        CHECK("status_name_is_program", strstr(status, "Name:\tself\n") != NULL);
        CHECK("status_pid_is_1", strstr(status, "\nPid:\t1\n") != NULL);
        CHECK("status_ppid_is_0", strstr(status, "\nPPid:\t0\n") != NULL);
        CHECK("status_uid_is_0", strstr(status, "\nUid:\t0\t0\t0\t0\n") != NULL);
    }
    CHECK_ERR("proc_self_missing_entry_is_enoent", open("/proc/self/no-such-entry", O_RDONLY),
              ENOENT);
    return finish();
}
