//! Files that are not runnable programs are refused by the kernel the way
//! Linux refuses them: the same errno (learnt from the host kernel by a
//! native `execve` probe), exit status 127 for ENOENT and 126 otherwise (as
//! shells and runc report), and a message on stderr naming the problem.
//! Usage errors of `oxbox do` itself exit 125.

use oxbox_integration::rootfs::BAD_EXECUTABLES;
use oxbox_integration::{Compare, Outcome, Run, native_only, oxbox_bin, require_root, rootfs};

/// What Linux says when asked to execute `path` in the rootfs:
/// `(errno name, strerror text)`.
fn native_errno(path: &str) -> (String, String) {
    let probe = Run::guest("exec/probe").arg(path).native();
    let line = probe.stdout();
    let rest = line
        .strip_prefix("errno ")
        .unwrap_or_else(|| panic!("the probe did not report an errno:\n{}", probe.describe()));
    let name = rest.trim().to_string();
    (name.clone(), strerror(&name))
}

/// The glibc messages of the errnos exec can give here.
fn strerror(name: &str) -> String {
    match name {
        "ENOENT" => "No such file or directory",
        "ENOEXEC" => "Exec format error",
        "EACCES" => "Permission denied",
        "EIO" => "Input/output error",
        "EISDIR" => "Is a directory",
        "ENOTDIR" => "Not a directory",
        "ELIBBAD" => "Accessing a corrupted shared library",
        other => panic!("no message known for {other}"),
    }
    .to_string()
}

fn refused_like_linux(path: &str) {
    let (errno, message) = native_errno(path);
    assert_ne!(errno, "E?", "the native probe executed {path}");
    let want = if errno == "ENOENT" { 127 } else { 126 };
    if native_only() {
        eprintln!("{path}: native errno {errno}; oxbox run skipped");
        return;
    }
    let o = Run::new([path]).oxbox();
    let stderr = o.stderr();
    assert_eq!(
        o.status,
        want,
        "{path} (natively {errno}) must exit {want}\n{}",
        o.describe()
    );
    assert!(
        stderr.contains(&message) || stderr.contains(&errno),
        "the message for {path} must say {message:?} ({errno})\n{}",
        o.describe()
    );
    assert!(
        stderr.contains(path),
        "the message must name {path}\n{}",
        o.describe()
    );
    assert!(o.stdout.is_empty(), "{}", o.describe());
}

/// The control: a good static program runs and prints the same.
#[test]
fn a_static_program_runs() {
    require_root!();
    let (native, _) = Run::new(["/guest/exec/hello"]).matches_native(Compare::All);
    assert_eq!(native.stdout(), "hello from a static guest\n");
}

#[test]
fn every_bad_executable_is_listed_and_present() {
    require_root!();
    for (path, what) in BAD_EXECUTABLES {
        let exists = rootfs().host_path(path).symlink_metadata().is_ok();
        assert_eq!(exists, *path != "/bad/missing", "{path}: {what}");
    }
}

#[test]
fn a_missing_file_is_enoent_127() {
    require_root!();
    refused_like_linux("/bad/missing");
}

#[test]
fn a_text_file_without_shebang_is_refused() {
    require_root!();
    refused_like_linux("/bad/text-without-shebang");
}

#[test]
fn an_empty_file_is_refused() {
    require_root!();
    refused_like_linux("/bad/empty");
}

#[test]
fn an_elf_cut_in_its_header_is_refused() {
    require_root!();
    refused_like_linux("/bad/elf-cut-in-header");
}

#[test]
fn an_elf_cut_in_its_program_headers_is_refused() {
    require_root!();
    refused_like_linux("/bad/elf-cut-in-program-headers");
}

#[test]
fn an_aarch64_elf_is_refused() {
    require_root!();
    refused_like_linux("/bad/aarch64");
}

#[test]
fn a_directory_is_refused() {
    require_root!();
    refused_like_linux("/bad/directory");
}

#[test]
fn a_file_without_execute_permission_is_refused() {
    require_root!();
    refused_like_linux("/bad/not-executable");
}

#[test]
fn a_dynamic_elf_without_its_interpreter_is_refused() {
    require_root!();
    refused_like_linux("/bad/dynamic-without-interpreter");
}

/// A bare name is looked up in the guest's PATH; a name found nowhere is
/// ENOENT, 127, as in a shell.
#[test]
fn a_command_not_in_path_is_127() {
    require_root!();
    let run = Run::new(["no-such-command"]);
    let native = run.native();
    assert_eq!(native.status, 127, "{}", native.describe());
    if native_only() {
        return;
    }
    let o = run.oxbox();
    assert_eq!(o.status, 127, "{}", o.describe());
    assert!(o.stderr().contains("no-such-command"), "{}", o.describe());
}

fn oxbox_do(args: &[&str]) -> Outcome {
    let out = std::process::Command::new(oxbox_bin())
        .arg("do")
        .args(args)
        .output()
        .expect("running oxbox");
    Outcome {
        side: "oxbox",
        command: format!("oxbox do {}", args.join(" ")),
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

#[test]
fn a_missing_rootfs_is_a_usage_error_125() {
    require_root!();
    if native_only() {
        return;
    }
    let o = oxbox_do(&["--rootfs", "/nonexistent/rootfs", "--", "/bin/true"]);
    assert_eq!(o.status, 125, "{}", o.describe());
    assert!(
        o.stderr().contains("/nonexistent/rootfs"),
        "{}",
        o.describe()
    );
}

#[test]
fn a_missing_command_is_a_usage_error_125() {
    require_root!();
    if native_only() {
        return;
    }
    let root = rootfs().path().to_string_lossy().into_owned();
    let o = oxbox_do(&["--rootfs", &root]);
    assert_eq!(o.status, 125, "{}", o.describe());
}
