/*
 * Resource limits through getrlimit/setrlimit (glibc issues prlimit64) and
 * prlimit64 itself, and sysinfo. Values depend on the host and the
 * container's configuration, so only their consistency is checked.
 */
#include "check.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>

/* An address-space limit as a shell's `ulimit -v` sets it, in a child:
 * it reads back as set, lets ordinary mappings and programs run, and
 * refuses a mapping beyond it. */
static void address_space_limit(void)
{
    const unsigned long limit = 2UL << 30;
    pid_t child = fork();
    if (child == 0) {
        struct rlimit as = {.rlim_cur = limit, .rlim_max = RLIM_INFINITY}, back;
        CHECK_EQ("setrlimit_as_2g", setrlimit(RLIMIT_AS, &as), 0);
        CHECK_EQ("getrlimit_as_after_set", getrlimit(RLIMIT_AS, &back), 0);
        CHECK("as_limit_reads_back", back.rlim_cur == limit && back.rlim_max == RLIM_INFINITY);
        void *small = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK("mmap_within_as_limit_works", small != MAP_FAILED);
        CHECK("mmap_beyond_as_limit_is_enomem",
              mmap(NULL, 4UL << 30, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
                  errno == ENOMEM);
        fflush(stdout);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            execl("/bin/busybox", "true", (char *)NULL);
            _exit(127);
        }
        int status = -1;
        waitpid(grandchild, &status, 0);
        CHECK("program_runs_under_as_limit", WIFEXITED(status) && WEXITSTATUS(status) == 0);
        _exit(finish());
    }
    int status = -1;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        check_failures++;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct rlimit rl, back;

    CHECK_EQ("getrlimit_nofile", getrlimit(RLIMIT_NOFILE, &rl), 0);
    CHECK("nofile_soft_at_most_hard", rl.rlim_cur <= rl.rlim_max);
    CHECK("nofile_soft_at_least_64", rl.rlim_cur >= 64);
    CHECK_EQ("getrlimit_stack", getrlimit(RLIMIT_STACK, &back), 0);
    CHECK("stack_soft_at_least_128k", back.rlim_cur >= 128 * 1024);
    CHECK_EQ("getrlimit_as", getrlimit(RLIMIT_AS, &back), 0);
    CHECK_EQ("getrlimit_core", getrlimit(RLIMIT_CORE, &back), 0);
    CHECK_EQ("getrlimit_nproc", getrlimit(RLIMIT_NPROC, &back), 0);

    struct rlimit lower = {.rlim_cur = 100, .rlim_max = rl.rlim_max};
    CHECK_EQ("setrlimit_lower_soft_nofile", setrlimit(RLIMIT_NOFILE, &lower), 0);
    CHECK_EQ("getrlimit_after_set", getrlimit(RLIMIT_NOFILE, &back), 0);
    CHECK("set_soft_limit_reads_back", back.rlim_cur == 100 && back.rlim_max == rl.rlim_max);
    CHECK_ERR("dup2_above_new_soft_limit_is_ebadf", dup2(1, 150), EBADF);
    struct rlimit inverted = {.rlim_cur = 10, .rlim_max = 5};
    CHECK_ERR("setrlimit_soft_above_hard_is_einval", setrlimit(RLIMIT_NOFILE, &inverted), EINVAL);

    struct rlimit old, set = {.rlim_cur = 200, .rlim_max = rl.rlim_max};
    CHECK_EQ("prlimit64_set_and_get_old", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &set, &old), 0);
    CHECK("prlimit64_returns_previous", old.rlim_cur == 100);
    CHECK_EQ("prlimit64_pid_1_is_self", syscall(SYS_prlimit64, 1, RLIMIT_NOFILE, NULL, &old), 0);
    CHECK("prlimit64_pid_1_sees_new_value", old.rlim_cur == 200);
    CHECK_ERR("prlimit64_bad_resource_is_einval",
              syscall(SYS_prlimit64, 0, 1000, NULL, &old), EINVAL);
    CHECK_ERR("prlimit64_unknown_pid_is_esrch",
              syscall(SYS_prlimit64, 4000000, RLIMIT_NOFILE, NULL, &old), ESRCH);
    CHECK_ERR("getrlimit_bad_resource_is_einval", getrlimit(1000, &old), EINVAL);

    struct sysinfo si;
    CHECK_EQ("sysinfo_returns_0", sysinfo(&si), 0);
    CHECK("sysinfo_totalram_positive", si.totalram > 0 && si.mem_unit >= 1);
    CHECK("sysinfo_freeram_at_most_total", si.freeram <= si.totalram);
    CHECK("sysinfo_procs_at_least_1", si.procs >= 1);
    CHECK("sysinfo_uptime_nonnegative", si.uptime >= 0);
    address_space_limit();
    return finish();
}
