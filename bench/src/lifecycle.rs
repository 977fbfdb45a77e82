//! The bare OCI lifecycle, driven as an engine drives it: one runtime
//! call per verb (`create`, `start`, `delete`) and, between them, a wait
//! for the container's first process to exit.
//!
//! The bundle is `runc spec`'s default on the harness's root (the static
//! `/true` and busybox), with `terminal` off and `/true` as the process:
//! the same config for every runtime, with no Docker seccomp profile,
//! since the cycle measures container set-up and teardown rather than the
//! syscall path.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bundle::Bundle;
use crate::runtime::output_of;

/// How often the wait for exit looks at the container's process: often
/// enough that it adds at most this to a cycle of tens of milliseconds,
/// rarely enough to cost nothing measurable.
const EXIT_POLL: Duration = Duration::from_millis(1);

/// Writes `runc spec`'s default config into `bundle`, running `argv`
/// without a terminal.
pub fn write_runc_spec(bundle: &Bundle, argv: &[String]) -> Result<()> {
    output_of(
        Command::new("runc")
            .arg("spec")
            .arg("--bundle")
            .arg(&bundle.dir),
        "runc spec",
    )?;
    let path = bundle.config_path();
    let text = fs::read_to_string(&path).context("reading runc spec's config.json")?;
    let mut config: Value = serde_json::from_str(&text).context("parsing runc spec's config")?;
    set_process(&mut config, argv)?;
    bundle.write_config(&config)
}

/// Turns a default spec's interactive shell into `argv`, without a
/// terminal (there is no console socket to hand one to).
fn set_process(config: &mut Value, argv: &[String]) -> Result<()> {
    let process = config
        .get_mut("process")
        .and_then(Value::as_object_mut)
        .context("the spec has no process")?;
    process.insert("terminal".into(), json!(false));
    process.insert("args".into(), json!(argv));
    Ok(())
}

/// Waits until process `pid` has exited: it is gone, or a zombie that its
/// new parent (the container's init is orphaned when `create` returns)
/// has not reaped yet.
pub fn wait_for_exit(pid: u32, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while is_running(pid) {
        if Instant::now() >= deadline {
            bail!("the container's process {pid} still runs after {timeout:?}");
        }
        thread::sleep(EXIT_POLL);
    }
    Ok(())
}

fn is_running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| state_of(&stat))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// The state letter of a `/proc/PID/stat` line (after the command name,
/// which may hold spaces and parentheses).
fn state_of(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The pid `create --pid-file` wrote.
pub fn read_pid_file(path: &Path) -> Result<u32> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("create wrote no pid file at {}", path.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("pid file holds {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_runs_argv_without_terminal() {
        let mut config = json!({"process": {"terminal": true, "args": ["sh"], "cwd": "/"}});
        set_process(&mut config, &["/true".to_string()]).unwrap();
        assert_eq!(
            config["process"],
            json!({"terminal": false, "args": ["/true"], "cwd": "/"})
        );
        assert!(set_process(&mut json!({}), &[]).is_err());
    }

    #[test]
    fn exit_is_seen_in_the_process_state() {
        assert_eq!(state_of("12 (a) b) Z 1 12"), Some('Z'));
        assert_eq!(state_of("12 (true) S 1 12"), Some('S'));
        assert!(is_running(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie counts as exited.
        wait_for_exit(pid, Duration::from_secs(10)).unwrap();
        child.wait().unwrap();
        assert!(!is_running(pid));
        let err = wait_for_exit(std::process::id(), Duration::from_millis(5)).unwrap_err();
        assert!(err.to_string().contains("still runs"), "{err}");
    }

    #[test]
    fn pid_files_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pid");
        assert!(read_pid_file(&path).is_err());
        fs::write(&path, "1234").unwrap();
        assert_eq!(read_pid_file(&path).unwrap(), 1234);
    }
}
