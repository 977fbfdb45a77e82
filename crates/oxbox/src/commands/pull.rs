//! `oxbox pull`: an image from an OCI distribution registry into the store.

use anyhow::Context;
use clap::Args;
use oxbox_image::Reference;
use oxbox_image::pull::PullOptions;

use super::image::{CliProgress, StoreArgs};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: NAME[:TAG] or NAME@DIGEST (docker.io when no registry is named)
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// User name for the registry (basic auth, or exchanged for a token)
    #[arg(short = 'u', long, value_name = "USER", env = "OXBOX_REGISTRY_USER")]
    pub username: Option<String>,

    /// Password for the registry (prefer the environment variable to the flag)
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "OXBOX_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Talk plain HTTP to the registry (always done for loopback registries)
    #[arg(long)]
    pub plain_http: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `oxbox pull`.
pub fn run(args: PullArgs) -> anyhow::Result<()> {
    let reference = Reference::parse(&args.image)?;
    let credentials = match (args.username, args.password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => anyhow::bail!("give both a user name and a password, or neither"),
    };
    let options = PullOptions {
        credentials,
        plain_http: args.plain_http,
    };
    let store = args.store.open()?;
    let image = oxbox_image::pull::pull(&store, &reference, &options, &CliProgress::new())
        .with_context(|| format!("cannot pull {}", reference.familiar()))?;
    println!("Digest: {}", image.record.manifest);
    println!("Pulled: {}", reference.familiar());
    Ok(())
}
