//! Embeds the source commit for `salescompass_build_info`: `git rev-parse --short HEAD` when the
//! source is a git checkout, else `SALESCOMPASS_COMMIT` (the Docker build passes it as a build
//! argument; its context has no `.git`), else `unknown`. Nothing else about the build varies.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SALESCOMPASS_COMMIT");
    let commit = git(&["rev-parse", "--short", "HEAD"])
        .or_else(|| std::env::var("SALESCOMPASS_COMMIT").ok())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    // Only a checkout switch reruns this script: a rerun per commit would rebuild every crate
    // that depends on the runtime after each commit. Release builds start clean, so they are exact.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(git_dir).join("HEAD").display()
        );
    }
    println!("cargo:rustc-env=SALESCOMPASS_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned())
}
