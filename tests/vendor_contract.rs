//! The vendors' documents as contracts. Every body Productsup's `POST /connectors/copy`
//! reference prints is kept verbatim in `tests/fixtures/vendor/` and
//!
//! - replayed against ferry's provider client through a plain stub HTTP server on a
//!   loopback port (not the emulator): the stub answers exactly the printed bytes, stores
//!   what it answered, and applies renames, nothing more;
//! - sent to the emulator, whose answers must carry exactly the documented keys (and, for
//!   the error bodies, exactly the documented bodies).
//!
//! The document prints no status code for any body, so the stub answers a created copy
//! with `200` and the errors with more than one plausible code: ferry must not depend on
//! which.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry::config::Tenant;
use ferry::emulator::{self, Seed, SeedTenant};
use ferry::model::{Body, CdeBody, Platform};
use ferry::provider::{
    ClientOptions, CreateFrom, Error, Provider, RetryPolicy, Secret, connect_with_token,
    normalize_cde_config,
};
use serde_json::{Value, json};

use support::{Project, token};

const DOCUMENT: &[u8] = include_bytes!("fixtures/vendor/003_productsup_cde_copy_connector.txt");
const COPY_REQUEST: &str = include_str!("fixtures/vendor/cde_copy_request.json");
const COPY_RESPONSE: &str = include_str!("fixtures/vendor/cde_copy_response.json");
const SECRET_MISSING: &str = include_str!("fixtures/vendor/cde_error_secret_missing.json");
const UNAUTHORIZED: &str = include_str!("fixtures/vendor/cde_error_unauthorized.json");
const FORBIDDEN: &str = include_str!("fixtures/vendor/cde_error_forbidden.json");

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("a vendor body is JSON")
}

// ---------------------------------------------------------------------------------------
// The stub: a plain HTTP server that answers the vendor's bytes.

/// What the stub holds and saw.
#[derive(Default)]
struct StubState {
    /// Connectors, in the `data` shape of the bodies answered.
    connectors: Vec<Value>,
    /// `(METHOD, path, body)` of every request.
    requests: Vec<(String, String, Value)>,
    /// The answer to `POST /connectors/copy`: a status and verbatim bytes.
    copy: Option<(u16, &'static str)>,
    /// Paths in the modelled secret store.
    secrets: Vec<String>,
    /// The bearer token it accepts.
    token: String,
}

#[derive(Clone, Default)]
struct Stub(Arc<Mutex<StubState>>);

impl Stub {
    fn new(token: &str) -> Stub {
        let stub = Stub::default();
        stub.with(|s| {
            s.token = token.to_owned();
            s.copy = Some((200, COPY_RESPONSE));
            s.secrets = vec!["amazon/seller".into(), "google/io/shopping".into()];
        });
        stub
    }

    fn with<R>(&self, f: impl FnOnce(&mut StubState) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }

    fn names(&self) -> Vec<String> {
        self.with(|s| {
            s.connectors
                .iter()
                .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
    }

    /// How many requests had this method (and a path starting with `prefix`).
    fn count(&self, method: &str, prefix: &str) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|(m, p, _)| m == method && p.starts_with(prefix))
                .count()
        })
    }

    /// A person renames a connector in the platform's UI.
    fn rename_by_hand(&self, from: &str, to: &str) {
        self.with(|s| {
            let c = s
                .connectors
                .iter_mut()
                .find(|c| c["name"] == from)
                .expect("the connector to rename");
            rename(c, to);
            c["versions"][0]["updated-at"] = json!("2026-05-11T15:00:00+02:00");
        });
    }
}

fn rename(c: &mut Value, to: &str) {
    c["name"] = json!(to);
    if let Some(versions) = c["versions"].as_array_mut() {
        for v in versions {
            v["name"] = json!(to);
        }
    }
}

fn raw(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

fn json_answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn answer(State(stub): State<Stub>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut s = stub.0.lock().unwrap();
    let shown = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    s.requests.push((method.clone(), shown, body.clone()));
    if authorized.as_deref() != Some(&format!("Bearer {}", s.token)) {
        return raw(401, UNAUTHORIZED);
    }
    let id = path.strip_prefix("/connectors/").map(str::to_owned);
    match (method.as_str(), path.as_str(), id) {
        ("POST", "/connectors/copy", _) => {
            let (status, text) = s.copy.expect("a copy answer is set");
            if (200..300).contains(&status) {
                let data = parse(text)["data"].clone();
                s.connectors.push(data);
            }
            raw(status, text)
        }
        ("GET", "/connectors", _) => json_answer(
            200,
            json!({"message": "OK", "resource": "connector", "data": s.connectors,
                   "metadata": {"next": null}}),
        ),
        ("GET", "/secrets", _) => {
            let data: Vec<Value> = s
                .secrets
                .iter()
                .map(|v| json!({ "vault_secret": v }))
                .collect();
            json_answer(
                200,
                json!({"message": "OK", "resource": "secret", "data": data}),
            )
        }
        ("GET", _, Some(id)) => match s.connectors.iter().find(|c| c["id"] == id.as_str()) {
            Some(c) => json_answer(
                200,
                json!({"message": "OK", "resource": "connector", "data": c}),
            ),
            None => json_answer(404, json!({"message": "Not found."})),
        },
        ("PATCH", _, Some(id)) => {
            let Some(c) = s.connectors.iter_mut().find(|c| c["id"] == id.as_str()) else {
                return json_answer(404, json!({"message": "Not found."}));
            };
            if let Some(name) = body["name"].as_str() {
                rename(c, name);
            }
            let c = c.clone();
            json_answer(
                200,
                json!({"message": "Connector updated.", "resource": "connector", "data": c}),
            )
        }
        ("DELETE", _, Some(id)) => {
            s.connectors.retain(|c| c["id"] != id.as_str());
            StatusCode::NO_CONTENT.into_response()
        }
        _ => json_answer(404, json!({"message": "No such route."})),
    }
}

/// Serve `stub` on a loopback port; its base URL.
async fn serve(stub: &Stub) -> String {
    let app = Router::new().fallback(answer).with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn provider(base: &str) -> Arc<dyn Provider> {
    let tenant = Tenant::new("feeds", Platform::ProductsupCde, base);
    let options = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    connect_with_token(&tenant, base, Secret::new(token("feeds")), &options).unwrap()
}

/// The vendor's request as ferry holds it: the body a manifest gives, in canonical form.
fn requested_body() -> Body {
    let request = parse(COPY_REQUEST);
    Body::ProductsupCde(CdeBody {
        name: request["name"].as_str().unwrap().to_owned(),
        kind: request["type"].as_str().unwrap().to_owned(),
        description: request["description"].as_str().map(str::to_owned),
        flow: request["flow"].as_str().unwrap().to_owned(),
        config: normalize_cde_config(&request["versions"][0]["config"]),
    })
}

/// Where `answered` and `documented` differ in keys: objects must have the same keys at
/// every level (values may differ, and a documented `null` may be answered with any value,
/// since the vendor shows no more of it); arrays are compared item by item, except arrays
/// of plain values, whose length is data.
fn key_differences(answered: &Value, documented: &Value, at: &str, out: &mut Vec<String>) {
    match (answered, documented) {
        (Value::Object(a), Value::Object(d)) => {
            for k in a.keys().filter(|k| !d.contains_key(*k)) {
                out.push(format!("{at}.{k}: not documented"));
            }
            for k in d.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{at}.{k}: documented, missing"));
            }
            for (k, v) in a {
                if let Some(dv) = d.get(k) {
                    key_differences(v, dv, &format!("{at}.{k}"), out);
                }
            }
        }
        (Value::Array(a), Value::Array(d)) => {
            let plain = |items: &[Value]| items.iter().all(|v| !v.is_object() && !v.is_array());
            if plain(a) && plain(d) {
                return;
            }
            if a.len() != d.len() {
                out.push(format!("{at}: {} items, documented {}", a.len(), d.len()));
            }
            for (i, (av, dv)) in a.iter().zip(d).enumerate() {
                key_differences(av, dv, &format!("{at}[{i}]"), out);
            }
        }
        (_, Value::Null) => {}
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
            out.push(format!(
                "{at}: answered {answered}, documented {documented}"
            ));
        }
        _ => {}
    }
}

fn assert_same_keys(answered: &Value, documented: &Value, what: &str) {
    let mut out = Vec::new();
    key_differences(answered, documented, "", &mut out);
    assert!(out.is_empty(), "{what}: {out:#?}");
}

// ---------------------------------------------------------------------------------------
// The fixtures

#[test]
fn every_fixture_is_a_verbatim_excerpt_of_its_document() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendor");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.contains("not-verbatim") {
            continue;
        }
        assert!(
            DOCUMENT.windows(bytes.len()).any(|w| w == bytes.as_slice()),
            "{name} is not a byte-for-byte excerpt of the vendor document; name it *not-verbatim* if it must differ"
        );
        checked += 1;
    }
    assert_eq!(
        checked, 5,
        "the request, the response and three error bodies"
    );
    // The documented response has none of the fields ferry used to require.
    let data = &parse(COPY_RESPONSE)["data"];
    for absent in ["updated-at", "version", "active"] {
        assert!(data.get(absent).is_none(), "{absent}");
    }
}

// ---------------------------------------------------------------------------------------
// Replayed against the provider client

#[tokio::test]
async fn the_documented_copy_answer_is_read_renamed_and_read_back() {
    let stub = Stub::new(&token("feeds"));
    let base = serve(&stub).await;
    let p = provider(&base);
    let body = requested_body();

    let created = p.create(CreateFrom::Body(&body)).await.unwrap();
    assert_eq!(created.id, "00d8c347-0dec-480f-8c99-7f7dfcfb06bf");
    assert_eq!(created.summary.name, "Test Import");
    assert!(!created.summary.active);
    assert_eq!(
        created
            .warnings
            .iter()
            .map(|w| w.kind.as_str())
            .collect::<Vec<_>>(),
        ["vcs-credentials"],
        "the document: VCS will need to be updated with the proper authentication"
    );
    assert_eq!(stub.names(), ["Test Import"]);
    assert_eq!(stub.count("POST", "/connectors/copy"), 1);
    assert_eq!(stub.count("PATCH", "/connectors/"), 1, "one rename");

    // What ferry sent has the request's shape, without the VCS credentials.
    let sent = stub.with(|s| s.requests[0].2.clone());
    let request = parse(COPY_REQUEST);
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keys(&sent), keys(&request));
    let sent_config = &sent["versions"][0]["config"];
    assert!(keys(sent_config).is_subset(&keys(&request["versions"][0]["config"])));
    assert!(sent_config["vcs"].get("token").is_none(), "{sent_config}");

    // Export reads the documented GET shape back as the content ferry copied, and the list
    // gives the connector the change marker the read-back recorded.
    let exported = p.export(&created.id).await.unwrap();
    assert_eq!(exported.body, body);
    let listed = p.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, created.summary.version);
    assert_eq!(listed[0].version, exported.summary.version);
    assert_eq!(listed[0].updated_at, "2026-05-11T14:12:29+02:00");
}

#[tokio::test]
async fn the_documented_error_bodies_reach_the_user_in_the_vendors_words() {
    for (status, body) in [(400, SECRET_MISSING), (422, SECRET_MISSING)] {
        let stub = Stub::new(&token("feeds"));
        stub.with(|s| s.copy = Some((status, body)));
        let base = serve(&stub).await;
        let err = provider(&base)
            .create(CreateFrom::Body(&requested_body()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Bad request."), "{status}: {err}");
        assert_eq!(
            err.field_errors()
                .get("secretRegistrations[0]")
                .map(String::as_str),
            Some("Secret doesn't exist in the store."),
            "{status}: {err:?}"
        );
        assert!(stub.names().is_empty());
        assert_eq!(stub.count("PATCH", "/"), 0, "nothing to rename");
    }
    for (status, body, words) in [
        (
            401,
            UNAUTHORIZED,
            "You have to be authorized to access this resource.",
        ),
        (403, FORBIDDEN, "Access denied for user."),
    ] {
        let stub = Stub::new(&token("feeds"));
        stub.with(|s| s.copy = Some((status, body)));
        let base = serve(&stub).await;
        let err = provider(&base)
            .create(CreateFrom::Body(&requested_body()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Unauthorized { .. } | Error::Forbidden { .. }),
            "{status}: {err:?}"
        );
        assert!(err.to_string().contains(words), "{status}: {err}");
        assert!(!err.is_transient(), "{status}: a refusal is not retried");
    }
    // A copy answer without the connector's id names the field and the request.
    let stub = Stub::new(&token("feeds"));
    stub.with(|s| {
        s.copy = Some((
            200,
            r#"{"message":"Connector created.","data":{"name":"x"}}"#,
        ))
    });
    let base = serve(&stub).await;
    let err = provider(&base)
        .create(CreateFrom::Body(&requested_body()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the answer to POST /connectors/copy has no connector `id`"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// ferry apply against the stub

/// A project with one CDE tenant at `base` and the vendor's request as a manifest (without
/// the VCS token, which never goes into git); extra tenant lines as given.
fn project(base: &str, extra: &[&str]) -> Project {
    let mut p = Project::new();
    let mut tenant = support::Tenant {
        name: "feeds".into(),
        platform: Platform::ProductsupCde,
        url: base.to_owned(),
        region: "us-west".into(),
        extra: Vec::new(),
    };
    for line in extra {
        tenant = tenant.with(line);
    }
    p.tenants(vec![tenant], None);
    let mut request = parse(COPY_REQUEST);
    let mut config = request["versions"][0]["config"].take();
    config["vcs"].as_object_mut().unwrap().remove("token");
    let manifest = json!({
        "apiVersion": "ferry/v1",
        "kind": "CdeConnector",
        "metadata": {"name": "test-import"},
        "spec": {
            "name": request["name"], "type": request["type"],
            "description": request["description"], "flow": request["flow"],
            "config": config,
        },
    });
    p.write(
        "test-import.yaml",
        &serde_saphyr::to_string(&manifest).unwrap(),
    );
    p.commit("the vendor's example connector");
    p
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn ferry_apply_of_the_documented_copy_ends_with_one_connector_under_the_manifests_name() {
    let rt = runtime();
    let stub = Stub::new(&token("feeds"));
    let base = rt.block_on(serve(&stub));
    let p = project(&base, &[]);

    let first = p.apply_json(0);
    let action = support::action(&first, "feeds", "test-import");
    assert_eq!(action["action"], "create", "{first:#}");
    assert_eq!(
        action["outcome"], "warning",
        "VCS credentials to set: {first:#}"
    );
    assert_eq!(stub.names(), ["Test Import"]);
    assert_eq!(stub.count("POST", "/"), 1);
    assert!(p.open_journal().is_empty(), "{:?}", p.open_journal());
    let inventory = p.inventory("feeds");
    assert_eq!(inventory.len(), 1);
    assert_eq!(inventory[0].name, "Test Import");

    // The second apply posts nothing and renames nothing: one list, and one read of the
    // connector whose VCS-credentials warning is open (it closes when the VCS is seen
    // authorised).
    let before = stub.with(|s| s.requests.len());
    let second = p.apply_json(0);
    assert!(support::changes(&second, "feeds").is_empty(), "{second:#}");
    let requests: Vec<(String, String)> = stub.with(|s| {
        s.requests[before..]
            .iter()
            .map(|(m, path, _)| (m.clone(), path.clone()))
            .collect()
    });
    assert_eq!(
        requests,
        [
            ("GET".to_owned(), "/connectors?from=0&limit=500".to_owned()),
            (
                "GET".to_owned(),
                "/connectors/00d8c347-0dec-480f-8c99-7f7dfcfb06bf".to_owned()
            )
        ]
    );
    assert_eq!(stub.names(), ["Test Import"]);
}

#[test]
fn with_rename_and_secrets_off_the_documented_flow_runs_and_a_person_renames() {
    let rt = runtime();
    let stub = Stub::new(&token("feeds"));
    stub.with(|s| s.copy = Some((400, SECRET_MISSING)));
    let base = rt.block_on(serve(&stub));
    let p = project(&base, &["capabilities: {rename: false, secrets: false}"]);

    // No secret look-up: the copy's documented error names the manifest's line.
    let (code, plan) = p.plan_json();
    assert_eq!(code, 2, "{plan:#}");
    let create = support::action(&plan, "feeds", "test-import");
    assert_eq!(create["action"], "create");
    assert!(create.get("modelled").is_none(), "{create:#}");
    assert!(
        create["reason"]
            .as_str()
            .unwrap()
            .contains("the copy keeps the name `Test Import - Copy` until a person renames it"),
        "{create:#}"
    );
    let failed = p.ferry(&["apply", "--auto-approve"]).expect(1);
    assert!(
        failed.stdout.contains("connectors/test-import.yaml")
            && failed.stdout.contains("Secret doesn't exist in the store."),
        "{}\n{}",
        failed.stdout,
        failed.stderr
    );
    assert_eq!(stub.count("GET", "/secrets"), 0);

    // The secret exists now: the copy keeps the vendor's name; ferry renames nothing.
    stub.with(|s| s.copy = Some((200, COPY_RESPONSE)));
    p.apply_json(0);
    assert_eq!(stub.names(), ["Test Import - Copy"]);
    assert_eq!(stub.count("PATCH", "/"), 0);
    let (code, plan) = p.plan_json();
    assert_eq!(code, 2, "{plan:#}");
    let blocked = support::action(&plan, "feeds", "test-import");
    assert_eq!(blocked["action"], "blocked", "{plan:#}");
    assert_eq!(blocked["block"]["kind"], "capability-off");
    assert!(
        blocked["reason"].as_str().unwrap().starts_with(
            "manual step: rename `Test Import - Copy` to `Test Import` in the tenant by hand"
        ),
        "{blocked:#}"
    );

    // A person renames it in the platform: the tenant holds git's content, so the plan is
    // in sync and ferry calls nothing.
    stub.rename_by_hand("Test Import - Copy", "Test Import");
    let posts = stub.count("POST", "/");
    let (code, plan) = p.plan_json();
    assert_eq!(code, 0, "in sync: {plan:#}");
    assert_eq!(
        support::action(&plan, "feeds", "test-import")["action"],
        "noop"
    );
    let applied = p.apply_json(0);
    assert!(
        support::changes(&applied, "feeds").is_empty(),
        "{applied:#}"
    );
    assert_eq!(stub.count("POST", "/"), posts);
    assert_eq!(stub.count("PATCH", "/"), 0);
    assert_eq!(stub.names(), ["Test Import"]);
}

// ---------------------------------------------------------------------------------------
// The emulator answers the same requests in the documented shape

fn cde_seed(secrets: &[&str]) -> Seed {
    let mut feeds = SeedTenant::new("feeds", Platform::ProductsupCde, "feeds-token");
    feeds.catalog.secrets = secrets.iter().map(|s| s.to_string()).collect();
    let other = SeedTenant::new("other", Platform::ProductsupCde, "other-token");
    Seed {
        tenants: vec![feeds, other],
    }
}

async fn send(rb: reqwest::RequestBuilder, body: Option<&'static str>) -> (StatusCode, Value) {
    let rb = match body {
        Some(b) => rb.header("Content-Type", "application/json").body(b),
        None => rb,
    };
    let r = rb.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn the_emulator_answers_the_documented_requests_in_the_documented_shape() {
    let emu = emulator::spawn(
        cde_seed(&["amazon/seller", "google/io/shopping"]),
        None,
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let base = emu.base_url("feeds");
    let copy = format!("{base}/connectors/copy");

    let (status, answer) = send(
        http.post(&copy).bearer_auth("feeds-token"),
        Some(COPY_REQUEST),
    )
    .await;
    assert!(status.is_success(), "{status}: {answer}");
    let documented = parse(COPY_RESPONSE);
    assert_same_keys(&answer, &documented, "POST /connectors/copy");
    assert_eq!(answer["message"], documented["message"]);
    assert_eq!(answer["data"]["name"], "Test Import - Copy");

    let id = answer["data"]["id"].as_str().unwrap();
    let (status, got) = send(
        http.get(format!("{base}/connectors/{id}"))
            .bearer_auth("feeds-token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_keys(
        &got["data"],
        &documented["data"],
        "GET /connectors/{publicId}",
    );
    assert_eq!(
        got["data"], answer["data"],
        "GET answers what the copy made"
    );

    // The three error bodies, exactly.
    let (_, unauthorized) = send(http.post(&copy), Some(COPY_REQUEST)).await;
    assert_eq!(unauthorized, parse(UNAUTHORIZED));
    let (_, forbidden) = send(
        http.post(&copy).bearer_auth("other-token"),
        Some(COPY_REQUEST),
    )
    .await;
    assert_eq!(forbidden, parse(FORBIDDEN));
}

#[tokio::test]
async fn the_emulator_answers_a_missing_secret_with_the_documented_body() {
    let emu = emulator::spawn(cde_seed(&[]), None, "127.0.0.1:0".parse().unwrap()).unwrap();
    // The vendor's request with its first registration only: the one the error names.
    let mut request = parse(COPY_REQUEST);
    let regs = request["versions"][0]["config"]["secret-registrations"]
        .as_array_mut()
        .unwrap();
    regs.truncate(1);
    let r = reqwest::Client::new()
        .post(format!("{}/connectors/copy", emu.base_url("feeds")))
        .bearer_auth("feeds-token")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, parse(SECRET_MISSING));
}

// ---------------------------------------------------------------------------------------
// Agent Studio as its guide says (tests/fixtures/vendor/002_agent_studio_plugin_promotion.txt)

/// "If you need to apply an update to an existing plugin, you will need to delete the
/// existing plugin and redeploy it." (line 42): an update deletes and redeploys, the plan
/// says the plugin is absent in between, and the tenant never holds two copies.
#[test]
fn a_plugin_update_deletes_the_plugin_and_redeploys_it() {
    let mut seed_tenant = support::seed_tenant("assistants", Platform::AgentStudio);
    seed_tenant.catalog.connectors = vec!["Workday".into(), "Slack".into()];
    let emu = support::Emulator::start(
        Seed {
            tenants: vec![seed_tenant],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(
        vec![support::Tenant::on(
            &emu,
            "assistants",
            Platform::AgentStudio,
        )],
        None,
    );
    support::Plugin::new("pto-balance", "PTO Balance").write(&p);
    p.commit("a plugin");
    p.apply_json(0);
    let first = emu.object("assistants", "PTO Balance").unwrap();

    let mut updated = support::Plugin::new("pto-balance", "PTO Balance");
    updated.bindings = vec!["Slack".into()];
    updated.write(&p);
    p.commit("bind Slack");
    let plan = p.ferry(&["plan"]).expect(2);
    assert!(
        plan.stdout
            .contains("the plugin is absent between deleting the old one and creating the new one"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("modelled: templates"),
        "{}",
        plan.stdout
    );
    let applied = p.apply_json(0);
    assert_eq!(
        support::changes(&applied, "assistants"),
        [("replace".to_owned(), "pto-balance".to_owned())]
    );
    assert_eq!(emu.names("assistants"), ["PTO Balance"], "never two copies");
    let now = emu.object("assistants", "PTO Balance").unwrap();
    assert_ne!(now["id"], first["id"], "redeployed");
    assert_eq!(now["connectors"], json!(["Slack"]));
    emu.assert_all_inactive();
}
