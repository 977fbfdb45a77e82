/*
 * Syscall numbers that do not exist get ENOSYS, whether they come through
 * libc's syscall() or a bare `syscall` instruction, and the program goes on.
 */
#include "check.h"

static long raw(long nr)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    CHECK_ERR("syscall_999_is_enosys", syscall(999), ENOSYS);
    CHECK_ERR("syscall_600_is_enosys", syscall(600), ENOSYS);
    CHECK_ERR("syscall_470_past_the_table_is_enosys", syscall(470), ENOSYS);
    CHECK_ERR("syscall_huge_is_enosys", syscall(0x7fffffffL), ENOSYS);
    CHECK_EQ("raw_syscall_999_is_enosys", raw(999), -ENOSYS);
    /* The last slot of the kernel's patch table, and the first number past it. */
    CHECK_EQ("raw_syscall_511_is_enosys", raw(511), -ENOSYS);
    CHECK_EQ("raw_syscall_512_is_enosys", raw(512), -ENOSYS);
    CHECK_EQ("program_continues_after_enosys", getpid(), 1);
    return finish();
}
