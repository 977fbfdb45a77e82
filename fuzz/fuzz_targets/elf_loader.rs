//! The loader's view of an executable's first bytes: the `#!` line, the
//! ELF header, the program header table it points at and the segment
//! checks. Bad files must give an errno, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbox_kernel::loader::{elf, parse_shebang};

fuzz_target!(|file: &[u8]| {
    let _ = parse_shebang(file);
    let Ok(header) = elf::parse_header(file) else {
        return;
    };
    let start = usize::try_from(header.phoff).unwrap_or(usize::MAX);
    let len = usize::from(header.phnum) * elf::PHDR_SIZE;
    let Some(table) = start.checked_add(len).and_then(|end| file.get(start..end)) else {
        return;
    };
    let phdrs = elf::parse_program_headers(table);
    let _ = elf::check_segments(&phdrs);
});
