//! Guest sockets behave as on the host kernel: static C programs of
//! `tests/guest/net/` print the same `ok`/`FAIL` lines under oxbox as
//! natively. Under oxbox every socket is a host socket in the container's
//! network namespace (loopback only), reached through the kernel's checks
//! (addresses and control messages copied in, passed descriptors checked,
//! credentials in the container's ids); natively the program runs in its
//! own network namespace with loopback up, like the container.

use oxbox_integration::{Run, guest_matches_native, require_root};

#[test]
fn socketpair_stream_dgram_seqpacket_peek_shutdown_and_sigpipe() {
    require_root!();
    guest_matches_native(Run::guest("net/socketpair"));
}

#[test]
fn unix_sockets_by_path_and_abstract_name_pass_descriptors_and_credentials() {
    require_root!();
    guest_matches_native(Run::guest("net/unix"));
}

#[test]
fn tcp_and_udp_over_loopback_with_a_forked_client() {
    require_root!();
    guest_matches_native(Run::guest("net/tcp"));
}

#[test]
fn socket_calls_with_bad_arguments_fail_like_linux() {
    require_root!();
    guest_matches_native(Run::guest("net/errors"));
}

#[test]
fn interfaces_through_route_netlink_and_ioctls() {
    require_root!();
    guest_matches_native(Run::guest("net/netlink"));
}
