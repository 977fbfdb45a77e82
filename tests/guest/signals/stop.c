/*
 * Stop and continue, as job control needs them: SIGSTOP, and SIGTSTP and
 * SIGTTIN with their default action, stop a child; waitpid reports it with
 * WUNTRACED (WIFSTOPPED, WSTOPSIG) and waitid with WSTOPPED; SIGCONT
 * resumes it (WCONTINUED, WIFCONTINUED) and runs its SIGCONT handler; the
 * parent's SIGCHLD says CLD_STOPPED and CLD_CONTINUED; a sleep stopped and
 * continued ends normally. Also: getppid
 * names the new parent (pid 1) once the old one has died.
 */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static int cont_pipe[2];

static void on_cont(int sig)
{
    (void)sig;
    write(cont_pipe[1], "c", 1);
}

/* A child in a process group of its own (a job, so SIGTSTP and SIGTTIN
 * stop it: its group is not orphaned), waiting for signals. */
static pid_t start_job(void)
{
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        setpgid(0, 0);
        signal(SIGCONT, on_cont);
        write(ready[1], "r", 1);
        for (;;)
            pause();
    }
    setpgid(child, child);
    char c;
    read(ready[0], &c, 1);
    close(ready[0]);
    close(ready[1]);
    return child;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    pipe(cont_pipe);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);

    pid_t job = start_job();
    int status = 0;
    kill(job, SIGSTOP);
    CHECK("waitpid_wuntraced_reports_the_stop",
          waitpid(job, &status, WUNTRACED) == job && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP);
    siginfo_t si;
    CHECK("sigchld_says_cld_stopped",
          sigwaitinfo(&chld, &si) == SIGCHLD && si.si_code == CLD_STOPPED && si.si_pid == job &&
              si.si_status == SIGSTOP);
    CHECK_EQ("a_stop_is_reported_once", waitpid(job, &status, WUNTRACED | WNOHANG), 0);

    kill(job, SIGCONT);
    CHECK("waitpid_wcontinued_reports_the_continue",
          waitpid(job, &status, WCONTINUED) == job && WIFCONTINUED(status));
    CHECK("sigchld_says_cld_continued",
          sigwaitinfo(&chld, &si) == SIGCHLD && si.si_code == CLD_CONTINUED && si.si_pid == job);
    char c = 0;
    CHECK("sigcont_runs_the_handler", read(cont_pipe[0], &c, 1) == 1 && c == 'c');

    kill(job, SIGTSTP);
    CHECK("default_sigtstp_stops",
          waitpid(job, &status, WUNTRACED) == job && WIFSTOPPED(status) && WSTOPSIG(status) == SIGTSTP);
    kill(job, SIGCONT);
    read(cont_pipe[0], &c, 1);
    kill(job, SIGTTIN);
    memset(&si, 0, sizeof si);
    CHECK("waitid_wstopped_reports_sigttin",
          waitid(P_PID, job, &si, WSTOPPED) == 0 && si.si_code == CLD_STOPPED && si.si_status == SIGTTIN);
    kill(job, SIGKILL);
    CHECK("a_stopped_job_dies_of_sigkill",
          waitpid(job, &status, 0) == job && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* A sleep stopped and continued carries on (the host resumes it with
     * restart_syscall) and ends as it would have. */
    int sleeping[2];
    pipe(sleeping);
    pid_t sleeper = fork();
    if (sleeper == 0) {
        struct timespec t = {.tv_nsec = 300000000};
        write(sleeping[1], "s", 1);
        _exit(nanosleep(&t, NULL) == 0 ? 0 : 1);
    }
    read(sleeping[0], &c, 1);
    usleep(50000);
    kill(sleeper, SIGSTOP);
    waitpid(sleeper, &status, WUNTRACED);
    kill(sleeper, SIGCONT);
    CHECK("a_stopped_and_continued_sleep_ends_normally",
          waitpid(sleeper, &status, 0) == sleeper && WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Reparenting: the middle process exits; its child then has pid 1 as
     * its parent (this program: pid 1 of the container). */
    int report[2];
    pipe(report);
    pid_t middle = fork();
    if (middle == 0) {
        if (fork() == 0) {
            pid_t before = getppid();
            close(report[0]);
            write(report[1], "x", 1);
            pid_t now = before;
            for (int i = 0; i < 5000 && now == before; i++) {
                usleep(1000);
                now = getppid();
            }
            _exit(now == 1 ? 0 : 1);
        }
        read(report[0], &c, 1);
        _exit(0);
    }
    close(report[1]);
    waitpid(middle, &status, 0);
    pid_t orphan = wait(&status);
    CHECK("getppid_names_pid_1_after_reparenting",
          orphan > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);

    return finish();
}
