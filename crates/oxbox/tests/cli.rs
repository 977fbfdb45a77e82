//! The command line: usage errors, version, and errors found before any
//! container exists. None of these need root.

mod common;

use common::{assert_oxbox_error, oxbox, run, stdout};

#[test]
fn unknown_flag_exits_125() {
    let output = run(&["do", "--frobnicate", "--", "true"]);
    assert_oxbox_error(&output, "unexpected argument '--frobnicate'");
}

#[test]
fn unknown_top_level_flag_exits_125() {
    assert_oxbox_error(&run(&["--frobnicate"]), "--frobnicate");
}

#[test]
fn unknown_subcommand_exits_125() {
    assert_oxbox_error(&run(&["frobnicate"]), "frobnicate");
}

#[test]
fn missing_command_exits_125() {
    assert_oxbox_error(&run(&["do", "--read-only"]), "<CMD>");
    assert_oxbox_error(&run(&["do", "--"]), "<CMD>");
}

#[test]
fn no_subcommand_exits_125() {
    assert_oxbox_error(&run(&[]), "no command given");
}

#[test]
fn missing_rootfs_exits_125() {
    let output = run(&["do", "--rootfs", "/nonexistent/oxbox-rootfs", "--", "true"]);
    assert_oxbox_error(
        &output,
        "rootfs /nonexistent/oxbox-rootfs: No such file or directory",
    );
}

#[test]
fn rootfs_that_is_a_file_exits_125() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let output = run(&[
        "do",
        "--rootfs",
        file.path().to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_oxbox_error(&output, "is not a directory");
}

#[test]
fn missing_kernel_image_exits_125() {
    let output = oxbox()
        .env("OXBOX_KERNEL", "/nonexistent/oxbox-kernel")
        .args(["do", "--", "true"])
        .output()
        .unwrap();
    assert_oxbox_error(&output, "kernel image /nonexistent/oxbox-kernel");
}

#[test]
fn kernel_image_defaults_to_beside_oxbox() {
    let output = oxbox()
        .env_remove("OXBOX_KERNEL")
        .args(["do", "--", "true"])
        .output()
        .unwrap();
    let beside = std::path::Path::new(env!("CARGO_BIN_EXE_oxbox")).with_file_name("oxbox-kernel");
    if beside.exists() {
        return; // the real kernel image is built: nothing to check here
    }
    assert_oxbox_error(&output, &beside.display().to_string());
}

#[test]
fn invalid_hostname_exits_125() {
    for bad in ["a;b", "a=b", "", &"x".repeat(65)] {
        assert_oxbox_error(
            &run(&["do", "--hostname", bad, "--", "true"]),
            "invalid hostname",
        );
    }
}

#[test]
fn invalid_log_level_exits_125() {
    let output = oxbox()
        .env("OXBOX_LOG", "verbose")
        .args(["do", "--", "true"])
        .output()
        .unwrap();
    assert_oxbox_error(&output, "invalid OXBOX_LOG \"verbose\"");
}

#[test]
fn relative_workdir_exits_125() {
    assert_oxbox_error(
        &run(&["do", "-w", "work", "--", "true"]),
        "must be an absolute path",
    );
}

#[test]
fn malformed_env_exits_125() {
    assert_oxbox_error(
        &run(&["do", "-e", "=x", "--", "true"]),
        "invalid environment variable",
    );
}

#[test]
fn version_prints_runc_style_lines() {
    for flag in ["--version", "-v"] {
        let output = run(&[flag]);
        assert!(output.status.success());
        let text = stdout(&output);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "oxbox version 0.1.0");
        let commit = lines[1].strip_prefix("commit: ").expect("commit line");
        assert!(
            commit == "unknown"
                || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert_eq!(lines[2], "spec: 1.2.0");
    }
}

#[test]
fn help_exits_0() {
    let output = run(&["do", "--help"]);
    assert!(output.status.success());
    for flag in [
        "--rootfs",
        "--read-only",
        "--env",
        "--workdir",
        "--hostname",
        "--stats",
    ] {
        assert!(stdout(&output).contains(flag), "{flag}");
    }
}
