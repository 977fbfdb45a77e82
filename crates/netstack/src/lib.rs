//! The container's own TCP/IP stack, for `--network sandbox`.
//!
//! One stack process per container owns the container's network interface
//! (the container end of a veth pair, through an `AF_PACKET` socket) and
//! runs every IPv4 TCP and UDP socket of the container's processes on
//! smoltcp, so
//! all of them see the same sockets and the host sees only frames.
//!
//! This first version reaches the stack through host unix sockets, which
//! make blocking calls, signals, poll/epoll, `fork` and `exec` work with
//! no code of their own:
//! - a guest TCP socket is one end of a host `AF_UNIX` stream socketpair;
//!   the stack holds the other end and pumps bytes between it and the
//!   smoltcp socket, so `read`/`write`/`send`/`recv` and readiness are the
//!   host's calls on that end;
//! - a UDP socket is one end of a `SOCK_SEQPACKET` socketpair, one
//!   message a datagram behind the address it goes to or came from
//!   (`proto::DATAGRAM_HEADER`), which the kernel's `send*`/`recv*` add and
//!   strip;
//! - a listening socket is one end of a `SOCK_SEQPACKET` socketpair,
//!   through which the stack hands each accepted connection over with
//!   `SCM_RIGHTS` (readable exactly when `accept` would not block);
//! - calls that are not data (bind, listen, connect, names, options) are
//!   `oxbox_netstack_proto` requests over a control socket every kernel of the
//!   container inherits (`oxbox_abi::layout::NETSTACK_FD`), each with a
//!   fresh reply socket so that concurrent callers never read each other's
//!   replies.
//!
//! The shared-memory version DESIGN.md asks for would replace the
//! socketpairs by rings in memory the stack and the kernels share, with
//! the kernel doing readiness and blocking itself (futex waits), which
//! saves the copy through the host and two host calls per transfer.

pub mod stack;

pub use oxbox_netstack_proto as proto;
