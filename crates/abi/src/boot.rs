//! The boot record: what the runtime tells the kernel about its container.
//!
//! The runtime starts every container's first process by `execveat`-ing the
//! kernel image (kept open at `layout::KERNEL_IMAGE_FD`) with
//! `argv = [KERNEL_ARGV0, <encoded boot record>, program, guest argv...]`
//! and the guest's environment as `envp`. The kernel decodes the record,
//! finds the program (searched in the guest `PATH` when the record says so
//! and it has no `/`, as a runtime does for the first process) and starts
//! it with the guest argv. A guest `execve` re-executes the kernel image
//! the same way, with the record carrying the state that survives `execve`
//! (the signal mask and ignored signals, and `RLIMIT_NOFILE`, which the
//! kernel keeps for the guest instead of the host). The record is a short line of
//! `key=value` pairs separated by `;`; values never contain `;`, `=` or NUL
//! (hostnames and numbers only), which [`BootRecord::encode`] checks.

use alloc::string::String;
use core::fmt::Write;

/// `argv[0]` of a kernel process, as `ps` on the host shows it.
pub const KERNEL_ARGV0: &str = "oxbox-kernel";
/// Prefix that identifies (and versions) an encoded record.
const MAGIC: &str = "oxbox-boot/1";

/// The highest hard `RLIMIT_NOFILE` a guest may have: Linux's default
/// `fs.nr_open`, above which `setrlimit` fails with `EPERM`.
pub const NR_OPEN: u64 = 1 << 20;

/// How much the kernel writes to its log descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl LogLevel {
    /// Parses `error`, `warn`, `info` or `debug` (the `OXBOX_LOG` values).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "error" => Self::Error,
            "warn" => Self::Warn,
            "info" => Self::Info,
            "debug" => Self::Debug,
            _ => return None,
        })
    }

    fn from_digit(d: u32) -> Option<Self> {
        [Self::Error, Self::Warn, Self::Info, Self::Debug]
            .get(d as usize)
            .copied()
    }
}

/// The container facts the kernel needs at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootRecord<'a> {
    /// Hostname reported by `uname` inside the container.
    pub hostname: &'a str,
    /// Guest-visible user and group ids.
    pub uid: u32,
    pub gid: u32,
    /// Print per-syscall patched/trapped counters at exit.
    pub stats: bool,
    /// Verbosity of the kernel log.
    pub log_level: LogLevel,
    /// This instance starts the container's first process: the program is
    /// looked up in the guest's `PATH` (as runtimes do) and the kernel
    /// installs its seccomp filter. An instance started by a guest
    /// `execve` runs the exact program named, under the filter it inherited.
    pub first_process: bool,
    /// Signals blocked by the thread that called `execve` (bit `n-1` for signal `n`).
    pub signal_mask: u64,
    /// Signals the process ignored when it called `execve`.
    pub ignored_signals: u64,
    /// The guest's `RLIMIT_NOFILE`: soft, then hard limit.
    pub nofile: [u64; 2],
    /// The guest may raise its hard `RLIMIT_NOFILE` (up to [`NR_OPEN`]), as
    /// a process with `CAP_SYS_RESOURCE` may: it is root, and the runtime
    /// that started the container had the capability.
    pub raise_nofile: bool,
    /// Every UDP socket of the container's stack (`--network sandbox`)
    /// that the image calling `execve` had is a descriptor below this one
    /// (0: it had none), so the new image looks for them only there.
    pub datagrams_below: u32,
}

/// Why a boot record could not be built or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// A value holds a character the encoding reserves.
    ReservedCharacter,
    /// The record does not start with the expected magic and version.
    BadMagic,
    /// A field is missing, repeated with a bad value, or unknown.
    BadField,
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ReservedCharacter => "boot record value contains ';', '=' or NUL",
            Self::BadMagic => "not an oxbox boot record of this version",
            Self::BadField => "boot record has a missing or malformed field",
        })
    }
}

impl<'a> BootRecord<'a> {
    /// Encodes the record as one `argv` string.
    pub fn encode(&self) -> Result<String, BootError> {
        if self.hostname.contains([';', '=', '\0']) {
            return Err(BootError::ReservedCharacter);
        }
        let mut out = String::from(MAGIC);
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            ";hostname={};uid={};gid={};stats={};log={};first={};mask={};ignore={};nofile={};nofile_max={};nofile_raise={};udp_below={}",
            self.hostname,
            self.uid,
            self.gid,
            self.stats as u8,
            self.log_level as u8,
            self.first_process as u8,
            self.signal_mask,
            self.ignored_signals,
            self.nofile[0],
            self.nofile[1],
            self.raise_nofile as u8,
            self.datagrams_below
        );
        Ok(out)
    }

    /// Decodes a record produced by [`BootRecord::encode`].
    pub fn decode(s: &'a str) -> Result<Self, BootError> {
        let mut fields = s.split(';');
        if fields.next() != Some(MAGIC) {
            return Err(BootError::BadMagic);
        }
        let mut hostname = None;
        const KEYS: [&str; 11] = [
            "uid",
            "gid",
            "stats",
            "log",
            "first",
            "mask",
            "ignore",
            "nofile",
            "nofile_max",
            "nofile_raise",
            "udp_below",
        ];
        let mut numbers: [Option<u64>; 11] = [None; 11];
        for field in fields {
            let (key, value) = field.split_once('=').ok_or(BootError::BadField)?;
            if key == "hostname" {
                hostname = Some(value);
                continue;
            }
            let slot = KEYS
                .iter()
                .position(|k| *k == key)
                .ok_or(BootError::BadField)?;
            numbers[slot] = Some(value.parse::<u64>().map_err(|_| BootError::BadField)?);
        }
        let get = |i: usize| numbers[i].ok_or(BootError::BadField);
        let id = |i: usize| get(i).and_then(|v| u32::try_from(v).map_err(|_| BootError::BadField));
        Ok(Self {
            hostname: hostname.ok_or(BootError::BadField)?,
            uid: id(0)?,
            gid: id(1)?,
            stats: get(2)? != 0,
            log_level: LogLevel::from_digit(get(3)? as u32).ok_or(BootError::BadField)?,
            first_process: get(4)? != 0,
            signal_mask: get(5)?,
            ignored_signals: get(6)?,
            nofile: [get(7)?, get(8)?],
            raise_nofile: get(9)? != 0,
            datagrams_below: id(10)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BootRecord<'static> {
        BootRecord {
            hostname: "box-1",
            uid: 1000,
            gid: 100,
            stats: true,
            log_level: LogLevel::Warn,
            first_process: true,
            signal_mask: 1 << 14,
            ignored_signals: u64::MAX >> 1,
            nofile: [64, NR_OPEN],
            raise_nofile: true,
            datagrams_below: 7,
        }
    }

    #[test]
    fn record_survives_encode_and_decode() {
        let encoded = sample().encode().unwrap();
        assert_eq!(BootRecord::decode(&encoded).unwrap(), sample());
    }

    #[test]
    fn reserved_characters_in_hostname_are_refused() {
        let bad = BootRecord {
            hostname: "a;uid=0",
            ..sample()
        };
        assert_eq!(bad.encode(), Err(BootError::ReservedCharacter));
    }

    #[test]
    fn malformed_records_are_refused() {
        assert_eq!(BootRecord::decode("hello"), Err(BootError::BadMagic));
        assert_eq!(
            BootRecord::decode("oxbox-boot/1;uid=x"),
            Err(BootError::BadField)
        );
        assert_eq!(
            BootRecord::decode("oxbox-boot/1;hostname=a"),
            Err(BootError::BadField)
        );
        let fields = "oxbox-boot/1;hostname=a;uid=0;gid=0;stats=0;log=0;first=1;mask=0;ignore=0";
        let without_nofile = BootRecord::decode(fields);
        assert_eq!(without_nofile, Err(BootError::BadField));
        let unknown =
            alloc::format!("{fields};nofile=1;nofile_max=2;nofile_raise=0;udp_below=0;root=1");
        assert_eq!(BootRecord::decode(&unknown), Err(BootError::BadField));
    }
}
