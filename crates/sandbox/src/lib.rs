//! Host-side container setup for oxbox.
//!
//! A container is described by a [`ContainerSpec`]; [`run`] creates its
//! namespaces, assembles and pivots into its root, gives up every
//! privilege, and execs the oxbox kernel image as its first process, then
//! stays outside as the monitor until that process exits.
//!
//! - [`spec`]: the validated request (rootfs, environment, hostname...);
//! - [`mounts`]: the mount plan, computed as data, and its executor;
//! - [`namespaces`], [`caps`]: namespaces, user mapping, capabilities;
//! - [`init`]: the ordered setup of the container's first process;
//! - [`launch`], [`signals`]: fork, exec of the kernel, signal forwarding;
//! - [`network`]: `--network sandbox`, the container's own TCP/IP stack;
//! - [`host`]: the host calls behind a trait, faked in tests.
//!
//! Unsafe code is limited to the few calls with no safe wrapper (fork,
//! `_exit`, capget/capset, prctl, ioctl, sigaction, close_range, dup3),
//! each with its justification.

#![deny(missing_docs)]

pub mod caps;
pub mod error;
pub mod host;
pub mod init;
pub mod inroot;
pub mod launch;
pub mod mounts;
pub mod namespaces;
pub mod network;
pub mod publish;
pub mod relay;
pub mod signals;
pub mod spec;
pub mod sync;
pub mod terminal;

pub use error::{Error, Result, one_line};
pub use launch::{InContainer, Launch, SETUP_FAILED, Spawned, Stage, run, spawn, supervise};
pub use spec::{
    ContainerSpec, DeviceKind, DeviceNode, Mount, MountKind, NamespaceKind, NamespaceSource,
    Namespaces, Options, Rlimit, Rootfs, User,
};
