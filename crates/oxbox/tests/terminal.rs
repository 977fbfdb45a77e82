//! oxbox under a terminal: the guest shares it, gets a /dev/tty, and the
//! terminal's ^C reaches it. Needs root; skips otherwise.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use common::{CONTAINER_DEV, can_run_containers, oxbox};

/// Starts `oxbox do -- <args>` as a session leader whose controlling
/// terminal is a new pty; returns the child and the pty's master side.
fn spawn_on_pty(args: &[&str]) -> (Child, File) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave: OwnedFd = pty.slave;
    let mut cmd = oxbox();
    cmd.args(["do", "--"]).args(args);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()));
    cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
    cmd.stderr(Stdio::from(slave));
    // SAFETY: runs in the forked child before exec and only calls setsid
    // and ioctl, both async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    (child, File::from(pty.master))
}

/// Reads from the pty until `needle` has been seen; returns everything read.
fn read_until(master: &mut File, needle: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let n = master.read(&mut buf).unwrap();
        assert!(n > 0, "pty closed before {needle:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

#[test]
fn terminal_interrupt_reaches_the_guest() {
    if !can_run_containers() {
        return;
    }
    let (mut child, mut master) = spawn_on_pty(&["wait-signal"]);
    read_until(&mut master, "ready");
    master.write_all(b"\x03").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(100 + libc::SIGINT));
}

#[test]
fn guest_with_a_terminal_gets_dev_tty() {
    if !can_run_containers() {
        return;
    }
    let (mut child, mut master) = spawn_on_pty(&["report"]);
    let seen = read_until(&mut master, "dev_zero_reads_zero");
    let dev = seen
        .lines()
        .find(|l| l.starts_with("dev="))
        .unwrap()
        .trim_end();
    assert_eq!(dev, format!("dev={CONTAINER_DEV}"));
    assert!(child.wait().unwrap().success());
}
