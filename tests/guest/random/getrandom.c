/*
 * Randomness: getrandom (with its flags and errors) and the /dev/urandom
 * and /dev/random devices. "Random" is checked as "not all zeros and not
 * twice the same 32 bytes", which real randomness fails with probability
 * 2^-256.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/random.h>

static int all_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    unsigned char a[32] = {0}, b[32] = {0}, big[4096];

    CHECK_EQ("getrandom_fills_buffer", getrandom(a, sizeof a, 0), 32);
    CHECK_EQ("getrandom_again", getrandom(b, sizeof b, 0), 32);
    CHECK("getrandom_not_zero", !all_zero(a, sizeof a));
    CHECK("getrandom_differs_each_call", memcmp(a, b, sizeof a) != 0);
    CHECK_EQ("getrandom_nonblock", getrandom(a, sizeof a, GRND_NONBLOCK), 32);
    CHECK_EQ("getrandom_grnd_random", getrandom(a, 16, GRND_RANDOM | GRND_NONBLOCK), 16);
    CHECK_EQ("getrandom_4096", getrandom(big, sizeof big, 0), 4096);
    CHECK("getrandom_4096_tail_not_zero", !all_zero(big + 4064, 32));
    CHECK_EQ("getrandom_zero_length", getrandom(a, 0, 0), 0);
    CHECK_ERR("getrandom_bad_flags_is_einval", getrandom(a, 8, 0x100), EINVAL);

    int fd = open("/dev/urandom", O_RDONLY);
    CHECK("open_dev_urandom", fd >= 0);
    memset(a, 0, sizeof a);
    CHECK_EQ("read_dev_urandom", read(fd, a, sizeof a), 32);
    CHECK_EQ("read_dev_urandom_again", read(fd, b, sizeof b), 32);
    CHECK("dev_urandom_not_zero", !all_zero(a, sizeof a));
    CHECK("dev_urandom_differs", memcmp(a, b, sizeof a) != 0);
    CHECK_ERR("write_read_only_dev_urandom_is_ebadf", write(fd, "x", 1), EBADF);
    close(fd);
    fd = open("/dev/urandom", O_WRONLY);
    CHECK_EQ("write_dev_urandom_opened_for_writing", write(fd, "seed", 4), 4);
    close(fd);
    fd = open("/dev/random", O_RDONLY);
    CHECK("open_dev_random", fd >= 0);
    CHECK_EQ("read_dev_random", read(fd, a, sizeof a), 32);
    close(fd);
    return finish();
}
