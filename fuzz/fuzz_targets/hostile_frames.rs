//! Frames on the container's veth as a hostile host or neighbour sends
//! them: the sandbox network stack (our ARP and Ethernet handling, then
//! smoltcp with a TCP listener and a UDP socket) must take any of them
//! without a panic. The input is a run of frames, each behind a two-byte
//! little-endian length (`stack::length_prefixed_frames`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbox_netstack::stack::{self, Config};

fuzz_target!(|data: &[u8]| {
    let config = Config {
        address: [10, 200, 0, 2],
        prefix_len: 30,
        gateway: [10, 200, 0, 1],
    };
    stack::replay_frames(&config, stack::length_prefixed_frames(data))
        .expect("a stack to replay frames on");
});
