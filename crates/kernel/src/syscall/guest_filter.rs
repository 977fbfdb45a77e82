//! The guest's own seccomp profile, checked before a call is served.
//!
//! The runtime leaves the profile (an OCI `linux.seccomp`, translated by
//! `oxbox_abi::guest_filter`) in a memory file at
//! [`GUEST_FILTER_FD`], inherited by every process of the container. At
//! boot the kernel reads it once and precomputes a verdict per syscall
//! number, so that the check on the call path is one relaxed load; only
//! calls whose rules look at arguments take the slow path through the
//! rules.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use alloc::vec::Vec;
use oxbox_abi::Sysno;
use oxbox_abi::guest_filter::{Action, GuestFilter};
use oxbox_abi::layout::{GUEST_FILTER_FD, SLOT_COUNT};
use oxbox_hal::host;
use spin::Once;

use crate::Errno;

/// Largest profile accepted (Docker's default is about 10 KiB as text).
const MAX_FILTER_BYTES: usize = 1 << 20;

/// Per-syscall verdict encodings in [`VERDICTS`].
const ALLOW: u32 = 0;
const NEEDS_ARGS: u32 = 1;
const KILL: u32 = 2;
const ERRNO_FLAG: u32 = 1 << 16;

/// Whether a filter is installed at all (the common case has none).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The verdict per syscall number when it needs no arguments.
static VERDICTS: [AtomicU32; SLOT_COUNT] = [const { AtomicU32::new(ALLOW) }; SLOT_COUNT];
/// The filter, for calls whose verdict depends on their arguments.
static FILTER: Once<GuestFilter> = Once::new();

/// What the filter decides for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// Fail it with this errno.
    Deny(Errno),
}

/// Loads the profile the runtime left at [`GUEST_FILTER_FD`], if any.
/// A profile that cannot be read or parsed is fatal for the caller: a
/// container must never run with less filtering than it asked for.
pub fn load() -> Result<(), &'static str> {
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match host::pread(GUEST_FILTER_FD, &mut chunk, text.len() as u64) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            // No profile for this container.
            Err(Errno::EBADF) if text.is_empty() => return Ok(()),
            Err(_) => return Err("cannot read the guest seccomp profile"),
        }
        if text.len() > MAX_FILTER_BYTES {
            return Err("guest seccomp profile too large");
        }
    }
    let text = core::str::from_utf8(&text).map_err(|_| "guest seccomp profile is not text")?;
    let filter = GuestFilter::decode(text).map_err(|_| "malformed guest seccomp profile")?;
    for (nr, verdict) in VERDICTS.iter().enumerate() {
        let encoded = match filter.verdict_without_args(nr as u32) {
            Some(action) => encode(action),
            None => NEEDS_ARGS,
        };
        verdict.store(encoded, Ordering::Relaxed);
    }
    FILTER.call_once(|| filter);
    ACTIVE.store(true, Ordering::Release);
    Ok(())
}

fn encode(action: Action) -> u32 {
    match action {
        Action::Allow => ALLOW,
        Action::Kill => KILL,
        Action::Errno(errno) => ERRNO_FLAG | errno as u32,
    }
}

/// Whether the profile allows call `nr` whatever its arguments.
pub fn allows_always(nr: u64) -> bool {
    !ACTIVE.load(Ordering::Acquire)
        || VERDICTS
            .get(nr as usize)
            .is_some_and(|v| v.load(Ordering::Relaxed) == ALLOW)
}

/// The verdict for call `nr` with `args`.
#[inline]
pub fn check(nr: u64, args: &[u64; 6]) -> Verdict {
    if !ACTIVE.load(Ordering::Relaxed) {
        return Verdict::Allow;
    }
    let encoded = match VERDICTS.get(nr as usize) {
        Some(verdict) => verdict.load(Ordering::Relaxed),
        // Numbers past the table are ENOSYS anyway; the profile's default
        // applies to them as to any unknown call.
        None => FILTER
            .get()
            .map_or(ALLOW, |f| encode(f.evaluate(nr as u32, args))),
    };
    match encoded {
        ALLOW => Verdict::Allow,
        NEEDS_ARGS => {
            let action = FILTER
                .get()
                .map_or(Action::Allow, |f| f.evaluate(nr as u32, args));
            decode(encode(action))
        }
        other => decode(other),
    }
}

#[cold]
fn decode(encoded: u32) -> Verdict {
    match encoded {
        ALLOW => Verdict::Allow,
        KILL => {
            // SCMP_ACT_KILL: the process dies at once. SIGSYS is the
            // kernel's own signal, so it dies by SIGKILL.
            let pid = crate::task::pid() as u64;
            let _ = host::forward(Sysno::kill as usize, [pid, 9, 0, 0, 0, 0]);
            host::exit_group(128 + 9)
        }
        errno => Verdict::Deny(Errno::new((errno & !ERRNO_FLAG) as i32)),
    }
}
