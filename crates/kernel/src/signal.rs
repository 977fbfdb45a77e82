//! The guest's signal state, kept by the kernel.
//!
//! Dispositions and the mask are the kernel's own data: the host's handlers
//! all belong to the kernel. Delivery on guest frames comes with the process
//! model; until then an "ignore" or "default" disposition is mirrored to the
//! host so that, for example, an ignored SIGPIPE does not kill the guest.

use spin::Mutex;

use crate::Errno;

pub const NSIG: usize = 64;
pub const SIGKILL: usize = 9;
pub const SIGSTOP: usize = 19;

/// `struct sigaction` as the guest passes it to `rt_sigaction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigAction {
    pub const SIZE: usize = 32;

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Self {
            handler: word(0),
            flags: word(1),
            restorer: word(2),
            mask: word(3),
        }
    }

    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        for (i, w) in [self.handler, self.flags, self.restorer, self.mask]
            .into_iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

struct SignalState {
    actions: [SigAction; NSIG],
    /// The blocked set of the (only) thread.
    mask: u64,
}

static STATE: Mutex<SignalState> = Mutex::new(SignalState {
    actions: [SigAction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    }; NSIG],
    mask: 0,
});

/// Bit for signal `sig` in a mask.
const fn bit(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// The signals that can never be blocked.
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

fn check_signal(sig: u64) -> Result<usize, Errno> {
    if (1..=NSIG as u64).contains(&sig) {
        Ok(sig as usize)
    } else {
        Err(Errno::EINVAL)
    }
}

/// Replaces (if `new` is given) and returns the disposition of `sig`.
pub fn action(sig: u64, new: Option<SigAction>) -> Result<SigAction, Errno> {
    let sig = check_signal(sig)?;
    if new.is_some() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let mut state = STATE.lock();
    let old = state.actions[sig - 1];
    if let Some(mut new) = new {
        new.mask &= !UNBLOCKABLE;
        state.actions[sig - 1] = new;
        const SIG_IGN: u64 = 1;
        if new.handler <= SIG_IGN {
            oxbox_hal::signals::mirror_guest_disposition(sig as u64, new.handler == SIG_IGN)?;
        }
    }
    Ok(old)
}

/// The signals whose disposition is "ignore" (kept across `execve`).
pub fn ignored() -> u64 {
    const SIG_IGN: u64 = 1;
    let state = STATE.lock();
    (1..=NSIG)
        .filter(|sig| state.actions[sig - 1].handler == SIG_IGN)
        .fold(0, |set, sig| set | bit(sig))
}

/// Restores the state `execve` keeps: the mask and the ignored signals
/// (handlers are reset to the default, as Linux does).
pub fn restore_after_exec(mask: u64, ignored: u64) -> Result<(), Errno> {
    change_mask(SIG_SETMASK, Some(mask))?;
    const SIG_IGN: u64 = 1;
    for sig in
        (1..=NSIG).filter(|sig| ignored & bit(*sig) != 0 && *sig != SIGKILL && *sig != SIGSTOP)
    {
        action(
            sig as u64,
            Some(SigAction {
                handler: SIG_IGN,
                ..SigAction::default()
            }),
        )?;
    }
    Ok(())
}

pub const SIG_BLOCK: u64 = 0;
pub const SIG_UNBLOCK: u64 = 1;
pub const SIG_SETMASK: u64 = 2;

/// Applies `how` with `set` (if given) to the mask; returns the old mask.
pub fn change_mask(how: u64, set: Option<u64>) -> Result<u64, Errno> {
    let mut state = STATE.lock();
    let old = state.mask;
    if let Some(set) = set {
        state.mask = match how {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        } & !UNBLOCKABLE;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigkill_and_sigstop_cannot_be_blocked() {
        let all = u64::MAX;
        change_mask(SIG_SETMASK, Some(all)).unwrap();
        let mask = change_mask(SIG_BLOCK, None).unwrap();
        assert_eq!(mask & UNBLOCKABLE, 0);
        assert_eq!(change_mask(7, Some(0)), Err(Errno::EINVAL));
    }

    #[test]
    fn sigaction_bytes_round_trip() {
        let a = SigAction {
            handler: 0x401000,
            flags: 0x0400_0004,
            restorer: 0x402000,
            mask: 0x5,
        };
        assert_eq!(SigAction::from_bytes(&a.to_bytes()), a);
    }
}
