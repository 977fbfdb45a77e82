//! Socket control messages and options as a guest hands them to
//! sendmsg/setsockopt: the cmsg walker must refuse malformed buffers with
//! EINVAL and never read past them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbox_kernel::net::{cmsg, options};

fuzz_target!(|buf: &[u8]| {
    if let Ok(messages) = cmsg::parse(buf) {
        for m in messages {
            let _ = options::allowed(m.level as u32, m.kind as u32);
        }
    }
});
