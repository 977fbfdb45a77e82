//! The assets every container root shares: a static busybox (the shell
//! and tar the workloads run) and the source tree archive that the tar
//! workload extracts.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

use crate::runtime::find_in_path;

/// Directories and files per directory of the generated tree.
const DIRS: usize = 16;
const FILES_PER_DIR: usize = 24;

/// A static busybox from `$PATH` (Debian's busybox-static): the roots
/// hold no dynamic loader, so a dynamically linked one would not run.
pub fn static_busybox() -> Result<PathBuf> {
    let path =
        find_in_path("busybox").context("busybox not found (apt-get install busybox-static)")?;
    let elf = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        !has_interpreter(&elf)?,
        "{} is dynamically linked (apt-get install busybox-static)",
        path.display()
    );
    Ok(path)
}

/// Whether an ELF64 file has a PT_INTERP program header.
fn has_interpreter(elf: &[u8]) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    let field = |at: usize, len: usize| -> Result<u64> {
        let bytes = elf.get(at..at + len).context("truncated ELF header")?;
        Ok(bytes.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b)))
    };
    ensure!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "not a little-endian ELF64 file"
    );
    let phoff = field(0x20, 8)? as usize;
    let phentsize = field(0x36, 2)? as usize;
    let phnum = field(0x38, 2)? as usize;
    for i in 0..phnum {
        if field(phoff + i * phentsize, 4)? == u64::from(PT_INTERP) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes a deterministic C-like source tree under `dir/tree` and packs it
/// with `busybox tar` into `dir/tree.tar`; returns the archive and a
/// description for the report. The same tree on every run and commit,
/// so that extraction times compare across commits.
pub fn build_archive(dir: &Path, busybox: &Path) -> Result<(PathBuf, String)> {
    let root = dir.join("tree");
    let mut total = 0;
    for d in 0..DIRS {
        let sub = root.join(format!("src/module{d:02}"));
        fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        for f in 0..FILES_PER_DIR {
            let text = source_file(d * FILES_PER_DIR + f);
            total += text.len();
            fs::write(sub.join(format!("file{f:02}.c")), text)?;
        }
    }
    let archive = dir.join("tree.tar");
    let status = Command::new(busybox)
        .args(["tar", "-cf"])
        .arg(&archive)
        .arg("-C")
        .arg(&root)
        .arg("src")
        .status()
        .context("running busybox tar")?;
    if !status.success() {
        bail!("busybox tar -cf failed: {status}");
    }
    fs::remove_dir_all(&root)?;
    let description = format!(
        "{} files in {DIRS} directories, {:.1} MiB",
        DIRS * FILES_PER_DIR,
        total as f64 / (1 << 20) as f64
    );
    Ok((archive, description))
}

/// File `n` of the tree: 200 bytes to ~16 KiB of C-looking lines.
fn source_file(n: usize) -> String {
    let mut state = n as u64 * 2_654_435_761 + 1;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as usize
    };
    let lines = 5 + next() % 400;
    let mut text = format!("/* file {n} */\n#include <stdio.h>\n\n");
    for line in 0..lines {
        let _ = writeln!(
            text,
            "static int f{n}_{line}(int x) {{ return x * {} + {}; }}",
            next() % 1000,
            next() % 100
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_deterministic_and_varied() {
        assert_eq!(source_file(3), source_file(3));
        assert_ne!(source_file(3).len(), source_file(4).len());
    }

    #[test]
    fn interpreter_is_found_in_program_headers() {
        let sh = find_in_path("sh").unwrap();
        // Debian's /bin/sh (dash) is dynamically linked.
        assert!(has_interpreter(&fs::read(sh).unwrap()).unwrap());
        assert!(has_interpreter(b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn archive_holds_the_tree() {
        let Ok(busybox) = static_busybox() else {
            eprintln!("no static busybox; skipping");
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let (archive, description) = build_archive(tmp.path(), &busybox).unwrap();
        assert!(
            description.starts_with("384 files in 16 directories"),
            "{description}"
        );
        let list = Command::new(&busybox)
            .args(["tar", "-tf"])
            .arg(&archive)
            .output()
            .unwrap();
        let list = String::from_utf8(list.stdout).unwrap();
        assert!(list.contains("src/module15/file23.c"), "{list}");
        assert!(!tmp.path().join("tree").exists());
    }
}
