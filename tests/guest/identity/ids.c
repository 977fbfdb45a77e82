/*
 * Who am I: the container's view. The program is pid 1 of its container
 * with no parent (ppid 0), runs as uid/gid 0, is its own only thread
 * (gettid == getpid), and uname reports Linux on x86_64 with the container's
 * hostname (argv[2]). The native baseline runs in fresh pid and UTS
 * namespaces, where the host kernel gives exactly the same answers.
 */
#include "check.h"

#include <sys/utsname.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    const char *hostname = argc > 2 ? argv[2] : "";

    CHECK_EQ("getpid_is_1", getpid(), 1);
    CHECK_EQ("getpid_syscall_is_1", syscall(SYS_getpid), 1);
    CHECK_EQ("getppid_is_0", getppid(), 0);
    CHECK_EQ("gettid_equals_pid", syscall(SYS_gettid), 1);
    CHECK_EQ("getuid_is_0", getuid(), 0);
    CHECK_EQ("geteuid_is_0", geteuid(), 0);
    CHECK_EQ("getgid_is_0", getgid(), 0);
    CHECK_EQ("getegid_is_0", getegid(), 0);

    struct utsname u;
    CHECK_EQ("uname_returns_0", uname(&u), 0);
    CHECK("uname_sysname_linux", strcmp(u.sysname, "Linux") == 0);
    CHECK("uname_machine_x86_64", strcmp(u.machine, "x86_64") == 0);
    if (strcmp(u.nodename, hostname) == 0)
        pass("uname_nodename_is_container_hostname");
    else
        failf("uname_nodename_is_container_hostname", "got '%s', expected '%s'", u.nodename,
              hostname);
    CHECK("uname_release_looks_like_a_version",
          u.release[0] >= '3' && u.release[0] <= '9' && strchr(u.release, '.'));
    char h[256] = {0};
    CHECK("gethostname_is_container_hostname",
          gethostname(h, sizeof h) == 0 && strcmp(h, hostname) == 0);
    CHECK_ERR("gethostname_short_buffer_is_enametoolong", gethostname(h, 2), ENAMETOOLONG);
    printf("nodename %s\n", u.nodename);

    const char *env_host = getenv("HOSTNAME");
    CHECK("env_hostname_matches", env_host && strcmp(env_host, hostname) == 0);
    const char *home = getenv("HOME");
    CHECK("env_home_is_root", home && strcmp(home, "/root") == 0);
    const char *p = getenv("PATH");
    CHECK("env_path_is_standard",
          p && strcmp(p, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") == 0);
    return finish();
}
