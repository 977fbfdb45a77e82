//! The OCI runtime verbs, with runc's command line, so that containerd's
//! runc shim (`BinaryName`) and Docker (`--add-runtime`) can drive oxbox.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxResources, Process, ProcessBuilder, Spec, UserBuilder};
use oxbox_oci::lifecycle::{CreateOptions, ExecOptions, OCI_VERSION, Runtime};
use oxbox_oci::state::{DEFAULT_ROOT, OciState, Root};

use super::do_::kernel_image_path;

/// Options every runtime verb takes, before the verb (`oxbox --root R ...`).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory of the containers' state
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,

    /// Append logs and errors to FILE (what engines show the user)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Format of --log: text or json (logrus-style lines, as runc writes)
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    pub log_format: String,

    /// Log at debug level
    #[arg(long, global = true)]
    pub debug: bool,

    /// Place containers with systemd's cgroup driver
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,

    /// Accepted for runc compatibility; oxbox decides by itself whether it
    /// needs a user namespace
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Create a container from a bundle; its process waits for `start`
    Create(CreateArgs),
    /// Start a created container
    Start(IdArg),
    /// Create and start a container, and wait for it unless --detach
    Run(RunArgs),
    /// Print a container's state as JSON
    State(IdArg),
    /// List containers
    List(ListArgs),
    /// Send a signal to a container's first process (or all with --all)
    Kill(KillArgs),
    /// Delete a container
    Delete(DeleteArgs),
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// List a container's processes
    Ps(PsArgs),
    /// Freeze every process of a container
    Pause(IdArg),
    /// Thaw a paused container
    Resume(IdArg),
    /// Change a container's resource limits
    Update(UpdateArgs),
    /// Print a container's resource usage
    Events(EventsArgs),
    /// Print the features oxbox supports, as JSON
    Features,
    /// Write a default config.json into a bundle
    Spec(SpecArgs),
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory (config.json and the root filesystem)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's pid to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Send the pty master of a terminal container to this unix socket
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (oxbox always uses pivot_root)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is created)
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container runs
    #[arg(short, long)]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container
    #[arg(short, long)]
    pub all: bool,
    /// Container id
    pub id: String,
    /// Signal, by number or name (TERM, SIGTERM, 15)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is running
    #[arg(short, long)]
    pub force: bool,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process as OCI process JSON (instead of a command line)
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process runs
    #[arg(short, long)]
    pub detach: bool,
    /// Give the process a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Write the process's pid to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Send the pty master to this unix socket
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Working directory
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Environment variable K=V
    #[arg(short, long, value_name = "K=V")]
    pub env: Vec<String>,
    /// User: UID[:GID]
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Container id
    pub id: String,
    /// Command and arguments (without --process)
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// OCI linux.resources JSON from FILE, or - for stdin
    #[arg(short, long, value_name = "FILE")]
    pub resources: PathBuf,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one sample and exit
    #[arg(long)]
    pub stats: bool,
    /// Seconds between samples
    #[arg(long, default_value = "5")]
    pub interval: u64,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// The bundle directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,

    /// Make the bundle from a stored image: its layers become rootfs/, its
    /// command, environment, directory and user the process
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    #[command(flatten)]
    pub store: super::image::StoreArgs,
}

/// Runs a verb; returns the exit status.
pub fn run(global: &GlobalArgs, command: RuntimeCommand) -> anyhow::Result<u8> {
    if global.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        bail!("--systemd-cgroup: systemd is not running on this host; use the cgroupfs driver");
    }
    match command {
        RuntimeCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            return Ok(0);
        }
        RuntimeCommand::Spec(args) => return write_default_spec(&args).map(|()| 0),
        _ => {}
    }
    let exe = std::env::current_exe().context("cannot find the oxbox executable")?;
    let runtime = Runtime {
        root: Root::open(&global.root)?,
        kernel: kernel_image_path(std::env::var_os("OXBOX_KERNEL"), &exe),
    };
    let code = match command {
        RuntimeCommand::Create(args) => {
            runtime.create(&args.id, &create_options(&args))?;
            0
        }
        RuntimeCommand::Start(args) => {
            runtime.start(&args.id)?;
            0
        }
        RuntimeCommand::Run(args) => {
            runtime.run(&args.create.id, &create_options(&args.create), args.detach)?
        }
        RuntimeCommand::State(args) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&runtime.state(&args.id)?)?
            );
            0
        }
        RuntimeCommand::List(args) => {
            print!("{}", list_text(&runtime.list()?, &args)?);
            0
        }
        RuntimeCommand::Kill(args) => {
            runtime.kill(&args.id, parse_signal(&args.signal)?, args.all)?;
            0
        }
        RuntimeCommand::Delete(args) => {
            runtime.delete(&args.id, args.force)?;
            0
        }
        RuntimeCommand::Exec(args) => {
            let process = exec_process(&args)?;
            let options = ExecOptions {
                pid_file: args.pid_file.clone(),
                console_socket: args.console_socket.clone(),
                detach: args.detach,
            };
            runtime.exec(&args.id, &process, &options)?
        }
        RuntimeCommand::Ps(args) => {
            let pids = runtime.ps(&args.id)?;
            if args.format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                print!("{}", ps_table(&pids));
            }
            0
        }
        RuntimeCommand::Pause(args) => {
            runtime.set_paused(&args.id, true)?;
            0
        }
        RuntimeCommand::Resume(args) => {
            runtime.set_paused(&args.id, false)?;
            0
        }
        RuntimeCommand::Update(args) => {
            let text = read_file_or_stdin(&args.resources)?;
            let resources: LinuxResources =
                serde_json::from_str(&text).context("invalid --resources JSON")?;
            runtime.update(&args.id, &resources)?;
            0
        }
        RuntimeCommand::Events(args) => loop {
            println!("{}", runtime.stats(&args.id)?);
            if args.stats {
                break 0;
            }
            std::thread::sleep(std::time::Duration::from_secs(args.interval.max(1)));
        },
        RuntimeCommand::Features | RuntimeCommand::Spec(_) => unreachable!("handled above"),
    };
    Ok(u8::try_from(code).unwrap_or(u8::MAX))
}

fn create_options(args: &CreateArgs) -> CreateOptions {
    if args.no_pivot || args.no_new_keyring {
        tracing::debug!("--no-pivot and --no-new-keyring have no effect on oxbox");
    }
    CreateOptions {
        bundle: args.bundle.clone(),
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
    }
}

/// The process of `exec`: `--process FILE`, or the command line with
/// runc's defaults (cwd `/`, root, a PATH).
fn exec_process(args: &ExecArgs) -> anyhow::Result<Process> {
    let mut process: Process = match &args.process {
        Some(path) => {
            let text = read_file_or_stdin(path)?;
            serde_json::from_str(&text)
                .with_context(|| format!("invalid process JSON in {}", path.display()))?
        }
        None => {
            if args.command.is_empty() {
                bail!("exec: give a command or --process FILE");
            }
            ProcessBuilder::default()
                .args(args.command.clone())
                .env(vec![format!("PATH={}", oxbox_sandbox::spec::DEFAULT_PATH)])
                .cwd("/")
                .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
                .build()?
        }
    };
    if args.tty {
        process.set_terminal(Some(true));
    }
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    if !args.env.is_empty() {
        let mut env = process.env().clone().unwrap_or_default();
        env.extend(args.env.iter().cloned());
        process.set_env(Some(env));
    }
    if let Some(user) = &args.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let user = UserBuilder::default()
            .uid(uid.parse::<u32>().context("--user: numeric UID expected")?)
            .gid(gid.parse::<u32>().context("--user: numeric GID expected")?)
            .build()?;
        process.set_user(user);
    }
    Ok(process)
}

fn read_file_or_stdin(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(text)
}

/// A signal by number (`9`) or name (`KILL`, `SIGKILL`).
pub fn parse_signal(text: &str) -> anyhow::Result<Signal> {
    let unknown = || anyhow::anyhow!("unknown signal {text}");
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| unknown());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| unknown())
}

fn list_text(states: &[OciState], args: &ListArgs) -> anyhow::Result<String> {
    if args.quiet {
        return Ok(states.iter().map(|s| format!("{}\n", s.id)).collect());
    }
    if args.format == "json" {
        return Ok(format!("{}\n", serde_json::to_string(states)?));
    }
    let mut text = String::from("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
    for s in states {
        text += &format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            s.id,
            s.pid,
            s.status,
            s.bundle.display(),
            s.created,
            s.owner
        );
    }
    Ok(text)
}

/// `PID CMD` lines for the table format of `ps`.
fn ps_table(pids: &[i32]) -> String {
    let mut text = String::from("PID\tCMD\n");
    for pid in pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        text += &format!("{pid}\t{}\n", cmd.join(" "));
    }
    text
}

/// What `oxbox features` reports, in the runtime-spec features schema.
fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                  "poststop"],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                         "bind", "rbind", "private", "rprivate"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": [],
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": {
            "io.oxbox.kernel": "library-OS kernel per container (Linux x86-64 syscall ABI)"
        }
    })
}

/// `spec`: runc's default config (a shell on a terminal, rootfs `rootfs`).
fn write_default_spec(args: &SpecArgs) -> anyhow::Result<()> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists; remove it first", path.display());
    }
    let mut spec = Spec::default();
    spec.set_hostname(Some("oxbox".into()));
    if let Some(image) = &args.image {
        super::image::bundle_from_image(&args.store, image, &args.bundle, &mut spec)?;
    }
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_number_and_name() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn default_spec_is_written_once_and_parses() {
        let dir = tempfile::tempdir().unwrap();
        let args = SpecArgs {
            bundle: dir.path().to_owned(),
            image: None,
            store: super::super::image::StoreArgs {
                data_root: dir.path().join("store"),
            },
        };
        write_default_spec(&args).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let spec: Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("rootfs"));
        assert!(write_default_spec(&args).is_err());
    }
}
