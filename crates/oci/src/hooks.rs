//! OCI hooks: programs the engine asks the runtime to run at lifecycle
//! points, each given the container's state as JSON on its stdin.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::state::OciState;

/// Runs `hooks` in order with `state` on their stdin; the first failure
/// (exit status, signal, timeout) stops the list and is returned.
pub fn run_all(point: &str, hooks: &[Hook], state: &OciState) -> Result<()> {
    let json = serde_json::to_vec(state).expect("state serializes");
    for hook in hooks {
        run_one(point, hook, &json)?;
    }
    Ok(())
}

fn run_one(point: &str, hook: &Hook, state: &[u8]) -> Result<()> {
    let path = hook.path();
    let fail = |why: String| Error::Hook(format!("{point} hook {}: {why}", path.display()));
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(path);
    if let Some((arg0, rest)) = args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut command, arg0);
        command.args(rest);
    }
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    tracing::debug!(point, path = %path.display(), "running hook");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            if status.success() {
                return Ok(());
            }
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return Err(fail(format!("{status}: {}", stderr.trim())));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail("timed out".into()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;
    use oci_spec::runtime::HookBuilder;

    fn state() -> OciState {
        OciState {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            status: Status::Created,
            pid: 42,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            owner: "root".into(),
            annotations: Default::default(),
        }
    }

    fn sh(script: &str) -> Hook {
        HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), script.into()])
            .env(vec!["OUT=x".into()])
            .build()
            .unwrap()
    }

    #[test]
    fn hooks_get_the_state_on_stdin_and_their_env() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("state");
        let hook = sh(&format!(
            "cat > {}; echo $OUT >> {}",
            out.display(),
            out.display()
        ));
        run_all("prestart", &[hook], &state()).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let (json, env) = text.rsplit_once('}').unwrap();
        let parsed: OciState = serde_json::from_str(&format!("{json}}}")).unwrap();
        assert_eq!(parsed, state());
        assert_eq!(env.trim(), "x");
    }

    #[test]
    fn a_failing_hook_stops_the_list_with_its_message() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("ran");
        let hooks = [
            sh("echo broken >&2; exit 3"),
            sh(&format!("touch {}", marker.display())),
        ];
        let err = run_all("poststop", &hooks, &state())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("poststop hook /bin/sh") && err.contains("broken"),
            "{err}"
        );
        assert!(!marker.exists());
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed() {
        let mut hook = sh("sleep 30");
        hook.set_timeout(Some(1));
        let started = Instant::now();
        let err = run_all("prestart", &[hook], &state())
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
