//! Records the git commit oxbox is built from, for `oxbox --version`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    println!("cargo::rerun-if-env-changed=OXBOX_GIT_COMMIT");
    let commit = std::env::var("OXBOX_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "HEAD"]));
    // Rebuild when HEAD moves; name only files that exist, or cargo would
    // rerun this script on every build.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let head_ref = git(&["symbolic-ref", "-q", "HEAD"]);
        for file in ["HEAD", "packed-refs"]
            .into_iter()
            .chain(head_ref.as_deref())
        {
            let path = Path::new(&git_dir).join(file);
            if path.exists() {
                println!("cargo::rerun-if-changed={}", path.display());
            }
        }
    }
    println!(
        "cargo::rustc-env=OXBOX_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
