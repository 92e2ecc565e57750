//! The git-notes reporter on real repositories made in a tempdir: notes per tenant on one
//! commit, updates that keep other contexts, concurrent writers, pushing to a bare remote,
//! merging when the remote moved on, and the note as the `git` CLI shows it.

mod report_support;

use std::path::Path;
use std::process::Command;

use ferry::report::{
    CommitStatus, Deliverer, GitNotesReporter, NOTES_REF, Note, ReportError, Reporter,
};
use ferry::source::remote::RemoteSpec;
use git2::{Oid, Repository, Signature};

/// The remote at the absolute path `path`.
fn remote(path: &Path) -> RemoteSpec {
    RemoteSpec::from_repo(path.to_str().unwrap(), Path::new("/")).unwrap()
}

/// A repository with one commit; returns it and the commit id.
fn repo_with_commit(path: &Path) -> (Repository, String) {
    let repo = Repository::init(path).unwrap();
    let sha = commit(&repo, "first");
    (repo, sha)
}

fn commit(repo: &Repository, message: &str) -> String {
    let sig = Signature::now("dev", "dev@example.com").unwrap();
    let tree_id = {
        let mut index = repo.index().unwrap();
        index.write_tree().unwrap()
    };
    let tree = repo.find_tree(tree_id).unwrap();
    let parents: Vec<git2::Commit<'_>> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
        .unwrap()
        .to_string()
}

/// What `git notes --ref=ferry show <sha>` prints, parsed.
fn git_cli_note(repo: &Path, sha: &str) -> Note {
    let out = Command::new("git")
        .args(["notes", "--ref=ferry", "show", sha])
        .current_dir(repo)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the note is JSON")
}

#[tokio::test]
async fn two_tenants_on_one_commit_and_an_update_keeps_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, sha) = repo_with_commit(dir.path());
    let reporter =
        GitNotesReporter::new(dir.path()).with_external_url(Some("https://ferry.example.com"));

    reporter
        .post(&sha, &CommitStatus::applying("sandbox", 2))
        .await
        .unwrap();
    reporter
        .post(&sha, &CommitStatus::in_sync("prod", 14, 2))
        .await
        .unwrap();

    let note = git_cli_note(dir.path(), &sha);
    assert_eq!(
        note.keys().collect::<Vec<_>>(),
        ["ferry/prod", "ferry/sandbox"]
    );
    let prod = &note["ferry/prod"];
    assert_eq!(prod.state, "success");
    assert_eq!(prod.description, "in sync · 14 connectors · 2 warnings");
    assert_eq!(prod.warnings, 2);
    assert_eq!(
        prod.target_url.as_deref(),
        Some(format!("https://ferry.example.com/tenants/prod?commit={sha}").as_str())
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(&prod.updated).is_ok(),
        "{}",
        prod.updated
    );
    assert_eq!(note["ferry/sandbox"].state, "pending");

    // Updating sandbox keeps prod as it was.
    reporter
        .post(&sha, &CommitStatus::in_sync("sandbox", 2, 0))
        .await
        .unwrap();
    let after = GitNotesReporter::read(dir.path(), &sha).unwrap();
    assert_eq!(after["ferry/prod"], note["ferry/prod"]);
    assert_eq!(after["ferry/sandbox"].state, "success");
    assert_eq!(after["ferry/sandbox"].description, "in sync · 2 connectors");
    assert_eq!(after, git_cli_note(dir.path(), &sha));

    // The raw note is a JSON object of contexts with exactly the documented fields.
    let raw: serde_json::Value = {
        let out = Command::new("git")
            .args(["notes", "--ref=ferry", "show", &sha])
            .current_dir(dir.path())
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut fields: Vec<_> = raw["ferry/prod"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["description", "state", "target_url", "updated", "warnings"]
    );
}

#[tokio::test]
async fn the_same_status_again_writes_no_new_notes_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, sha) = repo_with_commit(dir.path());
    let reporter = GitNotesReporter::new(dir.path());
    let status = CommitStatus::in_sync("prod", 1, 0);
    reporter.post(&sha, &status).await.unwrap();
    let tip = repo.refname_to_id(NOTES_REF).unwrap();
    reporter.post(&sha, &status).await.unwrap();
    assert_eq!(repo.refname_to_id(NOTES_REF).unwrap(), tip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tenants_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, sha) = repo_with_commit(dir.path());
    let tenants: Vec<String> = (0..16).map(|i| format!("tenant-{i:02}")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for tenant in &tenants {
        // A reporter per task, as separate Deliverers of one process would have.
        let reporter = GitNotesReporter::new(dir.path());
        let sha = sha.clone();
        let tenant = tenant.clone();
        tasks.spawn(async move {
            reporter
                .post(&sha, &CommitStatus::in_sync(&tenant, 1, 0))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let note = git_cli_note(dir.path(), &sha);
    let contexts: Vec<_> = note.keys().cloned().collect();
    let expected: Vec<_> = tenants.iter().map(|t| format!("ferry/{t}")).collect();
    assert_eq!(contexts, expected);
}

#[tokio::test]
async fn notes_are_pushed_to_a_bare_remote() {
    let dir = tempfile::tempdir().unwrap();
    let bare_path = dir.path().join("remote.git");
    Repository::init_bare(&bare_path).unwrap();
    let (_repo, sha) = repo_with_commit(&dir.path().join("work"));
    let reporter = GitNotesReporter::new(dir.path().join("work")).with_push_to(remote(&bare_path));

    reporter
        .post(&sha, &CommitStatus::in_sync("prod", 3, 0))
        .await
        .unwrap();
    reporter
        .post(&sha, &CommitStatus::drift("prod", &["orders-sync"]))
        .await
        .unwrap();

    // Read the note from the bare remote with git2.
    let bare = Repository::open_bare(&bare_path).unwrap();
    let note = bare
        .find_note(Some(NOTES_REF), Oid::from_str(&sha).unwrap())
        .unwrap();
    let parsed: Note = serde_json::from_str(note.message().unwrap()).unwrap();
    assert_eq!(parsed["ferry/prod"].description, "in sync · 3 connectors");
    assert_eq!(parsed["ferry/prod/drift"].state, "failure");
    assert_eq!(parsed["ferry/prod/drift"].description, "drift: orders-sync");
    assert_eq!(parsed, GitNotesReporter::read(&bare_path, &sha).unwrap());
}

#[tokio::test]
async fn a_remote_that_moved_on_is_merged_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let bare_path = dir.path().join("remote.git");
    let bare = Repository::init_bare(&bare_path).unwrap();
    // The commit exists in the remote and in two clones (two ferry replicas).
    let (_origin, sha) = repo_with_commit(&dir.path().join("origin"));
    let a = Repository::clone(
        dir.path().join("origin").to_str().unwrap(),
        dir.path().join("a"),
    )
    .unwrap();
    let b = Repository::clone(
        dir.path().join("origin").to_str().unwrap(),
        dir.path().join("b"),
    )
    .unwrap();
    drop((a, b));

    let replica_a = GitNotesReporter::new(dir.path().join("a")).with_push_to(remote(&bare_path));
    let replica_b = GitNotesReporter::new(dir.path().join("b")).with_push_to(remote(&bare_path));
    replica_a
        .post(&sha, &CommitStatus::in_sync("sandbox", 1, 0))
        .await
        .unwrap();
    let a_tip = bare.refname_to_id(NOTES_REF).unwrap();
    // B's notes ref does not descend from A's: its push is refused, then merged.
    replica_b
        .post(&sha, &CommitStatus::in_sync("prod", 2, 0))
        .await
        .unwrap();
    let b_tip = bare.refname_to_id(NOTES_REF).unwrap();
    assert!(
        bare.graph_descendant_of(b_tip, a_tip).unwrap(),
        "B's push builds on A's notes instead of replacing them"
    );
    replica_a
        .post(&sha, &CommitStatus::failed("sandbox", "boom", 0))
        .await
        .unwrap();

    let note: Note = serde_json::from_str(
        bare.find_note(Some(NOTES_REF), Oid::from_str(&sha).unwrap())
            .unwrap()
            .message()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        note.keys().collect::<Vec<_>>(),
        ["ferry/prod", "ferry/sandbox"]
    );
    assert_eq!(note["ferry/prod"].description, "in sync · 2 connectors");
    assert_eq!(note["ferry/sandbox"].description, "failed: boom");
}

#[tokio::test]
async fn a_failed_push_says_so_and_keeps_the_note_locally() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, sha) = repo_with_commit(dir.path());
    let missing = dir.path().join("no-such-remote.git");
    let reporter = GitNotesReporter::new(dir.path()).with_push_to(remote(&missing));
    let err = reporter
        .post(&sha, &CommitStatus::in_sync("prod", 1, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, ReportError::PushFailed { .. }), "{err:?}");
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "git notes: cannot push refs/notes/ferry to {}: ",
            missing.display()
        )),
        "{text}"
    );
    assert!(text.contains("set `push: false`"), "{text}");
    assert_eq!(
        GitNotesReporter::read(dir.path(), &sha).unwrap()["ferry/prod"].state,
        "success"
    );
}

#[tokio::test]
async fn a_foreign_note_is_reported_with_the_command_that_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, sha) = repo_with_commit(dir.path());
    let out = Command::new("git")
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(["notes", "--ref=ferry", "add", "-m", "hand-written", &sha])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = GitNotesReporter::new(dir.path())
        .post(&sha, &CommitStatus::in_sync("prod", 1, 0))
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains(&format!("the note on {sha} under refs/notes/ferry")),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "remove it with `git notes --ref=ferry remove {sha}`"
        )),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn git_notes_through_the_deliverer() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, sha) = repo_with_commit(&dir.path().join("work"));
    let reporters: Vec<Box<dyn Reporter>> =
        vec![Box::new(GitNotesReporter::new(dir.path().join("work")))];
    let d = Deliverer::open(&dir.path().join("state.db"), reporters)
        .await
        .unwrap();
    let status = CommitStatus::invalid_manifests("prod", "orders.yaml:3:5: unknown field `nme`", 3);
    assert_eq!(d.submit(&sha, &status).await.unwrap().delivered, 1);
    assert_eq!(d.submit(&sha, &status).await.unwrap().unchanged, 1);
    let note = git_cli_note(&dir.path().join("work"), &sha);
    assert_eq!(
        note["ferry/prod"].description,
        "invalid manifests: orders.yaml:3:5: unknown field `nme` (+2 more)"
    );
    assert_eq!(note["ferry/prod"].state, "failure");
}
