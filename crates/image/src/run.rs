//! What a container of an image runs, combined as Docker does: the
//! image's Entrypoint followed by the user's arguments or else the image's
//! Cmd; the image's Env before the user's `-e`; the user's working
//! directory or the image's; the user's `-u` or else the image's User,
//! resolved against the image's own `/etc/passwd` and `/etc/group`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::inroot;
use crate::oci::RunConfig;

/// Largest `/etc/passwd` or `/etc/group` read from an image.
const MAX_ACCOUNT_FILE: u64 = 4 << 20;

/// A container's process as an image and the user's request define it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Environment entries to apply, in order (image first, then user).
    pub env: Vec<String>,
    /// The working directory.
    pub workdir: PathBuf,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// What the user asked for on the command line, each part overriding the
/// image's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    /// The command's arguments (replacing Cmd); may be empty.
    pub args: &'a [String],
    /// `-e` entries, applied after the image's Env.
    pub env: &'a [String],
    /// `-w`: the working directory.
    pub workdir: Option<&'a Path>,
    /// `-u USER[:GROUP]`: the user, instead of the image's User.
    pub user: Option<&'a str>,
    /// `--entrypoint`: the program instead of the image's Entrypoint (an
    /// empty one clears it); as with Docker, the image's Cmd is dropped.
    pub entrypoint: Option<&'a str>,
}

/// Combines `config` with the user's `request`, resolving the user inside
/// `rootfs`.
pub fn process(config: &RunConfig, rootfs: &Path, request: Request<'_>) -> Result<Process> {
    let mut command = match request.entrypoint {
        Some("") => Vec::new(),
        Some(program) => vec![program.to_owned()],
        None => config.entrypoint.clone().unwrap_or_default(),
    };
    if request.args.is_empty() && request.entrypoint.is_none() {
        command.extend(config.cmd.clone().unwrap_or_default());
    } else {
        command.extend(request.args.iter().cloned());
    }
    if command.is_empty() {
        return Err(Error::Format(
            "the image has no Entrypoint or Cmd: give a command after --".into(),
        ));
    }
    let user = resolve_user(
        rootfs,
        request.user.or(config.user.as_deref()).unwrap_or(""),
    )?;
    let mut entries = Vec::new();
    let image_env = config.env.clone().unwrap_or_default();
    let sets_home = image_env
        .iter()
        .chain(request.env)
        .any(|e| e.starts_with("HOME="));
    if !sets_home {
        entries.push(format!("HOME={}", user.home));
    }
    entries.extend(image_env);
    entries.extend(request.env.iter().cloned());
    let workdir = match request.workdir {
        Some(dir) => dir.to_owned(),
        None => match config.working_dir.as_deref() {
            Some(dir) if !dir.is_empty() => Path::new("/").join(dir),
            _ => PathBuf::from("/"),
        },
    };
    Ok(Process {
        command,
        env: entries,
        workdir,
        uid: user.uid,
        gid: user.gid,
    })
}

/// A user resolved from an image's `User` or `-u`.
#[derive(Debug, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id (the group given after `:`, else the user's own).
    pub gid: u32,
    /// The home directory in `/etc/passwd`: the default `HOME`.
    pub home: String,
}

/// Resolves `user[:group]` (names or numbers) as Docker does: a name must
/// exist in the root's `/etc/passwd`; a number need not, and then has
/// group 0 and home `/`.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User> {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let passwd = account_file(rootfs, "/etc/passwd")?;
    // name:password:uid:gid:gecos:home:shell
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let user = if user.is_empty() { "0" } else { user };
    let entry = entries.iter().find(|f| match user.parse::<u32>() {
        Ok(uid) => f[2].parse() == Ok(uid),
        Err(_) => f[0] == user,
    });
    let (uid, mut gid, home) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().map_err(|_| bad_account("passwd", f[0]))?,
            f[3].parse().map_err(|_| bad_account("passwd", f[0]))?,
            f[5].to_owned(),
        ),
        (None, Ok(uid)) => (uid, 0, if uid == 0 { "/root" } else { "/" }.to_owned()),
        (None, Err(_)) => {
            return Err(Error::Format(format!(
                "user {user:?} is not in the container's /etc/passwd"
            )));
        }
    };
    if let Some(group) = group {
        gid = match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = account_file(rootfs, "/etc/group")?;
                groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == group)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| {
                        Error::Format(format!(
                            "group {group:?} is not in the container's /etc/group"
                        ))
                    })?
            }
        };
    }
    Ok(User { uid, gid, home })
}

fn account_file(rootfs: &Path, path: &str) -> Result<String> {
    let bytes = inroot::read_file(rootfs, path, MAX_ACCOUNT_FILE)
        .map_err(|e| Error::io("read the container's", path, e))?;
    Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
}

fn bad_account(file: &str, name: &str) -> Error {
    Error::Format(format!(
        "malformed entry {name:?} in the container's /etc/{file}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn rootfs_with_accounts() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001:Web:/home/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        root
    }

    fn config(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> RunConfig {
        RunConfig {
            entrypoint: entrypoint.map(strings),
            cmd: cmd.map(strings),
            ..RunConfig::default()
        }
    }

    #[test]
    fn command_combines_entrypoint_with_args_or_cmd_like_docker() {
        let root = rootfs_with_accounts();
        let run = |c: &RunConfig, args: &[&str]| {
            let args = strings(args);
            let request = Request {
                args: &args,
                ..Request::default()
            };
            process(c, root.path(), request).map(|p| p.command)
        };
        let both = config(Some(&["/bin/sh", "-c"]), Some(&["echo hi"]));
        assert_eq!(run(&both, &[]).unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(run(&both, &["date"]).unwrap(), ["/bin/sh", "-c", "date"]);
        let entrypoint = |program, args: &[&str]| {
            let args = strings(args);
            let request = Request {
                args: &args,
                entrypoint: Some(program),
                ..Request::default()
            };
            process(&both, root.path(), request).map(|p| p.command)
        };
        assert_eq!(entrypoint("env", &[]).unwrap(), ["env"]);
        assert_eq!(entrypoint("", &["ls", "/"]).unwrap(), ["ls", "/"]);
        assert!(entrypoint("", &[]).is_err());
        let cmd_only = config(None, Some(&["sh"]));
        assert_eq!(run(&cmd_only, &[]).unwrap(), ["sh"]);
        assert_eq!(run(&cmd_only, &["ls", "-l"]).unwrap(), ["ls", "-l"]);
        assert!(run(&config(None, None), &[]).is_err());
    }

    #[test]
    fn env_workdir_and_home_follow_image_then_user() {
        let root = rootfs_with_accounts();
        let c = RunConfig {
            env: Some(strings(&["PATH=/opt/bin", "A=image"])),
            working_dir: Some("/srv".into()),
            user: Some("web".into()),
            cmd: Some(strings(&["x"])),
            ..RunConfig::default()
        };
        let env = strings(&["A=user"]);
        let with_env = Request {
            env: &env,
            ..Request::default()
        };
        let p = process(&c, root.path(), with_env).unwrap();
        assert_eq!(
            p.env,
            ["HOME=/home/web", "PATH=/opt/bin", "A=image", "A=user"]
        );
        assert_eq!(p.workdir, Path::new("/srv"));
        assert_eq!((p.uid, p.gid), (1000, 1001));
        let in_tmp = Request {
            workdir: Some(Path::new("/tmp")),
            ..Request::default()
        };
        let p = process(&c, root.path(), in_tmp).unwrap();
        assert_eq!(p.workdir, Path::new("/tmp"));
        let as_root = Request {
            user: Some("0"),
            ..Request::default()
        };
        let p = process(&c, root.path(), as_root).unwrap();
        assert_eq!((p.uid, p.gid), (0, 0));
        assert_eq!(p.env[0], "HOME=/root");
    }

    #[test]
    fn users_resolve_by_name_number_and_group() {
        let root = rootfs_with_accounts();
        let user = |spec| resolve_user(root.path(), spec);
        assert_eq!(
            user("").unwrap(),
            User {
                uid: 0,
                gid: 0,
                home: "/root".into()
            }
        );
        assert_eq!(user("1000").unwrap().gid, 1001);
        assert_eq!(
            user("4242").unwrap(),
            User {
                uid: 4242,
                gid: 0,
                home: "/".into()
            }
        );
        assert_eq!(user("web:staff").unwrap().gid, 50);
        assert_eq!(user("web:7").unwrap().gid, 7);
        assert!(user("nobody").is_err());
        assert!(user("web:nogroup").is_err());
    }
}
