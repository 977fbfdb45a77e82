//! The root filesystem every scenario runs in.
//!
//! Layout (guest paths):
//!
//! - `/bin/busybox` (Debian's busybox-static) and one symlink per applet, so
//!   `ls`, `sort`, ... are found through `PATH` exactly as in a small distro;
//! - `/etc/passwd`, `/etc/group` with root only, so `id` prints names;
//! - `/data`: fixtures for the text applets and a small tree for `find`/`ls`;
//! - `/guest/<area>/<case>`: `tests/guest/<area>/<case>.c` built with
//!   `gcc -O1 -static`, and `/guest/escape/<case>` from
//!   `tests/escape/<case>.c`;
//! - `/bad`: executables the kernel must refuse, see [`BAD_EXECUTABLES`];
//! - empty `/proc`, `/dev` (mount points for the native baseline; under
//!   oxbox the kernel answers them), `/tmp` (mode 1777) and `/root`.
//!
//! Building takes a few seconds (mostly gcc), so the result is cached in
//! `<target>/test-rootfs/<key>`, where the key hashes every input: busybox,
//! the guest sources, the gcc version and [`LAYOUT_VERSION`]. A directory is
//! built under a temporary name and renamed into place, so concurrent test
//! processes never see a half-built one. Scenarios never write into the
//! shared tree except under `/tmp/<unique>` scratch directories.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{target_dir, workspace_root};

/// Bump when the layout or the fixtures change, to invalidate caches.
const LAYOUT_VERSION: &str = "oxbox-test-rootfs/2";
/// Flags every guest program is built with. `-O1` keeps the syscalls the
/// source asks for (no surprising elision) while staying realistic.
const GCC_FLAGS: &[&str] = &["-O1", "-Wall", "-Werror"];

/// A built root filesystem.
#[derive(Debug)]
pub struct Rootfs {
    path: PathBuf,
}

impl Rootfs {
    /// A rootfs already built at `path`.
    pub(crate) fn at(path: PathBuf) -> Rootfs {
        Rootfs { path }
    }

    /// The rootfs directory on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Host path of guest path `guest` (absolute inside the rootfs).
    pub fn host_path(&self, guest: &str) -> PathBuf {
        self.path.join(guest.trim_start_matches('/'))
    }
}

/// The executables under `/bad`, with what each one is.
///
/// Each must be refused by the kernel the way the host kernel refuses it
/// (`/bad/missing` is deliberately absent).
pub const BAD_EXECUTABLES: &[(&str, &str)] = &[
    ("/bad/missing", "a path that does not exist"),
    (
        "/bad/text-without-shebang",
        "a text file with mode 755 and no #!",
    ),
    ("/bad/empty", "an empty file with mode 755"),
    (
        "/bad/elf-cut-in-header",
        "an ELF cut inside its 64-byte header",
    ),
    (
        "/bad/elf-cut-in-program-headers",
        "an ELF cut inside its program header table",
    ),
    ("/bad/aarch64", "a well-formed ELF header for aarch64"),
    ("/bad/directory", "a directory"),
    ("/bad/not-executable", "a valid static ELF with mode 644"),
    (
        "/bad/dynamic-without-interpreter",
        "a dynamic ELF whose PT_INTERP is absent from the rootfs",
    ),
];

static STANDARD: OnceLock<Result<Rootfs, String>> = OnceLock::new();

/// The standard rootfs, built on first use.
///
/// Panics with the reason if it cannot be built (no busybox-static, no gcc
/// or no static libc): every scenario depends on it.
pub fn rootfs() -> &'static Rootfs {
    // The error is kept too, so that one failed build is not retried by
    // every test of the binary.
    match STANDARD.get_or_init(build) {
        Ok(r) => r,
        Err(e) => panic!("cannot build the test rootfs: {e}"),
    }
}

/// FNV-1a, 64 bits: a stable cache key without a hashing dependency.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    /// Hashes `bytes` preceded by their length, so that consecutive inputs
    /// cannot run into each other.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
    pub(crate) fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// One C program of `tests/guest`.
struct GuestSource {
    /// `<area>/<case>`
    name: String,
    path: PathBuf,
    text: Vec<u8>,
}

fn guest_dir() -> PathBuf {
    workspace_root().join("tests/guest")
}

fn busybox_path() -> PathBuf {
    std::env::var_os("OXBOX_TEST_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn sorted_dir(path: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

/// The directory of the escape programs, installed as the area `escape`.
fn escape_dir() -> PathBuf {
    workspace_root().join("tests/escape")
}

/// The programs `<dir>/*.c` of one area, and its headers `<dir>/*.h` (with
/// their paths) appended to `headers`.
fn area_sources(
    dir: &Path,
    area: &str,
    headers: &mut Vec<u8>,
    programs: &mut Vec<GuestSource>,
) -> Result<(), String> {
    for file in sorted_dir(dir)? {
        match file.extension().and_then(|e| e.to_str()) {
            Some("c") => {
                let case = file.file_stem().unwrap().to_string_lossy().into_owned();
                programs.push(GuestSource {
                    name: format!("{area}/{case}"),
                    text: read(&file)?,
                    path: file,
                });
            }
            Some("h") => {
                headers.extend_from_slice(file.to_string_lossy().as_bytes());
                headers.extend_from_slice(&read(&file)?);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The shared headers (`tests/guest/*.h`, `tests/escape/*.h`) and the
/// programs (`tests/guest/<area>/*.c`, and `tests/escape/*.c` as the area
/// `escape`).
fn guest_sources() -> Result<(Vec<u8>, Vec<GuestSource>), String> {
    let mut headers = Vec::new();
    let mut programs = Vec::new();
    for entry in sorted_dir(&guest_dir())? {
        if entry.is_dir() {
            let area = entry.file_name().unwrap().to_string_lossy().into_owned();
            area_sources(&entry, &area, &mut Vec::new(), &mut programs)?;
        } else if entry.extension().is_some_and(|e| e == "h") {
            headers.extend_from_slice(entry.to_string_lossy().as_bytes());
            headers.extend_from_slice(&read(&entry)?);
        }
    }
    area_sources(&escape_dir(), "escape", &mut headers, &mut programs)?;
    Ok((headers, programs))
}

fn gcc_version() -> Result<String, String> {
    let out = Command::new("gcc")
        .arg("--version")
        .output()
        .map_err(|e| format!("gcc not found ({e}); install gcc and libc6-dev"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Moves a finished `tmp` file to `path` with a rename, so that a
/// concurrent reader sees either nothing or the whole file.
fn publish_file(tmp: &Path, path: &Path) -> Result<(), String> {
    fs::rename(tmp, path).map_err(|e| format!("rename to {}: {e}", path.display()))
}

/// Compiles one guest program (cached by its inputs) and returns the path
/// of the binary in the cache.
fn compile(
    src: &GuestSource,
    headers: &[u8],
    gcc: &str,
    link_static: bool,
) -> Result<PathBuf, String> {
    let mut key = Fnv::new();
    key.field(gcc.as_bytes())
        .field(headers)
        .field(&src.text)
        .field(&[link_static as u8]);
    for f in GCC_FLAGS {
        key.field(f.as_bytes());
    }
    let dir = target_dir().join("test-guests");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let flat = src.name.replace('/', "-");
    let out = dir.join(format!("{flat}-{}", key.hex()));
    if out.exists() {
        return Ok(out);
    }
    let tmp = dir.join(format!("{flat}-{}.tmp-{}", key.hex(), std::process::id()));
    let mut cmd = Command::new("gcc");
    cmd.args(GCC_FLAGS)
        .arg("-I")
        .arg(guest_dir())
        .arg("-o")
        .arg(&tmp)
        .arg(&src.path);
    if link_static {
        cmd.arg("-static");
    }
    let res = cmd.output().map_err(|e| format!("running gcc: {e}"))?;
    if !res.status.success() {
        return Err(format!(
            "gcc failed on {}:\n{}",
            src.path.display(),
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    publish_file(&tmp, &out)?;
    Ok(out)
}

/// A host-side helper of the tests, `tests/escape/host/<name>.c`, compiled
/// (dynamically linked, cached like the guests) to run on the host.
pub fn host_program(name: &str) -> Result<PathBuf, String> {
    let path = escape_dir().join("host").join(format!("{name}.c"));
    let src = GuestSource {
        name: format!("host/{name}"),
        text: read(&path)?,
        path,
    };
    compile(&src, &[], &gcc_version()?, false)
}

/// Adds the path to an I/O error.
fn io<T>(what: &Path, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", what.display()))
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        io(parent, fs::create_dir_all(parent))?;
    }
    io(path, fs::write(path, bytes))?;
    io(
        path,
        fs::set_permissions(path, fs::Permissions::from_mode(mode)),
    )
}

fn mkdir(path: &Path, mode: u32) -> Result<(), String> {
    io(path, fs::create_dir_all(path))?;
    io(
        path,
        fs::set_permissions(path, fs::Permissions::from_mode(mode)),
    )
}

fn build() -> Result<Rootfs, String> {
    let busybox = busybox_path();
    let busybox_bytes = read(&busybox)
        .map_err(|e| format!("{e} (install Debian's busybox-static, or set OXBOX_TEST_BUSYBOX)"))?;
    let gcc = gcc_version()?;
    let (headers, programs) = guest_sources()?;

    let mut key = Fnv::new();
    key.field(LAYOUT_VERSION.as_bytes())
        .field(&busybox_bytes)
        .field(gcc.as_bytes())
        .field(&headers);
    for p in &programs {
        key.field(p.name.as_bytes()).field(&p.text);
    }
    let cache = target_dir().join("test-rootfs");
    let path = cache.join(key.hex());
    if path.is_dir() {
        return Ok(Rootfs { path });
    }

    // Compile first: a compile error should not leave a directory behind.
    let mut binaries = Vec::new();
    for p in &programs {
        binaries.push((p.name.clone(), compile(p, &headers, &gcc, true)?));
    }
    let hello = programs
        .iter()
        .find(|p| p.name == "exec/hello")
        .ok_or("tests/guest/exec/hello.c is missing")?;
    let hello_dynamic = compile(hello, &headers, &gcc, false)?;

    let tmp = cache.join(format!("{}.tmp-{}", key.hex(), std::process::id()));
    if tmp.exists() {
        io(&tmp, fs::remove_dir_all(&tmp))?;
    }
    populate(&tmp, &busybox, &binaries, &hello_dynamic)?;
    publish(&tmp, &path)?;
    Ok(Rootfs { path })
}

/// Renames the finished root `tmp` into place at `path` and writes its
/// manifest beside it (`<path>.manifest`, by `scripts/rootfs-manifest.sh`),
/// which `scripts/test.sh` checks the root against after the suite. If
/// another process published the same key first, theirs is used.
pub(crate) fn publish(tmp: &Path, path: &Path) -> Result<(), String> {
    let manifest = Command::new(workspace_root().join("scripts/rootfs-manifest.sh"))
        .arg(tmp)
        .output()
        .map_err(|e| format!("scripts/rootfs-manifest.sh: {e}"))?;
    if !manifest.status.success() {
        return Err(format!(
            "scripts/rootfs-manifest.sh {}: {}",
            tmp.display(),
            String::from_utf8_lossy(&manifest.stderr)
        ));
    }
    match fs::rename(tmp, path) {
        Ok(()) => {
            let mut manifest_path = path.as_os_str().to_owned();
            manifest_path.push(".manifest");
            io(
                Path::new(&manifest_path),
                fs::write(&manifest_path, manifest.stdout),
            )
        }
        Err(_) if path.is_dir() => {
            let _ = fs::remove_dir_all(tmp);
            Ok(())
        }
        Err(e) => Err(format!("rename to {}: {e}", path.display())),
    }
}

fn populate(
    root: &Path,
    busybox: &Path,
    binaries: &[(String, PathBuf)],
    hello_dynamic: &Path,
) -> Result<(), String> {
    // `sys` as every Linux root has one: runc, run on this root by the
    // OCI tests, would otherwise make it there (a mount point of its
    // default config) and change the cached root.
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "guest", "bad",
    ] {
        mkdir(&root.join(dir), 0o755)?;
    }
    mkdir(&root.join("tmp"), 0o1777)?;

    let bin = root.join("bin");
    io(&bin, fs::copy(busybox, bin.join("busybox")))?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("{} --list: {e}", busybox.display()))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !applet.is_empty() && applet != "busybox" {
            let link = bin.join(applet);
            io(&link, symlink("busybox", &link))?;
        }
    }

    write(
        &root.join("etc/passwd"),
        b"root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    write(&root.join("etc/group"), b"root:x:0:\n", 0o644)?;

    fixtures(&root.join("data"))?;

    for (name, bin) in binaries {
        let dst = root.join("guest").join(name);
        io(
            dst.parent().unwrap(),
            fs::create_dir_all(dst.parent().unwrap()),
        )?;
        io(&dst, fs::copy(bin, &dst))?;
    }

    bad_executables(
        &root.join("bad"),
        &root.join("guest/exec/hello"),
        hello_dynamic,
    )
}

/// Text and a small tree for the busybox applets.
fn fixtures(data: &Path) -> Result<(), String> {
    write(
        &data.join("words.txt"),
        b"pear\napple\nfig\nbanana\napple\ncherry\nDate\nelderberry\nfig\ngrape\n",
        0o644,
    )?;
    write(
        &data.join("numbers.txt"),
        b"10\n2\n33\n4\n-5\n100\n7\n2\n",
        0o644,
    )?;
    write(
        &data.join("table.csv"),
        b"name,qty,price\nbolt,10,0.25\nnut,25,0.10\nwasher,100,0.05\nscrew,7,0.30\n",
        0o644,
    )?;
    write(
        &data.join("lorem.txt"),
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n\
          Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.\n\
          Ut enim ad minim veniam, quis nostrud exercitation ullamco.\n\
          \n\
          Duis aute irure dolor in reprehenderit in voluptate velit esse.\n\
          Excepteur sint occaecat cupidatat non proident, sunt in culpa.\n",
        0o644,
    )?;
    let binary: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    write(&data.join("binary.dat"), &binary, 0o644)?;
    write(&data.join("empty"), b"", 0o644)?;
    let tree = data.join("tree");
    write(
        &tree.join("a/b/c.txt"),
        b"deep file\nwith a needle\n",
        0o644,
    )?;
    write(&tree.join("a/d.txt"), b"needle in d\n", 0o644)?;
    write(&tree.join("e/f.txt"), b"no match here\n", 0o600)?;
    write(&tree.join("e/g.log"), b"log line needle\n", 0o640)?;
    mkdir(&tree.join("empty-dir"), 0o755)?;
    let link = |target: &str, name: &str| {
        let path = tree.join(name);
        io(&path, symlink(target, &path))
    };
    link("a/d.txt", "link")?;
    link("a", "dirlink")?;
    link("does-not-exist", "dangling")
}

/// A 120-byte ELF (header plus one PT_LOAD) that is valid in every respect
/// except that it is built for aarch64.
fn aarch64_elf() -> Vec<u8> {
    let mut e = Vec::with_capacity(120);
    e.extend_from_slice(b"\x7fELF");
    e.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, v1, SysV
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    e.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    e.extend_from_slice(&0x40_0078u64.to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 1, 64, 0, 0] {
        // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
        e.extend_from_slice(&half.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    e.extend_from_slice(&0u64.to_le_bytes()); // offset
    e.extend_from_slice(&0x40_0000u64.to_le_bytes()); // vaddr
    e.extend_from_slice(&0x40_0000u64.to_le_bytes()); // paddr
    e.extend_from_slice(&120u64.to_le_bytes()); // filesz
    e.extend_from_slice(&120u64.to_le_bytes()); // memsz
    e.extend_from_slice(&0x1000u64.to_le_bytes()); // align
    assert_eq!(e.len(), 120);
    e
}

fn bad_executables(bad: &Path, hello: &Path, hello_dynamic: &Path) -> Result<(), String> {
    let elf = read(hello)?;
    write(
        &bad.join("text-without-shebang"),
        b"echo this is not a program\n",
        0o755,
    )?;
    write(&bad.join("empty"), b"", 0o755)?;
    write(&bad.join("elf-cut-in-header"), &elf[..20], 0o755)?;
    // The header says the program headers start at byte 64; keep half of
    // the first one.
    write(
        &bad.join("elf-cut-in-program-headers"),
        &elf[..64 + 28],
        0o755,
    )?;
    write(&bad.join("aarch64"), &aarch64_elf(), 0o755)?;
    mkdir(&bad.join("directory"), 0o755)?;
    write(&bad.join("not-executable"), &elf, 0o644)?;
    write(
        &bad.join("dynamic-without-interpreter"),
        &read(hello_dynamic)?,
        0o755,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_keys_separate_fields() {
        let a = Fnv::new().field(b"ab").field(b"c").hex();
        let b = Fnv::new().field(b"a").field(b"bc").hex();
        assert_ne!(a, b);
    }

    #[test]
    fn crafted_aarch64_header_names_aarch64() {
        let e = aarch64_elf();
        assert_eq!(&e[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([e[18], e[19]]), 183);
    }
}
