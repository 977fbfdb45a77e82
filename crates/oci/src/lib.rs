//! The OCI runtime interface of oxbox.
//!
//! Engines (containerd's runc shim, Docker) drive a runtime through runc's
//! command line; this crate is what those verbs do:
//!
//! - [`config`]: a bundle's `config.json` turned into a container spec;
//! - [`state`]: containers under `--root`, one directory each, and their
//!   status as the host shows it;
//! - [`cgroups`]: resource limits, freezing and process lists (v1 and v2);
//! - [`devices`]: device cgroup rules, folded and written as runc does
//!   (v1) or compiled to an eBPF device filter ([`bpf`], v2);
//! - [`hooks`]: OCI hooks, given the container state on stdin;
//! - [`seccomp`]: `linux.seccomp` for the kernel to enforce;
//! - [`lifecycle`]: create, start, kill, delete, exec and the rest.

#![deny(missing_docs)]

pub mod bpf;
pub mod cgroups;
pub mod config;
pub mod devices;
pub mod error;
pub mod hooks;
pub mod lifecycle;
pub mod seccomp;
pub mod state;

pub use error::{Error, Result};
