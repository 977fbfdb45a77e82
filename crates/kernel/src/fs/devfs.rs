//! The kernel's part of `/dev`.
//!
//! The sandbox mounts a private tmpfs on `/dev` holding only harmless device
//! nodes (null, zero, full, random, urandom, tty), so the host answers
//! those with their real semantics. The names below have no node: they
//! stand for the process's own descriptors, which only the kernel knows.

use alloc::string::String;

/// Names under `/dev` that the kernel resolves itself.
pub fn is_synthetic(name: &str) -> bool {
    matches!(name, "stdin" | "stdout" | "stderr" | "fd")
}

/// The descriptor a synthetic `/dev` path stands for: `stdin`, `stdout`,
/// `stderr`, or `fd/N`.
pub fn descriptor(parts: &[String]) -> Option<i32> {
    match parts {
        [name] if name == "stdin" => Some(0),
        [name] if name == "stdout" => Some(1),
        [name] if name == "stderr" => Some(2),
        [dir, n] if dir == "fd" => n.parse().ok(),
        _ => None,
    }
}

/// The link target of a synthetic `/dev` entry (`/dev/stdout` is a link
/// to `/proc/self/fd/1` on Linux).
pub fn link_target(parts: &[String]) -> Option<String> {
    match parts {
        [dir] if dir == "fd" => Some("/proc/self/fd".into()),
        _ => descriptor(parts)
            .filter(|_| parts.len() == 1)
            .map(|fd| alloc::format!("/proc/self/fd/{fd}")),
    }
}
