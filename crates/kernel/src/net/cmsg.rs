//! Control messages (`msg_control` of `sendmsg`/`recvmsg`).
//!
//! Descriptor numbers are host numbers, so `SCM_RIGHTS` needs no
//! renumbering, only checks: a guest may pass only its own descriptors,
//! and a received descriptor the host placed in the kernel's reserved
//! range (the guest's table was full below it) is closed and reported as
//! truncation (`MSG_CTRUNC`), as Linux does when it cannot install one.
//! `SCM_CREDENTIALS` carry the container's ids: a guest may send only its
//! own (pid, uid, gid), which the host then attaches itself, and received
//! ones show the container's uid and gid (pids are the same on both sides
//! of the pid namespace).

use alloc::vec::Vec;

use crate::Errno;

pub const SOL_SOCKET: i32 = 1;
pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// `sizeof(struct cmsghdr)`: length (8), level (4), type (4).
const HEADER: usize = 16;
/// `sizeof(struct ucred)`: pid, uid, gid.
const UCRED: usize = 12;
/// Linux's `SCM_MAX_FD`: most descriptors in one message.
const MAX_FDS: usize = 253;

/// One control message.
#[derive(Debug, PartialEq, Eq)]
pub struct Cmsg<'a> {
    pub level: i32,
    pub kind: i32,
    pub data: &'a [u8],
}

/// The (pid, uid, gid) a process may send as its credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

const fn align(len: usize) -> usize {
    (len + 7) & !7
}

fn word32(b: &[u8], at: usize) -> [u8; 4] {
    b[at..at + 4].try_into().expect("4 bytes")
}

/// Splits a control buffer the way Linux walks it: a header that does not
/// fit ends the walk; one whose length is shorter than a header or runs
/// past the buffer is `EINVAL`.
pub fn parse(buf: &[u8]) -> Result<Vec<Cmsg<'_>>, Errno> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= buf.len() {
        let len = u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        if len < HEADER as u64 || len > (buf.len() - at) as u64 {
            return Err(Errno::EINVAL);
        }
        let len = len as usize;
        out.push(Cmsg {
            level: i32::from_le_bytes(word32(buf, at + 8)),
            kind: i32::from_le_bytes(word32(buf, at + 12)),
            data: &buf[at + HEADER..at + len],
        });
        at += align(len);
    }
    Ok(out)
}

/// Appends one control message (`CMSG_SPACE(data.len())` bytes).
pub fn push(out: &mut Vec<u8>, level: i32, kind: i32, data: &[u8]) {
    out.extend_from_slice(&((HEADER + data.len()) as u64).to_le_bytes());
    out.extend_from_slice(&level.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(data);
    out.resize(align(out.len()), 0);
}

fn fds(data: &[u8]) -> impl Iterator<Item = i32> + '_ {
    data.chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
}

/// The control buffer the host gets for a guest's `sendmsg`. `own` is the
/// sender's identity; `is_guest_fd` says whether a number is a guest
/// descriptor (the kernel's reserved ones are not).
pub fn outgoing(
    guest: &[u8],
    own: Ids,
    is_guest_fd: impl Fn(i32) -> bool,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::with_capacity(guest.len());
    for msg in parse(guest)? {
        if msg.level == SOL_SOCKET && msg.kind == SCM_RIGHTS {
            if msg.data.len() / 4 > MAX_FDS {
                return Err(Errno::EINVAL);
            }
            if !fds(msg.data).all(&is_guest_fd) {
                return Err(Errno::EBADF);
            }
        } else if msg.level == SOL_SOCKET && msg.kind == SCM_CREDENTIALS {
            if msg.data.len() != UCRED {
                return Err(Errno::EINVAL);
            }
            let sent = Ids {
                pid: i32::from_le_bytes(word32(msg.data, 0)),
                uid: u32::from_le_bytes(word32(msg.data, 4)),
                gid: u32::from_le_bytes(word32(msg.data, 8)),
            };
            if sent != own {
                return Err(Errno::EPERM);
            }
            // The host attaches the sender's real credentials by itself.
            continue;
        }
        push(&mut out, msg.level, msg.kind, msg.data);
    }
    Ok(out)
}

/// What [`incoming`] found among the received descriptors.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Descriptors the guest gets (to close if the call fails later).
    pub kept: Vec<i32>,
    /// Descriptors in the reserved range, removed from the message: the
    /// caller closes them and reports `MSG_CTRUNC`.
    pub dropped: Vec<i32>,
}

/// Rewrites the control messages the host received for the guest: the
/// container's uid and gid in credentials, and no descriptor at or above
/// `reserved_base`.
pub fn incoming(buf: &mut Vec<u8>, uid: u32, gid: u32, reserved_base: i32) -> Received {
    let mut received = Received::default();
    let Ok(msgs) = parse(buf) else {
        return received;
    };
    let mut rebuilt = Vec::with_capacity(buf.len());
    for msg in msgs {
        if msg.level == SOL_SOCKET && msg.kind == SCM_CREDENTIALS && msg.data.len() == UCRED {
            let mut creds = [0u8; UCRED];
            creds[..4].copy_from_slice(&msg.data[..4]);
            creds[4..8].copy_from_slice(&uid.to_le_bytes());
            creds[8..].copy_from_slice(&gid.to_le_bytes());
            push(&mut rebuilt, msg.level, msg.kind, &creds);
        } else if msg.level == SOL_SOCKET && msg.kind == SCM_RIGHTS {
            let (kept, dropped): (Vec<i32>, Vec<i32>) =
                fds(msg.data).partition(|fd| *fd < reserved_base);
            let bytes: Vec<u8> = kept.iter().flat_map(|fd| fd.to_le_bytes()).collect();
            received.kept.extend(kept);
            received.dropped.extend(dropped);
            push(&mut rebuilt, msg.level, msg.kind, &bytes);
        } else {
            push(&mut rebuilt, msg.level, msg.kind, msg.data);
        }
    }
    // The host does not pad the last message when the buffer ends there.
    rebuilt.truncate(buf.len());
    *buf = rebuilt;
    received
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ids = Ids {
        pid: 7,
        uid: 0,
        gid: 0,
    };

    fn rights(fds: &[i32]) -> Vec<u8> {
        let mut out = Vec::new();
        let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_le_bytes()).collect();
        push(&mut out, SOL_SOCKET, SCM_RIGHTS, &data);
        out
    }

    fn creds(ids: Ids) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend_from_slice(&ids.pid.to_le_bytes());
        data.extend_from_slice(&ids.uid.to_le_bytes());
        data.extend_from_slice(&ids.gid.to_le_bytes());
        let mut out = Vec::new();
        push(&mut out, SOL_SOCKET, SCM_CREDENTIALS, &data);
        out
    }

    /// Whatever the guest (or a confused host) puts in a control buffer,
    /// the walk ends without a panic.
    #[test]
    fn arbitrary_buffers_never_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let len = round % 97;
            let mut buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect();
            // Plausible lengths often, so the walk goes past the first header.
            if len >= 8 && round % 2 == 0 {
                buf[..8].copy_from_slice(&((round % 40) as u64).to_le_bytes());
            }
            let _ = parse(&buf);
            let _ = outgoing(&buf, ME, |fd| fd < 1000);
            let mut received = buf.clone();
            let _ = incoming(&mut received, 0, 0, 1008);
            assert!(received.len() <= buf.len());
        }
    }

    #[test]
    fn messages_are_padded_and_parsed_back() {
        let buf = rights(&[3, 4, 5]);
        assert_eq!(buf.len(), 32);
        let msgs = parse(&buf).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data.len(), 12);
    }

    #[test]
    fn bad_lengths_are_einval_and_a_short_tail_is_ignored() {
        let mut buf = rights(&[3]);
        buf[0] = 8;
        assert_eq!(parse(&buf), Err(Errno::EINVAL));
        buf[0] = 200;
        assert_eq!(parse(&buf), Err(Errno::EINVAL));
        assert_eq!(parse(&[0u8; 15]).unwrap(), Vec::new());
    }

    #[test]
    fn only_guest_descriptors_can_be_sent() {
        let ok = outgoing(&rights(&[3, 4]), ME, |fd| fd < 1000).unwrap();
        assert_eq!(ok, rights(&[3, 4]));
        assert_eq!(
            outgoing(&rights(&[3, 1020]), ME, |fd| fd < 1000),
            Err(Errno::EBADF)
        );
    }

    #[test]
    fn own_credentials_are_left_to_the_host_and_others_refused() {
        let mut buf = creds(ME);
        buf.extend(rights(&[5]));
        assert_eq!(outgoing(&buf, ME, |_| true).unwrap(), rights(&[5]));
        let other = Ids { pid: 8, ..ME };
        assert_eq!(outgoing(&creds(other), ME, |_| true), Err(Errno::EPERM));
    }

    #[test]
    fn received_credentials_get_the_container_ids_and_reserved_fds_are_dropped() {
        let mut buf = creds(Ids {
            pid: 9,
            uid: 1000,
            gid: 1000,
        });
        buf.extend(rights(&[4, 1010, 6]));
        let got = incoming(&mut buf, 0, 0, 1008);
        assert_eq!(got.kept, [4, 6]);
        assert_eq!(got.dropped, [1010]);
        let mut want = creds(Ids {
            pid: 9,
            uid: 0,
            gid: 0,
        });
        want.extend(rights(&[4, 6]));
        assert_eq!(buf, want);
    }
}
