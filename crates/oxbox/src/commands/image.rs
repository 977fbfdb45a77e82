//! Image verbs: `oxbox load`, `oxbox images`, `oxbox rmi`, `oxbox inspect`,
//! and the image form of `oxbox do` (`oxbox do IMAGE -- CMD`).

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use oxbox_image::{ContainerRootfs, Progress, Reference, Removed, Snapshotter, Store};
use oxbox_sandbox::{ContainerSpec, Options};

/// Where the image store lives.
#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// Root of oxbox's image store
    #[arg(long, value_name = "DIR", env = "OXBOX_DATA_ROOT", default_value = oxbox_image::DEFAULT_DATA_ROOT)]
    pub data_root: PathBuf,
}

impl StoreArgs {
    /// Opens the store.
    pub fn open(&self) -> anyhow::Result<Store> {
        Store::open(&self.data_root)
            .with_context(|| format!("cannot open the image store {}", self.data_root.display()))
    }
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// A docker-save archive, an OCI layout tar or directory (default: standard input)
    #[arg(short = 'i', long = "input", value_name = "PATH")]
    pub input: Option<PathBuf>,

    /// Name the loaded image (for archives that name none)
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print image ids only
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove: references, ids or id prefixes
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image to describe: a reference, an id or an id prefix
    #[arg(value_name = "IMAGE")]
    pub image: String,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `oxbox load`.
pub fn load(args: LoadArgs) -> anyhow::Result<()> {
    let store = args.store.open()?;
    let tag = args.tag.as_deref().map(Reference::parse).transpose()?;
    let progress = CliProgress::new();
    let images = match &args.input {
        Some(path) => oxbox_image::import::load(&store, path, tag.as_ref(), &progress),
        None => oxbox_image::import::load_stream(
            &store,
            std::io::stdin().lock(),
            tag.as_ref(),
            &progress,
        ),
    }
    .with_context(|| match &args.input {
        Some(path) => format!("cannot load {}", path.display()),
        None => "cannot load the image on standard input".into(),
    })?;
    for loaded in images {
        if loaded.tags.is_empty() {
            println!("Loaded image ID: {}", loaded.image.record.id);
        }
        for tag in &loaded.tags {
            println!("Loaded image: {}", tag.familiar());
        }
    }
    Ok(())
}

/// `oxbox images`.
pub fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let store = args.store.open()?;
    let records = store.images()?;
    if args.quiet {
        for record in records {
            println!("{}", record.id.short());
        }
        return Ok(());
    }
    println!(
        "{:<40} {:<16} {:<14} {:>10}",
        "REPOSITORY", "TAG", "IMAGE ID", "SIZE"
    );
    for record in records {
        let size = store
            .resolve(record.id.as_str())
            .map_or_else(|_| "?".into(), |image| human_size(image.size()));
        let names: Vec<(String, String)> = if record.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            record
                .tags
                .iter()
                .map(|tag| {
                    let name = familiar(tag);
                    match name.rsplit_once(':') {
                        Some((repo, tag)) if !tag.contains('/') => {
                            (repo.to_owned(), tag.to_owned())
                        }
                        _ => (name, "<none>".into()),
                    }
                })
                .collect()
        };
        for (repo, tag) in names {
            println!("{repo:<40} {tag:<16} {:<14} {size:>10}", record.id.short());
        }
    }
    Ok(())
}

/// `oxbox rmi`.
pub fn rmi(args: RmiArgs) -> anyhow::Result<()> {
    let store = args.store.open()?;
    for name in &args.images {
        match store
            .remove(name)
            .with_context(|| format!("cannot remove {name}"))?
        {
            Removed::Untagged(tag) => println!("Untagged: {}", familiar(&tag)),
            Removed::Deleted(id) => println!("Deleted: {id}"),
        }
    }
    Ok(())
}

/// `oxbox inspect`: the image's id, tags, manifest, layers and config as
/// JSON.
pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let store = args.store.open()?;
    let image = store.resolve(&args.image)?;
    let description = serde_json::json!({
        "Id": image.record.id,
        "RepoTags": image.record.tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
        "Manifest": image.record.manifest,
        "Size": image.size(),
        "Architecture": image.config.architecture,
        "Os": image.config.os,
        "Created": image.config.created,
        "Config": image.config.config,
        "RootFS": image.config.rootfs,
        "Layers": image.manifest.layers,
    });
    println!("{}", serde_json::to_string_pretty(&description)?);
    Ok(())
}

/// `oxbox do IMAGE -- CMD`: the image form is the one with `--` right
/// after the first word (`oxbox do -- CMD` and `oxbox do CMD` run on the
/// host's root). Takes the image name out of `command`.
pub fn take_image_argument(command: &mut Vec<String>) -> Option<String> {
    if command.len() >= 2 && command[1] == "--" {
        let image = command.remove(0);
        command.remove(0);
        return Some(image);
    }
    None
}

/// What `oxbox do` may change of an image's config besides the command,
/// environment and directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides<'a> {
    /// `-u USER[:GROUP]`.
    pub user: Option<&'a str>,
    /// `--entrypoint PROGRAM`.
    pub entrypoint: Option<&'a str>,
}

/// A container's root filesystem made from an image, kept until dropped.
pub struct ImageContainer {
    rootfs: ContainerRootfs,
    uid: u32,
    gid: u32,
}

impl ImageContainer {
    /// Makes the rootfs of `image` and fills `options` from the image's
    /// config combined with what the user asked.
    pub fn prepare(
        store: &StoreArgs,
        image: &str,
        overrides: Overrides<'_>,
        options: &mut Options,
    ) -> anyhow::Result<Self> {
        if options.rootfs.is_some() {
            anyhow::bail!("give either --rootfs or an image, not both");
        }
        let store = store.open()?;
        let image = store.resolve(image)?;
        let rootfs = store.create_rootfs(&image, Snapshotter::from_env()?)?;
        let request = oxbox_image::run::Request {
            args: &options.command,
            env: &options.env,
            workdir: options.workdir.as_deref(),
            user: overrides.user,
            entrypoint: overrides.entrypoint,
        };
        let process = oxbox_image::run::process(&image.config.config, rootfs.path(), request)?;
        options.rootfs = Some(rootfs.path().to_owned());
        options.command = process.command;
        options.env = process.env;
        options.workdir = Some(process.workdir);
        Ok(Self {
            rootfs,
            uid: process.uid,
            gid: process.gid,
        })
    }

    /// Applies what the options cannot carry (the image's user) to `spec`.
    pub fn apply(&self, spec: &mut ContainerSpec) {
        spec.user.uid = self.uid;
        spec.user.gid = self.gid;
        tracing::debug!(rootfs = %self.rootfs.path().display(), overlay = self.rootfs.is_overlay(), "image rootfs");
    }
}

/// `oxbox spec --image IMAGE`: the bundle's `rootfs/` is a copy of the
/// image's merged layers, and `spec`'s process runs the image's command
/// with its environment, directory and user.
pub fn bundle_from_image(
    store: &StoreArgs,
    image: &str,
    bundle: &std::path::Path,
    spec: &mut oci_spec::runtime::Spec,
) -> anyhow::Result<()> {
    let store = store.open()?;
    let image = store.resolve(image)?;
    let rootfs = bundle.join("rootfs");
    store
        .export_rootfs(&image, &rootfs)
        .with_context(|| format!("cannot write {}", rootfs.display()))?;
    let process = oxbox_image::run::process(&image.config.config, &rootfs, Default::default())?;
    let mut env = vec![format!("PATH={}", oxbox_sandbox::spec::DEFAULT_PATH)];
    for entry in process.env {
        let key = entry.split('=').next().unwrap_or_default().to_owned();
        env.retain(|e| e.split('=').next() != Some(&key));
        env.push(entry);
    }
    let mut user = oci_spec::runtime::User::default();
    user.set_uid(process.uid);
    user.set_gid(process.gid);
    let mut oci_process = spec.process().clone().unwrap_or_default();
    oci_process.set_args(Some(process.command));
    oci_process.set_env(Some(env));
    oci_process.set_cwd(process.workdir);
    oci_process.set_user(user);
    oci_process.set_terminal(Some(false));
    spec.set_process(Some(oci_process));
    Ok(())
}

/// The short name Docker prints for a stored (normalized) reference.
fn familiar(tag: &str) -> String {
    Reference::parse(tag).map_or_else(|_| tag.to_owned(), |r| r.familiar())
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

/// Progress on standard error: a bar on a terminal, one line per task
/// otherwise.
pub struct CliProgress {
    /// The current task, with its bar on a terminal.
    current: RefCell<Option<(String, Option<ProgressBar>)>>,
    terminal: bool,
}

impl CliProgress {
    /// Progress for this process's standard error.
    pub fn new() -> Self {
        Self {
            current: RefCell::new(None),
            terminal: std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for CliProgress {
    fn begin(&self, task: &str, total: Option<u64>) {
        let bar = self.terminal.then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total).with_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner(),
            };
            bar.set_message(task.to_owned());
            bar
        });
        *self.current.borrow_mut() = Some((task.to_owned(), bar));
    }

    fn advance(&self, bytes: u64) {
        if let Some((_, Some(bar))) = &*self.current.borrow() {
            bar.inc(bytes);
        }
    }

    fn end(&self, outcome: &str) {
        match self.current.borrow_mut().take() {
            Some((task, Some(bar))) => bar.finish_with_message(format!("{task}: {outcome}")),
            Some((task, None)) => eprintln!("{task}: {outcome}"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_form_is_the_word_before_a_double_dash() {
        let mut command = vec!["busybox".to_string(), "--".into(), "ls".into()];
        assert_eq!(
            take_image_argument(&mut command).as_deref(),
            Some("busybox")
        );
        assert_eq!(command, ["ls"]);
        let mut bare = vec!["busybox".to_string(), "--".into()];
        assert_eq!(take_image_argument(&mut bare).as_deref(), Some("busybox"));
        assert!(bare.is_empty());
        let mut host = vec!["ls".to_string(), "-l".into()];
        assert_eq!(take_image_argument(&mut host), None);
        assert_eq!(host, ["ls", "-l"]);
    }

    #[test]
    fn sizes_are_printed_like_docker() {
        assert_eq!(human_size(999), "999.0B");
        assert_eq!(human_size(4_400_000), "4.4MB");
    }
}
