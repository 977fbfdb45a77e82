//! Workloads: guest programs, how to build them and how to read their
//! result.
//!
//! A workload is a small C program compiled `-static` so that the same
//! binary runs natively, as the only file of a container rootfs, and under
//! oxbox without a dynamic loader in the way. Each program does its own
//! timing and prints one `key=value` line: the harness then measures the
//! operation, not container start-up.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// How many iterations a workload runs, before and after calibration.
#[derive(Debug, Clone, Copy)]
pub struct Iterations {
    /// The pilot run's count: short even on the slowest runtime (gVisor's
    /// ptrace platform costs ~65 us per getppid).
    pub pilot: u64,
    /// An upper bound, so that a very fast runtime still finishes quickly.
    pub max: u64,
}

/// One benchmark program.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub name: &'static str,
    /// One line for the report's heading.
    pub description: &'static str,
    /// File name of the C source, for messages and the cache key.
    pub source_name: &'static str,
    /// The C source, embedded so the harness binary is self-contained.
    pub source: &'static str,
    /// The unit of the number the program prints.
    pub unit: &'static str,
    pub iterations: Iterations,
    /// The syscall the loop makes once per iteration, if any: a counting
    /// run that reports fewer calls of it than iterations has counters
    /// that miss calls, and its patched fraction cannot be trusted.
    pub loop_syscall: Option<&'static str>,
    /// The guest's argv after argv[0] for a given iteration count.
    pub args: fn(u64) -> Vec<String>,
    /// Extracts the measurement from the guest's stdout.
    pub parse: fn(&str) -> Result<f64>,
}

/// The flags every workload is built with.
const CFLAGS: &[&str] = &["-O2", "-static"];

/// `getppid()` in a loop: the raw cost of entering the kernel, and the
/// headline number of a syscall-interception runtime.
pub const GETPPID: Workload = Workload {
    name: "getppid",
    description: "glibc getppid() in a loop",
    source_name: "getppid.c",
    source: include_str!("../workloads/getppid.c"),
    unit: "ns/op",
    iterations: Iterations {
        pilot: 2_000,
        max: 10_000_000,
    },
    loop_syscall: Some("getppid"),
    args: iteration_count_arg,
    parse: parse_ns_per_op,
};

/// A workload that takes its iteration count as its only argument and
/// prints `ns_per_op=`, with no single syscall per iteration to check.
const fn timed_loop(
    name: &'static str,
    description: &'static str,
    source_name: &'static str,
    source: &'static str,
    iterations: Iterations,
) -> Workload {
    Workload {
        name,
        description,
        source_name,
        source,
        unit: "ns/op",
        iterations,
        loop_syscall: None,
        args: iteration_count_arg,
        parse: parse_ns_per_op,
    }
}

fn iteration_count_arg(n: u64) -> Vec<String> {
    vec![n.to_string()]
}

/// `fork()` + `_exit()` + `waitpid()`: process creation and teardown.
pub const FORK_WAIT: Workload = timed_loop(
    "fork_wait",
    "fork + exit + waitpid (process creation)",
    "fork_wait.c",
    include_str!("../workloads/fork_wait.c"),
    Iterations {
        pilot: 20,
        max: 20_000,
    },
);

/// `fork()` + `execve()` of a static program + `waitpid()`.
pub const FORK_EXEC: Workload = timed_loop(
    "fork_exec",
    "fork + execve of a static program + waitpid",
    "fork_exec.c",
    include_str!("../workloads/fork_exec.c"),
    Iterations {
        pilot: 10,
        max: 5_000,
    },
);

/// One byte back and forth between two processes over two pipes.
pub const PIPE_PINGPONG: Workload = timed_loop(
    "pipe_pingpong",
    "pipe round trip between two processes (latency)",
    "pipe_pingpong.c",
    include_str!("../workloads/pipe_pingpong.c"),
    Iterations {
        pilot: 200,
        max: 200_000,
    },
);

/// Every workload, in report order.
pub const ALL: &[Workload] = &[GETPPID, FORK_WAIT, FORK_EXEC, PIPE_PINGPONG];

/// Finds a workload by name.
pub fn by_name(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name == name)
}

impl Workload {
    /// The guest's path inside a container rootfs.
    pub fn guest_path(&self) -> String {
        format!("/{}", self.name)
    }

    /// Builds the program with gcc, or returns the cached binary.
    ///
    /// The cache key hashes the source and the flags, so an edited
    /// workload is rebuilt and an unchanged one never is.
    pub fn build(&self, cache_dir: &Path) -> Result<PathBuf> {
        let binary = cache_dir.join(format!("{}-{}", self.name, self.cache_key()));
        if binary.is_file() {
            return Ok(binary);
        }
        fs::create_dir_all(cache_dir)
            .with_context(|| format!("creating {}", cache_dir.display()))?;
        let source = cache_dir.join(format!("{}.{}", self.cache_key(), self.source_name));
        fs::write(&source, self.source).with_context(|| format!("writing {}", source.display()))?;
        // Build beside the final name and rename: an interrupted build
        // never leaves a truncated binary that looks cached.
        let partial = binary.with_extension("partial");
        let output = Command::new("gcc")
            .args(CFLAGS)
            .arg("-o")
            .arg(&partial)
            .arg(&source)
            .output()
            .context("running gcc (is it installed?)")?;
        if !output.status.success() {
            bail!(
                "gcc failed on {}: {}",
                self.source_name,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        fs::rename(&partial, &binary)
            .with_context(|| format!("renaming to {}", binary.display()))?;
        Ok(binary)
    }

    fn cache_key(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(CFLAGS.join(" "));
        hash.update([0]);
        hash.update(self.source);
        hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Reads the `ns_per_op=<float>` line a timing loop prints.
pub fn parse_ns_per_op(stdout: &str) -> Result<f64> {
    parse_key(stdout, "ns_per_op")
}

/// Finds `key=<float>` on a line of its own; the last one wins, so a
/// program may print progress before its result.
fn parse_key(stdout: &str, key: &str) -> Result<f64> {
    let Some(value) = stdout
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
    else {
        bail!("no '{key}=' line in output: {:?}", excerpt(stdout));
    };
    let number: f64 = value
        .trim()
        .parse()
        .with_context(|| format!("'{key}={value}' is not a number"))?;
    if !number.is_finite() || number < 0.0 {
        bail!("'{key}={value}' is not a valid measurement");
    }
    Ok(number)
}

/// The start of a long output, for error messages.
fn excerpt(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_per_op_is_read_from_its_line() {
        assert_eq!(parse_ns_per_op("ns_per_op=219.478\n").unwrap(), 219.478);
        assert_eq!(parse_ns_per_op("warming up\nns_per_op=6.5\n").unwrap(), 6.5);
    }

    #[test]
    fn the_last_result_line_wins() {
        assert_eq!(parse_ns_per_op("ns_per_op=1\nns_per_op=2\n").unwrap(), 2.0);
    }

    #[test]
    fn missing_or_malformed_results_are_errors() {
        assert!(parse_ns_per_op("").is_err());
        assert!(parse_ns_per_op("ns_per_op=fast\n").is_err());
        assert!(parse_ns_per_op("ns_per_op=-1\n").is_err());
        assert!(parse_ns_per_op("ns_per_op=nan\n").is_err());
        // A key that merely starts the same is not the result.
        assert!(parse_ns_per_op("ns_per_op_x=3\n").is_err());
    }

    #[test]
    fn getppid_takes_the_iteration_count_as_its_only_argument() {
        assert_eq!((GETPPID.args)(1000), ["1000"]);
        assert_eq!(GETPPID.guest_path(), "/getppid");
    }

    #[test]
    fn cache_key_is_stable_and_depends_on_the_source() {
        let a = GETPPID.cache_key();
        assert_eq!(a, GETPPID.cache_key());
        assert_eq!(a.len(), 16);
        let edited = Workload {
            source: "int main(void) { return 0; }",
            ..GETPPID
        };
        assert_ne!(a, edited.cache_key());
    }

    #[test]
    fn workloads_are_found_by_name() {
        assert_eq!(by_name("getppid").unwrap().name, "getppid");
        assert!(by_name("nope").is_none());
    }
}
