/*
 * A guest that misbehaves with memory must not reach the kernel's area:
 * - however much address space it takes, the host never places one of
 *   its mappings inside the kernel area (the kernel reserves the whole
 *   area at boot, so its guard pages stay guard pages);
 * - a wild pointer into the kernel's image, its guard pages or the unused
 *   rest of its area faults in the guest (SIGSEGV at that address), where
 *   the guest's own handler sees it;
 * - /proc/self/maps never lists anything in the kernel area;
 * - mremap cannot move a guest mapping onto the kernel.
 * argv: scratch, KERNEL_BASE, KERNEL_AREA_SIZE, KERNEL_HEAP_BASE,
 * KERNEL_HEAP_SIZE, KERNEL_STACKS_BASE (from oxbox-abi's layout).
 *
 * Run under oxbox only: natively these addresses are ordinary.
 */
#include "check.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#define PG 4096UL

static uintptr_t kbase, kend;

static int in_kernel(uintptr_t start, uintptr_t end)
{
    return start < kend && end > kbase;
}

static sigjmp_buf fault_jump;
static volatile uintptr_t fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    fault_addr = (uintptr_t)si->si_addr;
    siglongjmp(fault_jump, 1);
}

/* Touches `addr` (writing if `write`); passes if the guest gets SIGSEGV
 * for exactly that address. */
static void faults(const char *name, uintptr_t addr, int write)
{
    fault_addr = 0;
    if (sigsetjmp(fault_jump, 1) == 0) {
        volatile char *p = (volatile char *)addr;
        if (write)
            *p = 0x5a;
        else
            (void)*p;
        failf(name, "no fault");
        return;
    }
    if (fault_addr == addr)
        pass(name);
    else
        failf(name, "fault at %#lx", (unsigned long)fault_addr);
}

/* Maps ever smaller PROT_NONE chunks until each size no longer fits above
 * the kernel area: the host hands out the highest free gap first, so a
 * hole anywhere in the kernel area would be handed out before any address
 * below it. */
static void exhaust_address_space(void)
{
    int mapped = 0, landed_in_kernel = 0;
    for (int shift = 42; shift >= 12; shift--) {
        for (int i = 0; i < 64; i++) {
            void *p = mmap(NULL, 1UL << shift, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (p == MAP_FAILED)
                break;
            uintptr_t at = (uintptr_t)p;
            if (in_kernel(at, at + (1UL << shift)))
                landed_in_kernel++;
            if (at < kbase) {
                munmap(p, 1UL << shift);
                break;
            }
            mapped++;
        }
    }
    CHECK("address_space_above_the_kernel_was_filled", mapped > 0);
    CHECK_EQ("no_guest_mapping_lands_in_the_kernel_area", landed_in_kernel, 0);
}

static void maps_hide_the_kernel(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) {
        failf("proc_self_maps_hides_the_kernel_area", "open: %s", errname(errno));
        return;
    }
    char line[512];
    int lines = 0, kernel_lines = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx", &start, &end) != 2)
            continue;
        lines++;
        if (in_kernel(start, end))
            kernel_lines++;
    }
    fclose(f);
    CHECK("proc_self_maps_lists_the_guest", lines > 0);
    CHECK_EQ("proc_self_maps_hides_the_kernel_area", kernel_lines, 0);
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 7) {
        failf("arguments", "usage: wild_pointers SCRATCH BASE SIZE HEAP HEAPSIZE STACKS");
        return finish();
    }
    kbase = strtoul(argv[2], NULL, 0);
    kend = kbase + strtoul(argv[3], NULL, 0);
    uintptr_t heap = strtoul(argv[4], NULL, 0);
    uintptr_t heap_end = heap + strtoul(argv[5], NULL, 0);
    uintptr_t stacks = strtoul(argv[6], NULL, 0);

    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
    sigaction(SIGSEGV, &sa, NULL);
    faults("write_to_kernel_image_faults_in_the_guest", kbase, 1);
    faults("read_of_guard_below_kernel_heap_faults", heap - PG, 0);
    faults("read_of_guard_above_kernel_heap_faults", heap_end, 0);
    faults("read_of_guard_below_first_kernel_stack_faults", stacks, 0);
    faults("write_to_unused_kernel_area_faults", kend - PG, 1);

    void *mine = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK_ERR("mremap_onto_kernel_image_is_refused",
              mremap(mine, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)kbase), EINVAL);
    CHECK_ERR("mremap_onto_kernel_guard_is_refused",
              mremap(mine, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(heap - PG)), EINVAL);

    exhaust_address_space();
    maps_hide_the_kernel();
    return finish();
}
