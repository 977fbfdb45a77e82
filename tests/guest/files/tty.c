/*
 * Terminal ioctls on a real terminal: the program runs with a fresh
 * pseudo-terminal as stdin/stdout (util-linux `script` provides it, natively
 * and around oxbox alike). Reads and round-trips settings; sizes and modes
 * set here die with the terminal.
 */
#include "check.h"

#include <sys/ioctl.h>
#include <termios.h>

int main(int argc, char **argv)
{
    begin(argc, argv);
    struct termios t, back;
    struct winsize ws, ws2;

    CHECK_EQ("stdin_is_a_tty", isatty(0), 1);
    CHECK_EQ("stdout_is_a_tty", isatty(1), 1);
    CHECK_EQ("tcgets_stdin", ioctl(0, TCGETS, &t), 0);
    CHECK_EQ("tcgets_stdout", ioctl(1, TCGETS, &back), 0);
    CHECK("both_ends_share_settings", t.c_lflag == back.c_lflag);
    CHECK("terminal_starts_canonical_with_echo", (t.c_lflag & (ICANON | ECHO)) == (ICANON | ECHO));

    back = t;
    back.c_lflag &= ~ECHO;
    CHECK_EQ("tcsets_echo_off", ioctl(0, TCSETS, &back), 0);
    CHECK_EQ("tcgets_after_tcsets", ioctl(0, TCGETS, &back), 0);
    CHECK("echo_is_off", (back.c_lflag & ECHO) == 0);
    CHECK_EQ("tcsetattr_tcsadrain_restores", tcsetattr(0, TCSADRAIN, &t), 0);
    CHECK_EQ("tcgetattr", tcgetattr(0, &back), 0);
    CHECK("echo_is_back", (back.c_lflag & ECHO) != 0);

    CHECK_EQ("tiocgwinsz", ioctl(1, TIOCGWINSZ, &ws), 0);
    ws2 = (struct winsize){.ws_row = 33, .ws_col = 111};
    CHECK_EQ("tiocswinsz", ioctl(1, TIOCSWINSZ, &ws2), 0);
    memset(&ws2, 0, sizeof ws2);
    CHECK_EQ("tiocgwinsz_after_set", ioctl(0, TIOCGWINSZ, &ws2), 0);
    CHECK("window_size_round_trips", ws2.ws_row == 33 && ws2.ws_col == 111);
    CHECK_EQ("tiocswinsz_restore", ioctl(1, TIOCSWINSZ, &ws), 0);
    CHECK_ERR("tcgets_bad_pointer_is_efault", ioctl(0, TCGETS, BAD_PTR), EFAULT);
    CHECK_ERR("unknown_tty_ioctl_is_enotty", ioctl(0, 0x54ff, &t), ENOTTY);
    return finish();
}
