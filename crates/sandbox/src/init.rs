//! What the container's first process does to itself before it becomes the
//! kernel: the order of the setup, written once over [`HostSys`].
//!
//! The order matters and is tested: namespaces before anything that must
//! stay private (hostname, loopback, mounts); mounts and the pivot before
//! the working directory, which is a path in the new root; and the
//! privileges last, because every step before needs them.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;

use crate::error::{Error, Result};
use crate::host::HostSys;
use crate::mounts::{self, MountStep};
use crate::spec::{Rlimit, User};

/// The setup of one container process (a container's first process, or a
/// process `exec`'d into a running container, which joins every namespace
/// and mounts nothing).
#[derive(Debug)]
pub struct InitPlan<'a> {
    /// A user namespace to enter first (a running container's), opened
    /// before the fork.
    pub join_user: Option<&'a OwnedFd>,
    /// Create a user namespace of the container's own (mapped by the
    /// runtime) before the other fresh namespaces, which it then owns.
    pub new_user: bool,
    /// Existing namespaces to enter, opened before the fork, in entry order.
    pub join: &'a [(CloneFlags, OwnedFd)],
    /// Fresh namespaces to create (the pid namespace excepted).
    pub unshare: CloneFlags,
    /// The hostname, when the container has its own UTS namespace.
    pub hostname: Option<&'a str>,
    /// Sysctls to write, `(key, value)`, in the container's namespaces
    /// (checked to be theirs by the caller, see [`crate::spec`]).
    pub sysctls: &'a [(String, String)],
    /// Bring up `lo`, when the container has its own network namespace.
    pub loopback: bool,
    /// The mount plan, ending with the pivot into the new root; empty
    /// when the mount namespace is joined.
    pub mounts: &'a [MountStep],
    /// The working directory, inside the new root.
    pub workdir: &'a Path,
    /// Resource limits.
    pub rlimits: &'a [Rlimit],
    /// The user to become; `None` in a user namespace of oxbox's own,
    /// where the only mapped user is the caller, already root there.
    pub user: Option<&'a User>,
    /// The capabilities the guest keeps on the host if it runs as root
    /// (see [`crate::caps`]); a non-root guest keeps none.
    pub capabilities: u64,
}

/// First phase: enters the container's namespaces. Anything the runtime
/// does from outside before the rest (cgroups, OCI prestart hooks) happens
/// between the two phases, when the namespaces exist but nothing is in
/// them yet.
///
/// A user namespace comes first, as the others are then its own: a joined
/// one before anything, a fresh one after the joined namespaces (which
/// belong to the host's, where the process still has its privileges);
/// `mapped` tells the runtime it exists and waits until it wrote the maps.
///
/// Returns the kernel's view of the sysctls ([`HostSys::copy_sysctls`]),
/// copied while the host's `/proc/sys` is still in reach: before a joined
/// mount namespace (a running container's, pivoted) or user namespace is
/// entered, else after the fresh mount namespace exists (in a user
/// namespace of oxbox's own, only its mount namespace lets it copy
/// mounts). `None` where the host refuses, and the guest then has no
/// `/proc/sys`.
pub fn enter_namespaces(
    host: &mut impl HostSys,
    plan: &InitPlan<'_>,
    mapped: impl FnOnce() -> Result<()>,
) -> Result<Option<OwnedFd>> {
    let joins_mounts = plan.join.iter().any(|(k, _)| *k == CloneFlags::CLONE_NEWNS);
    let sysctls = joins_mounts.then(|| copy_sysctls(host));
    if let Some(fd) = plan.join_user {
        host.setns(fd.as_fd(), CloneFlags::CLONE_NEWUSER)
            .map_err(|e| Error::sys("join user namespace", e))?;
        host.become_root()
            .map_err(|e| Error::sys("become root of the user namespace", e))?;
    }
    for (kind, fd) in plan.join {
        host.setns(fd.as_fd(), *kind)
            .map_err(|e| Error::sys("join namespace", e))?;
    }
    if plan.new_user {
        host.unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| Error::sys("unshare user namespace", e))?;
        mapped()?;
        host.become_root()
            .map_err(|e| Error::sys("become root of the user namespace", e))?;
    }
    host.unshare(plan.unshare)
        .map_err(|e| Error::sys("unshare namespaces", e))?;
    Ok(sysctls.unwrap_or_else(|| copy_sysctls(host)))
}

fn copy_sysctls(host: &mut impl HostSys) -> Option<OwnedFd> {
    host.copy_sysctls()
        .map_err(|e| tracing::debug!(error = %e, "no /proc/sys for the guest"))
        .ok()
}

/// Second phase: sets up the calling process inside its namespaces, up to
/// (not including) the exec of the kernel image. `before_pivot` runs once
/// the mounts are in place, before the root turns read-only and before
/// the pivot, in the new root as working directory (where runc runs OCI
/// createContainer hooks). After it, as runc does, the hostname is set and
/// the sysctls are written (through the host's `/proc/sys`, still there
/// before the pivot).
pub fn prepare(
    host: &mut impl HostSys,
    plan: &InitPlan<'_>,
    before_pivot: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if plan.loopback {
        host.loopback_up()
            .map_err(|e| Error::sys("bring loopback interface up", e))?;
    }
    let (assemble, finish) = mounts::split_before_pivot(plan.mounts);
    mounts::apply(host, assemble)?;
    if let Some(MountStep::PivotRoot { new_root }) = finish.last() {
        host.chdir(new_root)
            .map_err(|e| Error::path("enter new root", new_root, e))?;
    }
    before_pivot()?;
    if let Some(hostname) = plan.hostname {
        host.set_hostname(hostname)
            .map_err(|e| Error::sys("set hostname", e))?;
    }
    for (key, value) in plan.sysctls {
        host.write_sysctl(key, value).map_err(|e| {
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            Error::path("write sysctl", path, e)
        })?;
    }
    mounts::apply(host, finish)?;
    enter_workdir(host, plan.workdir)?;
    for limit in plan.rlimits {
        host.set_rlimit(limit)
            .map_err(|e| Error::sys("set resource limit", e))?;
    }
    let keep = match plan.user {
        Some(user) if user.uid != 0 => 0,
        _ => plan.capabilities,
    };
    host.limit_bounding_set(keep)
        .map_err(|e| Error::sys("limit the capability bounding set", e))?;
    if let Some(user) = plan.user {
        host.set_user(user)
            .map_err(|e| Error::sys("set user and groups", e))?;
    }
    host.set_no_new_privs()
        .map_err(|e| Error::sys("set no_new_privs", e))?;
    host.limit_capabilities(keep)
        .map_err(|e| Error::sys("drop capabilities", e))
}

/// Enters the working directory, creating it if it is missing, as Docker
/// does; on a read-only root the creation fails and so does the container.
fn enter_workdir(host: &mut impl HostSys, dir: &Path) -> Result<()> {
    match host.chdir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            host.mkdir_all(dir)
                .map_err(|e| Error::path("create working directory", dir, e))?;
            host.chdir(dir)
                .map_err(|e| Error::path("enter working directory", dir, e))
        }
        Err(e) => Err(Error::path("enter working directory", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FileKind;
    use crate::host::fake::FakeHost;

    const PIVOT: &[MountStep] = &[];
    const LIMITS: &[Rlimit] = &[Rlimit {
        resource: 7,
        soft: 64,
        hard: 128,
    }];
    static SYSCTLS: &[(String, String)] = &[];
    static ROOT: User = User {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
    };

    fn no_hook() -> Result<()> {
        Ok(())
    }

    fn plan(workdir: &Path) -> InitPlan<'_> {
        InitPlan {
            join_user: None,
            new_user: false,
            join: &[],
            unshare: crate::spec::Namespaces::all_new().unshare_flags(),
            hostname: Some("box"),
            sysctls: SYSCTLS,
            loopback: true,
            mounts: PIVOT,
            workdir,
            rlimits: LIMITS,
            user: Some(&ROOT),
            capabilities: crate::caps::GUEST_ROOT,
        }
    }

    #[test]
    fn setup_runs_in_order_and_drops_privileges_last() {
        let mut host = FakeHost::default();
        enter_namespaces(&mut host, &plan(Path::new("/")), no_hook).unwrap();
        prepare(&mut host, &plan(Path::new("/")), no_hook).unwrap();
        let names = host.call_names();
        assert_eq!(
            names,
            [
                "unshare",
                "copy_sysctls",
                "loopback_up",
                "sethostname",
                "chdir",
                "setrlimit",
                "limit_bounding_set",
                "set_user",
                "no_new_privs",
                "limit_capabilities"
            ]
        );
        assert!(host.calls[0].contains("CLONE_NEWNS") && host.calls[0].contains("CLONE_NEWNET"));
    }

    #[test]
    fn before_pivot_runs_in_the_new_root_after_the_mounts_and_before_the_pivot() {
        let steps = [
            MountStep::Tmpfs {
                target: "/r/dev".into(),
                mode: 0o755,
                flags: nix::mount::MsFlags::empty(),
                options: None,
            },
            MountStep::RestrictTree {
                root: "/r".into(),
                except: Vec::new(),
                add: nix::mount::MsFlags::MS_RDONLY,
            },
            MountStep::PivotRoot {
                new_root: "/r".into(),
            },
        ];
        let sysctls = [
            ("kernel.shmmax".to_string(), "4096".to_string()),
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
        ];
        let plan = InitPlan {
            mounts: &steps,
            sysctls: &sysctls,
            ..plan(Path::new("/"))
        };
        let mut host = FakeHost::default();
        host.files.insert("/r".into(), FileKind::Dir);
        let err = prepare(&mut host, &plan, || Err(Error::Setup("hook failed".into())));
        assert_eq!(crate::error::one_line(&err.unwrap_err()), "hook failed");
        let names: Vec<&str> = host.calls.iter().map(String::as_str).collect();
        // As runc: the hostname and the sysctls come after the hooks.
        assert!(host.calls_named("sethostname").is_empty(), "{names:?}");
        assert!(host.calls_named("sysctl").is_empty(), "{names:?}");
        assert!(
            names
                .iter()
                .any(|c| c.starts_with("mount(") && c.contains("/r/dev")),
            "{names:?}"
        );
        assert_eq!(names.last(), Some(&"chdir(/r)"), "{names:?}");
        assert!(host.calls_named("pivot_root").is_empty());

        let mut host = FakeHost::default();
        host.files.insert("/r".into(), FileKind::Dir);
        let mut ran = false;
        // The fake host cannot detach the old root; what matters is the
        // pivot came after the callback.
        let _ = prepare(&mut host, &plan, || {
            ran = true;
            Ok(())
        });
        assert!(ran);
        assert_eq!(host.calls_named("pivot_root").len(), 1);
        let at = |prefix: &str| host.calls.iter().position(|c| c.starts_with(prefix));
        assert!(at("sethostname(box)") < at("sysctl(kernel.shmmax,4096)"));
        assert!(at("sysctl(net.ipv4.ip_forward,1)") < at("pivot_root"));
    }

    #[test]
    fn sysctls_are_copied_before_a_joined_mount_namespace_is_entered() {
        let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
        let join = [
            (CloneFlags::CLONE_NEWNET, null()),
            (CloneFlags::CLONE_NEWNS, null()),
        ];
        let plan = InitPlan {
            join: &join,
            unshare: CloneFlags::empty(),
            ..plan(Path::new("/"))
        };
        let mut host = FakeHost::default();
        assert!(
            enter_namespaces(&mut host, &plan, no_hook)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            host.calls,
            [
                "copy_sysctls()",
                "setns(CloneFlags(CLONE_NEWNET))",
                "setns(CloneFlags(CLONE_NEWNS))",
                "unshare(CloneFlags(0x0))"
            ]
        );
        // A host that refuses the copy leaves the guest without sysctls,
        // not without a container.
        let mut host = FakeHost::default();
        host.failures.insert("copy_sysctls(".into(), libc::EPERM);
        assert!(
            enter_namespaces(&mut host, &plan, no_hook)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_new_user_namespace_is_mapped_before_the_other_namespaces_exist() {
        let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
        let join = [(CloneFlags::CLONE_NEWNET, null())];
        let creating = InitPlan {
            join: &join,
            new_user: true,
            ..plan(Path::new("/"))
        };
        let mut host = FakeHost::default();
        let mut mapped = false;
        enter_namespaces(&mut host, &creating, || {
            mapped = true;
            Ok(())
        })
        .unwrap();
        assert!(mapped);
        let names = host.call_names();
        assert_eq!(
            names,
            ["setns", "unshare", "become_root", "unshare", "copy_sysctls"]
        );
        assert_eq!(host.calls[1], "unshare(CloneFlags(CLONE_NEWUSER))");
        // Joining a running container's: its user namespace first.
        let user = null();
        let joining = InitPlan {
            join_user: Some(&user),
            join: &join,
            ..plan(Path::new("/"))
        };
        let mut host = FakeHost::default();
        enter_namespaces(&mut host, &joining, no_hook).unwrap();
        assert_eq!(
            host.calls[..3],
            [
                "setns(CloneFlags(CLONE_NEWUSER))",
                "become_root()",
                "setns(CloneFlags(CLONE_NEWNET))"
            ]
        );
    }

    #[test]
    fn a_sysctl_that_cannot_be_written_fails_the_setup_with_its_path() {
        let sysctls = [("net.ipv4.nonexistent".to_string(), "1".to_string())];
        let plan = InitPlan {
            sysctls: &sysctls,
            ..plan(Path::new("/"))
        };
        let mut host = FakeHost::default();
        host.failures
            .insert("sysctl(net.ipv4.nonexistent".into(), libc::ENOENT);
        let err = prepare(&mut host, &plan, no_hook).unwrap_err();
        assert_eq!(
            crate::error::one_line(&err),
            "write sysctl /proc/sys/net/ipv4/nonexistent: No such file or directory"
        );
    }

    #[test]
    fn missing_workdir_is_created_then_entered() {
        let mut host = FakeHost::default();
        prepare(&mut host, &plan(Path::new("/work/dir")), no_hook).unwrap();
        assert_eq!(
            host.calls_named("chdir"),
            ["chdir(/work/dir)", "chdir(/work/dir)"]
        );
        assert_eq!(host.calls_named("mkdir_all"), ["mkdir_all(/work/dir)"]);
    }

    #[test]
    fn existing_workdir_is_entered_without_mkdir() {
        let mut host = FakeHost::default();
        host.files.insert("/srv".into(), FileKind::Dir);
        prepare(&mut host, &plan(Path::new("/srv")), no_hook).unwrap();
        assert!(host.calls_named("mkdir").is_empty());
    }

    #[test]
    fn workdir_on_read_only_root_fails_before_privileges_are_dropped() {
        let mut host = FakeHost::default();
        host.failures.insert("mkdir_all(/work".into(), libc::EROFS);
        let err = prepare(&mut host, &plan(Path::new("/work")), no_hook).unwrap_err();
        assert_eq!(
            crate::error::one_line(&err),
            "create working directory /work: Read-only file system"
        );
        assert!(host.calls_named("limit_capabilities").is_empty());
    }

    #[test]
    fn root_keeps_the_planned_capabilities_and_another_user_none() {
        let mut host = FakeHost::default();
        prepare(&mut host, &plan(Path::new("/")), no_hook).unwrap();
        assert_eq!(
            host.calls_named("limit_capabilities"),
            ["limit_capabilities(0x43b)"]
        );
        let web = User {
            uid: 1000,
            gid: 1000,
            additional_gids: Vec::new(),
        };
        let mut host = FakeHost::default();
        let plan = InitPlan {
            user: Some(&web),
            ..plan(Path::new("/"))
        };
        prepare(&mut host, &plan, no_hook).unwrap();
        assert_eq!(
            host.calls_named("limit_bounding_set"),
            ["limit_bounding_set(0x0)"]
        );
        assert_eq!(
            host.calls_named("limit_capabilities"),
            ["limit_capabilities(0x0)"]
        );
    }

    #[test]
    fn a_joined_container_sets_neither_hostname_nor_loopback() {
        let mut host = FakeHost::default();
        let plan = InitPlan {
            hostname: None,
            loopback: false,
            ..plan(Path::new("/"))
        };
        prepare(&mut host, &plan, no_hook).unwrap();
        assert!(host.calls_named("sethostname").is_empty());
        assert!(host.calls_named("loopback_up").is_empty());
    }

    #[test]
    fn hostname_failure_is_reported() {
        let mut host = FakeHost::default();
        host.failures.insert("sethostname(box".into(), libc::EPERM);
        let err = prepare(&mut host, &plan(Path::new("/")), no_hook).unwrap_err();
        assert!(crate::error::one_line(&err).starts_with("set hostname: Operation not permitted"));
    }
}
