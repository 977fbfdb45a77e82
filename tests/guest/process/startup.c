/*
 * What every program's start-up relies on: arch_prctl for the thread
 * pointer (the guest owns %fs; the kernel must not disturb it), the GS base
 * as the guest sees it, and set_tid_address.
 */
#include "check.h"

#include <asm/prctl.h>
#include <stdint.h>

static __thread int tls_counter = 41;

int main(int argc, char **argv)
{
    begin(argc, argv);
    uintptr_t fs = 0, self = 0, gs = 1;

    CHECK_EQ("arch_get_fs", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs), 0);
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self));
    CHECK("fs_base_is_the_tcb_self_pointer", fs != 0 && fs == self);
    tls_counter++;
    CHECK_EQ("arch_set_fs_same_value", syscall(SYS_arch_prctl, ARCH_SET_FS, fs), 0);
    CHECK_EQ("tls_survives_set_fs", tls_counter, 42);
    CHECK_EQ("tls_survives_a_syscall", (getpid(), tls_counter), 42);
    CHECK_EQ("arch_get_gs", syscall(SYS_arch_prctl, ARCH_GET_GS, &gs), 0);
    CHECK_EQ("guest_gs_base_starts_at_0", gs, 0);
    CHECK_ERR("arch_prctl_bad_code_is_einval", syscall(SYS_arch_prctl, 0x9999, &fs), EINVAL);
    CHECK_ERR("arch_get_fs_bad_pointer_is_efault",
              syscall(SYS_arch_prctl, ARCH_GET_FS, BAD_PTR), EFAULT);

    int clear_me;
    CHECK_EQ("set_tid_address_returns_tid", syscall(SYS_set_tid_address, &clear_me), 1);
    return finish();
}
