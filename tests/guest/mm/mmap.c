/*
 * Memory: mmap (anonymous, file-backed private and shared, MAP_FIXED,
 * MAP_FIXED_NOREPLACE), munmap, mprotect, madvise and brk, with their
 * EINVAL/EBADF/EACCES/EEXIST errors. Faults are not provoked (no signal
 * delivery yet); contents are checked instead.
 */
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PG 4096

int main(int argc, char **argv)
{
    begin(argc, argv);

    char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap_anonymous", a != MAP_FAILED);
    CHECK("mmap_is_page_aligned", ((uintptr_t)a & (PG - 1)) == 0);
    CHECK("anonymous_memory_starts_zeroed", a[0] == 0 && a[4 * PG - 1] == 0);
    memset(a, 'a', 4 * PG);
    CHECK("anonymous_memory_is_writable", a[3 * PG + 17] == 'a');

    CHECK_EQ("mprotect_read_only", mprotect(a, PG, PROT_READ), 0);
    CHECK("read_only_page_still_readable", a[10] == 'a');
    CHECK_EQ("mprotect_back_to_rw", mprotect(a, PG, PROT_READ | PROT_WRITE), 0);
    a[10] = 'b';
    CHECK("rw_again_is_writable", a[10] == 'b');
    CHECK_EQ("mprotect_none", mprotect(a + PG, PG, PROT_NONE), 0);
    CHECK_EQ("mprotect_none_back_to_rw", mprotect(a + PG, PG, PROT_READ | PROT_WRITE), 0);
    CHECK("prot_none_kept_contents", a[PG + 5] == 'a');
    CHECK_ERR("mprotect_unaligned_is_einval", mprotect(a + 1, PG, PROT_READ), EINVAL);
    CHECK_ERR("mprotect_bad_prot_is_einval", mprotect(a, PG, 0x100), EINVAL);

    CHECK_EQ("madvise_dontneed", madvise(a + 2 * PG, PG, MADV_DONTNEED), 0);
    CHECK("dontneed_zeroes_private_anonymous", a[2 * PG] == 0 && a[3 * PG - 1] == 0);
    CHECK("dontneed_keeps_neighbours", a[3 * PG] == 'a' && a[2 * PG - 1] == 'a');
    CHECK_EQ("madvise_willneed", madvise(a, PG, MADV_WILLNEED), 0);
    CHECK_ERR("madvise_unaligned_is_einval", madvise(a + 1, PG, MADV_DONTNEED), EINVAL);
    CHECK_ERR("madvise_bad_advice_is_einval", madvise(a, PG, 12345), EINVAL);

    /* MAP_FIXED replaces the middle of an existing mapping. */
    char *m = mmap(a + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0);
    CHECK("map_fixed_returns_requested_address", m == a + PG);
    CHECK("map_fixed_gives_fresh_zero_page", m[0] == 0 && m[PG - 1] == 0);
    CHECK("map_fixed_keeps_other_pages", a[0] == 'a' && a[3 * PG] == 'a');
    CHECK("map_fixed_noreplace_over_existing_is_eexist",
          mmap(a, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
                  MAP_FAILED &&
              errno == EEXIST);

    CHECK_EQ("munmap_middle_page", munmap(a + PG, PG), 0);
    char *again = mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                       -1, 0);
    CHECK("munmapped_range_is_free_again", again == a + PG);
    CHECK_EQ("munmap_whole", munmap(a, 4 * PG), 0);
    CHECK_EQ("munmap_unmapped_range_is_ok", munmap(a, 4 * PG), 0);
    CHECK_ERR("munmap_unaligned_is_einval", munmap(a + 1, PG), EINVAL);
    CHECK_ERR("munmap_zero_length_is_einval", munmap(a, 0), EINVAL);

    CHECK("mmap_zero_length_is_einval",
          mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
              errno == EINVAL);
    CHECK("mmap_without_private_or_shared_is_einval",
          mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED && errno == EINVAL);
    CHECK("mmap_bad_fd_is_ebadf",
          mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 99, 0) == MAP_FAILED && errno == EBADF);
    CHECK("mmap_unaligned_offset_is_einval",
          mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 0, 1) == MAP_FAILED && errno == EINVAL);

    /* A big sparse mapping costs nothing until touched. */
    size_t big = (size_t)256 << 20;
    char *b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap_256mib", b != MAP_FAILED);
    for (size_t off = 0; off < big; off += 16 << 20)
        b[off] = 1;
    CHECK("sparse_touches_work", b[big - (16 << 20)] == 1);
    CHECK_EQ("munmap_256mib", munmap(b, big), 0);

    /* File mappings. */
    int fd = open("/data/lorem.txt", O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    char *f = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK("mmap_file_private", f != MAP_FAILED);
    CHECK("mmap_file_content", memcmp(f, "Lorem ipsum", 11) == 0);
    CHECK("mmap_file_tail_zero_filled_to_page", f[st.st_size] == 0);
    munmap(f, st.st_size);
    CHECK("mmap_read_only_fd_shared_writable_is_eacces",
          mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED &&
              errno == EACCES);
    char *cow = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    cow[0] = 'X';
    char first;
    pread(fd, &first, 1, 0);
    CHECK("private_file_mapping_is_copy_on_write", cow[0] == 'X' && first == 'L');
    close(fd);

    fd = open(path("shared"), O_CREAT | O_RDWR, 0644);
    ftruncate(fd, 2 * PG);
    char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK("mmap_file_shared", s != MAP_FAILED);
    memcpy(s + PG, "shared!", 7);
    char back[8] = {0};
    pread(fd, back, 7, PG);
    CHECK("shared_mapping_writes_reach_the_file", memcmp(back, "shared!", 7) == 0);
    pwrite(fd, "through-fd", 10, 0);
    CHECK("file_writes_reach_the_shared_mapping", memcmp(s, "through-fd", 10) == 0);
    CHECK_EQ("msync_like_munmap_of_shared", munmap(s, 2 * PG), 0);
    /* Map the file at an address chosen with MAP_FIXED over anonymous memory. */
    char *anon = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *ff = mmap(anon + PG, PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd, PG);
    CHECK("map_fixed_file_over_anonymous", ff == anon + PG && memcmp(ff, "shared!", 7) == 0);
    close(fd);
    CHECK("file_mapping_survives_close", memcmp(ff, "shared!", 7) == 0);

    /* brk */
    void *cur = (void *)syscall(SYS_brk, 0);
    CHECK("brk_query_returns_break", cur != NULL);
    char *want = (char *)cur + 64 * PG;
    CHECK("brk_grow", (void *)syscall(SYS_brk, want) == want);
    memset(cur, 'h', 64 * PG);
    CHECK("grown_heap_is_usable", ((char *)cur)[64 * PG - 1] == 'h');
    CHECK("brk_shrink", (void *)syscall(SYS_brk, (char *)cur + PG) == (char *)cur + PG);
    CHECK("brk_regrow_is_zeroed", (void *)syscall(SYS_brk, want) == want &&
                                      ((char *)cur)[2 * PG] == 0);
    CHECK("brk_below_start_is_refused", (void *)syscall(SYS_brk, (char *)cur - (1 << 30)) == want);
    /* glibc caches the break: resync it through its own brk(). */
    CHECK_EQ("libc_brk", brk(want), 0);
    CHECK("sbrk_agrees_with_brk", sbrk(0) == want);
    char *heap = malloc(1 << 20);
    memset(heap, 7, 1 << 20);
    CHECK("malloc_1mib", heap[(1 << 20) - 1] == 7);
    free(heap);
    return finish();
}
