//! Where oxbox's logs go: stderr, or the engine's `--log` file.
//!
//! Engines read the runtime's errors from its log file: containerd's
//! go-runc decodes it as a stream of logrus JSON objects and shows the
//! last `"level":"error"` message to the user, so with `--log-format json`
//! every line written there is such an object.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use oxbox_abi::boot::LogLevel;
use tracing_subscriber::fmt::MakeWriter;

use crate::commands::runtime::GlobalArgs;

/// The log destination chosen by the global flags.
#[derive(Debug)]
pub struct Destination {
    file: Option<PathBuf>,
    json: bool,
}

impl Destination {
    /// From `--log` and `--log-format`.
    pub fn from_args(args: &GlobalArgs) -> Self {
        Self {
            file: args.log.clone(),
            json: args.log_format == "json",
        }
    }

    /// Installs the `tracing` subscriber at `level`.
    pub fn init(&self, level: LogLevel) -> anyhow::Result<()> {
        let filter = match level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
        };
        let builder = tracing_subscriber::fmt()
            .with_max_level(filter)
            .with_target(false);
        match &self.file {
            None => builder.with_writer(std::io::stderr).without_time().init(),
            Some(path) => {
                let file = open(path)
                    .with_context(|| format!("cannot open log file {}", path.display()))?;
                let writer = SharedFile(Arc::new(Mutex::new(file)));
                if self.json {
                    builder
                        .json()
                        .flatten_event(true)
                        .with_writer(writer)
                        .init()
                } else {
                    builder.with_ansi(false).with_writer(writer).init()
                }
            }
        }
        Ok(())
    }

    /// Records the error that ends the command, in the log file if there
    /// is one (the caller prints it on stderr too).
    pub fn error(&self, message: &str) {
        let Some(path) = &self.file else { return };
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let line = if self.json {
            serde_json::json!({ "level": "error", "msg": message, "time": time }).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={message:?}")
        };
        if let Ok(mut file) = open(path) {
            let _ = writeln!(file, "{line}");
        }
    }
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The log file, shared by the subscriber's writers.
#[derive(Clone)]
struct SharedFile(Arc<Mutex<File>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log file lock").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().expect("log file lock").flush()
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = SharedFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_logrus_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let log = Destination {
            file: Some(path.clone()),
            json: true,
        };
        log.error("container \"x\" does not exist");
        log.error("second");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["level"], "error");
        assert_eq!(lines[0]["msg"], "container \"x\" does not exist");
        assert!(lines[0]["time"].as_str().unwrap().contains('T'));
    }
}
