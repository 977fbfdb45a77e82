//! What machine the numbers were taken on.
//!
//! A benchmark number without its machine is not comparable: the same
//! getppid costs 60 ns on bare metal and 200 ns under nested
//! virtualization, and seccomp's cost moves with the kernel version.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::Machine;

/// Collects CPU, kernel, compiler and commit. Runtime versions are added
/// by the caller, which knows which runtimes were asked for.
pub fn describe(workspace: &Path) -> Machine {
    Machine {
        cpu: cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        versions: Default::default(),
        gcc: output_line(Command::new("gcc").arg("--version")),
        commit: output_line(Command::new("git").arg("-C").arg(workspace).args([
            "rev-parse",
            "--short",
            "HEAD",
        ])),
        load_before: load_average(),
        load_after: None,
        started_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// The 1-minute load average: above zero-ish, something else competes
/// for the cores and the numbers are noisier.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    parse_load_average(&text)
}

fn parse_load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    parse_cpu_model(&cpuinfo)
}

/// The first `model name` of `/proc/cpuinfo`.
fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

fn output_line(command: &mut Command) -> Option<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_average_is_the_first_field() {
        assert_eq!(
            parse_load_average("1.05 0.67 0.31 2/345 6789\n"),
            Some(1.05)
        );
        assert_eq!(parse_load_average(""), None);
    }

    #[test]
    fn cpu_model_is_the_first_model_name() {
        let info = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\
                    processor\t: 1\nmodel name\t: AMD EPYC\n";
        assert_eq!(parse_cpu_model(info).as_deref(), Some("AMD EPYC"));
        assert_eq!(parse_cpu_model("processor : 0\n"), None);
    }
}
