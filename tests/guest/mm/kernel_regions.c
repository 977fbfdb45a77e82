/*
 * The guest shares its address space and descriptor table with the oxbox
 * kernel; memory and descriptor calls must never reach the kernel's own.
 * argv: scratch, KERNEL_BASE, KERNEL_AREA_SIZE, SLOT_TABLE_ADDR,
 * RESERVED_FD_BASE (hex or decimal, from oxbox-abi's layout).
 *
 * Run under oxbox only: natively these addresses are free and the
 * descriptors ordinary, so the same calls succeed.
 */
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>

#define PG 4096

static void refused(const char *name, void *r)
{
    if (r == MAP_FAILED)
        pass(name);
    else
        failf(name, "mmap succeeded");
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 6) {
        failf("arguments", "usage: kernel_regions SCRATCH BASE SIZE SLOTS FDBASE");
        return finish();
    }
    char *base = (char *)strtoul(argv[2], NULL, 0);
    unsigned long size = strtoul(argv[3], NULL, 0);
    char *slots = (char *)strtoul(argv[4], NULL, 0);
    int fdbase = (int)strtol(argv[5], NULL, 0);
    int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;

    refused("map_fixed_over_kernel_image_is_refused",
            mmap(base, PG, rw, anon | MAP_FIXED, -1, 0));
    refused("map_fixed_over_kernel_heap_is_refused",
            mmap(base + (1UL << 32), PG, rw, anon | MAP_FIXED, -1, 0));
    refused("map_fixed_straddling_kernel_start_is_refused",
            mmap(base - PG, 2 * PG, rw, anon | MAP_FIXED, -1, 0));
    refused("map_fixed_over_slot_table_is_refused",
            mmap(slots, PG, rw, anon | MAP_FIXED, -1, 0));
    refused("map_fixed_noreplace_in_kernel_area_is_refused",
            mmap(base + size / 2, PG, rw, anon | MAP_FIXED_NOREPLACE, -1, 0));
    char *hinted = mmap(base, PG, rw, anon, -1, 0);
    CHECK("mmap_hint_in_kernel_area_lands_elsewhere",
          hinted != MAP_FAILED && (hinted + PG <= base || hinted >= base + size) &&
              (hinted + PG <= slots || hinted >= slots + PG));

    CHECK("mprotect_kernel_image_is_refused", mprotect(base, PG, PROT_NONE) == -1);
    CHECK("mprotect_slot_table_is_refused", mprotect(slots, PG, rw) == -1);
    CHECK("madvise_dontneed_kernel_heap_is_refused",
          madvise(base + (1UL << 32), PG, MADV_DONTNEED) == -1);
    long r = munmap(base, size);
    /* Whatever munmap answered, the kernel must still be there. */
    CHECK_EQ("kernel_survives_munmap_of_its_area", getpid(), 1);
    CHECK("munmap_kernel_area_is_refused", r == -1);
    r = munmap(slots, PG);
    CHECK_EQ("kernel_survives_munmap_of_slot_table", getpid(), 1);
    CHECK("munmap_slot_table_is_refused", r == -1);
    void *cur = (void *)syscall(SYS_brk, 0);
    CHECK("brk_into_kernel_area_is_refused",
          (void *)syscall(SYS_brk, base + PG) == cur);

    int fd = open("/data/words.txt", O_RDONLY);
    CHECK_ERR("read_into_kernel_image_is_efault", read(fd, base, 16), EFAULT);
    CHECK_ERR("write_from_kernel_image_is_efault", write(1, base, 16), EFAULT);
    CHECK_ERR("write_from_slot_table_is_efault", write(1, slots, 8), EFAULT);
    CHECK_ERR("uname_into_kernel_heap_is_efault", syscall(SYS_uname, base + (1UL << 32)),
              EFAULT);

    CHECK_ERR("dup2_into_reserved_fds_is_ebadf", dup2(1, fdbase), EBADF);
    CHECK_ERR("dup2_onto_last_fd_is_ebadf", dup2(1, 1023), EBADF);
    CHECK_ERR("close_kernel_log_fd_is_ebadf", close(1023), EBADF);
    CHECK_ERR("write_kernel_log_fd_is_ebadf", write(1023, "x", 1), EBADF);
    long dupped = fcntl(1, F_DUPFD, fdbase);
    CHECK("f_dupfd_never_returns_a_reserved_fd", dupped == -1 || dupped < fdbase);
    return finish();
}
