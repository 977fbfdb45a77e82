//! The boot record: what the runtime tells the kernel about its container.
//!
//! The runtime starts every container's first process by `execveat`-ing the
//! kernel image with
//! `argv = [KERNEL_ARGV0, <encoded boot record>, guest argv...]` and the
//! guest's environment as `envp`. The kernel decodes the record, looks the
//! guest program up (argv[2], searched in the guest `PATH` when it has no
//! `/`) and starts it with the remaining arguments. The record is a short
//! line of `key=value` pairs separated by `;`; values never contain `;`, `=`
//! or NUL (hostnames and numbers only), which [`BootRecord::encode`] checks.

use alloc::string::String;
use core::fmt::Write;

/// `argv[0]` of a kernel process, as `ps` on the host shows it.
pub const KERNEL_ARGV0: &str = "oxbox-kernel";
/// Prefix that identifies (and versions) an encoded record.
const MAGIC: &str = "oxbox-boot/1";

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
            ";hostname={};uid={};gid={};stats={};log={}",
            self.hostname, self.uid, self.gid, self.stats as u8, self.log_level as u8
        );
        Ok(out)
    }

    /// Decodes a record produced by [`BootRecord::encode`].
    pub fn decode(s: &'a str) -> Result<Self, BootError> {
        let mut fields = s.split(';');
        if fields.next() != Some(MAGIC) {
            return Err(BootError::BadMagic);
        }
        let (mut hostname, mut uid, mut gid, mut stats, mut log) = (None, None, None, None, None);
        for field in fields {
            let (key, value) = field.split_once('=').ok_or(BootError::BadField)?;
            let number = || value.parse::<u32>().map_err(|_| BootError::BadField);
            match key {
                "hostname" => hostname = Some(value),
                "uid" => uid = Some(number()?),
                "gid" => gid = Some(number()?),
                "stats" => stats = Some(number()? != 0),
                "log" => log = Some(LogLevel::from_digit(number()?).ok_or(BootError::BadField)?),
                _ => return Err(BootError::BadField),
            }
        }
        Ok(Self {
            hostname: hostname.ok_or(BootError::BadField)?,
            uid: uid.ok_or(BootError::BadField)?,
            gid: gid.ok_or(BootError::BadField)?,
            stats: stats.ok_or(BootError::BadField)?,
            log_level: log.ok_or(BootError::BadField)?,
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
        let unknown = "oxbox-boot/1;hostname=a;uid=0;gid=0;stats=0;log=0;root=1";
        assert_eq!(BootRecord::decode(unknown), Err(BootError::BadField));
    }
}
