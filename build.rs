//! Build metadata for `ferry --version`: the commit and the date of the build.
//!
//! The commit is `FERRY_BUILD_COMMIT` when set (a container build, whose context has no
//! `.git`), else what `git` says when this package is the top of a git work tree, else
//! `unknown` (a source tarball, or no git installed). The date is `SOURCE_DATE_EPOCH`
//! when set (reproducible builds), else today (UTC). Nothing here fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FERRY_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = std::env::var("FERRY_BUILD_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .map_or_else(|| "unknown".to_owned(), |c| c.chars().take(12).collect());
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=FERRY_COMMIT={commit}");
    println!("cargo:rustc-env=FERRY_BUILD_DATE={}", date(epoch));
}

/// `git`'s output for `args`, run in this package's directory; None when git is missing
/// or fails.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}

/// HEAD's commit, when this package is the top of a git work tree (not a tarball
/// unpacked inside some other repository). Tells cargo to build again when HEAD moves.
fn git_commit() -> Option<String> {
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    if top.canonicalize().ok()? != manifest_dir.canonicalize().ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "HEAD"])?;
    // HEAD, the branch it points at, and packed refs: whichever exist. A path that does
    // not exist would make cargo run this script on every build.
    let git_dir = absolute(&manifest_dir, git(&["rev-parse", "--git-dir"])?);
    let common_dir = absolute(&manifest_dir, git(&["rev-parse", "--git-common-dir"])?);
    let mut watch = vec![git_dir.join("HEAD"), common_dir.join("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(common_dir.join(branch));
    }
    for path in watch.iter().filter(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}

fn absolute(base: &Path, path: String) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn date(epoch: u64) -> String {
    // Days to civil date (Howard Hinnant's algorithm), for days since 1970-01-01.
    let z = epoch / 86_400 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
