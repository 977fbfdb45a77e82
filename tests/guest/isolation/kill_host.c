/*
 * Signals must stay inside the container: a host process (pid argv[2],
 * started by the test) can neither be probed nor signalled from the guest.
 * Prints what kill answered; the test checks the process survived.
 */
#include "check.h"

#include <signal.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 3)
        return 2;
    long pid = atol(argv[2]);
    CHECK_ERR("kill_0_of_a_host_pid_is_esrch", syscall(SYS_kill, pid, 0), ESRCH);
    CHECK_ERR("sigterm_to_a_host_pid_is_esrch", syscall(SYS_kill, pid, SIGTERM), ESRCH);
    CHECK_ERR("sigkill_to_a_host_pid_is_esrch", syscall(SYS_kill, pid, SIGKILL), ESRCH);
    CHECK_ERR("sigkill_to_a_host_process_group_is_esrch", syscall(SYS_kill, -pid, SIGKILL),
              ESRCH);
    return finish();
}
