//! Sockets, as the guest sees them.
//!
//! In the host-socket network modes every guest socket is a host socket in
//! the container's network namespace, and its descriptor number is the
//! host's (like a file's). The kernel does not copy data: it checks what
//! the host cannot check for it and translates what differs between the
//! guest's view and the host's:
//! - [`sockaddr`]: socket addresses are copied into kernel memory before
//!   the host reads them (so the guest cannot change them midway and the
//!   host never reads kernel memory on its behalf), and unix socket paths
//!   go through the kernel's path routing (`/proc` is the kernel's own);
//! - [`cmsg`]: control messages: passed descriptors must be the guest's,
//!   received ones must land below the kernel's reserved range, and
//!   credentials carry the container's ids;
//! - [`options`]: the socket options a guest may get and set;
//! - [`family`]: which families, types and protocols reach the host (the
//!   same constraints the host allowlist enforces);
//! - [`procnet`]: the interface files of `/proc/net`.
//!
//! With `--network sandbox`, IPv4 TCP sockets are the container's own
//! stack's instead ([`sandbox`]).
//!
//! The handlers are in `syscall/net.rs`.

pub mod cmsg;
pub mod family;
pub mod options;
pub mod procnet;
pub mod sandbox;
pub mod sockaddr;
