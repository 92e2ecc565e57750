//! Throughput and memory of `ferry emulator` on loopback.
//!
//! Run with `cargo bench --bench emulator`. Measures requests per second for listing a
//! Kizen tenant of 1,000 connectors (page size 100 and 500) and for imports, each with a
//! few concurrent HTTP clients, and the resident memory of 10,000 connectors. Client and
//! server share the machine, so the figures are a lower bound for the server alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry::emulator::{self, Emulator, Seed, SeedTenant};
use ferry::model::Platform;
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const RUN: Duration = Duration::from_secs(3);
const WARMUP: Duration = Duration::from_millis(300);

fn connector(i: usize) -> Value {
    json!({
        "name": format!("Connector {i:05}"),
        "api_name": format!("connector_{i:05}"),
        "type": "spreadsheet",
        "live_sql": format!("SELECT id, email, phone FROM contacts WHERE segment = {i} AND (status = 'active' OR status = 'trial')"),
        "reference_data": "sku,name\n1,Widget\n2,Gadget\n",
        "sample_file": "order_id,email\n1,a@example.com\n2,b@example.com\n",
        "references": { "agentic_workflows": ["Lead Router"], "filter_groups": ["EU Leads"], "field_mappings": ["contacts.email"] }
    })
}

fn tenant(objects: usize) -> Seed {
    let mut t = SeedTenant::new("bench", Platform::Kizen, "bench-token");
    t.business = Some("acme".into());
    t.catalog.agentic_workflows = vec!["Lead Router".into()];
    t.catalog.filter_groups = vec!["EU Leads".into()];
    t.catalog.fields = vec!["contacts.email".into()];
    t.objects = (0..objects).map(connector).collect();
    Seed::single(t)
}

fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("X-API-KEY", "bench-token".parse().unwrap());
    headers.insert("X-BUSINESS-ID", "acme".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Run `CLIENTS` loops of `request(client, worker, n)` for `RUN`; requests per second.
async fn measure<F, Fut>(request: F) -> f64
where
    F: Fn(reqwest::Client, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CLIENTS {
        let (request, done) = (request.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut n = 0u64;
            let mut counted_from = None;
            loop {
                let elapsed = start.elapsed();
                if elapsed >= WARMUP + RUN {
                    break;
                }
                request(http.clone(), w, n).await;
                n += 1;
                if elapsed >= WARMUP {
                    counted_from.get_or_insert(n - 1);
                }
            }
            done.fetch_add(n - counted_from.unwrap_or(n), Ordering::Relaxed);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / RUN.as_secs_f64()
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn bench_list(page_size: usize) {
    let handle = emulator::spawn(tenant(1_000), None, "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = Arc::new(handle.base_url("bench"));
    let pages = 1_000 / page_size;
    let rps = measure(move |http, w, n| {
        let base = base.clone();
        async move {
            let page = (w + n as usize) % pages + 1;
            let resp = http
                .get(format!(
                    "{base}/api/smart-connectors?page={page}&page_size={page_size}"
                ))
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
            let body = resp.bytes().await.unwrap();
            assert!(body.len() > page_size * 100);
        }
    })
    .await;
    println!(
        "list   1,000 connectors, page size {page_size:>3}: {rps:>8.0} req/s ({:.0} connectors/s), {CLIENTS} clients",
        rps * page_size as f64
    );
    handle.shutdown().await.unwrap();
}

async fn bench_import() {
    let handle = emulator::spawn(tenant(0), None, "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = Arc::new(handle.base_url("bench"));
    let rps = measure(move |http, w, n| {
        let base = base.clone();
        async move {
            let mut pkg = connector(0);
            pkg["name"] = json!(format!("Imported {w}-{n}"));
            pkg["api_name"] = json!(format!("imported_{w}_{n}"));
            let resp = http
                .post(format!("{base}/api/smart-connectors/import"))
                .json(&pkg)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
            resp.bytes().await.unwrap();
        }
    })
    .await;
    let created = handle.state_json()["tenants"]["bench"]["objects"]
        .as_array()
        .map_or(0, Vec::len);
    println!(
        "import into one tenant:                {rps:>8.0} req/s, {CLIENTS} clients ({created} connectors at the end)"
    );
    handle.shutdown().await.unwrap();
}

fn bench_memory() {
    let seed = tenant(10_000);
    let before = rss_bytes();
    let emu = Emulator::new(seed).unwrap();
    let after = rss_bytes();
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "memory of 10,000 connectors:           {:>8.1} MiB resident ({} bytes per connector)",
            a.saturating_sub(b) as f64 / (1024.0 * 1024.0),
            a.saturating_sub(b) / 10_000
        ),
        _ => println!("memory: /proc/self/statm is not available here"),
    }
    let dump = serde_json::to_vec(&emu.state_json()).unwrap();
    println!(
        "state dump of 10,000 connectors:       {:>8.1} MiB of JSON",
        dump.len() as f64 / (1024.0 * 1024.0)
    );
}

fn main() {
    // The seed of the memory figure is built before measuring; do it first, in a quiet heap.
    bench_memory();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        bench_list(100).await;
        bench_list(500).await;
        bench_import().await;
    });
}
