//! Which files of a local source differ from its commit: the manifests folder and the
//! configuration, as `git status` sees them. The Markdown plan names them, so a reviewer
//! knows the plan was made from a working tree with changes nobody committed.

/// Files of the working tree that differ from `HEAD` and that the plan read: the
/// manifests folder and the configuration file. Empty when the source is no git
/// repository or git cannot tell.
pub fn uncommitted(loaded: &crate::config::LoadedConfig) -> Vec<String> {
    let Some(path) = loaded.local_repository() else {
        return Vec::new();
    };
    let Ok(repo) = git2::Repository::discover(&path) else {
        return Vec::new();
    };
    let Some(workdir) = repo.workdir().and_then(|w| w.canonicalize().ok()) else {
        return Vec::new();
    };
    let inside = |p: &std::path::Path| -> Option<String> {
        let rel = p.canonicalize().ok()?;
        let rel = rel.strip_prefix(&workdir).ok()?;
        Some(rel.to_string_lossy().replace('\\', "/"))
    };
    let mut specs = Vec::new();
    if let Some(root) = inside(&path) {
        let folder = loaded.manifests_folder().trim_matches('/');
        specs.push(
            [root.as_str(), folder]
                .iter()
                .filter(|p| !p.is_empty() && **p != ".")
                .copied()
                .collect::<Vec<_>>()
                .join("/"),
        );
    }
    if let Some(config) = inside(&loaded.path) {
        specs.push(config);
    }
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    for spec in &specs {
        // An empty pathspec is the whole repository.
        options.pathspec(if spec.is_empty() { "." } else { spec });
    }
    let Ok(statuses) = repo.statuses(Some(&mut options)) else {
        return Vec::new();
    };
    // ferry's own files (the state store, the emulator's state) are not what is planned.
    let state_dir = loaded
        .resolve(&loaded.config.state)
        .parent()
        .and_then(inside)
        .map(|d| format!("{d}/"));
    statuses
        .iter()
        .filter(|e| e.status() != git2::Status::CURRENT)
        .filter_map(|e| e.path().ok().map(str::to_owned))
        .filter(|p| {
            state_dir
                .as_ref()
                .is_none_or(|d| !p.starts_with(d.as_str()))
        })
        .collect()
}
