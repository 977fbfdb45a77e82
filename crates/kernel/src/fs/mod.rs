//! Files: which paths the kernel answers itself, the descriptor table, and
//! the synthetic file systems.
//!
//! Paths are routed by [`path::route`]: `/proc` is answered by [`procfs`]
//! and a few `/dev` names by [`devfs`]; everything else resolves on the
//! host inside the container's root, which the sandbox pivoted into (the
//! host's `/proc` and `/sys` are not mounted there at all; [`procsys`]
//! shows the host's sysctls through a read-only copy of `/proc/sys` only).

pub mod devfs;
pub mod fdtable;
pub mod path;
pub mod procfs;
pub mod procsys;
pub mod stat;
