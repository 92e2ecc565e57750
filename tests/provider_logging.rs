//! Request logging and credential redaction through the public provider API.
//!
//! One test in its own binary, so the global `tracing` subscriber that captures the log
//! sees every event of this test and nothing else.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use ferry::config::Tenant;
use ferry::provider::{
    CdeClient, ClientOptions, Credentials, Error, HttpClient, RetryPolicy, Secret, connect,
    connect_with_token,
};
use serde_json::json;

const KIZEN_KEY: &str = "kizen-key-7f3a9c";
const CDE_TOKEN: &str = "cde-token-51b2e8";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tenant(value: serde_json::Value) -> Tenant {
    serde_json::from_value(value).unwrap()
}

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

async fn kizen_list(seen: Seen, req: Request) -> impl IntoResponse {
    seen.lock().unwrap().push(req.headers().clone());
    let page = json!({"count": 1, "next": null, "results": [{
        "id": "sc_1", "name": "Orders Sync", "api_name": "orders_sync", "type": "spreadsheet",
        "active": false, "status": "Operational", "updated_at": "2026-05-11T12:00:00Z", "version": 2
    }]});
    axum::Json(page)
}

async fn unauthorized(seen: Seen, req: Request) -> impl IntoResponse {
    seen.lock().unwrap().push(req.headers().clone());
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"message": "You have to be authorized to access this resource."})),
    )
}

#[tokio::test]
async fn requests_are_logged_without_credentials() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let seen: Seen = Arc::default();
    let (s1, s2) = (seen.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/tenants/prod/api/smart-connectors",
            get(move |req| kizen_list(s1.clone(), req)),
        )
        .route(
            "/tenants/cde/connectors",
            get(move |req| unauthorized(s2.clone(), req)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let options = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };

    // Kizen: token given directly, business from the tenant.
    let kizen = tenant(
        json!({"name": "prod", "platform": "kizen", "url": "emulator", "business": "acme-biz"}),
    );
    let provider = connect_with_token(
        &kizen,
        &format!("http://{addr}/tenants/prod"),
        Secret::new(KIZEN_KEY),
        &options,
    )
    .unwrap();
    let listed = provider.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Orders Sync");

    // CDE: token from a file relative to the config directory; the platform refuses it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cde.token"), format!("{CDE_TOKEN}\n")).unwrap();
    let cde = tenant(
        json!({"name": "cde", "platform": "productsup-cde", "url": "x", "auth": {"tokenFile": "cde.token"}}),
    );
    let provider = connect(
        &cde,
        &format!("http://{addr}/tenants/cde"),
        dir.path(),
        &options,
    )
    .unwrap();
    let err = provider.list().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with(
        "tenant cde (productsup-cde): list failed: 401 Unauthorized: You have to be authorized"
    ));
    assert!(
        message.contains("check that file ") && message.contains("cde.token holds a valid token"),
        "{message}"
    );

    // The credentials were sent, so their absence below means something.
    let headers = seen.lock().unwrap().clone();
    assert_eq!(headers[0]["x-api-key"], KIZEN_KEY);
    assert_eq!(headers[0]["x-business-id"], "acme-biz");
    assert_eq!(headers[1]["authorization"], format!("Bearer {CDE_TOKEN}"));

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let credentials = Credentials::resolve(&cde, dir.path()).unwrap();
    let client = CdeClient::new(
        &format!("http://{addr}/tenants/cde"),
        "cde",
        &credentials,
        None,
        HttpClient::new(&options).unwrap(),
    )
    .unwrap();
    for text in [
        &logs,
        &message,
        &format!("{err:?}"),
        &format!("{client:?}"),
        &format!("{credentials:?}"),
    ] {
        assert!(
            !text.contains(KIZEN_KEY) && !text.contains(CDE_TOKEN),
            "credential leaked into: {text}"
        );
    }
    let ours: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("platform request"))
        .collect();
    assert_eq!(ours.len(), 2, "{logs}");
    assert!(ours[0].contains("DEBUG"), "{}", ours[0]);
    assert!(ours[0].contains("method=GET"), "{}", ours[0]);
    assert!(
        ours[0].contains("path=/api/smart-connectors?page=1&page_size=500"),
        "{}",
        ours[0]
    );
    assert!(
        ours[0].contains("status=200") && ours[0].contains("elapsed_ms="),
        "{}",
        ours[0]
    );
    assert!(
        ours[1].contains("path=/connectors?from=0&limit=500") && ours[1].contains("status=401"),
        "{}",
        ours[1]
    );
}
