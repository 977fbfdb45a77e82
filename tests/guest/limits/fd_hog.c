/*
 * A descriptor hog: opens descriptors until the kernel refuses one, holds
 * them all while the test starts another container and opens files on the
 * host, then checks that the refusals are EMFILE for every kind of new
 * descriptor and that a freed slot can be used again.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct rlimit nofile;
    CHECK_EQ("getrlimit_nofile", getrlimit(RLIMIT_NOFILE, &nofile), 0);
    int held = 0, last = -1, fd;
    while ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        last = fd;
        held++;
    }
    int refusal = errno;
    CHECK("open_stops_with_emfile", refusal == EMFILE);
    CHECK("many_descriptors_held", held >= 64);
    CHECK("descriptors_stay_below_the_soft_limit", (rlim_t)last < nofile.rlim_cur);
    int pair[2];
    CHECK_ERR("pipe_when_full", pipe(pair), EMFILE);
    CHECK_ERR("socketpair_when_full", socketpair(AF_UNIX, SOCK_STREAM, 0, pair), EMFILE);
    CHECK_ERR("eventfd_when_full", eventfd(0, 0), EMFILE);
    CHECK_ERR("dup_when_full", dup(0), EMFILE);

    printf("holding %d descriptors\n", held);
    fflush(stdout);
    struct timespec hold = {.tv_sec = 3};
    nanosleep(&hold, NULL);

    CHECK_EQ("close_one", close(last), 0);
    int again = open("/", O_RDONLY | O_DIRECTORY);
    CHECK("a_freed_slot_is_used_again", again == last);
    CHECK_ERR("then_full_again", open("/", O_RDONLY), EMFILE);
    for (int d = 3; d <= last; d++)
        close(d);
    CHECK("all_closed_pipe_works", pipe(pair) == 0);
    return finish();
}
