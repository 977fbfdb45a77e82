/*
 * posix_spawn reports its child's failure to start as its own result.
 *
 * glibc's posix_spawn clones with CLONE_VM|CLONE_VFORK: the child runs on
 * a stack of its own in the parent's memory and, when a file action or
 * the execve fails, writes the errno into the parent's memory before it
 * exits, so posix_spawn returns that errno (and reaps the child) instead
 * of a pid whose process exits 127.
 */
#include "check.h"
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[2], "child") == 0)
        return 7;
    begin(argc, argv);
    pid_t pid = 0;
    char *missing[] = {"/nonexistent/program", NULL};
    CHECK_EQ("posix_spawn_of_a_missing_program_returns_enoent",
             posix_spawn(&pid, missing[0], NULL, NULL, missing, environ), ENOENT);
    char *dir[] = {"/", NULL};
    CHECK_EQ("posix_spawn_of_a_directory_returns_eacces",
             posix_spawn(&pid, dir[0], NULL, NULL, dir, environ), EACCES);
    char *unknown[] = {"no-such-program-anywhere", NULL};
    CHECK_EQ("posix_spawnp_of_a_name_not_in_path_returns_enoent",
             posix_spawnp(&pid, unknown[0], NULL, NULL, unknown, environ), ENOENT);

    char *self[] = {argv[0], (char *)check_scratch, "child", NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 5, "/nonexistent/file", O_RDONLY, 0);
    CHECK_EQ("a_file_action_that_fails_is_reported",
             posix_spawn(&pid, "/proc/self/exe", &actions, NULL, self, environ), ENOENT);
    posix_spawn_file_actions_destroy(&actions);
    CHECK_ERR("the_failed_children_are_reaped", waitpid(-1, NULL, WNOHANG), ECHILD);

    CHECK_EQ("a_program_that_exists_is_spawned",
             posix_spawn(&pid, "/proc/self/exe", NULL, NULL, self, environ), 0);
    int status = 0;
    CHECK("it_is_waited_for", waitpid(pid, &status, 0) == pid);
    CHECK("it_exits_with_its_own_status", WIFEXITED(status) && WEXITSTATUS(status) == 7);
    return finish();
}
