//! The guest seccomp profile every kernel of a container reads from its
//! sealed memory file at boot: any text must decode or be refused, and
//! what decodes must survive encoding and evaluate without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbox_abi::guest_filter::GuestFilter;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Ok(filter) = GuestFilter::decode(text) else {
        return;
    };
    let again = GuestFilter::decode(&filter.encode()).expect("an encoded filter decodes");
    assert_eq!(again, filter);
    let args = [0, 1, u64::MAX, 0x7e00_0000_0000, 4096, 1 << 63];
    for nr in 0..512 {
        let action = filter.evaluate(nr, &args);
        if let Some(verdict) = filter.verdict_without_args(nr) {
            assert_eq!(verdict, action, "syscall {nr}");
        }
    }
});
