/*
 * Stand-in for the oxbox kernel image, for the sandbox's end-to-end tests.
 *
 * oxbox execs it exactly as it execs the real kernel:
 *   argv = [ "oxbox-kernel", <boot record>, CMD, CMD, ARGS... ], envp = guest env
 *   (the program, then the guest's own argv), with the image itself open
 *   at descriptor 1022.
 * Instead of loading CMD it acts on it:
 *   report          print what the container looks like, one key=value a line
 *   exit N          exit with status N
 *   segv            die of SIGSEGV
 *   wait-signal     print "ready", then exit 100+N on signal N
 *   touch PATH...   try to create each file; print PATH=ok or PATH=<errno>
 *   log MSG         write MSG to the log descriptor (1023)
 *   stat PATH...    print PATH=present or PATH=absent for each
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_FD 1023

struct cap_header { unsigned version; int pid; };
struct cap_data { unsigned effective, permitted, inheritable; };

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void report(int argc, char **argv, char **envp) {
    char buf[4096];
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (int i = 0; envp[i]; i++) printf("env[%d]=%s\n", i, envp[i]);
    printf("pid=%d\n", getpid());
    printf("uid=%d gid=%d\n", getuid(), getgid());
    gethostname(buf, sizeof buf);
    printf("hostname=%s\n", buf);
    printf("cwd=%s\n", getcwd(buf, sizeof buf) ? buf : "?");
    printf("proc_self=%s\n", access("/proc/self", F_OK) == 0 ? "present" : "absent");
    printf("sys_kernel=%s\n", access("/sys/kernel", F_OK) == 0 ? "present" : "absent");

    struct cap_header h = { 0x20080522, 0 };
    struct cap_data d[2] = { 0 };
    if (syscall(SYS_capget, &h, d) == 0)
        printf("cap_eff=%x%08x cap_prm=%x%08x cap_inh=%x%08x\n", d[1].effective, d[0].effective,
               d[1].permitted, d[0].permitted, d[1].inheritable, d[0].inheritable);
    int bounding = 0, ambient = 0;
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bounding++;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) ambient++;
    }
    printf("cap_bnd_count=%d cap_amb_count=%d\n", bounding, ambient);
    printf("no_new_privs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    struct sigaction pipe_action;
    sigaction(SIGPIPE, NULL, &pipe_action);
    printf("sigpipe=%s\n", pipe_action.sa_handler == SIG_IGN ? "ignored" : "default");
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    printf("sigmask_empty=%d\n", sigisemptyset(&blocked));

    printf("fd_1023=%s\n", fcntl(LOG_FD, F_GETFD) >= 0 ? "open" : "closed");
    printf("fds=");
    for (int fd = 0, first = 1; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0) { printf(first ? "%d" : ",%d", fd); first = 0; }
    printf("\n");

    struct if_nameindex *ifs = if_nameindex();
    printf("ifaces=");
    for (int i = 0; ifs && ifs[i].if_index; i++) printf(i ? ",%s" : "%s", ifs[i].if_name);
    printf("\n");
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq req = { 0 };
    strcpy(req.ifr_name, "lo");
    int up = sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP);
    printf("lo_up=%d\n", up);

    DIR *dev = opendir("/dev");
    char *names[64];
    int n = 0;
    for (struct dirent *e; dev && (e = readdir(dev)) && n < 64;)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    qsort(names, n, sizeof *names, cmp);
    printf("dev=");
    for (int i = 0; i < n; i++) printf(i ? ",%s" : "%s", names[i]);
    printf("\n");
    int null = open("/dev/null", O_WRONLY);
    printf("dev_null_writable=%d\n", null >= 0 && write(null, "x", 1) == 1);
    char z = 1;
    int zero = open("/dev/zero", O_RDONLY);
    printf("dev_zero_reads_zero=%d\n", zero >= 0 && read(zero, &z, 1) == 1 && z == 0);
}

static void on_signal(int sig) { _exit(100 + sig); }

int main(int argc, char **argv, char **envp) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argc > 2 ? argv[2] : "report";
    if (!strcmp(cmd, "exit")) return argc > 4 ? atoi(argv[4]) : 0;
    if (!strcmp(cmd, "segv")) { *(volatile int *)0 = 1; return 1; }
    if (!strcmp(cmd, "wait-signal")) {
        int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
        for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], on_signal);
        printf("ready\n");
        for (;;) pause();
    }
    if (!strcmp(cmd, "touch")) {
        for (int i = 4; i < argc; i++) {
            int fd = open(argv[i], O_WRONLY | O_CREAT, 0644);
            printf("%s=%s\n", argv[i], fd >= 0 ? "ok" : strerrorname_np(errno));
        }
        return 0;
    }
    if (!strcmp(cmd, "stat")) {
        for (int i = 4; i < argc; i++)
            printf("%s=%s\n", argv[i], access(argv[i], F_OK) == 0 ? "present" : "absent");
        return 0;
    }
    if (!strcmp(cmd, "log")) {
        dprintf(LOG_FD, "%s\n", argc > 4 ? argv[4] : "");
        return 0;
    }
    report(argc, argv, envp);
    return 0;
}
