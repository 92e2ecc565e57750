//! The commit a local repository's `HEAD` names, for the revision `validate`, `plan` and
//! `apply` record when they read the working tree.
//!
//! It reads the few files git keeps for this (`.git` or a worktree's `gitdir:` pointer,
//! `HEAD`, `commondir`, a loose ref or `packed-refs`) instead of opening the repository
//! with libgit2, whose start loads the system's CA certificates: about a sixth of the CPU
//! of a no-op `ferry plan`. A layout it does not read (a bare repository, a reftable, a
//! symbolic ref naming another one, an unborn branch) is handed to git2.

use std::fs;
use std::path::{Path, PathBuf};

/// The id of the commit `HEAD` names in the repository holding `start` (searched upwards,
/// as git does), or `None` when there is no repository or no commit yet.
pub fn head_commit(start: &Path) -> Option<String> {
    from_files(start).or_else(|| {
        let repo = git2::Repository::discover(start).ok()?;
        let commit = repo.head().ok()?.peel_to_commit().ok()?;
        Some(commit.id().to_string())
    })
}

/// `HEAD`'s commit read from the repository's files; `None` for anything unusual.
fn from_files(start: &Path) -> Option<String> {
    let git_dir = find_git_dir(start)?;
    let common = match fs::read_to_string(git_dir.join("commondir")) {
        Ok(common) => git_dir.join(common.trim_end()),
        Err(_) => git_dir.clone(),
    };
    let head = fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim_end();
    let Some(name) = head.strip_prefix("ref: ") else {
        return object_id(head);
    };
    if !name.starts_with("refs/") || name.split('/').any(|p| p.is_empty() || p == "..") {
        return None;
    }
    // A branch lives in the common directory; a linked worktree may hold its own refs.
    for dir in [&git_dir, &common] {
        if let Ok(loose) = fs::read_to_string(dir.join(name)) {
            return object_id(loose.trim_end());
        }
    }
    let packed = fs::read_to_string(common.join("packed-refs")).ok()?;
    packed
        .lines()
        .filter(|line| !line.starts_with(['#', '^']))
        .find_map(|line| match line.split_once(' ') {
            Some((id, refname)) if refname == name => object_id(id),
            _ => None,
        })
}

/// The git directory of the working tree holding `start`: `.git` itself, or where a
/// `.git` file's `gitdir:` line points (a linked worktree or a submodule).
fn find_git_dir(start: &Path) -> Option<PathBuf> {
    let start = fs::canonicalize(start).ok()?;
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        let Ok(meta) = fs::metadata(&dot_git) else {
            if dir.join("HEAD").is_file() && dir.join("objects").is_dir() {
                return None; // a bare repository: git2 reads it
            }
            continue;
        };
        if meta.is_dir() {
            return Some(dot_git);
        }
        let pointer = fs::read_to_string(&dot_git).ok()?;
        let target = pointer.trim_end().strip_prefix("gitdir: ")?;
        return Some(dir.join(target));
    }
    None
}

/// `text` when it is a full object id (SHA-1 or SHA-256, lowercase hex).
fn object_id(text: &str) -> Option<String> {
    let hex = text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex && matches!(text.len(), 40 | 64)).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    fn via_git2(start: &Path) -> Option<String> {
        let repo = git2::Repository::discover(start).ok()?;
        Some(repo.head().ok()?.peel_to_commit().ok()?.id().to_string())
    }

    /// Every layout gives git2's answer, and the common ones are read from the files.
    #[test]
    fn reads_head_as_git2_does() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        fs::create_dir_all(repo.join("connectors")).unwrap();
        git(tmp.path(), &["init", "-q", "-b", "main", "repo"]);
        assert_eq!(head_commit(&repo), None, "no commit yet");

        fs::write(repo.join("connectors/a.yaml"), "a").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "one"]);
        let first = via_git2(&repo).unwrap();
        assert_eq!(from_files(&repo), Some(first.clone()), "a loose branch");
        assert_eq!(
            from_files(&repo.join("connectors")),
            Some(first.clone()),
            "from a folder inside"
        );

        git(&repo, &["pack-refs", "--all"]);
        assert!(!repo.join(".git/refs/heads/main").exists());
        assert_eq!(from_files(&repo), Some(first.clone()), "a packed branch");

        fs::write(repo.join("connectors/b.yaml"), "b").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "two"]);
        let second = via_git2(&repo).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            from_files(&repo),
            Some(second.clone()),
            "loose wins over packed"
        );

        git(&repo, &["checkout", "-q", "--detach", &first]);
        assert_eq!(from_files(&repo), Some(first.clone()), "a detached HEAD");
        git(&repo, &["checkout", "-q", "main"]);

        let linked = tmp.path().join("linked");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "side",
                linked.to_str().unwrap(),
                &first,
            ],
        );
        assert_eq!(
            from_files(&linked),
            Some(first.clone()),
            "a linked worktree"
        );
        assert_eq!(head_commit(&linked), via_git2(&linked));

        let bare = tmp.path().join("bare.git");
        git(tmp.path(), &["clone", "-q", "--bare", "repo", "bare.git"]);
        assert_eq!(from_files(&bare), None, "bare: left to git2");
        assert_eq!(head_commit(&bare), Some(second.clone()));

        assert_eq!(head_commit(&tmp.path().join("nowhere")), None);
    }
}
