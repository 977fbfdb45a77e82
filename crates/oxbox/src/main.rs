//! `oxbox`: run containers on the oxbox library-OS kernel.
//!
//! A thin shell over `oxbox-sandbox`: parse, dispatch to
//! `commands::<verb>`, and turn every failure into one line
//! (`oxbox: error: ...`) and exit status 125, as Docker does for errors of
//! the runtime itself. A container's own status is passed through.

use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use oxbox_abi::boot::LogLevel;

mod commands;
mod log;

/// Exit status for errors of oxbox itself (bad usage, setup failures).
const EXIT_OXBOX_ERROR: u8 = 125;
/// Exit status of a failed runtime verb, as runc's.
const EXIT_RUNTIME_ERROR: u8 = 1;
/// OCI runtime specification version oxbox follows.
const OCI_SPEC_VERSION: &str = "1.2.0";

#[derive(Debug, Parser)]
#[command(
    name = "oxbox",
    about = "Run containers on the oxbox library-OS kernel",
    disable_version_flag = true
)]
struct Cli {
    /// Print version information
    #[arg(short = 'v', long = "version")]
    version: bool,

    #[command(flatten)]
    global: commands::runtime::GlobalArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command as pid 1 of a new container
    Do(commands::do_::DoArgs),
    /// Inspect what oxbox allows and installs
    #[command(subcommand)]
    Debug(commands::debug::DebugCommand),
    /// Load images from a docker-save archive or an OCI image layout
    Load(commands::image::LoadArgs),
    /// List the stored images
    Images(commands::image::ImagesArgs),
    /// Remove images
    Rmi(commands::image::RmiArgs),
    /// Describe an image as JSON
    Inspect(commands::image::InspectArgs),
    /// Pull an image from a registry
    Pull(commands::pull::PullArgs),
    #[command(flatten)]
    Runtime(commands::runtime::RuntimeCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&usage_error(&e), EXIT_OXBOX_ERROR),
    };
    // Runtime verbs fail with runc's status 1 and leave the error in the
    // engine's log file; `do` fails as Docker's CLI does, with 125.
    let runtime_verb = matches!(cli.command, Some(Command::Runtime(_)));
    let log = log::Destination::from_args(&cli.global);
    match run(cli, &log) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let message = oxbox_sandbox::one_line(e.as_ref());
            log.error(&message);
            fail(
                &message,
                if runtime_verb {
                    EXIT_RUNTIME_ERROR
                } else {
                    EXIT_OXBOX_ERROR
                },
            )
        }
    }
}

fn run(cli: Cli, log: &log::Destination) -> anyhow::Result<u8> {
    let mut log_level = log_level_from_env()?;
    if cli.global.debug {
        log_level = LogLevel::Debug;
    }
    log.init(log_level)?;
    if cli.version {
        print!("{}", version_text());
        return Ok(0);
    }
    match cli.command {
        Some(Command::Do(args)) => commands::do_::run(args, log_level),
        Some(Command::Debug(command)) => commands::debug::run(command).map(|()| 0),
        Some(Command::Load(args)) => commands::image::load(args).map(|()| 0),
        Some(Command::Images(args)) => commands::image::images(args).map(|()| 0),
        Some(Command::Rmi(args)) => commands::image::rmi(args).map(|()| 0),
        Some(Command::Inspect(args)) => commands::image::inspect(args).map(|()| 0),
        Some(Command::Pull(args)) => commands::pull::run(args).map(|()| 0),
        Some(Command::Runtime(command)) => commands::runtime::run(&cli.global, command),
        None => anyhow::bail!("no command given (try 'oxbox --help')"),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("oxbox: error: {message}");
    ExitCode::from(code)
}

/// Condenses a clap usage error to one line: its first paragraph, without
/// the `error:` prefix, the tips or the usage text.
fn usage_error(error: &clap::Error) -> String {
    if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "missing subcommand (try 'oxbox --help')".into();
    }
    let text = error.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    paragraph
        .join(" ")
        .trim_start_matches("error:")
        .trim()
        .to_owned()
}

/// `OXBOX_LOG`: the verbosity of oxbox and of the kernel it starts.
fn log_level_from_env() -> anyhow::Result<LogLevel> {
    match std::env::var("OXBOX_LOG") {
        Err(std::env::VarError::NotPresent) => Ok(LogLevel::Warn),
        Ok(value) if value.is_empty() => Ok(LogLevel::Warn),
        Ok(value) => LogLevel::parse(&value).with_context(|| {
            format!("invalid OXBOX_LOG {value:?}: expected error, warn, info or debug")
        }),
        Err(e) => Err(e).context("invalid OXBOX_LOG"),
    }
}

/// runc-style version lines.
fn version_text() -> String {
    format!(
        "oxbox version {}\ncommit: {}\nspec: {OCI_SPEC_VERSION}\n",
        env!("CARGO_PKG_VERSION"),
        env!("OXBOX_GIT_COMMIT")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_text_has_three_runc_style_lines() {
        let text = version_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "oxbox version 0.1.0");
        assert!(lines[1].starts_with("commit: "));
        assert_eq!(lines[2], "spec: 1.2.0");
    }

    #[test]
    fn usage_errors_become_one_line() {
        let error = Cli::try_parse_from(["oxbox", "do", "--frobnicate", "--", "ls"]).unwrap_err();
        let line = usage_error(&error);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("unexpected argument '--frobnicate'"),
            "{line}"
        );
    }

    #[test]
    fn command_after_double_dash_keeps_its_flags() {
        let cli =
            Cli::try_parse_from(["oxbox", "do", "-e", "A=1", "--", "ls", "-l", "--all"]).unwrap();
        let Some(Command::Do(args)) = cli.command else {
            panic!("not do")
        };
        assert_eq!(args.command, ["ls", "-l", "--all"]);
    }

    #[test]
    fn command_without_double_dash_keeps_its_flags() {
        let cli = Cli::try_parse_from(["oxbox", "do", "--hostname", "h", "ls", "-l"]).unwrap();
        let Some(Command::Do(args)) = cli.command else {
            panic!("not do")
        };
        assert_eq!(args.command, ["ls", "-l"]);
    }

    #[test]
    fn missing_command_is_a_usage_error() {
        let error = Cli::try_parse_from(["oxbox", "do", "--read-only"]).unwrap_err();
        let line = usage_error(&error);
        assert!(line.contains("required") && line.contains("CMD"), "{line}");
    }
}
