//! The path walker: folding `.`/`..` against a working directory and
//! routing to /proc, /dev or the host. Input: base and path separated by
//! the first NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbox_kernel::fs::path;

fuzz_target!(|input: &[u8]| {
    let (base, target) = match input.iter().position(|&b| b == 0) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (&b"/"[..], input),
    };
    let base = String::from_utf8_lossy(base);
    let target = String::from_utf8_lossy(target);
    let parts = path::normalize(&base, &target);
    assert!(
        parts
            .iter()
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('/'))
    );
    let _ = path::route_components(parts);
    let _ = path::route(target.as_bytes());
});
