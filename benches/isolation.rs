//! How long the healthy tenants of `ferry apply --auto-approve` wait when another tenant's
//! API hangs.
//!
//! Run with `cargo bench --bench isolation`. A `ferry emulator` on loopback serves two
//! Kizen tenants: `sandbox`, healthy, and `stuck`, with the `--hang` fault (every request
//! accepted, none answered). Each round runs the real `ferry apply --auto-approve` (the
//! default timeout and retries: `stuck` keeps it waiting for minutes) and measures the
//! time from starting the process to the connector appearing in `sandbox`, polling the
//! emulator's state every 5 ms; then the process is stopped. A round with both tenants
//! healthy gives the baseline: the time of a whole apply of one connector.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ferry::emulator::Seed;
use ferry::model::Platform;
use support::*;

const ROUNDS: usize = 7;
const GIVE_UP: Duration = Duration::from_secs(120);

/// Seconds from spawning `ferry apply` until `sandbox` holds the connector.
fn first_change(hang_stuck: bool) -> f64 {
    let seed = Seed {
        tenants: vec![
            seed_tenant("sandbox", Platform::Kizen),
            seed_tenant("stuck", Platform::Kizen),
        ],
    };
    let flags: &[&str] = if hang_stuck {
        &["--hang", "--tenant", "stuck"]
    } else {
        &[]
    };
    let emu = Emulator::start(seed, flags);
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(&emu, "sandbox", Platform::Kizen),
            Tenant::on(&emu, "stuck", Platform::Kizen),
        ],
        None,
    );
    SmartConnector::new("orders-sync", "Orders Sync").write(&p);
    p.commit("one connector");
    let start = Instant::now();
    let mut apply = p
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("ferry apply starts");
    let elapsed = loop {
        if !emu.names("sandbox").is_empty() {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < GIVE_UP,
            "sandbox got nothing within {GIVE_UP:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = apply.kill();
    let _ = apply.wait();
    elapsed.as_secs_f64()
}

fn summary(label: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    println!(
        "{label:<44} median {median:>6.3} s   min {:>6.3} s   max {:>6.3} s   ({} rounds)",
        samples[0],
        samples[samples.len() - 1],
        samples.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { ROUNDS };
    let healthy: Vec<f64> = (0..rounds).map(|_| first_change(false)).collect();
    let hanging: Vec<f64> = (0..rounds).map(|_| first_change(true)).collect();
    println!(
        "ferry apply --auto-approve, one connector per tenant, time to sandbox's first change:"
    );
    summary("both tenants healthy", healthy);
    summary("the other tenant hangs (default timeouts)", hanging);
}
