//! The floor of a no-op `ferry plan`: what any reconcile of a configuration must do at
//! least, done as directly as the library allows.
//!
//! Run by `scripts/bench-reconcile.sh` (`cargo bench --bench floor -- CONFIG`): reads and
//! SHA-256-hashes every file of the manifests folder of the configuration's working tree,
//! then makes each tenant's list call (one paginated list, as `ferry plan` does). The
//! script measures this process's CPU (user + system) the same way as ferry's, so a no-op
//! plan's CPU divided by this one says how much a plan spends beyond reading the files and
//! listing the tenants. It prints what it read and listed; it asserts nothing about time.

use std::path::PathBuf;
use std::process::ExitCode;

use ferry::provider::{self, ClientOptions};
use ferry::source::{Snapshot, WorkTree};
use sha2::{Digest, Sha256};

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; the configuration is the first other argument.
    let Some(config) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench --bench floor -- path/to/ferry.yaml");
        return ExitCode::from(64);
    };
    let loaded = match ferry::config::load(&PathBuf::from(&config)) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            return ExitCode::from(64);
        }
    };
    let Some(repo) = loaded.local_repository() else {
        eprintln!("floor: source.repo must be a local path");
        return ExitCode::from(64);
    };

    let tree = WorkTree::new(&repo);
    let folder = loaded.manifests_folder().trim_matches('/');
    let entries = tree.list(folder).expect("the manifests folder lists");
    let mut hasher = Sha256::new();
    let mut bytes = 0;
    for entry in &entries {
        let content = tree.read(&entry.path).expect("every listed file reads");
        bytes += content.len();
        hasher.update(Sha256::digest(&content));
    }
    let digest = hex::encode(hasher.finalize());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let listed: usize = runtime.block_on(async {
        let mut listed = 0;
        for tenant in &loaded.config.tenants {
            let provider =
                provider::connect(tenant, &tenant.url, &loaded.dir, &ClientOptions::default())
                    .expect("the tenant connects");
            listed += provider.list().await.expect("the tenant lists").len();
        }
        listed
    });
    println!(
        "floor: hashed {} files ({bytes} bytes, {}), listed {listed} objects in {} tenants",
        entries.len(),
        &digest[..12],
        loaded.config.tenants.len()
    );
    ExitCode::SUCCESS
}
