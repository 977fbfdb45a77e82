/*
 * The process model: fork, vfork, posix_spawn, execve (its errors, #!
 * scripts, close-on-exec), wait4/waitpid/waitid, pipes between parent and
 * child, and poll/select/epoll on a pipe a child writes to.
 *
 * The program also serves as the program it executes, chosen by argv[1]:
 *   --argv        prints its arguments joined by '|' and exits 0;
 *   --fds A B     exits 0 if descriptor A is closed and B is open;
 * otherwise argv[1] is the scratch directory, as for every guest program.
 * Children never print: they report through exit statuses and pipes.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static const char *self;

/* The status of `pid`, or -1 (with a FAIL line) if it cannot be reaped. */
static int reap(const char *name, pid_t pid)
{
    int status = 0;
    pid_t r = waitpid(pid, &status, 0);
    if (r != pid) {
        failf(name, "waitpid(%d) = %d (errno %s)", (int)pid, (int)r, errname(errno));
        return -1;
    }
    return status;
}

/* Checks that `status` says the child exited with `code`. */
static void check_exited(const char *name, int status, int code)
{
    if (status == -1)
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == code)
        pass(name);
    else if (WIFEXITED(status))
        failf(name, "exited with %d, expected %d", WEXITSTATUS(status), code);
    else if (WIFSIGNALED(status))
        failf(name, "killed by signal %d, expected exit %d", WTERMSIG(status), code);
    else
        failf(name, "status %#x, expected exit %d", status, code);
}

static void check_killed(const char *name, int status, int sig)
{
    if (status == -1)
        return;
    if (WIFSIGNALED(status) && WTERMSIG(status) == sig)
        pass(name);
    else if (WIFSIGNALED(status))
        failf(name, "killed by signal %d, expected %d", WTERMSIG(status), sig);
    else if (WIFEXITED(status))
        failf(name, "exited with %d, expected signal %d", WEXITSTATUS(status), sig);
    else
        failf(name, "status %#x, expected signal %d", status, sig);
}

/* Reads everything from `fd` into buf (NUL-terminated), then closes it. */
static size_t read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == size - 1)
            break;
    }
    buf[n] = 0;
    close(fd);
    return n;
}

static void check_text(const char *name, const char *got, const char *want)
{
    if (strcmp(got, want) == 0)
        pass(name);
    else
        /* One line per check: the texts' final newlines are not shown. */
        failf(name, "got \"%.*s\", expected \"%.*s\"", (int)strcspn(got, "\n"), got,
              (int)strcspn(want, "\n"), want);
}

static void fork_and_exit_status(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    CHECK("fork_returns_child_pid", pid > 0);
    check_exited("fork_child_exit_status", reap("fork_child_exit_status", pid), 7);

    pid = fork();
    if (pid == 0)
        _exit(256 + 3);
    check_exited("fork_exit_status_is_low_byte", reap("fork_exit_status_is_low_byte", pid), 3);
}

static void fork_pids(void)
{
    int p[2];
    if (pipe(p) != 0) {
        failf("fork_pids", "pipe: %s", errname(errno));
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        pid_t ids[2] = {getpid(), getppid()};
        _exit(write(p[1], ids, sizeof ids) == sizeof ids ? 0 : 1);
    }
    close(p[1]);
    pid_t ids[2] = {0, 0};
    ssize_t n = read(p[0], ids, sizeof ids);
    close(p[0]);
    check_exited("fork_pids_child_exit", reap("fork_pids_child_exit", pid), 0);
    CHECK_EQ("fork_pids_read", n, (long)sizeof ids);
    CHECK_EQ("fork_child_getpid_is_fork_result", ids[0], pid);
    CHECK("fork_child_pid_differs_from_parent", ids[0] != parent);
    CHECK_EQ("fork_child_getppid_is_parent", ids[1], parent);
}

static void killed_children(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGKILL);
        _exit(0);
    }
    check_killed("child_raising_sigkill_is_killed", reap("child_raising_sigkill_is_killed", pid),
                 SIGKILL);

    pid = fork();
    if (pid == 0) {
        /* No core file in the rootfs. */
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        abort();
    }
    check_killed("child_calling_abort_gets_sigabrt",
                 reap("child_calling_abort_gets_sigabrt", pid), SIGABRT);

    pid = fork();
    if (pid == 0) {
        *(volatile int *)8 = 1;
        _exit(0);
    }
    check_killed("child_faulting_gets_sigsegv", reap("child_faulting_gets_sigsegv", pid), SIGSEGV);

    pid = fork();
    if (pid == 0) {
        /* Stays blocked until killed: the pipe is never written. */
        int p[2];
        if (pipe(p) == 0)
            read(p[0], p, 1);
        _exit(0);
    }
    CHECK_EQ("kill_sigterm_to_child", kill(pid, SIGTERM), 0);
    check_killed("child_killed_by_parent_gets_sigterm",
                 reap("child_killed_by_parent_gets_sigterm", pid), SIGTERM);
}

static void vfork_cases(void)
{
    pid_t pid = vfork();
    if (pid == 0)
        _exit(3);
    CHECK("vfork_returns_child_pid", pid > 0);
    check_exited("vfork_child_exit", reap("vfork_child_exit", pid), 3);

    int p[2];
    if (pipe(p) != 0) {
        failf("vfork_execve", "pipe: %s", errname(errno));
        return;
    }
    char *args[] = {(char *)self, "--argv", "from vfork", NULL};
    pid = vfork();
    if (pid == 0) {
        dup2(p[1], 1);
        execve(self, args, environ);
        _exit(127);
    }
    close(p[1]);
    char buf[512];
    read_all(p[0], buf, sizeof buf);
    check_exited("vfork_execve_status", reap("vfork_execve_status", pid), 0);
    char want[512];
    snprintf(want, sizeof want, "%s|--argv|from vfork\n", self);
    check_text("vfork_execve_output", buf, want);
}

static void spawn_busybox(void)
{
    int p[2];
    if (pipe(p) != 0) {
        failf("posix_spawn", "pipe: %s", errname(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    char *args[] = {"echo", "spawned", "by posix_spawn", NULL};
    pid_t pid = 0;
    int r = posix_spawn(&pid, "/bin/busybox", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    CHECK_EQ("posix_spawn_returns_0", r, 0);
    char buf[256];
    read_all(p[0], buf, sizeof buf);
    if (r == 0)
        check_exited("posix_spawn_status", reap("posix_spawn_status", pid), 0);
    check_text("posix_spawn_output", buf, "spawned by posix_spawn\n");

    /* posix_spawnp searches PATH. */
    char *fargs[] = {"false", NULL};
    r = posix_spawnp(&pid, "false", NULL, NULL, fargs, environ);
    CHECK_EQ("posix_spawnp_returns_0", r, 0);
    if (r == 0)
        check_exited("posix_spawnp_false_status", reap("posix_spawnp_false_status", pid), 1);
}

/* Runs execve(file, argv, environ) in a child that exits with the errno. */
static void exec_fails(const char *name, const char *file, char **argv, int want)
{
    pid_t pid = fork();
    if (pid == 0) {
        execve(file, argv, environ);
        _exit(errno);
    }
    int status = reap(name, pid);
    if (status == -1)
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == want)
        pass(name);
    else if (WIFEXITED(status))
        failf(name, "execve(%s) failed with %s (or ran and exited %d), expected %s", file,
              errname(WEXITSTATUS(status)), WEXITSTATUS(status), errname(want));
    else
        failf(name, "execve(%s): child status %#x, expected %s", file, status, errname(want));
}

static void exec_errors(void)
{
    char *plain[] = {"x", NULL};
    exec_fails("execve_missing_is_enoent", "/bad/missing", plain, ENOENT);
    exec_fails("execve_mode_644_is_eacces", "/bad/not-executable", plain, EACCES);
    exec_fails("execve_directory_is_eacces", "/bad/directory", plain, EACCES);
    exec_fails("execve_text_without_shebang_is_enoexec", "/bad/text-without-shebang", plain,
               ENOEXEC);
    exec_fails("execve_missing_component_is_enoent", "/bad/missing/x", plain, ENOENT);
    exec_fails("execve_through_a_file_is_enotdir", "/bad/empty/x", plain, ENOTDIR);

    size_t big = 200 * 1024;
    char *huge = malloc(big + 1);
    if (!huge) {
        failf("execve_huge_argument_is_e2big", "malloc");
    } else {
        memset(huge, 'a', big);
        huge[big] = 0;
        char *args[] = {(char *)self, "--argv", huge, NULL};
        exec_fails("execve_huge_argument_is_e2big", self, args, E2BIG);
        free(huge);
    }
    exec_fails("execve_bad_argv_is_efault", self, (char **)BAD_PTR, EFAULT);
    char *bad_elem[] = {(char *)self, BAD_PTR, NULL};
    exec_fails("execve_bad_argv_element_is_efault", self, bad_elem, EFAULT);
    exec_fails("execve_bad_path_is_efault", (const char *)BAD_PTR, plain, EFAULT);

    /* A failed execve leaves the caller running, in this very process. */
    CHECK_ERR("execve_failure_returns_to_caller", execve("/bad/missing", plain, environ), ENOENT);
}

/* Runs `file` with `argv` in a child, its stdout captured into buf. */
static int run_captured(const char *name, const char *file, char **argv, char *buf, size_t size)
{
    int p[2];
    buf[0] = 0;
    if (pipe(p) != 0) {
        failf(name, "pipe: %s", errname(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        execve(file, argv, environ);
        _exit(100 + errno);
    }
    close(p[1]);
    read_all(p[0], buf, size);
    return reap(name, pid);
}

static void shebang_script(void)
{
    const char *script = path("script");
    FILE *f = fopen(script, "w");
    if (!f) {
        failf("shebang_script", "fopen: %s", errname(errno));
        return;
    }
    fprintf(f, "#!%s --argv\nnot read by anyone\n", self);
    fclose(f);
    chmod(script, 0755);

    char buf[1024], want[1024];
    char *args[] = {"name-is-dropped", "a b", "c'd", NULL};
    check_exited("shebang_script_status",
                 run_captured("shebang_script_status", script, args, buf, sizeof buf), 0);
    snprintf(want, sizeof want, "%s|--argv|%s|a b|c'd\n", self, script);
    check_text("shebang_script_argv", buf, want);

    /* The script's path reaches the interpreter as execve was given it. */
    if (chdir(check_scratch) == 0) {
        check_exited("shebang_relative_status",
                     run_captured("shebang_relative_status", "./script", args, buf, sizeof buf),
                     0);
        snprintf(want, sizeof want, "%s|--argv|./script|a b|c'd\n", self);
        check_text("shebang_relative_path_is_passed_as_given", buf, want);
        if (chdir("/") != 0)
            failf("chdir", "%s", errname(errno));
    } else {
        failf("shebang_relative", "chdir: %s", errname(errno));
    }

    /* A script naming a script as interpreter: Linux follows the chain. */
    const char *outer = path("outer");
    f = fopen(outer, "w");
    if (!f) {
        failf("shebang_chain", "fopen: %s", errname(errno));
        return;
    }
    fprintf(f, "#!%s\n", script);
    fclose(f);
    chmod(outer, 0755);
    char *oargs[] = {"outer", "z", NULL};
    check_exited("shebang_chain_status",
                 run_captured("shebang_chain_status", outer, oargs, buf, sizeof buf), 0);
    snprintf(want, sizeof want, "%s|--argv|%s|%s|z\n", self, script, outer);
    check_text("shebang_chain_argv", buf, want);

    /* A #! naming a missing interpreter is ENOENT. */
    const char *broken = path("broken");
    f = fopen(broken, "w");
    if (f) {
        fprintf(f, "#!/no/such/interpreter\n");
        fclose(f);
    }
    chmod(broken, 0755);
    exec_fails("shebang_missing_interpreter_is_enoent", broken, args, ENOENT);

    /* /bin/sh scripts run by busybox. */
    const char *sh = path("sh-script");
    f = fopen(sh, "w");
    if (f) {
        fprintf(f, "#!/bin/sh\necho \"$# args: $1 / $2\"\nexit 5\n");
        fclose(f);
    }
    chmod(sh, 0755);
    char *sargs[] = {"sh-script", "one two", "three", NULL};
    check_exited("shebang_bin_sh_status",
                 run_captured("shebang_bin_sh_status", sh, sargs, buf, sizeof buf), 5);
    check_text("shebang_bin_sh_output", buf, "2 args: one two / three\n");
}

static void close_on_exec(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        failf("pipe2_cloexec", "pipe2: %s", errname(errno));
        return;
    }
    CHECK_EQ("pipe2_cloexec_read_end_flag", fcntl(p[0], F_GETFD), FD_CLOEXEC);
    CHECK_EQ("pipe2_cloexec_write_end_flag", fcntl(p[1], F_GETFD), FD_CLOEXEC);
    int plain = dup(p[0]);
    CHECK_EQ("dup_clears_cloexec", fcntl(plain, F_GETFD), 0);
    int later = dup(p[1]);
    CHECK_EQ("fd_set_cloexec", fcntl(later, F_SETFD, FD_CLOEXEC), 0);

    char a[16], b[16], c[16];
    snprintf(a, sizeof a, "%d", p[1]);
    snprintf(b, sizeof b, "%d", plain);
    snprintf(c, sizeof c, "%d", later);
    char buf[64];
    char *args1[] = {(char *)self, "--fds", a, b, NULL};
    check_exited("cloexec_fd_closed_plain_fd_open_after_exec",
                 run_captured("cloexec_fd_closed_plain_fd_open_after_exec", self, args1, buf,
                              sizeof buf),
                 0);
    char *args2[] = {(char *)self, "--fds", c, b, NULL};
    check_exited("fd_setfd_cloexec_closed_after_exec",
                 run_captured("fd_setfd_cloexec_closed_after_exec", self, args2, buf, sizeof buf),
                 0);
    /* fork alone keeps close-on-exec descriptors open. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(fcntl(p[1], F_GETFD) == FD_CLOEXEC ? 0 : 1);
    check_exited("fork_keeps_cloexec_fds", reap("fork_keeps_cloexec_fds", pid), 0);
    close(p[0]);
    close(p[1]);
    close(plain);
    close(later);
}

static void wait_variants(void)
{
    int go[2];
    if (pipe(go) != 0) {
        failf("wait4_wnohang", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        char c;
        _exit(read(go[0], &c, 1) == 1 ? c : 99);
    }
    close(go[0]);
    int status = 0;
    struct rusage ru;
    CHECK_EQ("wait4_wnohang_running_child_is_0", wait4(pid, &status, WNOHANG, &ru), 0);
    CHECK_EQ("waitpid_wnohang_any_running_is_0", waitpid(-1, &status, WNOHANG), 0);
    if (write(go[1], "\x0b", 1) != 1)
        failf("wait4_wnohang", "write: %s", errname(errno));
    close(go[1]);
    /* Wait for the exit without reaping, so WNOHANG must then find it. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ("waitid_wnowait", waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);
    CHECK_EQ("waitid_wnowait_pid", si.si_pid, pid);
    status = 0;
    CHECK_EQ("wait4_wnohang_exited_child_is_pid", wait4(pid, &status, WNOHANG, &ru), pid);
    CHECK("wait4_status", WIFEXITED(status) && WEXITSTATUS(status) == 11);

    pid = fork();
    if (pid == 0)
        _exit(9);
    memset(&si, 0, sizeof si);
    CHECK_EQ("waitid_p_all", waitid(P_ALL, 0, &si, WEXITED), 0);
    CHECK_EQ("waitid_si_signo", si.si_signo, SIGCHLD);
    CHECK_EQ("waitid_si_pid", si.si_pid, pid);
    CHECK_EQ("waitid_si_status", si.si_status, 9);
    CHECK_EQ("waitid_si_code_cld_exited", si.si_code, CLD_EXITED);
    CHECK_EQ("waitid_si_uid", si.si_uid, getuid());

    pid = fork();
    if (pid == 0) {
        raise(SIGKILL);
        _exit(0);
    }
    memset(&si, 0, sizeof si);
    CHECK_EQ("waitid_p_pid_killed", waitid(P_PID, pid, &si, WEXITED), 0);
    CHECK_EQ("waitid_killed_si_code_cld_killed", si.si_code, CLD_KILLED);
    CHECK_EQ("waitid_killed_si_status_is_signal", si.si_status, SIGKILL);

    /* waitpid for a pid that is not a child. */
    CHECK_ERR("waitpid_not_a_child_is_echild", waitpid(pid, &status, 0), ECHILD);
    CHECK_ERR("waitpid_no_children_is_echild", waitpid(-1, &status, 0), ECHILD);
    CHECK_ERR("waitpid_wnohang_no_children_is_echild", waitpid(-1, &status, WNOHANG), ECHILD);
    CHECK_ERR("wait_no_children_is_echild", wait(&status), ECHILD);
    memset(&si, 0, sizeof si);
    CHECK_ERR("waitid_no_children_is_echild", waitid(P_ALL, 0, &si, WEXITED), ECHILD);
    CHECK_ERR("waitid_without_flags_is_einval", waitid(P_ALL, 0, &si, 0), EINVAL);

    /* Several children, all reaped by wait(), each status accounted for. */
    int seen = 0;
    for (int i = 1; i <= 3; i++) {
        pid_t c = fork();
        if (c == 0)
            _exit(20 + i);
    }
    for (int i = 0; i < 3; i++) {
        if (wait(&status) > 0 && WIFEXITED(status))
            seen |= 1 << (WEXITSTATUS(status) - 20);
    }
    CHECK_EQ("wait_reaps_three_children", seen, 0xe);
    CHECK_ERR("wait_after_all_reaped_is_echild", wait(&status), ECHILD);
}

static void pipe_both_ways(void)
{
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) {
        failf("pipe_both_ways", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        char in[64];
        size_t n = read_all(down[0], in, sizeof in);
        char out[128];
        int len = snprintf(out, sizeof out, "pong:%s:%zu", in, n);
        _exit(write(up[1], out, len) == len ? 0 : 1);
    }
    close(down[0]);
    close(up[1]);
    CHECK_EQ("pipe_parent_writes", write(down[1], "ping", 4), 4);
    close(down[1]);
    char buf[128];
    read_all(up[0], buf, sizeof buf);
    check_text("pipe_child_answers", buf, "pong:ping:4");
    check_exited("pipe_child_status", reap("pipe_child_status", pid), 0);

    /* Writing to a pipe whose reader is gone: EPIPE (SIGPIPE ignored). */
    int p[2];
    if (pipe(p) == 0) {
        signal(SIGPIPE, SIG_IGN);
        close(p[0]);
        CHECK_ERR("pipe_without_reader_is_epipe", write(p[1], "x", 1), EPIPE);
        close(p[1]);
        signal(SIGPIPE, SIG_DFL);
    }
    /* A child writing to a pipe without reader dies of SIGPIPE. */
    if (pipe(p) == 0) {
        close(p[0]);
        pid = fork();
        if (pid == 0) {
            write(p[1], "x", 1);
            _exit(0);
        }
        close(p[1]);
        check_killed("child_writing_to_closed_pipe_gets_sigpipe",
                     reap("child_writing_to_closed_pipe_gets_sigpipe", pid), SIGPIPE);
    }
}

enum waiter { BY_POLL, BY_SELECT, BY_EPOLL };

/* 1 if `fd` is readable, 0 if not; `block` waits without a timeout. */
static int readable(enum waiter how, int fd, int block, const char *name)
{
    if (how == BY_POLL) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, block ? -1 : 0);
        if (r < 0)
            failf(name, "poll: %s", errname(errno));
        return r == 1 && (pfd.revents & POLLIN);
    }
    if (how == BY_SELECT) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        struct timeval zero = {0, 0};
        int r = select(fd + 1, &set, NULL, NULL, block ? NULL : &zero);
        if (r < 0)
            failf(name, "select: %s", errname(errno));
        return r == 1 && FD_ISSET(fd, &set);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        failf(name, "epoll setup: %s", errname(errno));
        if (ep >= 0)
            close(ep);
        return -1;
    }
    struct epoll_event got;
    memset(&got, 0, sizeof got);
    int r = epoll_wait(ep, &got, 1, block ? -1 : 0);
    close(ep);
    if (r < 0)
        failf(name, "epoll_wait: %s", errname(errno));
    return r == 1 && (got.events & EPOLLIN) && got.data.u64 == 0x1234;
}

static void wait_for_child_write(enum waiter how, const char *name)
{
    int go[2], data[2];
    if (pipe(go) != 0 || pipe(data) != 0) {
        failf(name, "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        close(data[0]);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(write(data[1], "r", 1) == 1 ? 0 : 1);
    }
    close(go[0]);
    close(data[1]);
    char n1[96], n2[96];
    snprintf(n1, sizeof n1, "%s_not_readable_before_child_writes", name);
    snprintf(n2, sizeof n2, "%s_readable_after_child_writes", name);
    CHECK_EQ(n1, readable(how, data[0], 0, n1), 0);
    if (write(go[1], "g", 1) != 1)
        failf(name, "write: %s", errname(errno));
    CHECK_EQ(n2, readable(how, data[0], 1, n2), 1);
    char c = 0;
    CHECK("read_after_wait", read(data[0], &c, 1) == 1 && c == 'r');
    check_exited("waited_child_status", reap(name, pid), 0);
    close(go[1]);
    close(data[0]);
}

static int fds_mode(int argc, char **argv)
{
    if (argc < 4)
        return 3;
    int closed = atoi(argv[2]), open = atoi(argv[3]);
    int bad = fcntl(closed, F_GETFD) == -1 && errno == EBADF;
    int good = fcntl(open, F_GETFD) >= 0;
    return bad && good ? 0 : bad ? 1 : 2;
}

/* clone3 directly: a fork-like child and the argument errors. */
static void clone3_cases(void)
{
    unsigned long long args[11] = {0};
    args[4] = SIGCHLD; /* exit_signal */
    long child = syscall(SYS_clone3, args, 88);
    if (child == 0)
        _exit(9);
    int status = 0;
    CHECK("clone3_forks_a_child",
          child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 9);
    CHECK_ERR("clone3_small_size_is_einval", syscall(SYS_clone3, args, 32), EINVAL);
    CHECK_ERR("clone3_bad_args_is_efault", syscall(SYS_clone3, BAD_PTR, 88), EFAULT);
    unsigned long long bigger[12] = {0};
    bigger[4] = SIGCHLD;
    bigger[11] = 1;
    CHECK_ERR("clone3_unknown_fields_set_is_e2big", syscall(SYS_clone3, bigger, sizeof bigger), E2BIG);
    args[6] = 4096; /* a stack size without a stack */
    CHECK_ERR("clone3_stack_size_without_stack_is_einval", syscall(SYS_clone3, args, 88), EINVAL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--argv") == 0) {
        for (int i = 0; i < argc; i++)
            printf("%s%s", i ? "|" : "", argv[i]);
        printf("\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--fds") == 0)
        return fds_mode(argc, argv);

    begin(argc, argv);
    self = argv[0];
    fork_and_exit_status();
    fork_pids();
    killed_children();
    vfork_cases();
    spawn_busybox();
    exec_errors();
    shebang_script();
    close_on_exec();
    wait_variants();
    pipe_both_ways();
    wait_for_child_write(BY_POLL, "poll");
    wait_for_child_write(BY_SELECT, "select");
    wait_for_child_write(BY_EPOLL, "epoll");
    clone3_cases();
    return finish();
}
