//! ELF64 header parsing, with the errors Linux's `execve` gives.

use alloc::vec::Vec;

use crate::Errno;

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
pub const EHDR_SIZE: usize = 64;
pub const PHDR_SIZE: usize = 56;
/// Linux refuses program header tables above 64 KiB.
const MAX_PHDRS_BYTES: usize = 65536;

/// The parts of the ELF header the loader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u16,
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Whether `head` (the first bytes of a file) starts like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Validates the ELF header: `ENOEXEC` for anything Linux would not run on
/// x86-64 (wrong class, byte order, machine, type or header sizes).
pub fn parse_header(head: &[u8]) -> Result<Header, Errno> {
    if head.len() < EHDR_SIZE || !is_elf(head) {
        return Err(Errno::ENOEXEC);
    }
    const ELFCLASS64: u8 = 2;
    const ELFDATA2LSB: u8 = 1;
    if head[4] != ELFCLASS64 || head[5] != ELFDATA2LSB {
        return Err(Errno::ENOEXEC);
    }
    let kind = u16_at(head, 16);
    if (kind != ET_EXEC && kind != ET_DYN) || u16_at(head, 18) != EM_X86_64 {
        return Err(Errno::ENOEXEC);
    }
    let phentsize = u16_at(head, 54) as usize;
    let phnum = u16_at(head, 56);
    if phentsize != PHDR_SIZE || phnum == 0 || phnum as usize * PHDR_SIZE > MAX_PHDRS_BYTES {
        return Err(Errno::ENOEXEC);
    }
    Ok(Header {
        kind,
        entry: u64_at(head, 24),
        phoff: u64_at(head, 32),
        phnum,
    })
}

/// Parses the program header table (`table` is `phnum * 56` bytes).
pub fn parse_program_headers(table: &[u8]) -> Vec<ProgramHeader> {
    table
        .chunks_exact(PHDR_SIZE)
        .map(|p| ProgramHeader {
            kind: u32_at(p, 0),
            flags: u32_at(p, 4),
            offset: u64_at(p, 8),
            vaddr: u64_at(p, 16),
            filesz: u64_at(p, 32),
            memsz: u64_at(p, 40),
            align: u64_at(p, 48),
        })
        .collect()
}

/// Checks the loadable segments: sizes that make sense and file offsets
/// congruent with addresses modulo the page size, as `mmap` requires.
pub fn check_segments(phdrs: &[ProgramHeader]) -> Result<(), Errno> {
    let mut any = false;
    for p in phdrs.iter().filter(|p| p.kind == PT_LOAD) {
        any = true;
        if p.filesz > p.memsz
            || p.vaddr.checked_add(p.memsz).is_none()
            || p.offset.checked_add(p.filesz).is_none()
        {
            return Err(Errno::EINVAL);
        }
        if p.offset % 4096 != p.vaddr % 4096 {
            return Err(Errno::EINVAL);
        }
    }
    if any { Ok(()) } else { Err(Errno::ENOEXEC) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, machine: u16, kind: u16) -> [u8; 64] {
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[16..18].copy_from_slice(&kind.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&1u16.to_le_bytes());
        h
    }

    #[test]
    fn x86_64_executables_parse() {
        assert_eq!(parse_header(&header(2, 62, ET_EXEC)).unwrap().kind, ET_EXEC);
        assert_eq!(parse_header(&header(2, 62, ET_DYN)).unwrap().kind, ET_DYN);
    }

    #[test]
    fn foreign_or_damaged_headers_are_enoexec() {
        assert_eq!(
            parse_header(&header(2, 183, ET_EXEC)),
            Err(Errno::ENOEXEC),
            "aarch64"
        );
        assert_eq!(
            parse_header(&header(1, 62, ET_EXEC)),
            Err(Errno::ENOEXEC),
            "32-bit"
        );
        assert_eq!(
            parse_header(&header(2, 62, 1)),
            Err(Errno::ENOEXEC),
            "relocatable"
        );
        assert_eq!(
            parse_header(&header(2, 62, ET_EXEC)[..40]),
            Err(Errno::ENOEXEC),
            "truncated"
        );
        assert_eq!(parse_header(b"#!/bin/sh\n"), Err(Errno::ENOEXEC));
    }

    #[test]
    fn misaligned_segments_are_refused() {
        let seg = ProgramHeader {
            kind: PT_LOAD,
            flags: PF_R,
            offset: 0x1000,
            vaddr: 0x401001,
            filesz: 10,
            memsz: 10,
            align: 4096,
        };
        assert_eq!(check_segments(&[seg]), Err(Errno::EINVAL));
        assert_eq!(
            check_segments(&[ProgramHeader {
                vaddr: 0x401000,
                ..seg
            }]),
            Ok(())
        );
        assert_eq!(
            check_segments(&[ProgramHeader {
                kind: PT_INTERP,
                ..seg
            }]),
            Err(Errno::ENOEXEC)
        );
    }
}
