//! Lexical path routing.
//!
//! Decides whether a guest path names something the kernel answers itself.
//! The decision is lexical (`.`, `..` and repeated slashes are folded
//! against the kernel's idea of the current directory); host paths are
//! passed to the host exactly as the guest wrote them.

use alloc::string::String;
use alloc::vec::Vec;

use spin::Mutex;

/// Where a path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Resolved by the host, inside the container's root.
    Host,
    /// Inside the kernel's `/proc`: the components after `/proc`.
    Proc(Vec<String>),
    /// A `/dev` entry the kernel answers itself (`stdin`, `fd`...): its
    /// components after `/dev`.
    Dev(Vec<String>),
}

/// The guest's current directory, as an absolute, normalized path.
static CWD: Mutex<String> = Mutex::new(String::new());

pub fn set_cwd(cwd: String) {
    *CWD.lock() = cwd;
}

pub fn cwd() -> String {
    CWD.lock().clone()
}

/// Folds `path` (relative to `base` when not absolute) into components.
pub fn normalize(base: &str, path: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let joined = if path.starts_with('/') {
        [path, ""]
    } else {
        [base, path]
    };
    for piece in joined.iter().flat_map(|p| p.split('/')) {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name.into()),
        }
    }
    parts
}

/// Routes a path given relative to the current directory.
pub fn route(path: &[u8]) -> Route {
    // Cheap test first: most paths are absolute and lead to the host, and
    // a relative path can only reach /proc or /dev through the cwd or `..`.
    let Ok(text) = core::str::from_utf8(path) else {
        return Route::Host;
    };
    let cwd = CWD.lock();
    let could_be_synthetic = text.contains("proc")
        || text.contains("dev")
        || cwd.starts_with("/proc")
        || cwd.starts_with("/dev");
    if !could_be_synthetic {
        return Route::Host;
    }
    route_components(normalize(&cwd, text))
}

/// Routes an already-normalized absolute path.
pub fn route_components(mut parts: Vec<String>) -> Route {
    match parts.first().map(String::as_str) {
        Some("proc") => {
            parts.remove(0);
            Route::Proc(parts)
        }
        Some("dev") if parts.len() >= 2 && super::devfs::is_synthetic(&parts[1]) => {
            parts.remove(0);
            Route::Dev(parts)
        }
        _ => Route::Host,
    }
}

/// Resolves every symbolic link in `path` (relative to the current
/// directory) on the host, like `realpath`. `None` if a component cannot
/// be read or links loop (more than 40, Linux's limit).
pub fn canonicalize(path: &str) -> Option<String> {
    const MAX_LINKS: usize = 40;
    let mut pending: Vec<String> = normalize(&cwd(), path).into_iter().rev().collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        done.push(part);
        let candidate = alloc::format!("/{}", done.join("/"));
        let Some(target) = read_host_link(&candidate) else {
            continue;
        };
        links += 1;
        if links > MAX_LINKS {
            return None;
        }
        done.pop();
        let base = alloc::format!("/{}", done.join("/"));
        let rest: Vec<String> = pending.drain(..).rev().collect();
        let joined = alloc::format!("{target}/{}", rest.join("/"));
        done = Vec::new();
        pending = normalize(&base, &joined).into_iter().rev().collect();
    }
    Some(alloc::format!("/{}", done.join("/")))
}

/// The target of the host symlink at absolute `path`, if it is one.
fn read_host_link(path: &str) -> Option<String> {
    let mut cpath: Vec<u8> = path.as_bytes().to_vec();
    cpath.push(0);
    let mut buf = alloc::vec![0u8; 4096];
    const AT_FDCWD: u64 = -100i64 as u64;
    let n = crate::syscall::host_call(
        oxbox_abi::Sysno::readlinkat,
        [
            AT_FDCWD,
            cpath.as_ptr() as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            0,
            0,
        ],
    )
    .ok()?;
    buf.truncate(n as usize);
    String::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| String::from(*s)).collect()
    }

    #[test]
    fn dots_and_slashes_fold() {
        assert_eq!(
            normalize("/", "/usr//lib/./../bin/"),
            parts(&["usr", "bin"])
        );
        assert_eq!(
            normalize("/home/a", "../../../proc/self"),
            parts(&["proc", "self"])
        );
        assert_eq!(normalize("/", "/.."), parts(&[]));
    }

    #[test]
    fn proc_and_dev_are_routed_to_the_kernel() {
        assert_eq!(
            route_components(normalize("/", "/proc/self/maps")),
            Route::Proc(parts(&["self", "maps"]))
        );
        assert_eq!(
            route_components(normalize("/", "/proc")),
            Route::Proc(parts(&[]))
        );
        assert_eq!(
            route_components(normalize("/", "/dev/stdout")),
            Route::Dev(parts(&["stdout"]))
        );
        assert_eq!(route_components(normalize("/", "/dev/null")), Route::Host);
        assert_eq!(route_components(normalize("/", "/usr/proc")), Route::Host);
    }
}
