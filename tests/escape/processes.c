/*
 * Host processes: argv: scratch directory, the pid of a host process (a
 * `sleep` the test started, in its own process group), and the two halves
 * of the word its command line holds (split, so that this program's own
 * command line does not hold it). The guest must neither see it in /proc nor signal it,
 * by pid, by group, or with kill(-1); the test checks it is still alive
 * and not stopped.
 */
#include "escape.h"

#include <dirent.h>
#include <fcntl.h>

static long host_pid;
static char host_word[256];

/* Every /proc/<pid>/cmdline the guest can read: does one name the host
 * process? */
static void proc_scan(void)
{
    DIR *d = opendir("/proc");
    int seen = 0, found = 0;
    char p[300], cmd[4096], where[300] = "";
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        seen++;
        snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
        int fd = open(p, O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, cmd, sizeof cmd - 1);
        if (fd >= 0)
            close(fd);
        for (ssize_t i = 0; i < n; i++)
            if (cmd[i] == 0)
                cmd[i] = ' ';
        if (n > 0 && (cmd[n] = 0, strstr(cmd, host_word)) != NULL) {
            found = 1;
            snprintf(where, sizeof where, "/proc/%s", e->d_name);
        }
        if (atol(e->d_name) == host_pid) {
            found = 1;
            snprintf(where, sizeof where, "/proc/%ld listed", host_pid);
        }
    }
    if (d)
        closedir(d);
    probe("proc:scan", found, "%s", found ? where : seen ? "only container pids" : "empty");
}

static long kill_all(void *arg)
{
    return raw6(SYS_kill, -1, (long)arg, 0, 0, 0, 0);
}

static long stop_from_kernel_text(void *gadget)
{
    return via_kernel((uintptr_t)gadget, SYS_kill, host_pid, SIGSTOP, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 5)
        return 2;
    host_pid = atol(argv[2]);
    snprintf(host_word, sizeof host_word, "%s%s", argv[3], argv[4]);
    proc_scan();
    long r = raw6(SYS_kill, host_pid, 0, 0, 0, 0, 0);
    probe("signal:probe-host-pid", r == 0, "%s", outcome(r));
    r = raw6(SYS_kill, host_pid, SIGSTOP, 0, 0, 0, 0);
    probe("signal:host-pid", r == 0, "%s", outcome(r));
    r = raw6(SYS_kill, -host_pid, SIGSTOP, 0, 0, 0, 0);
    probe("signal:host-group", r == 0, "%s", outcome(r));
    r = raw6(SYS_tgkill, host_pid, host_pid, SIGSTOP, 0, 0, 0);
    probe("signal:tgkill-host-pid", r == 0, "%s", outcome(r));
    /* kill(-1) reaches every process the sender may signal but itself and
     * pid 1: from a child, so that pid 1 (this program) stays out of it.
     * Whether it reached the host is for the test to say. */
    int status;
    in_child(kill_all, (void *)(long)SIGSTOP, &status);
    printf("attempt signal:kill-1 %s\n", child_end(status));
    long ptr = raw6(SYS_ptrace, 16 /* PTRACE_ATTACH */, host_pid, 0, 0, 0, 0);
    probe("ptrace:attach-host-pid", ptr == 0, "%s", outcome(ptr));
    uintptr_t gadget = kernel_syscall_gadget();
    if (gadget) {
        /* A success returns 0, where the kernel's stub does not return:
         * from a child, whose end tells. */
        in_child(stop_from_kernel_text, (void *)gadget, &status);
        probe("signal:host-pid-from-kernel-text",
              !WIFEXITED(status) || WEXITSTATUS(status) != ESRCH, "%s", child_end(status));
    }
    return escape_finish();
}
