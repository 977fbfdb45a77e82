//! `oxbox do`: run one command in a fresh container.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use oxbox_abi::boot::LogLevel;
use oxbox_sandbox::publish::parse_port_mapping;
use oxbox_sandbox::spec::{parse_tmpfs, parse_volume};
use oxbox_sandbox::{ContainerSpec, Options};

/// Name of the kernel image next to the `oxbox` executable.
const KERNEL_IMAGE_NAME: &str = "oxbox-kernel";

#[derive(Debug, Args)]
pub struct DoArgs {
    /// Use DIR as the container's root filesystem (default: the host's
    /// root, read-only, with a fresh /tmp)
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,

    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,

    /// Set an environment variable; a bare K copies it from oxbox's environment
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,

    /// Working directory inside the container, created if missing [default: /]
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Run as USER[:GROUP] (names from the container's /etc/passwd and
    /// /etc/group, or numbers) [default: the image's User, else root]
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// With an image: run PROGRAM instead of the image's Entrypoint and Cmd
    /// (the command's words become its arguments; "" clears it)
    #[arg(long, value_name = "PROGRAM")]
    pub entrypoint: Option<String>,

    /// Container hostname [default: a random 12-hex-digit id]
    #[arg(long, value_name = "H")]
    pub hostname: Option<String>,

    /// Network: `none` (own namespace with loopback only), `host`, or
    /// `sandbox` (the container's own TCP/IP stack on a veth pair)
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = ["none", "host", "sandbox"])]
    pub network: String,

    /// Publish a container port on the host (with --network sandbox):
    /// [IP:][HOST_PORT:]PORT[/tcp|/udp]; no HOST_PORT: a free one (logged at info)
    #[arg(short = 'p', long = "publish", value_name = "[IP:][HOST_PORT:]PORT")]
    pub publish: Vec<String>,

    /// Bind-mount a host path: SRC:DST[:ro|rw]
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,

    /// Mount a fresh tmpfs: DST[:OPTIONS]
    #[arg(long = "tmpfs", value_name = "DST[:OPTS]")]
    pub tmpfs: Vec<String>,

    /// Give the guest a pseudo-terminal (its own, with the user's terminal in raw mode)
    #[arg(short = 't', long = "tty")]
    pub tty: bool,

    /// Print the kernel's per-syscall statistics at exit (also OXBOX_STATS=1)
    #[arg(long)]
    pub stats: bool,

    #[command(flatten)]
    pub limits: super::limits::LimitArgs,

    #[command(flatten)]
    pub store: super::image::StoreArgs,

    /// The command to run as the container's pid 1, and its arguments; or
    /// `IMAGE -- [CMD...]` to run a stored image
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// Runs the container; returns the status oxbox exits with.
pub fn run(mut args: DoArgs, log_level: LogLevel) -> anyhow::Result<u8> {
    let image = super::image::take_image_argument(&mut args.command);
    let exe = std::env::current_exe().context("cannot find the oxbox executable")?;
    let mut mounts = args
        .volumes
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>, _>>()?;
    mounts.extend(args.tmpfs.iter().map(|t| parse_tmpfs(t)));
    let publish = args
        .publish
        .iter()
        .map(|p| parse_port_mapping(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = Options {
        command: args.command,
        rootfs: args.rootfs,
        read_only: args.read_only,
        env: args.env,
        workdir: args.workdir,
        hostname: args.hostname,
        stats: args.stats || std::env::var("OXBOX_STATS").is_ok_and(|v| v == "1"),
        log_level: Some(log_level),
        kernel: kernel_image_path(std::env::var_os("OXBOX_KERNEL"), &exe),
        host_network: args.network == "host",
        sandbox_network: args.network == "sandbox",
        publish,
        mounts,
        terminal: args.tty,
    };
    let user = args.user.as_deref();
    let overrides = super::image::Overrides {
        user,
        entrypoint: args.entrypoint.as_deref(),
    };
    if image.is_none() && overrides.entrypoint.is_some() {
        anyhow::bail!("--entrypoint needs an image: oxbox do [OPTIONS] IMAGE -- [ARGS...]");
    }
    let container = image
        .map(|name| {
            super::image::ImageContainer::prepare(&args.store, &name, overrides, &mut options)
        })
        .transpose()?;
    let rootfs_user = match (&container, user) {
        (None, Some(spec)) => Some(user_of_rootfs(&mut options, spec)?),
        _ => None,
    };
    let mut spec = ContainerSpec::from_options(options, |key| std::env::var(key).ok())?;
    if let Some(container) = &container {
        container.apply(&mut spec);
    }
    if let Some(user) = rootfs_user {
        spec.user.uid = user.uid;
        spec.user.gid = user.gid;
    }
    spec.rlimits = args.limits.rlimits();
    let cgroup = args.limits.cgroup()?;
    tracing::debug!(?spec, "starting container");
    let code = oxbox_sandbox::run(&spec, false, |pid| {
        cgroup.as_ref().map_or(Ok(()), |c| c.join(pid.as_raw()))
    })?;
    if let Some(cgroup) = &cgroup {
        cgroup.report_oom();
    }
    drop(cgroup);
    drop(container);
    Ok(u8::try_from(code).unwrap_or(u8::MAX))
}

/// Resolves `-u` in the container's root (the host's without `--rootfs`)
/// and gives the guest the user's home as `HOME` unless `-e` sets one.
fn user_of_rootfs(options: &mut Options, spec: &str) -> anyhow::Result<oxbox_image::run::User> {
    let root = options.rootfs.as_deref().unwrap_or(Path::new("/"));
    let user = oxbox_image::run::resolve_user(root, spec)?;
    if !options.env.iter().any(|e| e.starts_with("HOME=")) {
        options.env.insert(0, format!("HOME={}", user.home));
    }
    Ok(user)
}

/// The kernel image: `OXBOX_KERNEL` if set, else `oxbox-kernel` beside the
/// `oxbox` executable (where cargo builds both).
pub fn kernel_image_path(from_env: Option<OsString>, exe: &Path) -> PathBuf {
    match from_env {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => exe
            .parent()
            .unwrap_or(Path::new("/"))
            .join(KERNEL_IMAGE_NAME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_image_comes_from_env_or_sits_beside_oxbox() {
        let exe = Path::new("/opt/oxbox/bin/oxbox");
        assert_eq!(
            kernel_image_path(None, exe),
            Path::new("/opt/oxbox/bin/oxbox-kernel")
        );
        assert_eq!(
            kernel_image_path(Some("".into()), exe),
            Path::new("/opt/oxbox/bin/oxbox-kernel")
        );
        assert_eq!(kernel_image_path(Some("/k".into()), exe), Path::new("/k"));
    }
}
