//! The initial stack of a new program, as the x86-64 ELF ABI lays it out:
//! `argc`, `argv[]`, NULL, `envp[]`, NULL, auxv pairs, AT_NULL, then the
//! strings and the 16 `AT_RANDOM` bytes near the top.
//!
//! The image is built in kernel memory with the guest addresses it will
//! have, then copied to the guest's stack in one checked copy.

use alloc::vec;
use alloc::vec::Vec;

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_HWCAP2: u64 = 26;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;
pub const AT_MINSIGSTKSZ: u64 = 51;

/// What goes on the stack.
pub struct StackContents<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub random: [u8; 16],
    /// Auxiliary vector entries other than the three that point into the
    /// stack itself (AT_RANDOM, AT_EXECFN, AT_PLATFORM), which are added here.
    pub auxv: &'a [(u64, u64)],
}

/// A built stack image: copy `bytes` to guest address `sp`.
pub struct StackImage {
    pub sp: u64,
    pub bytes: Vec<u8>,
}

/// Lays out the stack so that it ends at `top` (exclusive).
pub fn build(top: u64, c: &StackContents<'_>) -> StackImage {
    // Strings area, growing down from the top: collect it bottom-up.
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    let mut push = |s: &[u8]| {
        offsets.push(strings.len());
        strings.extend_from_slice(s);
        strings.push(0);
    };
    for s in c.argv.iter().chain(c.envp) {
        push(s);
    }
    push(c.execfn);
    push(b"x86_64");
    let random_off = strings.len();
    strings.extend_from_slice(&c.random);
    // 16 bytes of zero above everything, like Linux's end marker.
    let strings_len = strings.len() + 16;
    let strings_base = (top - strings_len as u64) & !15;
    let addr = |off: usize| strings_base + off as u64;

    let (nargs, nenv) = (c.argv.len(), c.envp.len());
    let mut words: Vec<u64> = Vec::new();
    words.push(nargs as u64);
    words.extend(offsets[..nargs].iter().map(|o| addr(*o)));
    words.push(0);
    words.extend(offsets[nargs..nargs + nenv].iter().map(|o| addr(*o)));
    words.push(0);
    for (k, v) in c.auxv {
        words.extend([*k, *v]);
    }
    words.extend([
        AT_RANDOM,
        addr(random_off),
        AT_EXECFN,
        addr(offsets[nargs + nenv]),
        AT_PLATFORM,
        addr(offsets[nargs + nenv + 1]),
    ]);
    words.extend([AT_NULL, 0]);

    // The ABI wants %rsp 16-byte aligned at entry, pointing at argc.
    let sp = (strings_base - words.len() as u64 * 8) & !15;
    let mut bytes = vec![0u8; (top - sp) as usize];
    for (i, w) in words.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    let s = (strings_base - sp) as usize;
    bytes[s..s + strings.len()].copy_from_slice(&strings);
    StackImage { sp, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(img: &StackImage, addr: u64) -> u64 {
        let i = (addr - img.sp) as usize;
        u64::from_le_bytes(img.bytes[i..i + 8].try_into().unwrap())
    }

    fn string(img: &StackImage, addr: u64) -> Vec<u8> {
        let i = (addr - img.sp) as usize;
        img.bytes[i..]
            .iter()
            .take_while(|b| **b != 0)
            .copied()
            .collect()
    }

    #[test]
    fn argv_envp_and_auxv_are_where_the_abi_says() {
        let argv = [b"/bin/ls".to_vec(), b"-l".to_vec()];
        let envp = [b"PATH=/bin".to_vec()];
        let contents = StackContents {
            argv: &argv,
            envp: &envp,
            execfn: b"/bin/ls",
            random: [7; 16],
            auxv: &[(AT_PAGESZ, 4096)],
        };
        let top = 0x7fff_0000_0000;
        let img = build(top, &contents);
        assert_eq!(img.sp % 16, 0);
        assert_eq!(img.sp + img.bytes.len() as u64, top);
        assert_eq!(word(&img, img.sp), 2);
        assert_eq!(string(&img, word(&img, img.sp + 8)), b"/bin/ls");
        assert_eq!(string(&img, word(&img, img.sp + 16)), b"-l");
        assert_eq!(word(&img, img.sp + 24), 0);
        assert_eq!(string(&img, word(&img, img.sp + 32)), b"PATH=/bin");
        assert_eq!(word(&img, img.sp + 40), 0);
        assert_eq!(
            (word(&img, img.sp + 48), word(&img, img.sp + 56)),
            (AT_PAGESZ, 4096)
        );
        assert_eq!(word(&img, img.sp + 64), AT_RANDOM);
        let random = word(&img, img.sp + 72);
        assert_eq!(&img.bytes[(random - img.sp) as usize..][..16], &[7; 16]);
    }
}
