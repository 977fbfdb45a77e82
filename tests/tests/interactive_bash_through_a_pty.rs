//! An interactive bash in the Debian rootfs, typed at through a
//! pseudo-terminal as a person would: `oxbox do -t` (the guest's own pty as
//! its controlling terminal, relayed to ours) against the same bash run
//! natively in the rootfs under the same pty. The session: a prompt, a
//! command, `stty size`, Ctrl-C interrupting a foreground job, Ctrl-Z
//! stopping one, `jobs`, `bg`, `fg` giving the terminal back to a job that
//! then reads a typed line, and `exit`.
//!
//! util-linux `script` provides the outer pty and passes our keystrokes
//! (Ctrl-C and Ctrl-Z as the bytes a keyboard sends) to it; the steps wait
//! for what the shell prints, so no step depends on timing.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use oxbox_integration::{debian, native_only, oxbox_bin, require_root};

/// What the terminal showed so far, shared with the thread reading it.
type Screen = Arc<(Mutex<Vec<u8>>, Condvar)>;

/// A command running on a fresh pty, typed at and watched.
struct Session {
    side: &'static str,
    child: Child,
    keyboard: ChildStdin,
    screen: Screen,
    /// How much of the screen earlier steps consumed.
    seen: usize,
}

impl Session {
    fn start(side: &'static str, argv: &[String]) -> Session {
        let line = argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        // A harness started in the background of a non-interactive shell
        // has SIGINT and SIGQUIT ignored, which every process below would
        // inherit (Ctrl-C would then stop nothing, natively or not):
        // coreutils' env puts them back to their defaults.
        let mut child = Command::new("env")
            .args(["--default-signal=INT,QUIT", "script"])
            .args(["--quiet", "--return", "--flush", "--command"])
            .arg(line)
            .arg("/dev/null")
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("TERM", "dumb")
            .env("HOME", "/root")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("util-linux script runs");
        let keyboard = child.stdin.take().unwrap();
        let mut tty = child.stdout.take().unwrap();
        let screen: Screen = Arc::default();
        let shown = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = tty.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (text, changed) = &*shown;
                text.lock().unwrap().extend_from_slice(&buf[..n]);
                changed.notify_all();
            }
        });
        Session {
            side,
            child,
            keyboard,
            screen,
            seen: 0,
        }
    }

    fn type_keys(&mut self, keys: &str) {
        self.keyboard.write_all(keys.as_bytes()).unwrap();
        self.keyboard.flush().unwrap();
    }

    /// Waits until the terminal shows `want` after what earlier steps
    /// consumed, and consumes up to its end. Gives up (with the whole
    /// transcript) only when the harness's hang limit passes.
    fn expect(&mut self, want: &str) {
        let limit = Instant::now() + Duration::from_secs(60);
        let (text, changed) = &*self.screen;
        let mut shown = text.lock().unwrap();
        loop {
            if let Some(at) = shown[self.seen..]
                .windows(want.len())
                .position(|w| w == want.as_bytes())
            {
                self.seen += at + want.len();
                return;
            }
            let now = Instant::now();
            assert!(
                now < limit,
                "[{}] the terminal never showed {want:?}; transcript:\n{}",
                self.side,
                String::from_utf8_lossy(&shown)
            );
            shown = changed.wait_timeout(shown, limit - now).unwrap().0;
        }
    }

    fn finish(mut self) -> i32 {
        drop(self.keyboard);
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }
}

/// The prompt the session sets: `\u` expands to `root`, so the echo of the
/// line that sets it never looks like it.
const PS1: &str = r"\u@box\$ ";
const PROMPT: &str = "root@box# ";

/// A job that announces itself, then waits for a typed line. (It prints
/// [`READY`], which the echo of its command line does not show.)
const READER: &str = "sh -c 'echo ready-$((1+1)); read l; echo got=$l'";
/// A job that announces itself, then sleeps (sh execs into sleep).
const SLEEPER: &str = "sh -c 'echo ready-$((1+1)); exec sleep 30'";
const READY: &str = "ready-2";

fn job_control_session(side: &'static str, argv: &[String]) {
    let mut s = Session::start(side, argv);
    s.type_keys(&format!("PS1='{PS1}'\n"));
    s.expect(PROMPT);

    s.type_keys("echo hi $((6*7))\n");
    s.expect("hi 42");
    s.expect(PROMPT);
    // script's pty has no window size: 0 rows, 0 columns.
    s.type_keys("stty size; echo stty=$?\n");
    s.expect("0 0\r\nstty=0");
    s.expect(PROMPT);

    // Ctrl-C: SIGINT to the foreground job only.
    s.type_keys(&format!("{SLEEPER}\n"));
    s.expect(READY);
    s.type_keys("\x03");
    s.expect(PROMPT);
    s.type_keys("echo status=$?\n");
    s.expect("status=130");
    s.expect(PROMPT);

    // Ctrl-Z stops the foreground job; bg runs it on in the background.
    s.type_keys(&format!("{SLEEPER}\n"));
    s.expect(READY);
    s.type_keys("\x1a");
    s.expect(&format!("[1]+  Stopped                 {SLEEPER}"));
    s.expect(PROMPT);
    s.type_keys("jobs\n");
    s.expect(&format!("[1]+  Stopped                 {SLEEPER}"));
    s.expect(PROMPT);
    s.type_keys("bg\n");
    s.expect(&format!("[1]+ {SLEEPER} &"));
    s.expect(PROMPT);
    s.type_keys("jobs\n");
    s.expect(&format!("[1]+  Running                 {SLEEPER} &"));
    s.expect(PROMPT);
    s.type_keys("kill %1; wait %1; echo killed=$?\n");
    s.expect("killed=143");
    s.expect(PROMPT);

    // fg gives the terminal back to a stopped job, which reads from it.
    s.type_keys(&format!("{READER}\n"));
    s.expect(READY);
    s.type_keys("\x1a");
    s.expect("Stopped");
    s.expect(PROMPT);
    s.type_keys("fg\n");
    s.expect(&format!("{READER}\r\n"));
    s.type_keys("typed\n");
    s.expect("got=typed");
    s.expect(PROMPT);

    s.type_keys("exit 3\n");
    assert_eq!(s.finish(), 3, "[{side}] bash's exit status");
}

#[test]
fn interactive_bash_job_control_matches_native() {
    require_root!();
    let rootfs = debian().path().to_string_lossy().into_owned();
    // No history file: bash would write /root/.bash_history into the
    // cached root at exit.
    let shell = [
        "/usr/bin/env",
        "HISTFILE=/dev/null",
        "/bin/bash",
        "--norc",
        "--noprofile",
        "-i",
    ]
    .map(String::from);
    let native: Vec<String> = ["unshare", "--pid", "--fork", "--mount", "--uts", "chroot"]
        .map(String::from)
        .into_iter()
        .chain([rootfs.clone()])
        .chain(shell.clone())
        .collect();
    job_control_session("native", &native);
    if native_only() {
        return;
    }
    let oxbox: Vec<String> = [oxbox_bin().to_string_lossy().into_owned()]
        .into_iter()
        .chain(["do", "-t", "--rootfs"].map(String::from))
        .chain([rootfs, "--".into()])
        .chain(shell)
        .collect();
    job_control_session("oxbox", &oxbox);
}
