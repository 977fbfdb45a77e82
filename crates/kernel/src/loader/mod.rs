//! Starting a guest program: finding it, `#!` scripts, mapping ELF
//! images (static, static-pie, and dynamic with their `PT_INTERP`), and the
//! initial stack.

pub mod elf;
pub mod stack;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use oxbox_abi::layout::overlaps_kernel;
use oxbox_hal::host::{self, Prot, RawFd};

use crate::Errno;
use crate::mm::vma::{PROT_EXEC, PROT_READ, PROT_WRITE, VMAS, Vma};
use crate::mm::{page_down, page_up};
use elf::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR, ProgramHeader};

/// Why a program could not be started: the errno `execve` would give and
/// a message for the user.
#[derive(Debug)]
pub struct ExecError {
    pub errno: Errno,
    pub message: String,
}

impl ExecError {
    fn new(errno: Errno, message: String) -> Self {
        Self { errno, message }
    }
}

/// `PATH` used when the guest's environment has none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How many `#!` interpreters may chain (Linux allows 4 levels).
const MAX_SCRIPT_DEPTH: usize = 4;
/// Size of the guest's main-thread stack.
const STACK_SIZE: u64 = 8 << 20;
/// Where position-independent executables are loaded (as Linux's ELF_ET_DYN_BASE).
const PIE_BASE_HINT: u64 = 0x5555_5555_4000;

/// A program mapped into memory, ready to run.
pub struct Loaded {
    /// The address to jump to (the interpreter's entry for dynamic programs).
    pub entry: u64,
    pub sp: u64,
    /// The path the program was found at, for `/proc/self/exe`.
    pub exe: String,
    /// The arguments after `#!` rewriting.
    pub argv: Vec<Vec<u8>>,
    /// End of the executable's data: where the program break starts.
    pub brk_start: u64,
}

/// The host facts the initial stack passes on to the guest.
pub struct HostAux {
    pub hwcap: u64,
    pub hwcap2: u64,
    pub vdso: u64,
    pub minsigstksz: u64,
    pub uid: u32,
    pub gid: u32,
}

/// Finds `name` in `PATH` when it has no slash, as a runtime does for the
/// container's first process.
pub fn find_program(name: &[u8], envp: &[Vec<u8>]) -> Result<Vec<u8>, ExecError> {
    if name.contains(&b'/') {
        return Ok(name.to_vec());
    }
    let display = String::from_utf8_lossy(name).into_owned();
    if name.is_empty() {
        return Err(ExecError::new(
            Errno::ENOENT,
            "cannot execute an empty command name".into(),
        ));
    }
    let path = envp
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH.as_bytes());
    let mut denied = None;
    for dir in path.split(|b| *b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(name);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(Errno::EACCES) => denied = Some(candidate),
            Err(_) => {}
        }
    }
    match denied {
        Some(path) => Ok(path),
        None => Err(ExecError::new(
            Errno::ENOENT,
            format!("\"{display}\": executable file not found in $PATH"),
        )),
    }
}

fn cstring(path: &[u8]) -> Result<alloc::ffi::CString, Errno> {
    alloc::ffi::CString::new(path.to_vec()).map_err(|_| Errno::ENOENT)
}

fn check_executable(path: &[u8]) -> Result<(), Errno> {
    let c = cstring(path)?;
    let fd = host::open_read(&c)?;
    check_regular_file(fd.raw())?;
    host::executable(&c)
}

fn check_regular_file(fd: RawFd) -> Result<(), Errno> {
    let st = host::fstat(fd)?;
    if st.mode & 0o170000 != 0o100000 {
        return Err(Errno::EACCES);
    }
    Ok(())
}

fn describe(errno: Errno) -> String {
    format!(
        "{} ({})",
        errno.description().unwrap_or("error"),
        errno.name().unwrap_or("?")
    )
}

/// An executable found and opened, `#!` lines followed.
struct Program {
    /// How the program is named in messages (the final ELF's path).
    shown: String,
    argv: Vec<Vec<u8>>,
    file: host::OwnedFd,
    /// The first bytes of the file.
    head: Vec<u8>,
}

/// Opens the program at `path`, following `#!` interpreters and rewriting
/// `argv` as Linux does, with the errno `execve` gives for each failure.
fn resolve(path: &[u8], argv: Vec<Vec<u8>>) -> Result<Program, ExecError> {
    let mut path = path.to_vec();
    let mut argv = argv;
    for _ in 0..=MAX_SCRIPT_DEPTH {
        let shown = String::from_utf8_lossy(&path).into_owned();
        let fail = |errno: Errno| {
            ExecError::new(
                errno,
                format!("cannot execute {shown}: {}", describe(errno)),
            )
        };
        let c = cstring(&path).map_err(fail)?;
        let file = host::open_read(&c).map_err(fail)?;
        check_regular_file(file.raw()).map_err(fail)?;
        host::executable(&c).map_err(fail)?;
        let mut head = vec![0u8; 256];
        let n = host::pread(file.raw(), &mut head, 0).map_err(fail)?;
        head.truncate(n);
        let Some((interpreter, arg)) = parse_shebang(&head) else {
            return Ok(Program {
                shown,
                argv,
                file,
                head,
            });
        };
        // argv becomes: interpreter [arg] script-path original-args...
        let mut next = vec![interpreter.clone()];
        next.extend(arg);
        next.push(path.clone());
        next.extend(argv.into_iter().skip(1));
        argv = next;
        path = interpreter;
    }
    Err(ExecError::new(
        Errno::ELOOP,
        format!(
            "cannot execute {}: too many levels of #! interpreters",
            String::from_utf8_lossy(&path)
        ),
    ))
}

fn elf_error(shown: &str, (errno, what): LoadError) -> ExecError {
    ExecError::new(
        errno,
        format!(
            "cannot execute {shown}: {}{}",
            describe(errno),
            what.map(|w| format!(": {w}")).unwrap_or_default()
        ),
    )
}

/// Loads the program at `path` with `argv` and `envp`, following `#!`
/// lines, and builds its stack.
pub fn load(
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
    aux: &HostAux,
) -> Result<Loaded, ExecError> {
    let p = resolve(path, argv)?;
    load_elf(p.file.raw(), &p.head, &p.shown, p.argv, envp, aux).map_err(|e| elf_error(&p.shown, e))
}

/// Checks, without mapping anything, that `path` would load: a guest
/// `execve` must fail with the right errno in the calling process, before
/// the kernel replaces itself with a new instance for the new program.
pub fn probe(path: &[u8]) -> Result<(), ExecError> {
    let p = resolve(path, Vec::new())?;
    let (_, phdrs) =
        read_program_headers(p.file.raw(), &p.head).map_err(|e| elf_error(&p.shown, e))?;
    if let Some(name) =
        interpreter_name(p.file.raw(), &phdrs).map_err(|e| elf_error(&p.shown, e))?
    {
        let c = cstring(&name).map_err(|e| elf_error(&p.shown, (e, None)))?;
        host::open_read(&c).map_err(|e| {
            elf_error(
                &p.shown,
                (
                    e,
                    Some(format!("interpreter {}", String::from_utf8_lossy(&name))),
                ),
            )
        })?;
    }
    Ok(())
}

/// The `PT_INTERP` path of an executable, if it names one.
fn interpreter_name(file: RawFd, phdrs: &[ProgramHeader]) -> Result<Option<Vec<u8>>, LoadError> {
    let Some(p) = phdrs.iter().find(|p| p.kind == PT_INTERP) else {
        return Ok(None);
    };
    let mut name = vec![0u8; p.filesz.min(4096) as usize];
    let n = host::pread(file, &mut name, p.offset).map_err(|e| (e, None))?;
    name.truncate(n);
    if let Some(nul) = name.iter().position(|b| *b == 0) {
        name.truncate(nul);
    }
    Ok(Some(name))
}

/// Validates the ELF header in `head` and reads the program headers.
fn read_program_headers(
    file: RawFd,
    head: &[u8],
) -> Result<(elf::Header, Vec<ProgramHeader>), LoadError> {
    let header = elf::parse_header(head).map_err(|e| (e, None))?;
    let mut table = vec![0u8; header.phnum as usize * elf::PHDR_SIZE];
    let n = host::pread(file, &mut table, header.phoff).map_err(|e| (e, None))?;
    if n != table.len() {
        return Err((Errno::ENOEXEC, Some("truncated program headers".into())));
    }
    let phdrs = elf::parse_program_headers(&table);
    elf::check_segments(&phdrs).map_err(|e| (e, None))?;
    Ok((header, phdrs))
}

/// Splits a `#!interpreter [arg]` line; `None` if `head` is not a script.
pub fn parse_shebang(head: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    let line: &[u8] = {
        let start = line.iter().position(|b| *b != b' ' && *b != b'\t')?;
        let end = line
            .iter()
            .rposition(|b| *b != b' ' && *b != b'\t' && *b != b'\r')?
            + 1;
        &line[start..end]
    };
    match line.iter().position(|b| *b == b' ' || *b == b'\t') {
        None => Some((line.to_vec(), None)),
        Some(split) => {
            let arg = line[split..]
                .iter()
                .position(|b| *b != b' ' && *b != b'\t')
                .map(|p| line[split + p..].to_vec());
            Some((line[..split].to_vec(), arg))
        }
    }
}

/// An ELF image mapped into memory.
struct Mapped {
    /// Load bias: added to every virtual address in the file.
    bias: u64,
    entry: u64,
    phdr_addr: u64,
    phnum: u64,
    end: u64,
}

type LoadError = (Errno, Option<String>);

fn load_elf(
    file: RawFd,
    head: &[u8],
    shown: &str,
    argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
    aux: &HostAux,
) -> Result<Loaded, LoadError> {
    let (main, phdrs) = map_image(file, head, shown, Some(PIE_BASE_HINT))?;
    let interp = match interpreter_name(file, &phdrs)? {
        None => None,
        Some(name) => {
            let interp_shown = String::from_utf8_lossy(&name).into_owned();
            let c = cstring(&name).map_err(|e| (e, Some(format!("interpreter {interp_shown}"))))?;
            let fd = host::open_read(&c)
                .map_err(|e| (e, Some(format!("interpreter {interp_shown}"))))?;
            let mut ihead = vec![0u8; 256];
            let n = host::pread(fd.raw(), &mut ihead, 0).map_err(|e| (e, None))?;
            ihead.truncate(n);
            Some(map_image(fd.raw(), &ihead, &interp_shown, None)?.0)
        }
    };

    let stack_base = host::map_anonymous(STACK_SIZE, Prot::READ | Prot::WRITE)
        .map_err(|e| (e, Some("stack".into())))?;
    let top = stack_base + STACK_SIZE;
    VMAS.lock().insert(
        stack_base,
        Vma {
            end: top,
            prot: PROT_READ | PROT_WRITE,
            shared: false,
            offset: 0,
            name: "[stack]".into(),
        },
    );

    let mut random = [0u8; 16];
    host::getrandom(&mut random).map_err(|e| (e, None))?;
    let mut auxv = vec![
        (stack::AT_SYSINFO_EHDR, aux.vdso),
        (stack::AT_MINSIGSTKSZ, aux.minsigstksz),
        (stack::AT_HWCAP, aux.hwcap),
        (stack::AT_PAGESZ, 4096),
        (stack::AT_CLKTCK, 100),
        (stack::AT_PHDR, main.phdr_addr),
        (stack::AT_PHENT, elf::PHDR_SIZE as u64),
        (stack::AT_PHNUM, main.phnum),
        (stack::AT_BASE, interp.as_ref().map_or(0, |i| i.bias)),
        (stack::AT_FLAGS, 0),
        (stack::AT_ENTRY, main.entry),
        (stack::AT_UID, aux.uid as u64),
        (stack::AT_EUID, aux.uid as u64),
        (stack::AT_GID, aux.gid as u64),
        (stack::AT_EGID, aux.gid as u64),
        (stack::AT_SECURE, 0),
        (stack::AT_HWCAP2, aux.hwcap2),
    ];
    if aux.vdso == 0 {
        auxv.remove(0);
    }
    let contents = stack::StackContents {
        argv: &argv,
        envp,
        execfn: shown.as_bytes(),
        random,
        auxv: &auxv,
    };
    let image = stack::build(top, &contents);
    crate::mm::user::copy_out(image.sp, &image.bytes)
        .map_err(|e| (e, Some("initial stack".into())))?;

    Ok(Loaded {
        entry: interp.as_ref().map_or(main.entry, |i| i.entry),
        sp: image.sp,
        exe: absolute_exe(shown),
        argv,
        brk_start: page_up(main.end),
    })
}

/// The executable's canonical path, symbolic links resolved, as Linux
/// shows it in `/proc/self/exe`.
fn absolute_exe(shown: &str) -> String {
    crate::fs::path::canonicalize(shown).unwrap_or_else(|| {
        format!(
            "/{}",
            crate::fs::path::normalize(&crate::fs::path::cwd(), shown).join("/")
        )
    })
}

/// Maps the loadable segments of one ELF file. `pie_hint` is where an
/// `ET_DYN` image should go (the host picks when it is `None` or taken).
fn map_image(
    file: RawFd,
    head: &[u8],
    name: &str,
    pie_hint: Option<u64>,
) -> Result<(Mapped, Vec<ProgramHeader>), LoadError> {
    let (header, phdrs) = read_program_headers(file, head)?;
    let loads: Vec<&ProgramHeader> = phdrs.iter().filter(|p| p.kind == PT_LOAD).collect();
    let low = page_down(loads.iter().map(|p| p.vaddr).min().unwrap_or(0));
    let high = page_up(loads.iter().map(|p| p.vaddr + p.memsz).max().unwrap_or(0));

    let bias = if header.kind == elf::ET_DYN {
        // Reserve the whole span, then map segments inside it.
        let span = high - low;
        let start =
            match pie_hint.filter(|at| host::map_anonymous_at(*at, span, Prot::empty()).is_ok()) {
                Some(at) => at,
                None => host::map_anonymous(span, Prot::empty()).map_err(|e| (e, None))?,
            };
        start - low
    } else {
        if overlaps_kernel(low, high - low) || low < 0x1_0000 {
            return Err((
                Errno::EINVAL,
                Some(format!(
                    "segments at {low:#x}-{high:#x} overlap memory reserved by the oxbox kernel"
                )),
            ));
        }
        0
    };

    for p in &loads {
        map_segment(file, p, bias, name)?;
    }
    let phdr_addr = phdrs
        .iter()
        .find(|p| p.kind == PT_PHDR)
        .map(|p| p.vaddr)
        .or_else(|| {
            loads
                .iter()
                .find(|p| p.offset <= header.phoff && header.phoff < p.offset + p.filesz)
                .map(|p| p.vaddr + header.phoff - p.offset)
        })
        .unwrap_or(0)
        + bias;
    let mapped = Mapped {
        bias,
        entry: header.entry + bias,
        phdr_addr,
        phnum: header.phnum as u64,
        end: high + bias,
    };
    Ok((mapped, phdrs))
}

fn prot_of(flags: u32) -> (Prot, u32) {
    let mut prot = Prot::empty();
    let mut bits = 0;
    for (flag, p, b) in [
        (PF_R, Prot::READ, PROT_READ),
        (PF_W, Prot::WRITE, PROT_WRITE),
        (PF_X, Prot::EXEC, PROT_EXEC),
    ] {
        if flags & flag != 0 {
            prot |= p;
            bits |= b;
        }
    }
    (prot, bits)
}

fn map_segment(file: RawFd, p: &ProgramHeader, bias: u64, name: &str) -> Result<(), LoadError> {
    let (prot, bits) = prot_of(p.flags);
    let start = p.vaddr + bias;
    let page = page_down(start);
    let file_end = start + p.filesz;
    let mem_end = page_up(start + p.memsz);
    let err = |e: Errno| (e, Some(format!("mapping segment at {start:#x}")));
    let mut vmas = VMAS.lock();
    if p.filesz > 0 {
        let len = page_up(file_end) - page;
        // Writable while the tail of the last file page is zeroed, when
        // the segment's zero-filled part starts inside that page; other
        // segments are mapped with their own protection at once (one host
        // call, and no split and merge of the mapping), but code: it is
        // mapped writable and then made read-only, so that the host
        // accounts the whole mapping as once writable, as it does a page
        // whose syscall sites the kernel patches (hal::patch); patched
        // pages then merge back into the mapping instead of staying host
        // mappings of their own, each copied at every fork.
        let zero_tail = p.memsz > p.filesz && !file_end.is_multiple_of(4096);
        let code = p.flags & PF_X != 0;
        let mapped_prot = if zero_tail || code {
            prot | Prot::WRITE
        } else {
            prot
        };
        host::map_file_fixed(page, len, mapped_prot, file, p.offset - (start - page))
            .map_err(err)?;
        if zero_tail {
            let zeros = vec![0u8; (page_up(file_end) - file_end) as usize];
            crate::mm::user::copy_out(file_end, &zeros)
                .map_err(|e| (e, Some("zeroing bss".into())))?;
        }
        if mapped_prot != prot {
            host::protect(page, len, prot).map_err(err)?;
        }
        vmas.insert(
            page,
            Vma {
                end: page + len,
                prot: bits,
                shared: false,
                offset: p.offset - (start - page),
                name: name.into(),
            },
        );
    }
    let anon_start = if p.filesz > 0 {
        page_up(file_end)
    } else {
        page
    };
    if mem_end > anon_start {
        host::map_anonymous_fixed(anon_start, mem_end - anon_start, prot).map_err(err)?;
        vmas.insert(
            anon_start,
            Vma {
                end: mem_end,
                prot: bits,
                shared: false,
                offset: 0,
                name: String::new(),
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines_split_like_linux() {
        assert_eq!(
            parse_shebang(b"#!/bin/sh\necho"),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(
            parse_shebang(b"#! /usr/bin/env  python3 -u\n"),
            Some((b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())))
        );
        assert_eq!(
            parse_shebang(b"#!/bin/sh \r\n"),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(parse_shebang(b"\x7fELF"), None);
        assert_eq!(parse_shebang(b"#!\n"), None);
    }
}
