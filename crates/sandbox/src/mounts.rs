//! The container's mount table, computed as data and then performed.
//!
//! [`plan`] turns the rootfs choice into a list of [`MountStep`]s without
//! touching the host; [`apply`] performs them through [`HostSys`]. The one
//! step that depends on the host's state at run time, making a whole tree
//! read-only and nodev, is expanded by [`restrict_remounts`], again a pure function of
//! the `/proc/self/mountinfo` text read at that moment.
//!
//! The resulting root holds the rootfs (or the host's root), a fresh tmpfs
//! on `/dev` with the host's harmless character devices bind-mounted onto
//! empty files (the kernel decides what the guest sees under `/dev`; these
//! are what it opens), and, for the host root, a fresh writable tmpfs on
//! `/tmp`. Nothing is mounted on `/proc` or `/sys`: the kernel answers
//! `/proc` itself, and the host's must not be reachable.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::error::{Error, Result};
use crate::host::{FileKind, HostSys};
use crate::spec::{DeviceNode, Mount, Rootfs};

/// Host devices bind-mounted into every container's `/dev`.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];
/// `MS_NOSYMFOLLOW` (Linux 5.10), which `nix` does not name.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
/// Stacked mounts detached from one path at most, against a runaway loop.
const MAX_STACKED_MOUNTS: usize = 64;

/// One mount-table operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountStep {
    /// `MS_REC|MS_PRIVATE` on `/`: nothing done afterwards propagates to
    /// the host, and `pivot_root` accepts the tree.
    MakeRootPrivate,
    /// Bind `source` on `target` (with its submounts if `recursive`).
    Bind {
        /// What to bind.
        source: PathBuf,
        /// Where.
        target: PathBuf,
        /// `MS_REC`.
        recursive: bool,
    },
    /// Detach every mount stacked at `target`, with their submounts; a
    /// path where nothing is mounted is left alone.
    Detach {
        /// The mount point.
        target: PathBuf,
    },
    /// Create directory `path` (mode 0755) unless it exists; refuse
    /// anything that is not a directory, a symlink included, so a mount
    /// cannot be redirected outside the root.
    EnsureDir {
        /// The directory.
        path: PathBuf,
    },
    /// Mount a fresh tmpfs.
    Tmpfs {
        /// Where.
        target: PathBuf,
        /// Mode of its root directory.
        mode: u32,
        /// `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`, `MS_RDONLY`.
        flags: MsFlags,
        /// Extra tmpfs options, such as a size.
        options: Option<&'static str>,
    },
    /// Mount a new instance of devpts, the container's own pseudo-terminals.
    Devpts {
        /// Where (the container's `/dev/pts`).
        target: PathBuf,
    },
    /// Create the symbolic link `path` pointing to `target`.
    Symlink {
        /// The link.
        path: PathBuf,
        /// What it points to.
        target: &'static str,
    },
    /// A mount the user asked for, its destination resolved inside `root`
    /// when it is performed (see [`crate::inroot`]).
    User {
        /// The container's root on the host.
        root: PathBuf,
        /// The mount.
        mount: Mount,
    },
    /// Create an empty file to bind a device onto.
    CreateFile {
        /// The file.
        path: PathBuf,
    },
    /// Make a device node (`mknod`), then give it the node's mode and
    /// owner.
    MakeDevice {
        /// Where, on the host (inside the root being assembled).
        path: PathBuf,
        /// The node.
        node: DeviceNode,
    },
    /// Add `add` (`MS_NODEV`, and `MS_RDONLY` for a read-only root) to
    /// every mount at or under `root`, except those at or under the paths
    /// in `except`. Expanded at run time by [`restrict_remounts`].
    RestrictTree {
        /// Top of the tree.
        root: PathBuf,
        /// Subtrees left alone (replaced or detached anyway, or the user's
        /// own mounts with the flags the user gave).
        except: Vec<PathBuf>,
        /// The flags every mount of the tree gets.
        add: MsFlags,
    },
    /// Remount the mount at `target` with `flags`: those it had (which a
    /// user namespace may have locked) and those added.
    Restrict {
        /// The mount point.
        target: PathBuf,
        /// Its flags after the remount.
        flags: MsFlags,
    },
    /// Make `new_root` the root and drop the old one.
    PivotRoot {
        /// The new root, a mount point.
        new_root: PathBuf,
    },
}

/// Facts about the host that shape the mount plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanContext {
    /// Where the root is assembled: the rootfs directory, or for the host
    /// root an empty scratch directory.
    pub root: PathBuf,
    /// The container runs in a user namespace: mounts inherited from the
    /// host are locked to their parents and cannot be detached, only
    /// covered.
    pub user_namespace: bool,
    /// The host has a `/dev/tty` node, so the container gets one.
    pub tty: bool,
}

/// What the container's root holds besides the root filesystem: the
/// user's mounts, in order, and the device nodes of its `/dev`.
#[derive(Clone, Copy, Debug)]
pub struct Additions<'a> {
    /// Mounts on top of the root.
    pub mounts: &'a [Mount],
    /// Device nodes in `/dev`.
    pub devices: &'a [DeviceNode],
}

/// The mount steps that build the container's root, ending with the pivot:
/// the root, `/dev`, then the user's mounts in order.
pub fn plan(rootfs: &Rootfs, additions: Additions<'_>, ctx: &PlanContext) -> Vec<MountStep> {
    let mounts = additions.mounts;
    let root = &ctx.root;
    let at = |rel: &str| root.join(rel);
    let mut steps = vec![MountStep::MakeRootPrivate];
    match rootfs {
        Rootfs::Host => {
            steps.push(MountStep::Bind {
                source: "/".into(),
                target: root.clone(),
                recursive: true,
            });
            let hidden = ["proc", "sys", "dev", "tmp"].map(at);
            if !ctx.user_namespace {
                steps.extend(
                    hidden
                        .iter()
                        .map(|p| MountStep::Detach { target: p.clone() }),
                );
            }
            steps.push(MountStep::RestrictTree {
                root: root.clone(),
                except: hidden.to_vec(),
                add: MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
            });
            if ctx.user_namespace {
                // Locked host mounts stay below; cover them with empty,
                // read-only file systems.
                for dir in ["proc", "sys"] {
                    steps.push(MountStep::Tmpfs {
                        target: at(dir),
                        mode: 0o555,
                        flags: MsFlags::MS_RDONLY
                            | MsFlags::MS_NOSUID
                            | MsFlags::MS_NODEV
                            | MsFlags::MS_NOEXEC,
                        options: Some("size=4k"),
                    });
                }
            }
            dev_steps(additions, ctx, &mut steps);
            steps.push(MountStep::Tmpfs {
                target: at("tmp"),
                mode: 0o1777,
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                options: None,
            });
            // On the read-only host root, mount points must exist already.
            steps.extend(user_steps(root, mounts));
        }
        Rootfs::Dir { read_only, .. } => {
            // pivot_root needs the new root to be a mount point.
            steps.push(MountStep::Bind {
                source: root.clone(),
                target: root.clone(),
                recursive: true,
            });
            steps.push(MountStep::EnsureDir { path: at("dev") });
            dev_steps(additions, ctx, &mut steps);
            // The user's mounts go before the root turns read-only: their
            // mount points may have to be created, as runc does.
            steps.extend(user_steps(root, mounts));
            // Device nodes work only in /dev (the sandbox's, which the
            // device cgroup governs): one left in a rootfs directory, or
            // made there, opens nothing.
            let mut except = vec![at("dev")];
            except.extend(
                mounts
                    .iter()
                    .map(|m| root.join(m.destination.strip_prefix("/").unwrap_or(&m.destination))),
            );
            let add = if *read_only {
                MsFlags::MS_RDONLY | MsFlags::MS_NODEV
            } else {
                MsFlags::MS_NODEV
            };
            steps.push(MountStep::RestrictTree {
                root: root.clone(),
                except,
                add,
            });
        }
    }
    steps.push(MountStep::PivotRoot {
        new_root: root.clone(),
    });
    steps
}

/// The user's mounts, in order.
fn user_steps<'a>(root: &'a Path, mounts: &'a [Mount]) -> impl Iterator<Item = MountStep> + 'a {
    mounts.iter().map(|mount| MountStep::User {
        root: root.to_owned(),
        mount: mount.clone(),
    })
}

/// Whether the user mounts their own `/dev/shm` (Docker's `--shm-size`).
fn shm_mounted(mounts: &[Mount]) -> bool {
    mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev/shm"))
}

/// The `/dev` tmpfs, the device binds onto it, the configured device
/// nodes and a private devpts, as runc does, and unless the user mounts
/// one, `/dev/shm`.
fn dev_steps(additions: Additions<'_>, ctx: &PlanContext, steps: &mut Vec<MountStep>) {
    let dev = ctx.root.join("dev");
    steps.push(MountStep::Tmpfs {
        target: dev.clone(),
        mode: 0o755,
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        options: Some("size=65536k"),
    });
    let bind_host_node = |name: &Path, steps: &mut Vec<MountStep>| {
        let target = dev.join(name);
        steps.push(MountStep::CreateFile {
            path: target.clone(),
        });
        steps.push(MountStep::Bind {
            source: Path::new("/dev").join(name),
            target,
            recursive: false,
        });
    };
    let configured = |name: &str| {
        additions
            .devices
            .iter()
            .any(|d| d.path == Path::new("/dev").join(name))
    };
    let tty_dev = ctx.tty.then_some("tty");
    for name in DEVICES.iter().copied().chain(tty_dev) {
        if !configured(name) {
            bind_host_node(Path::new(name), steps);
        }
    }
    for node in additions.devices {
        // Checked by `check_device_node`: a plain path under /dev.
        let name = node.path.strip_prefix("/dev").unwrap_or(&node.path);
        let mut parent = dev.clone();
        for part in name.parent().into_iter().flat_map(Path::components) {
            parent.push(part);
            steps.push(MountStep::EnsureDir {
                path: parent.clone(),
            });
        }
        if ctx.user_namespace {
            // A user namespace may not make device nodes; as runc does
            // there, the host's node of the same name is bound instead.
            bind_host_node(name, steps);
        } else {
            steps.push(MountStep::MakeDevice {
                path: dev.join(name),
                node: node.clone(),
            });
        }
    }
    let pts = dev.join("pts");
    steps.push(MountStep::EnsureDir { path: pts.clone() });
    steps.push(MountStep::Devpts { target: pts });
    steps.push(MountStep::Symlink {
        path: dev.join("ptmx"),
        target: "pts/ptmx",
    });
    if shm_mounted(additions.mounts) {
        return;
    }
    // POSIX shared memory and semaphores (shm_open, sem_open), as Docker
    // gives every container: a private tmpfs of 64 MiB.
    let shm = dev.join("shm");
    steps.push(MountStep::EnsureDir { path: shm.clone() });
    steps.push(MountStep::Tmpfs {
        target: shm,
        mode: 0o1777,
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        options: Some("size=65536k"),
    });
}

/// One line of `/proc/self/mountinfo`, the fields the sandbox needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount point, relative to the reader's root, unescaped.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`...).
    pub options: String,
}

/// Parses `/proc/self/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let mount_point = fields.nth(4)?;
            let options = fields.next()?;
            Some(MountInfo {
                mount_point: unescape(mount_point).into(),
                options: options.to_owned(),
            })
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space) in mountinfo paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |acc, d| acc.wrapping_mul(8) + (d - b'0')),
                );
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Flags a read-only bind remount must repeat: a user namespace locks
/// them, and a remount that changes a locked flag fails with `EPERM`; and
/// a remount that omitted `nosymfollow` would clear it.
fn kept_flags(options: &str) -> MsFlags {
    let mut flags = MsFlags::empty();
    let mut atime = MsFlags::MS_STRICTATIME;
    for option in options.split(',') {
        match option {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "nosymfollow" => flags |= MS_NOSYMFOLLOW,
            "noatime" => atime = MsFlags::MS_NOATIME,
            "relatime" => atime = MsFlags::MS_RELATIME,
            _ => {}
        }
    }
    flags | atime
}

/// The remounts that add `add` to every mount at or under `root` (a
/// remount of the top bind alone leaves its submounts as they were),
/// skipping the subtrees in `except`; each keeps the flags it had.
///
/// A remount names a path, so it reaches the topmost of the mounts stacked
/// there: one remount per path, with the flags of the last mount listed
/// (mountinfo lists mounts in the order they were made).
pub fn restrict_remounts(
    mountinfo: &str,
    root: &Path,
    except: &[PathBuf],
    add: MsFlags,
) -> Vec<MountStep> {
    let mut steps: Vec<MountStep> = Vec::new();
    for mount in parse_mountinfo(mountinfo) {
        let inside = mount.mount_point.starts_with(root);
        let excepted = except.iter().any(|e| mount.mount_point.starts_with(e));
        if !inside || excepted {
            continue;
        }
        let step = MountStep::Restrict {
            flags: kept_flags(&mount.options) | add,
            target: mount.mount_point,
        };
        let same_path = |s: &MountStep| {
            matches!((s, &step),
            (MountStep::Restrict { target: a, .. }, MountStep::Restrict { target: b, .. }) if a == b)
        };
        match steps.iter_mut().find(|s| same_path(s)) {
            Some(earlier) => *earlier = step,
            None => steps.push(step),
        }
    }
    steps
}

/// Performs `steps` in order.
pub fn apply(host: &mut impl HostSys, steps: &[MountStep]) -> Result<()> {
    for step in steps {
        apply_one(host, step)?;
    }
    Ok(())
}

/// Splits a plan into the mounts that assemble the root and what finishes
/// it: the read-only remount of the root, if any, and the pivot.
pub fn split_before_pivot(steps: &[MountStep]) -> (&[MountStep], &[MountStep]) {
    let finish = steps
        .iter()
        .rev()
        .take_while(|s| {
            matches!(
                s,
                MountStep::RestrictTree { .. } | MountStep::PivotRoot { .. }
            )
        })
        .count();
    steps.split_at(steps.len() - finish)
}

fn apply_one(host: &mut impl HostSys, step: &MountStep) -> Result<()> {
    tracing::debug!(?step, "mount step");
    match step {
        MountStep::MakeRootPrivate => host
            .mount(
                None,
                Path::new("/"),
                None,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None,
            )
            .map_err(|e| Error::path("make mounts private at", "/", e)),
        MountStep::Bind {
            source,
            target,
            recursive,
        } => {
            let flags = if *recursive {
                MsFlags::MS_BIND | MsFlags::MS_REC
            } else {
                MsFlags::MS_BIND
            };
            host.mount(Some(source), target, None, flags, None)
                .map_err(|e| Error::path("bind-mount onto", target, e))
        }
        MountStep::Detach { target } => {
            for _ in 0..MAX_STACKED_MOUNTS {
                match host.unmount_detach(target) {
                    Ok(()) => continue,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
                        return Ok(());
                    }
                    Err(e) => return Err(Error::path("detach mounts at", target, e)),
                }
            }
            Ok(())
        }
        MountStep::EnsureDir { path } => match host
            .file_kind(path)
            .map_err(|e| Error::path("stat", path, e))?
        {
            Some(FileKind::Dir) => Ok(()),
            None => host
                .mkdir(path, 0o755)
                .map_err(|e| Error::path("create directory", path, e)),
            Some(_) => Err(Error::path(
                "mount point",
                path,
                io::Error::from_raw_os_error(libc::ENOTDIR),
            )),
        },
        MountStep::Tmpfs {
            target,
            mode,
            flags,
            options,
        } => {
            let data = match options {
                Some(options) => format!("mode={mode:o},{options}"),
                None => format!("mode={mode:o}"),
            };
            host.mount(
                Some(Path::new("tmpfs")),
                target,
                Some("tmpfs"),
                *flags,
                Some(&data),
            )
            .map_err(|e| Error::path("mount tmpfs on", target, e))
        }
        MountStep::Devpts { target } => host
            .mount(
                Some(Path::new("devpts")),
                target,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620"),
            )
            .map_err(|e| Error::path("mount devpts on", target, e)),
        MountStep::Symlink { path, target } => host
            .symlink(Path::new(target), path)
            .map_err(|e| Error::path("create symlink", path, e)),
        MountStep::User { root, mount } => host
            .mount_in_root(root, mount)
            .map_err(|e| Error::path("mount", &mount.destination, e)),
        MountStep::CreateFile { path } => host
            .create_file(path)
            .map_err(|e| Error::path("create mount point", path, e)),
        MountStep::MakeDevice { path, node } => host
            .make_device(path, node)
            .map_err(|e| Error::path("make device node", &node.path, e)),
        MountStep::RestrictTree { root, except, add } => {
            let mountinfo = host
                .read_mountinfo()
                .map_err(|e| Error::path("read", "/proc/self/mountinfo", e))?;
            apply(host, &restrict_remounts(&mountinfo, root, except, *add))
        }
        MountStep::Restrict { target, flags } => {
            let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | *flags;
            match host.mount(None, target, None, flags, None) {
                Ok(()) => Ok(()),
                // A mount the sandbox cannot reach (covered by a later mount,
                // or behind a directory its credentials cannot search) is
                // unreachable for the guest too.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EACCES)) => {
                    tracing::debug!(target = %target.display(), error = %e, "mount not reachable, left as is");
                    Ok(())
                }
                Err(e) => Err(Error::path("remount (read-only, nodev)", target, e)),
            }
        }
        MountStep::PivotRoot { new_root } => {
            // pivot_root(".", ".") stacks the old root on top of the new
            // one; detaching "." then drops it, with no directory needed
            // for it inside the container.
            host.chdir(new_root)
                .map_err(|e| Error::path("enter new root", new_root, e))?;
            host.pivot_root(Path::new("."), Path::new("."))
                .map_err(|e| Error::path("pivot_root to", new_root, e))?;
            host.unmount_detach(Path::new("."))
                .map_err(|e| Error::path("detach old root", "/", e))?;
            host.chdir(Path::new("/"))
                .map_err(|e| Error::path("enter new root", "/", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::spec::DeviceKind;

    /// A root with nothing added to it.
    const NOTHING: Additions<'static> = Additions {
        mounts: &[],
        devices: &[],
    };

    fn with_mounts(mounts: &[Mount]) -> Additions<'_> {
        Additions {
            mounts,
            devices: &[],
        }
    }

    fn host_ctx(user_namespace: bool) -> PlanContext {
        PlanContext {
            root: "/tmp/oxbox-root".into(),
            user_namespace,
            tty: false,
        }
    }

    fn dir_rootfs(read_only: bool) -> Rootfs {
        Rootfs::Dir {
            path: "/srv/rootfs".into(),
            read_only,
        }
    }

    fn dir_ctx() -> PlanContext {
        PlanContext {
            root: "/srv/rootfs".into(),
            user_namespace: false,
            tty: false,
        }
    }

    fn position(steps: &[MountStep], wanted: impl Fn(&MountStep) -> bool) -> usize {
        steps.iter().position(wanted).expect("step missing")
    }

    #[test]
    fn host_plan_starts_private_and_ends_with_pivot() {
        let steps = plan(&Rootfs::Host, NOTHING, &host_ctx(false));
        assert_eq!(steps[0], MountStep::MakeRootPrivate);
        assert_eq!(
            steps[1],
            MountStep::Bind {
                source: "/".into(),
                target: "/tmp/oxbox-root".into(),
                recursive: true
            }
        );
        assert_eq!(
            steps.last(),
            Some(&MountStep::PivotRoot {
                new_root: "/tmp/oxbox-root".into()
            })
        );
    }

    #[test]
    fn host_plan_detaches_proc_sys_dev_tmp_before_read_only() {
        let steps = plan(&Rootfs::Host, NOTHING, &host_ctx(false));
        let ro = position(&steps, |s| matches!(s, MountStep::RestrictTree { .. }));
        for dir in ["proc", "sys", "dev", "tmp"] {
            let target = Path::new("/tmp/oxbox-root").join(dir);
            let detach = position(&steps, |s| {
                *s == MountStep::Detach {
                    target: target.clone(),
                }
            });
            assert!(detach < ro, "{dir}");
        }
    }

    #[test]
    fn host_plan_mounts_writable_tmp_and_dev_after_read_only() {
        let steps = plan(&Rootfs::Host, NOTHING, &host_ctx(false));
        let ro = position(&steps, |s| matches!(s, MountStep::RestrictTree { .. }));
        let tmp = position(&steps, |s| {
            matches!(s, MountStep::Tmpfs { target, mode: 0o1777, flags, .. }
                if target.ends_with("tmp") && !flags.contains(MsFlags::MS_RDONLY))
        });
        let dev = position(
            &steps,
            |s| matches!(s, MountStep::Tmpfs { target, .. } if target.ends_with("dev")),
        );
        assert!(ro < dev && ro < tmp);
    }

    #[test]
    fn host_plan_in_user_namespace_covers_proc_and_sys() {
        let steps = plan(&Rootfs::Host, NOTHING, &host_ctx(true));
        assert!(!steps.iter().any(|s| matches!(s, MountStep::Detach { .. })));
        for dir in ["proc", "sys"] {
            assert!(
                steps
                    .iter()
                    .any(|s| matches!(s, MountStep::Tmpfs { target, flags, .. }
                if target.ends_with(dir) && flags.contains(MsFlags::MS_RDONLY)))
            );
        }
    }

    fn node(path: &str) -> DeviceNode {
        DeviceNode {
            path: path.into(),
            kind: DeviceKind::Char,
            major: 1,
            minor: 11,
            mode: 0o640,
            uid: 0,
            gid: 5,
        }
    }

    #[test]
    fn configured_devices_are_made_in_dev_with_their_parents_or_bound_in_a_user_namespace() {
        let devices = [node("/dev/net/kmsg"), node("/dev/null")];
        let additions = Additions {
            mounts: &[],
            devices: &devices,
        };
        let dev = Path::new("/tmp/oxbox-root/dev");
        let steps = plan(&Rootfs::Host, additions, &host_ctx(false));
        let parent = position(&steps, |s| {
            *s == MountStep::EnsureDir {
                path: dev.join("net"),
            }
        });
        let made = position(&steps, |s| {
            *s == MountStep::MakeDevice {
                path: dev.join("net/kmsg"),
                node: devices[0].clone(),
            }
        });
        assert!(parent < made);
        // The configured /dev/null replaces the host's bound one.
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s, MountStep::Bind { target, .. }
            if *target == dev.join("null")))
        );
        assert!(steps.contains(&MountStep::MakeDevice {
            path: dev.join("null"),
            node: devices[1].clone(),
        }));

        let steps = plan(&Rootfs::Host, additions, &host_ctx(true));
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s, MountStep::MakeDevice { .. }))
        );
        assert!(steps.contains(&MountStep::Bind {
            source: "/dev/net/kmsg".into(),
            target: dev.join("net/kmsg"),
            recursive: false,
        }));
    }

    #[test]
    fn dev_is_noexec_nosuid_tmpfs_with_bound_devices() {
        let steps = plan(&Rootfs::Host, NOTHING, &host_ctx(false));
        assert!(steps.contains(&MountStep::Tmpfs {
            target: "/tmp/oxbox-root/dev".into(),
            mode: 0o755,
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            options: Some("size=65536k"),
        }));
        for name in DEVICES {
            let target = Path::new("/tmp/oxbox-root/dev").join(name);
            let create = position(&steps, |s| {
                *s == MountStep::CreateFile {
                    path: target.clone(),
                }
            });
            let bind = position(&steps, |s| {
                *s == MountStep::Bind {
                    source: Path::new("/dev").join(name),
                    target: target.clone(),
                    recursive: false,
                }
            });
            assert_eq!(create + 1, bind, "{name}");
        }
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s, MountStep::CreateFile { path } if path.ends_with("tty")))
        );
    }

    #[test]
    fn tty_is_bound_only_when_available() {
        let ctx = PlanContext {
            tty: true,
            ..host_ctx(false)
        };
        let steps = plan(&Rootfs::Host, NOTHING, &ctx);
        assert!(steps.iter().any(
            |s| matches!(s, MountStep::Bind { source, .. } if source == Path::new("/dev/tty"))
        ));
    }

    #[test]
    fn nothing_is_mounted_on_proc_or_sys() {
        for (rootfs, ctx) in [
            (Rootfs::Host, host_ctx(false)),
            (dir_rootfs(false), dir_ctx()),
        ] {
            for step in plan(&rootfs, NOTHING, &ctx) {
                if let MountStep::Bind { target, .. } = &step {
                    assert!(
                        !target.ends_with("proc") && !target.ends_with("sys"),
                        "{step:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn writable_rootfs_plan_binds_itself_and_is_never_read_only() {
        let steps = plan(&dir_rootfs(false), NOTHING, &dir_ctx());
        assert_eq!(
            steps[1],
            MountStep::Bind {
                source: "/srv/rootfs".into(),
                target: "/srv/rootfs".into(),
                recursive: true
            }
        );
        assert_eq!(
            steps[2],
            MountStep::EnsureDir {
                path: "/srv/rootfs/dev".into()
            }
        );
        // Not read-only; nodev but in /dev.
        assert_eq!(
            steps[steps.len() - 2],
            MountStep::RestrictTree {
                root: "/srv/rootfs".into(),
                except: vec!["/srv/rootfs/dev".into()],
                add: MsFlags::MS_NODEV,
            }
        );
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s, MountStep::Tmpfs { target, .. } if target.ends_with("tmp")))
        );
    }

    #[test]
    fn read_only_rootfs_plan_mounts_dev_then_remounts_all_but_dev() {
        let steps = plan(&dir_rootfs(true), NOTHING, &dir_ctx());
        let ensure = position(&steps, |s| matches!(s, MountStep::EnsureDir { .. }));
        let ro = position(&steps, |s| {
            *s == MountStep::RestrictTree {
                root: "/srv/rootfs".into(),
                except: vec!["/srv/rootfs/dev".into()],
                add: MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
            }
        });
        let dev = position(&steps, |s| matches!(s, MountStep::Tmpfs { .. }));
        assert!(ensure < dev && dev < ro);
    }

    #[test]
    fn the_split_before_the_pivot_leaves_the_root_writable_until_then() {
        for read_only in [false, true] {
            let steps = plan(&dir_rootfs(read_only), NOTHING, &dir_ctx());
            let (assemble, finish) = split_before_pivot(&steps);
            assert!(
                !assemble.is_empty()
                    && !assemble.iter().any(|s| matches!(
                        s,
                        MountStep::RestrictTree { .. } | MountStep::PivotRoot { .. }
                    )),
                "{assemble:?}"
            );
            let kinds: Vec<bool> = finish
                .iter()
                .map(|s| matches!(s, MountStep::RestrictTree { .. }))
                .collect();
            assert_eq!(kinds, [true, false]);
            assert!(matches!(finish.last(), Some(MountStep::PivotRoot { .. })));
        }
        let steps = plan(&Rootfs::Host, NOTHING, &host_ctx(false));
        assert_eq!(split_before_pivot(&steps).1.len(), 1);
    }

    #[test]
    fn user_mounts_come_after_dev_in_order_before_read_only_then_pivot() {
        let mounts = [
            crate::spec::parse_tmpfs("/dev/shm:size=1m"),
            crate::spec::parse_tmpfs("/scratch"),
        ];
        let steps = plan(&dir_rootfs(true), with_mounts(&mounts), &dir_ctx());
        let ro = position(&steps, |s| matches!(s, MountStep::RestrictTree { .. }));
        let devpts = position(&steps, |s| matches!(s, MountStep::Devpts { .. }));
        let first = position(&steps, |s| {
            *s == MountStep::User {
                root: "/srv/rootfs".into(),
                mount: mounts[0].clone(),
            }
        });
        assert!(devpts < first && first < ro);
        assert!(matches!(&steps[first + 1], MountStep::User { mount, .. } if *mount == mounts[1]));
        assert_eq!(
            steps[ro],
            MountStep::RestrictTree {
                root: "/srv/rootfs".into(),
                except: vec![
                    "/srv/rootfs/dev".into(),
                    "/srv/rootfs/dev/shm".into(),
                    "/srv/rootfs/scratch".into()
                ],
                add: MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
            }
        );
        assert!(matches!(steps[ro + 1], MountStep::PivotRoot { .. }));
        // The user's /dev/shm replaces the default one.
        assert!(
            !steps.iter().any(
                |s| matches!(s, MountStep::Tmpfs { target, .. } if target.ends_with("dev/shm"))
            )
        );
    }

    #[test]
    fn dev_has_a_private_devpts_and_ptmx_link() {
        let steps = plan(&dir_rootfs(false), NOTHING, &dir_ctx());
        let ensure = position(&steps, |s| {
            *s == MountStep::EnsureDir {
                path: "/srv/rootfs/dev/pts".into(),
            }
        });
        let devpts = position(&steps, |s| {
            *s == MountStep::Devpts {
                target: "/srv/rootfs/dev/pts".into(),
            }
        });
        assert_eq!(ensure + 1, devpts);
        assert!(steps.contains(&MountStep::Symlink {
            path: "/srv/rootfs/dev/ptmx".into(),
            target: "pts/ptmx",
        }));
    }

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw
60 22 254:0 / /tmp/oxbox-root rw,relatime shared:1 - ext4 /dev/vda rw
61 60 0:40 / /tmp/oxbox-root/mnt/with\\040space ro,nosuid,nodev,noatime - tmpfs x ro
62 60 0:41 / /tmp/oxbox-root/proc rw,nosuid,nodev,noexec - proc proc rw
63 62 0:42 / /tmp/oxbox-root/proc/sys/fs/binfmt_misc rw - binfmt_misc b rw
64 60 0:43 / /tmp/oxbox-root/tmpfoo rw - tmpfs t rw
65 60 0:44 / /tmp/oxbox-root/tmpfoo rw,nodiratime,nosymfollow - tmpfs t rw
bad line
";

    #[test]
    fn mountinfo_fields_are_parsed_and_unescaped() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 8);
        assert_eq!(
            mounts[3].mount_point,
            Path::new("/tmp/oxbox-root/mnt/with space")
        );
        assert_eq!(mounts[3].options, "ro,nosuid,nodev,noatime");
    }

    #[test]
    fn restrict_remounts_cover_submounts_keep_locked_flags_of_the_top_mount_and_skip_exceptions() {
        let root = Path::new("/tmp/oxbox-root");
        let add = MsFlags::MS_NODEV;
        let steps = restrict_remounts(MOUNTINFO, root, &[root.join("proc")], add);
        assert_eq!(
            steps,
            [
                MountStep::Restrict {
                    target: root.into(),
                    flags: MsFlags::MS_RELATIME | add
                },
                // Read-only already: it stays so.
                MountStep::Restrict {
                    target: root.join("mnt/with space"),
                    flags: MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV
                        | MsFlags::MS_NOATIME,
                },
                MountStep::Restrict {
                    target: root.join("tmpfoo"),
                    flags: MsFlags::MS_NODIRATIME | MS_NOSYMFOLLOW | MsFlags::MS_STRICTATIME | add
                },
            ]
        );
    }

    #[test]
    fn applying_detach_unmounts_every_stacked_mount_then_stops() {
        let mut host = FakeHost::default();
        host.mounted.insert("/r/proc".into(), 2);
        apply(
            &mut host,
            &[MountStep::Detach {
                target: "/r/proc".into(),
            }],
        )
        .unwrap();
        assert_eq!(host.calls, ["umount(/r/proc)"; 3]);
    }

    #[test]
    fn applying_read_only_tree_remounts_from_mountinfo() {
        let mut host = FakeHost {
            mountinfo: MOUNTINFO.into(),
            ..FakeHost::default()
        };
        let root = PathBuf::from("/tmp/oxbox-root");
        host.remount_failures
            .insert(root.join("tmpfoo"), libc::ENOENT);
        let step = MountStep::RestrictTree {
            root: root.clone(),
            except: vec![root.join("proc")],
            add: MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
        };
        apply(&mut host, &[step]).unwrap();
        let remounts = host.calls_named("mount(");
        assert_eq!(remounts.len(), 2);
        assert!(remounts[0].contains("MS_RDONLY") && remounts[0].contains("MS_REMOUNT"));
        assert!(remounts[0].contains("MS_BIND") && remounts[0].contains("MS_RELATIME"));
        assert!(remounts[0].contains("MS_NODEV"));
    }

    #[test]
    fn a_failing_remount_is_reported_with_its_path() {
        let mut host = FakeHost::default();
        host.remount_failures.insert("/r".into(), libc::EPERM);
        let step = MountStep::Restrict {
            target: "/r".into(),
            flags: MsFlags::MS_RDONLY,
        };
        let err = apply(&mut host, &[step]).unwrap_err();
        assert_eq!(
            crate::error::one_line(&err),
            "remount (read-only, nodev) /r: Operation not permitted"
        );
    }

    #[test]
    fn ensure_dir_creates_missing_and_refuses_symlinks() {
        let mut host = FakeHost::default();
        apply(
            &mut host,
            &[MountStep::EnsureDir {
                path: "/r/dev".into(),
            }],
        )
        .unwrap();
        assert_eq!(host.calls, ["mkdir(/r/dev,755)"]);

        let mut host = FakeHost::default();
        host.files.insert("/r/dev".into(), FileKind::Symlink);
        let err = apply(
            &mut host,
            &[MountStep::EnsureDir {
                path: "/r/dev".into(),
            }],
        )
        .unwrap_err();
        assert!(crate::error::one_line(&err).contains("Not a directory"));
        assert!(host.calls.is_empty());
    }

    #[test]
    fn pivot_uses_dot_dot_and_detaches_the_old_root() {
        let mut host = FakeHost::default();
        host.files.insert("/r".into(), FileKind::Dir);
        host.mounted.insert(".".into(), 1);
        apply(
            &mut host,
            &[MountStep::PivotRoot {
                new_root: "/r".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            host.calls,
            ["chdir(/r)", "pivot_root(.,.)", "umount(.)", "chdir(/)"]
        );
    }

    #[test]
    fn whole_host_plan_runs_against_the_fake() {
        let ctx = host_ctx(false);
        let mut host = FakeHost {
            mountinfo: MOUNTINFO.into(),
            ..FakeHost::default()
        };
        host.files.insert(ctx.root.clone(), FileKind::Dir);
        host.mounted.insert(".".into(), 1);
        apply(&mut host, &plan(&Rootfs::Host, NOTHING, &ctx)).unwrap();
        let tmpfs = host.calls_named("mount(/tmp/oxbox-root/tmp,tmpfs,tmpfs");
        assert_eq!(tmpfs.len(), 1);
        assert!(tmpfs[0].contains("mode=1777"));
        assert_eq!(host.created.len(), DEVICES.len());
    }
}
