//! Behaviour of `ferry emulator` through its HTTP API, on loopback ports: the vendor rules
//! of each platform, faults, the clock, the state dump and the state file.

use std::time::Duration;

use ferry::emulator::{self, EmulatorHandle, Faults, Seed, SeedCatalog, SeedTenant};
use ferry::model::Platform;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Fixtures

fn kizen_tenant(name: &str, token: &str, business: &str) -> SeedTenant {
    let mut t = SeedTenant::new(name, Platform::Kizen, token);
    t.region = Some("us-west".into());
    t.business = Some(business.into());
    t.catalog = SeedCatalog {
        agentic_workflows: vec!["Lead Router".into()],
        filter_groups: vec!["EU Leads".into()],
        fields: vec!["contacts.email".into(), "contacts.phone".into()],
        ..SeedCatalog::default()
    };
    t
}

fn studio_tenant(name: &str, token: &str, region: &str) -> SeedTenant {
    let mut t = SeedTenant::new(name, Platform::AgentStudio, token);
    t.region = Some(region.into());
    t.catalog.connectors = vec!["Workday".into(), "Slack".into()];
    t
}

fn cde_tenant(name: &str, token: &str) -> SeedTenant {
    let mut t = SeedTenant::new(name, Platform::ProductsupCde, token);
    t.catalog.secrets = vec!["amazon/seller".into(), "google/io/shopping".into()];
    t
}

/// Seeded Kizen connector with a Draft that differs from its Live SQL.
fn orders_sync() -> Value {
    json!({
        "name": "Orders Sync", "api_name": "orders_sync", "type": "spreadsheet",
        "live_sql": "SELECT id, email FROM orders", "draft_sql": "SELECT id, email, phone FROM orders -- wip",
        "reference_data": "sku,name\n1,Widget\n", "sample_file": "order_id,email\n1,a@example.com\n",
        "references": { "agentic_workflows": ["Lead Router"], "filter_groups": [], "field_mappings": ["contacts.email"] },
        "owner": "alice", "active": true
    })
}

fn plugin(name: &str, state: &str, trigger: &str) -> Value {
    json!({
        "name": name, "description": "Answers PTO questions", "state": state, "trigger": trigger,
        "connectors": ["Salesforce"], "actions": { "steps": [{ "call": "pto.balance" }] }
    })
}

fn seed() -> Seed {
    let mut sandbox = kizen_tenant("sandbox", "sandbox-token", "acme");
    sandbox.objects = vec![orders_sync()];
    let mut us = studio_tenant("studio-us", "us-token", "us-west");
    us.objects = vec![
        plugin("PTO Balance", "published", "conversational"),
        plugin("Draft Helper", "draft", "conversational"),
        plugin("Inbound Hook", "published", "webhook"),
    ];
    Seed {
        tenants: vec![
            sandbox,
            kizen_tenant("prod", "prod-token", "globex"),
            us,
            studio_tenant("studio-us2", "us2-token", "us-west"),
            studio_tenant("studio-eu", "eu-token", "eu-central"),
            cde_tenant("cde", "cde-token"),
            cde_tenant("cde2", "cde2-token"),
        ],
    }
}

fn token_of(tenant: &str) -> (&'static str, Option<&'static str>) {
    match tenant {
        "sandbox" => ("sandbox-token", Some("acme")),
        "prod" => ("prod-token", Some("globex")),
        "studio-us" => ("us-token", None),
        "studio-us2" => ("us2-token", None),
        "studio-eu" => ("eu-token", None),
        "cde" => ("cde-token", None),
        "cde2" => ("cde2-token", None),
        _ => ("none", None),
    }
}

struct Emu {
    handle: EmulatorHandle,
    http: reqwest::Client,
}

impl Emu {
    async fn start(seed: Seed) -> Emu {
        let handle = emulator::spawn(seed, None, "127.0.0.1:0".parse().unwrap()).unwrap();
        Emu {
            handle,
            http: reqwest::Client::new(),
        }
    }

    fn request(&self, method: Method, tenant: &str, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.handle.base_url(tenant));
        let (token, business) = token_of(tenant);
        let rb = self.http.request(method, url);
        match business {
            Some(b) => rb.header("X-API-KEY", token).header("X-BUSINESS-ID", b),
            None => rb.bearer_auth(token),
        }
    }

    /// A call with the tenant's own credentials.
    async fn call(
        &self,
        method: Method,
        tenant: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.request(method, tenant, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        send(rb).await
    }

    async fn get(&self, tenant: &str, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, tenant, path, None).await
    }

    async fn post(&self, tenant: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, tenant, path, Some(body)).await
    }

    async fn control(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(
            self.http
                .post(format!("{}{path}", self.handle.url()))
                .json(&body),
        )
        .await
    }

    async fn state(&self) -> Value {
        send(
            self.http
                .get(format!("{}/_emulator/state", self.handle.url())),
        )
        .await
        .1
    }
}

async fn send(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = rb.send().await.expect("the emulator answers");
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    (status, body)
}

fn package(name: &str, api_name: &str) -> Value {
    json!({
        "name": name, "api_name": api_name, "type": "webhook",
        "live_sql": "WITH x AS (SELECT 1 AS n) SELECT n FROM x",
        "reference_data": "a,b\n1,2\n", "sample_file": "email\nx@example.com\n",
        "references": { "agentic_workflows": ["Lead Router"], "filter_groups": ["EU Leads"], "field_mappings": ["contacts.phone"] }
    })
}

fn objects<'a>(state: &'a Value, tenant: &str) -> &'a Vec<Value> {
    state["tenants"][tenant]["objects"].as_array().unwrap()
}

// ---------------------------------------------------------------------------------------
// Kizen

#[tokio::test]
async fn kizen_requires_the_api_key_and_the_business() {
    let emu = Emu::start(seed()).await;
    let url = format!("{}/api/smart-connectors", emu.handle.base_url("sandbox"));
    let (s, b) = send(emu.http.get(&url)).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Invalid API key."})
        )
    );
    let (s, b) = send(
        emu.http
            .get(&url)
            .header("X-API-KEY", "prod-token")
            .header("X-BUSINESS-ID", "acme"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) = send(
        emu.http
            .get(&url)
            .header("X-API-KEY", "sandbox-token")
            .header("X-BUSINESS-ID", "globex"),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::FORBIDDEN,
            json!({"message": "API key has no access to business globex."})
        )
    );
    let (s, _) = emu.get("sandbox", "/api/smart-connectors").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn kizen_import_creates_inactive_with_draft_from_live_and_owner_api_user() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .post(
            "prod",
            "/api/smart-connectors/import",
            package("Leads", "leads"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["result"], "created");
    let c = &b["connector"];
    assert_eq!(c["name"], "Leads");
    assert_eq!(c["api_name"], "leads");
    assert_eq!(c["active"], false);
    assert_eq!(c["owner"], "api-user");
    assert_eq!(c["live_sql"], package("", "")["live_sql"]);
    assert_eq!(c["draft_sql"], c["live_sql"]);
    assert_eq!(c["status"], "Operational");
    assert_eq!(c["warnings"], json!([]));
    assert_eq!(c["version"], 1);
    let id = c["id"].as_str().unwrap();
    let (s, detail) = emu
        .get("prod", &format!("/api/smart-connectors/{id}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&detail, c);
}

#[tokio::test]
async fn kizen_import_with_unresolved_references_warns_each_kind() {
    let emu = Emu::start(seed()).await;
    let mut pkg = package("Leads", "leads");
    pkg["references"] = json!({
        "agentic_workflows": ["Lead Router", "Churn Flow"],
        "filter_groups": ["US Leads"],
        "field_mappings": ["contacts.email", "contacts.fax"]
    });
    let (s, b) = emu.post("prod", "/api/smart-connectors/import", pkg).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["connector"]["status"], "Operational (Needs Attention)");
    assert_eq!(
        b["connector"]["warnings"],
        json!([
            {"kind": "agentic-workflow", "reference": "Churn Flow"},
            {"kind": "seeding-filter-group", "reference": "US Leads"},
            {"kind": "field-reference", "reference": "contacts.fax"}
        ])
    );
    assert_eq!(b["connector"]["active"], false);
}

#[tokio::test]
async fn kizen_import_of_an_existing_name_is_skipped_and_changes_nothing() {
    let emu = Emu::start(seed()).await;
    let before = emu.state().await;
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/import",
            package("Orders Sync", "other_api"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["result"], "skipped");
    assert_eq!(b["existing_id"], "sc_0001");
    let reason = b["reason"].as_str().unwrap();
    assert!(
        reason.contains("'Orders Sync' already exists in business acme"),
        "{reason}"
    );
    assert!(reason.contains("Delete or rename it first"), "{reason}");
    let after = emu.state().await;
    assert_eq!(objects(&before, "sandbox"), objects(&after, "sandbox"));
}

#[tokio::test]
async fn kizen_import_with_empty_or_unparsable_sql_fails_and_creates_nothing() {
    let emu = Emu::start(seed()).await;
    for (sql, expect) in [
        ("  -- only a comment\n", "the Live SQL is empty"),
        ("SELECT (a FROM t", "'(' at line 1 column 8 is never closed"),
        (
            "DROP TABLE t",
            "must start with SELECT or WITH, found 'DROP'",
        ),
    ] {
        let mut pkg = package("Broken", "broken");
        pkg["live_sql"] = json!(sql);
        let (s, b) = emu.post("prod", "/api/smart-connectors/import", pkg).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["result"], "failed");
        assert!(
            b["errors"]["live_sql"].as_str().unwrap().contains(expect),
            "{b}"
        );
        assert!(
            b["message"]
                .as_str()
                .unwrap()
                .contains("Nothing was created"),
            "{b}"
        );
    }
    let (_, list) = emu.get("prod", "/api/smart-connectors").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn kizen_api_names_are_unique_on_import() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/import",
            package("Orders Sync v2", "orders_sync"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["result"], "failed");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("API name 'orders_sync' is already used by 'Orders Sync' (sc_0001)"),
        "{b}"
    );
    // Moving the old connector's API name aside lets the new one take it (the replace flow).
    let (s, b) = emu
        .call(
            Method::PATCH,
            "sandbox",
            "/api/smart-connectors/sc_0001",
            Some(json!({"name": "Orders Sync (old)", "api_name": "orders_sync_old"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/import",
            package("Orders Sync", "orders_sync"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn kizen_export_holds_the_package_and_never_the_draft() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .get("sandbox", "/api/smart-connectors/sc_0001/export")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b,
        json!({
            "name": "Orders Sync", "api_name": "orders_sync", "type": "spreadsheet",
            "live_sql": "SELECT id, email FROM orders",
            "reference_data": "sku,name\n1,Widget\n", "sample_file": "order_id,email\n1,a@example.com\n",
            "references": { "agentic_workflows": ["Lead Router"], "filter_groups": [], "field_mappings": ["contacts.email"] }
        })
    );
    // The exported package imports into another business as is.
    let (s, b) = emu.post("prod", "/api/smart-connectors/import", b).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["connector"]["draft_sql"], "SELECT id, email FROM orders");
}

#[tokio::test]
async fn kizen_duplicate_copies_everything_with_new_names_owner_and_toggle_off() {
    let emu = Emu::start(seed()).await;
    let (s, d) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/sc_0001/duplicate",
            json!({"name": "Orders Sync Copy", "api_name": "orders_sync_copy"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (_, src) = emu.get("sandbox", "/api/smart-connectors/sc_0001").await;
    assert_eq!(src["active"], true, "the seeded source is active");
    for field in [
        "type",
        "live_sql",
        "draft_sql",
        "reference_data",
        "sample_file",
        "references",
    ] {
        assert_eq!(d[field], src[field], "{field}");
    }
    assert_eq!(d["draft_sql"], "SELECT id, email, phone FROM orders -- wip");
    assert_eq!(d["name"], "Orders Sync Copy");
    assert_eq!(d["api_name"], "orders_sync_copy");
    assert_eq!(src["owner"], "alice");
    assert_eq!(d["owner"], "api-user");
    assert_eq!(d["active"], false);
    assert_ne!(d["id"], src["id"]);

    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/sc_0001/duplicate",
            json!({"name": "Orders Sync Copy", "api_name": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("'Orders Sync Copy' already exists"),
        "{b}"
    );
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/sc_0001/duplicate",
            json!({"name": "Another", "api_name": "orders_sync"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("API name 'orders_sync' is already used"),
        "{b}"
    );
    // Without an API name, one is derived from the name and kept unique.
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/sc_0001/duplicate",
            json!({"name": "Orders Sync"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the name is taken: {b}");
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/sc_0001/duplicate",
            json!({"name": "Orders  Sync!"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["api_name"], "orders_sync_2");
    let (s, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/sc_0404/duplicate",
            json!({"name": "N"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("'sc_0404' not found"),
        "{b}"
    );
}

#[tokio::test]
async fn kizen_rename_and_toggle_bump_version_in_detail_and_list() {
    let emu = Emu::start(seed()).await;
    let (_, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/import",
            package("Leads", "leads"),
        )
        .await;
    let id = b["connector"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/smart-connectors/{id}");
    let (s, r) = emu
        .call(
            Method::PATCH,
            "sandbox",
            &path,
            Some(json!({"name": "Leads Renamed"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["name"], "Leads Renamed");
    assert_eq!(r["version"], 2);
    let (s, r) = emu
        .call(
            Method::PATCH,
            "sandbox",
            &path,
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["active"], true);
    assert_eq!(r["version"], 3);
    let (_, list) = emu.get("sandbox", "/api/smart-connectors").await;
    let row = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["version"], 3);
    assert_eq!(row["active"], true);
    assert_eq!(row["name"], "Leads Renamed");
    assert!(row["updated_at"].as_str().unwrap().ends_with('Z'));
    let (s, r) = emu
        .call(
            Method::PATCH,
            "sandbox",
            &path,
            Some(json!({"name": "Orders Sync"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("'Orders Sync' already exists (sc_0001)"),
        "{r}"
    );
    let (s, r) = emu
        .call(
            Method::PATCH,
            "sandbox",
            &path,
            Some(json!({"live_sql": "SELECT 2"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no in-place update: {r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `live_sql`"),
        "{r}"
    );
}

#[tokio::test]
async fn kizen_checks_rerun_against_the_current_catalog() {
    let emu = Emu::start(seed()).await;
    let mut pkg = package("Leads", "leads");
    pkg["references"]["filter_groups"] = json!(["US Leads"]);
    let (_, b) = emu
        .post("sandbox", "/api/smart-connectors/import", pkg)
        .await;
    let id = b["connector"]["id"].as_str().unwrap().to_owned();
    assert_eq!(b["connector"]["status"], "Operational (Needs Attention)");

    let (s, r) = emu
        .post(
            "sandbox",
            &format!("/api/smart-connectors/{id}/checks"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        r,
        json!({"status": "Operational (Needs Attention)", "warnings": [{"kind": "seeding-filter-group", "reference": "US Leads"}]})
    );

    let (s, _) = emu
        .control(
            "/_emulator/catalog",
            json!({"tenant": "sandbox", "filterGroups": ["EU Leads", "US Leads"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, r) = emu
        .post(
            "sandbox",
            &format!("/api/smart-connectors/{id}/checks"),
            json!({}),
        )
        .await;
    assert_eq!(r, json!({"status": "Operational", "warnings": []}));
    let (_, d) = emu
        .get("sandbox", &format!("/api/smart-connectors/{id}"))
        .await;
    assert_eq!(d["status"], "Operational");
    assert_eq!(d["version"], 2, "the status change is a write");
}

#[tokio::test]
async fn kizen_live_run_reports_operational_even_with_open_warnings() {
    let emu = Emu::start(seed()).await;
    let mut pkg = package("Leads", "leads");
    pkg["references"]["agentic_workflows"] = json!(["Missing Flow"]);
    let (_, b) = emu
        .post("sandbox", "/api/smart-connectors/import", pkg)
        .await;
    let id = b["connector"]["id"].as_str().unwrap().to_owned();
    let (s, r) = emu
        .post(
            "sandbox",
            &format!("/api/smart-connectors/{id}/run"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "Operational");
    assert_eq!(
        r["warnings"],
        json!([{"kind": "agentic-workflow", "reference": "Missing Flow"}])
    );
}

#[tokio::test]
async fn kizen_list_pages_and_delete() {
    let mut s = seed();
    s.tenants[1].objects = (0..250)
        .map(|i| json!({"name": format!("C{i}"), "api_name": format!("c{i}"), "type": "scheduler", "live_sql": "SELECT 1"}))
        .collect();
    let emu = Emu::start(s).await;
    let (_, p1) = emu
        .get("prod", "/api/smart-connectors?page=1&page_size=100")
        .await;
    assert_eq!(p1["count"], 250);
    assert_eq!(p1["next"], 2);
    assert_eq!(p1["results"].as_array().unwrap().len(), 100);
    assert_eq!(p1["results"][0]["name"], "C0");
    let keys: Vec<_> = p1["results"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for k in [
        "id",
        "name",
        "api_name",
        "type",
        "active",
        "status",
        "updated_at",
        "version",
    ] {
        assert!(keys.contains(&k.to_owned()), "summary has {k}: {keys:?}");
    }
    assert!(!keys.contains(&"live_sql".to_owned()));
    let (_, p3) = emu
        .get("prod", "/api/smart-connectors?page=3&page_size=100")
        .await;
    assert_eq!(p3["results"].as_array().unwrap().len(), 50);
    assert_eq!(p3["next"], Value::Null);
    assert_eq!(p3["results"][49]["name"], "C249");
    let (s, b) = emu.get("prod", "/api/smart-connectors?page_size=501").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("'page_size' must be a whole number from 1 to 500"),
        "{b}"
    );

    let id = p1["results"][0]["id"].as_str().unwrap();
    let (s, _) = emu
        .call(
            Method::DELETE,
            "prod",
            &format!("/api/smart-connectors/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = emu
        .get("prod", &format!("/api/smart-connectors/{id}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        b["message"],
        format!("SmartConnector '{id}' not found in business globex (tenant 'prod').")
    );
    let (_, p1) = emu.get("prod", "/api/smart-connectors").await;
    assert_eq!(p1["count"], 249);
}

// ---------------------------------------------------------------------------------------
// Agent Studio

async fn export_link(emu: &Emu, tenant: &str, id: &str) -> String {
    let (s, b) = emu
        .post(tenant, &format!("/api/v1/plugins/{id}/export"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["link"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn studio_requires_the_bearer_token() {
    let emu = Emu::start(seed()).await;
    let url = format!("{}/api/v1/plugins", emu.handle.base_url("studio-us"));
    let (s, b) = send(emu.http.get(&url).bearer_auth("us2-token")).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized: missing or invalid bearer token."})
        )
    );
}

#[tokio::test]
async fn studio_drafts_cannot_be_exported() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .post("studio-us", "/api/v1/plugins/pl_0002/export", json!({}))
        .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::CONFLICT,
            json!({"message": "Plugin 'Draft Helper' is a draft: publish it before exporting."})
        )
    );
}

#[tokio::test]
async fn studio_link_installs_into_another_tenant_with_connectors_bound_by_name() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .post("studio-us", "/api/v1/plugins/pl_0001/export", json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let link = b["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/install/", emu.handle.base_url("studio-us"))),
        "{link}"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(b["expiresAt"].as_str().unwrap()).unwrap();
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::TimeDelta::hours(23) && left <= chrono::TimeDelta::hours(24),
        "{left}"
    );

    // The template behind the link carries no connectors.
    let (s, t) = send(emu.http.get(link).bearer_auth("us-token")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["template"]["name"], "PTO Balance");
    assert!(t["template"].get("connectors").is_none(), "{t}");

    let (s, p) = emu
        .post(
            "studio-us2",
            "/api/v1/install",
            json!({"link": link, "connectors": ["Workday"], "onConflict": "fail"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["name"], "PTO Balance");
    assert_eq!(
        p["connectors"],
        json!(["Workday"]),
        "bindings are this tenant's, not the source's"
    );
    assert_eq!(p["actions"], json!({"steps": [{"call": "pto.balance"}]}));
    assert_eq!(p["state"], "published");
    assert_eq!(p["active"], false);
    let (_, list) = emu.get("studio-us2", "/api/v1/plugins").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn studio_install_names_each_missing_connector_by_index() {
    let emu = Emu::start(seed()).await;
    let link = export_link(&emu, "studio-us", "pl_0001").await;
    let (s, b) = emu
        .post(
            "studio-us2",
            "/api/v1/install",
            json!({"link": link, "connectors": ["Workday", "Salesforce", "Jira"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["errors"],
        json!({
            "connectors[1]": "Connector 'Salesforce' does not exist in this tenant.",
            "connectors[2]": "Connector 'Jira' does not exist in this tenant."
        })
    );
    let (_, list) = emu.get("studio-us2", "/api/v1/plugins").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn studio_refuses_links_from_another_data_center_and_webhook_plugins() {
    let emu = Emu::start(seed()).await;
    let link = export_link(&emu, "studio-us", "pl_0001").await;
    let (s, b) = emu
        .post(
            "studio-eu",
            "/api/v1/install",
            json!({"link": link, "connectors": []}),
        )
        .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::FORBIDDEN,
            json!({"message": "Installation links cannot be used across data centers (link: us-west, tenant: eu-central)."})
        )
    );
    let hook = export_link(&emu, "studio-us", "pl_0003").await;
    let (s, b) = emu
        .post("studio-us2", "/api/v1/install", json!({"link": hook}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("'Inbound Hook' is webhook-triggered and cannot be installed"),
        "{b}"
    );
}

#[tokio::test]
async fn studio_install_into_the_same_tenant_duplicates_per_the_conflict_choice() {
    let emu = Emu::start(seed()).await;
    let link = export_link(&emu, "studio-us", "pl_0001").await;
    let (s, b) = emu
        .post(
            "studio-us",
            "/api/v1/install",
            json!({"link": link, "onConflict": "fail"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("'PTO Balance' already exists in tenant 'studio-us' (pl_0001)"),
        "{b}"
    );
    let (s, b) = emu
        .post(
            "studio-us",
            "/api/v1/install",
            json!({"link": link, "connectors": ["Slack"], "onConflict": "new-name"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["name"], "PTO Balance (2)");
    let (_, original) = emu.get("studio-us", "/api/v1/plugins/pl_0001").await;
    assert_eq!(
        original["connectors"],
        json!(["Salesforce"]),
        "the original is untouched"
    );
    assert_eq!(original["version"], 1);

    // Without a choice the install works and duplicates, as the guide says of an import
    // into the same environment.
    let (s, b) = emu
        .post("studio-us", "/api/v1/install", json!({"link": link}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["name"], "PTO Balance (3)");
    let (_, list) = emu.get("studio-us", "/api/v1/plugins").await;
    let copies = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with("PTO Balance"))
        .count();
    assert_eq!(copies, 3);
}

#[tokio::test]
async fn studio_links_expire_after_24_hours_of_emulator_time() {
    let emu = Emu::start(seed()).await;
    let link = export_link(&emu, "studio-us", "pl_0001").await;
    let (s, _) = emu
        .control("/_emulator/clock", json!({"advanceSecs": 23 * 3600}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = emu
        .post("studio-us2", "/api/v1/install", json!({"link": link}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "still valid after 23 h: {b}");
    emu.control("/_emulator/clock", json!({"advanceSecs": 3600}))
        .await;
    let (s, b) = emu
        .post(
            "studio-us2",
            "/api/v1/install",
            json!({"link": link, "onConflict": "new-name"}),
        )
        .await;
    assert_eq!(s, StatusCode::GONE);
    let msg = b["message"].as_str().unwrap();
    assert!(
        msg.starts_with("This installation link expired at "),
        "{msg}"
    );
    assert!(
        msg.contains("export the plugin 'PTO Balance' again"),
        "{msg}"
    );
    let state = emu.state().await;
    assert_eq!(state["links"][0]["expired"], true);
}

#[tokio::test]
async fn studio_templates_issue_links_and_refuse_drafts() {
    let emu = Emu::start(seed()).await;
    let body = json!({"name": "Expense Helper", "description": null, "state": "published", "trigger": "scheduled", "actions": {"a": 1}, "connectors": ["Workday"]});
    let (s, b) = emu.post("studio-us2", "/api/v1/templates", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let link = b["link"].as_str().unwrap();
    assert!(
        link.starts_with(&emu.handle.base_url("studio-us2")),
        "issued by the tenant itself: {link}"
    );
    let (s, p) = emu
        .post(
            "studio-us2",
            "/api/v1/install",
            json!({"link": link, "connectors": ["Workday"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["trigger"], "scheduled");
    assert_eq!(p["connectors"], json!(["Workday"]));
    let (s, b) = emu
        .post(
            "studio-us2",
            "/api/v1/templates",
            json!({"name": "WIP", "state": "draft", "trigger": "conversational"}),
        )
        .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::CONFLICT,
            json!({"message": "Plugin 'WIP' is a draft: publish it before exporting."})
        )
    );
    let (s, b) = emu
        .post(
            "studio-us2",
            "/api/v1/install",
            json!({"link": "http://x/install/nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(b["message"].as_str().unwrap().contains("not known"), "{b}");
}

#[tokio::test]
async fn studio_lists_with_cursors_renames_and_deletes() {
    let emu = Emu::start(seed()).await;
    let (_, p1) = emu.get("studio-us", "/api/v1/plugins?limit=2").await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["nextCursor"].as_str().unwrap().to_owned();
    let (_, p2) = emu
        .get(
            "studio-us",
            &format!("/api/v1/plugins?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(p2["items"][0]["name"], "Inbound Hook");
    assert_eq!(p2["nextCursor"], Value::Null);
    for k in [
        "id",
        "name",
        "state",
        "trigger",
        "active",
        "updatedAt",
        "version",
    ] {
        assert!(p2["items"][0].get(k).is_some(), "summary has {k}");
    }
    let (s, b) = emu
        .call(
            Method::PATCH,
            "studio-us",
            "/api/v1/plugins/pl_0001",
            Some(json!({"name": "PTO"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (b["name"].clone(), b["version"].clone()),
        (json!("PTO"), json!(2))
    );
    let (s, _) = emu
        .call(Method::DELETE, "studio-us", "/api/v1/plugins/pl_0001", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = emu.get("studio-us", "/api/v1/plugins/pl_0001").await;
    assert_eq!(
        (s, b),
        (
            StatusCode::NOT_FOUND,
            json!({"message": "Plugin 'pl_0001' not found in tenant 'studio-us'."})
        )
    );
    let (_, c) = emu.get("studio-us", "/api/v1/connectors").await;
    assert_eq!(
        c,
        json!({"items": [{"name": "Workday"}, {"name": "Slack"}]})
    );
}

// ---------------------------------------------------------------------------------------
// Productsup CDE

/// The request body of the vendor's `POST /connectors/copy` example.
fn vendor_copy_body() -> Value {
    json!({
        "name": "Test Import", "type": "datasource", "description": "this is a imported connector", "flow": "default",
        "versions": [{ "config": {
            "execution": { "execution-mode": "as-env-variables" },
            "authentication-registrations": [20, 30],
            "authentication-registrations-additional-fields": ["option-1", "option-2", "option-3"],
            "secret-registrations": [{ "vault_secret": "amazon/seller" }, { "vault_secret": "google/io/shopping" }],
            "application": { "command": "php", "arguments": "app.php import", "health-check": "--help" },
            "vcs": { "authorization": "basic", "url": "https://github.com/some-repo.git", "branch": "main", "username": "username", "token": "token" },
            "individuals": [
                { "command-option": "host", "field-type": "input", "field-name": "Host", "field-required": false, "field-placeholder": "Host url", "field-description": "A url to host", "order": 1 },
                { "command-option": "port-number", "field-type": "input", "field-name": "Port", "field-required": false, "field-placeholder": "Port number", "field-description": "Port number", "order": 2 },
                { "command-option": "db-name", "field-type": "input", "field-name": "Db-name", "field-required": false, "field-placeholder": "Database name", "field-description": "Database name", "field-default-value": "MYSQL", "field-config": "some config", "order": 3 }
            ]
        }}]
    })
}

fn is_uuid_like(s: &str) -> bool {
    let parts: Vec<_> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn cde_auth_bodies_are_exactly_as_documented() {
    let emu = Emu::start(seed()).await;
    let url = format!("{}/connectors", emu.handle.base_url("cde"));
    let unauthorized = json!({"message": "You have to be authorized to access this resource."});
    let denied = json!({"message": "Access denied for user."});
    assert_eq!(
        send(emu.http.get(&url)).await,
        (StatusCode::UNAUTHORIZED, unauthorized.clone())
    );
    assert_eq!(
        send(emu.http.get(&url).bearer_auth("made-up")).await,
        (StatusCode::UNAUTHORIZED, unauthorized)
    );
    assert_eq!(
        send(emu.http.get(&url).bearer_auth("cde2-token")).await,
        (StatusCode::FORBIDDEN, denied.clone())
    );
    assert_eq!(
        send(emu.http.get(&url).bearer_auth("us-token")).await,
        (StatusCode::FORBIDDEN, denied)
    );
    assert_eq!(
        send(emu.http.get(&url).bearer_auth("cde-token")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cde_copy_answers_the_vendor_shape_with_server_fields_filled_in() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .post("cde", "/connectors/copy", vendor_copy_body())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["message"], "Connector created.");
    assert_eq!(b["resource"], "connector");
    let d = &b["data"];
    assert_eq!(d["name"], "Test Import - Copy");
    assert!(is_uuid_like(d["id"].as_str().unwrap()), "{}", d["id"]);
    assert!(is_uuid_like(d["owner"].as_str().unwrap()), "{}", d["owner"]);
    assert_eq!(d["integrator"], d["owner"]);
    assert_eq!(d["type"], "datasource");
    assert_eq!(d["description"], "this is a imported connector");
    assert_eq!(
        (
            d["readme"].clone(),
            d["main"].clone(),
            d["main-version-number"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    for modelled in ["active", "version", "updated-at"] {
        assert!(
            d.get(modelled).is_none(),
            "the vendor's answer has no top-level {modelled}: {d}"
        );
    }
    let v = &d["versions"][0];
    assert_eq!(v["name"], "Test Import - Copy");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["state"], "updated");
    assert_eq!(v["deleted-at"], Value::Null);
    assert!(chrono::DateTime::parse_from_rfc3339(v["created-at"].as_str().unwrap()).is_ok());
    let c = &v["config"];
    assert_eq!(
        c["update-progress"],
        json!(["vcs-config", "application-config"])
    );
    assert_eq!(
        c["vcs"],
        json!({"authorization": "public", "url": "https://github.com/some-repo.git", "branch": "main", "username": null, "deploy-key-public": null, "latest-commit": null})
    );
    assert!(
        !b.to_string().contains("\"token\""),
        "the VCS token is never kept"
    );
    assert_eq!(c["secret-registrations"][0]["ini_header"], "amazon::seller");
    assert_eq!(
        c["secret-registrations"][1]["ini_header"],
        "google-io::shopping"
    );
    assert_eq!(
        c["authentication-registrations-additional-fields"],
        json!([
            "pup-auth-option-1",
            "pup-auth-option-2",
            "pup-auth-option-3"
        ])
    );
    assert_eq!(c["individuals"].as_array().unwrap().len(), 4);
    assert_eq!(
        c["individuals"][3]["command-option"],
        "authentication_select"
    );
    assert_eq!(c["individuals"][3]["order"], 4);
    assert_eq!(c["individuals"][0]["field-default-value"], Value::Null);
    assert_eq!(c["individuals"][2]["field-default-value"], "MYSQL");
    assert_eq!(c["execution"]["execution-mode"], "as-env-variables");
    assert_eq!(
        c["execution"]["container-api"]["version-constraint"],
        "^0.25"
    );
    assert_eq!(
        c["docker"],
        json!({"image-name": null, "image-tag": null, "registry-url": null})
    );
    assert_eq!(c["datasource"], json!({"categories": ["miscellaneous"]}));
    assert_eq!(v["platform_prod_reference"]["released"], false);
    assert_eq!(
        v["platform_dev_reference"]["runtime"],
        json!({"environment": "cre", "version": null})
    );

    let id = d["id"].as_str().unwrap();
    let (s, g) = emu.get("cde", &format!("/connectors/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["message"], "OK");
    assert_eq!(&g["data"], d);
    // The GET output copies again (the documented way to duplicate).
    let (s, again) = emu.post("cde", "/connectors/copy", g["data"].clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again["data"]["name"], "Test Import - Copy - Copy");
    assert_eq!(
        again["data"]["versions"][0]["config"]["individuals"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn cde_copy_refuses_secrets_missing_from_the_store_one_entry_per_index() {
    let emu = Emu::start(seed()).await;
    let mut body = vendor_copy_body();
    body["versions"][0]["config"]["secret-registrations"] = json!([{ "vault_secret": "amazon/seller" }, { "vault_secret": "ebay/api" }, { "vault_secret": "x/y" }]);
    let (s, b) = emu.post("cde2", "/connectors/copy", body.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        b,
        json!({"message": "Bad request.", "errors": {
            "secretRegistrations[1]": "Secret doesn't exist in the store.",
            "secretRegistrations[2]": "Secret doesn't exist in the store."
        }})
    );
    let (_, list) = emu.get("cde2", "/connectors").await;
    assert_eq!(list["metadata"]["total"], 0, "nothing was created");
    let (_, secrets) = emu.get("cde2", "/secrets").await;
    assert_eq!(
        secrets["data"],
        json!([{"vault_secret": "amazon/seller"}, {"vault_secret": "google/io/shopping"}])
    );
}

#[tokio::test]
async fn cde_lists_with_from_and_limit() {
    let mut s = seed();
    s.tenants[5].objects = (0..120)
        .map(|i| json!({"name": format!("Feed {i}"), "type": "export", "versions": []}))
        .collect();
    let emu = Emu::start(s).await;
    let (_, p) = emu.get("cde", "/connectors?from=0&limit=50").await;
    assert_eq!(
        p["metadata"],
        json!({"from": 0, "limit": 50, "count": 50, "total": 120, "next": 50})
    );
    assert_eq!(p["message"], "OK");
    let first = &p["data"][0];
    for k in [
        "id",
        "name",
        "type",
        "active",
        "main-version-number",
        "versions",
    ] {
        assert!(first.get(k).is_some(), "summary has {k}: {first}");
    }
    let (_, p) = emu.get("cde", "/connectors?from=100&limit=50").await;
    assert_eq!(
        p["metadata"],
        json!({"from": 100, "limit": 50, "count": 20, "total": 120, "next": null})
    );
    assert_eq!(p["data"][19]["name"], "Feed 119");
}

#[tokio::test]
async fn cde_rename_bin_and_restore() {
    let emu = Emu::start(seed()).await;
    let (_, a) = emu
        .post("cde", "/connectors/copy", vendor_copy_body())
        .await;
    let id = a["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/connectors/{id}");
    let (s, r) = emu
        .call(
            Method::PATCH,
            "cde",
            &path,
            Some(json!({"name": "Amazon Seller Import"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["data"]["name"], "Amazon Seller Import");
    assert_eq!(
        r["data"]["active"], false,
        "the modelled PATCH shows the toggle"
    );
    assert_eq!(r["data"]["versions"][0]["name"], "Amazon Seller Import");
    let counter = |state: &Value| {
        objects(state, "cde")
            .iter()
            .find(|o| o["id"] == id.as_str())
            .map(|o| o["version"].clone())
            .unwrap()
    };
    assert_eq!(counter(&emu.state().await), 2, "a rename is a write");

    let (_, b) = emu
        .post("cde", "/connectors/copy", vendor_copy_body())
        .await;
    let other = b["data"]["id"].as_str().unwrap().to_owned();
    let (s, r) = emu
        .call(
            Method::PATCH,
            "cde",
            &format!("/connectors/{other}"),
            Some(json!({"name": "Amazon Seller Import"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(r["message"].as_str().unwrap().contains(&id), "{r}");

    let (s, _) = emu.call(Method::DELETE, "cde", &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = emu.get("cde", "/connectors").await;
    assert_eq!(
        list["metadata"]["total"], 1,
        "binned connectors leave the list"
    );
    let (s, g) = emu.get("cde", &path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        g["message"].as_str().unwrap().contains("is in the bin"),
        "{g}"
    );
    let state = emu.state().await;
    let binned = objects(&state, "cde")
        .iter()
        .find(|o| o["id"] == id.as_str())
        .unwrap();
    assert_eq!(binned["binned"], true);

    let (s, r) = emu.post("cde", &format!("{path}/restore"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(counter(&emu.state().await), 4);
    let (s, _) = emu.get("cde", &path).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = emu.post("cde", &format!("{path}/restore"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");
}

// ---------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn error_rate_fails_about_that_share_with_a_json_body_and_spares_other_tenants() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .control(
            "/_emulator/faults",
            json!({"tenant": "cde", "errorRate": 0.3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["tenants"]["cde"]["errorRate"], 0.3);
    let mut failed = 0;
    for _ in 0..300 {
        let (s, b) = emu.get("cde", "/connectors").await;
        if s == StatusCode::SERVICE_UNAVAILABLE {
            failed += 1;
            assert!(
                b["message"]
                    .as_str()
                    .unwrap()
                    .contains("Simulated server error for tenant 'cde'"),
                "{b}"
            );
        } else {
            assert_eq!(s, StatusCode::OK);
        }
        assert_eq!(emu.get("cde2", "/connectors").await.0, StatusCode::OK);
    }
    assert!((60..=120).contains(&failed), "{failed} of 300 failed");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let emu = Emu::start(seed()).await;
    emu.control(
        "/_emulator/faults",
        json!({"tenant": "sandbox", "rateLimit": {"retryAfterSecs": 7, "everyNth": 2}}),
    )
    .await;
    let first = emu
        .request(Method::GET, "sandbox", "/api/smart-connectors")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = emu
        .request(Method::GET, "sandbox", "/api/smart-connectors")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.headers()["retry-after"], "7");
    let body: Value = second.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("retry after 7 seconds"),
        "{body}"
    );
    // Omitted faults reset.
    emu.control("/_emulator/faults", json!({"tenant": "sandbox"}))
        .await;
    for _ in 0..4 {
        assert_eq!(
            emu.get("sandbox", "/api/smart-connectors").await.0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn hanging_and_slow_tenants_do_not_block_others() {
    let emu = Emu::start(seed()).await;
    emu.control(
        "/_emulator/faults",
        json!({"tenant": "sandbox", "hang": true}),
    )
    .await;
    emu.control(
        "/_emulator/faults",
        json!({"tenant": "studio-us", "latencyMs": 600_000}),
    )
    .await;
    let hung = emu
        .request(Method::GET, "sandbox", "/api/smart-connectors")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    let slow = emu
        .request(Method::GET, "studio-us", "/api/v1/plugins")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    // While a request hangs, other tenants answer.
    let pending = emu
        .request(Method::GET, "sandbox", "/api/smart-connectors")
        .send();
    let pending = tokio::spawn(pending);
    assert_eq!(
        emu.get("prod", "/api/smart-connectors").await.0,
        StatusCode::OK
    );
    assert_eq!(emu.get("cde", "/connectors").await.0, StatusCode::OK);
    emu.control("/_emulator/faults", json!({"tenant": "sandbox"}))
        .await;
    assert_eq!(
        emu.get("sandbox", "/api/smart-connectors").await.0,
        StatusCode::OK
    );
    // Shutting down answers the hanging request instead of waiting for it.
    let Emu { handle, .. } = emu;
    tokio::time::timeout(Duration::from_secs(30), handle.shutdown())
        .await
        .expect("shutdown does not wait for hanging requests")
        .unwrap();
    let answered = pending
        .await
        .unwrap()
        .expect("the hanging request is answered");
    assert_eq!(answered.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(body["message"], "The emulator is shutting down.");
}

#[tokio::test]
async fn seed_faults_apply_from_the_start_and_are_validated_at_run_time() {
    let mut s = seed();
    s.tenants[0].faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let emu = Emu::start(s).await;
    for _ in 0..5 {
        assert_eq!(
            emu.get("sandbox", "/api/smart-connectors").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(
        emu.get("prod", "/api/smart-connectors").await.0,
        StatusCode::OK
    );
    let state = emu.state().await;
    assert_eq!(state["tenants"]["sandbox"]["faults"]["errorRate"], 1.0);
    let (s, b) = emu
        .control("/_emulator/faults", json!({"tenant": "nope", "hang": true}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown tenant 'nope': this emulator serves sandbox, prod,"),
        "{b}"
    );
    let (s, b) = emu
        .control(
            "/_emulator/faults",
            json!({"tenant": "prod", "errorRate": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("errorRate must be between 0.0 and 1.0 (got 3)"),
        "{b}"
    );
}

#[tokio::test]
async fn a_lost_answer_comes_after_the_work_is_done() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .control(
            "/_emulator/faults",
            json!({"tenant": "cde", "loseResponse": {"operations": ["copy"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["tenants"]["cde"]["loseResponse"],
        json!({"rate": 1.0, "operations": ["copy"]})
    );
    let body = json!({
        "name": "Test Import", "type": "datasource",
        "versions": [{"config": {"secret-registrations": [{"vault_secret": "amazon/seller"}]}}]
    });
    let lost = emu
        .request(Method::POST, "cde", "/connectors/copy")
        .json(&body)
        .send()
        .await;
    let err = lost.expect_err("the connection closes without an answer");
    assert!(!err.is_connect() && !err.is_timeout(), "{err:?}");
    // The platform did the work all the same.
    let state = emu.state().await;
    let names: Vec<&str> = objects(&state, "cde")
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Test Import - Copy"]);
    // Reads and other operations are answered.
    let (s, list) = emu.get("cde", "/connectors").await;
    assert_eq!(s, StatusCode::OK);
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let (s, renamed) = emu
        .call(
            Method::PATCH,
            "cde",
            &format!("/connectors/{id}"),
            Some(json!({"name": "Test Import"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{renamed}");
    // A refused request is answered: only work done loses its answer.
    let (s, refused) = emu
        .post(
            "cde",
            "/connectors/copy",
            json!({"name": "", "type": "datasource"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{refused}");
    let counts = send(
        emu.http
            .get(format!("{}/_emulator/requests", emu.handle.url())),
    )
    .await
    .1;
    assert_eq!(counts["tenants"]["cde"]["lost"], json!({"copy": 1}));
    assert!(counts["tenants"]["cde2"].get("lost").is_none());
}

#[tokio::test]
async fn lost_answers_follow_their_rate_and_every_mutating_operation_by_default() {
    let emu = Emu::start(seed()).await;
    emu.control(
        "/_emulator/faults",
        json!({"tenant": "prod", "loseResponse": {"rate": 0.5}}),
    )
    .await;
    let mut lost = 0;
    for i in 0..60 {
        let sent = emu
            .request(Method::POST, "prod", "/api/smart-connectors/import")
            .json(&package(&format!("Lost {i}"), &format!("lost_{i}")))
            .send()
            .await;
        match sent {
            Ok(r) => assert_eq!(r.status(), StatusCode::CREATED),
            Err(_) => lost += 1,
        }
    }
    assert!((15..=45).contains(&lost), "{lost} of 60 lost");
    let state = emu.state().await;
    assert_eq!(
        objects(&state, "prod").len(),
        60,
        "every import was carried out"
    );
    assert_eq!(
        emu.get("prod", "/api/smart-connectors?page_size=500")
            .await
            .0,
        StatusCode::OK,
        "reads never lose their answer"
    );
}

#[tokio::test]
async fn activate_on_create_leaves_new_objects_on_and_touches_nothing_else() {
    let mut s = seed();
    for t in &mut s.tenants {
        t.faults.activate_on_create = true;
    }
    let emu = Emu::start(s).await;
    let (st, created) = emu
        .post(
            "prod",
            "/api/smart-connectors/import",
            package("Fresh", "fresh"),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["connector"]["active"], true);
    let id = created["connector"]["id"].as_str().unwrap().to_owned();
    let (st, dup) = emu
        .post(
            "prod",
            &format!("/api/smart-connectors/{id}/duplicate"),
            json!({"name": "Fresh Copy"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{dup}");
    assert_eq!(dup["active"], true);
    let (st, copy) = emu
        .post(
            "cde",
            "/connectors/copy",
            json!({"name": "Feed", "type": "datasource", "versions": [{"config": {}}]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{copy}");
    // The documented copy answer has no `active`; the modelled list shows the toggle.
    assert!(copy["data"].get("active").is_none(), "{copy}");
    let (_, list) = emu.get("cde", "/connectors").await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == copy["data"]["id"])
        .unwrap();
    assert_eq!(listed["active"], true, "{list}");
    // The toggle still turns off, and seeded objects keep theirs.
    let (st, off) = emu
        .call(
            Method::PATCH,
            "prod",
            &format!("/api/smart-connectors/{id}"),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{off}");
    assert_eq!(off["active"], false);
    let state = emu.state().await;
    assert_eq!(state["tenants"]["prod"]["faults"]["activateOnCreate"], true);
    assert_eq!(
        objects(&state, "sandbox")[0]["active"],
        true,
        "seeded as active"
    );
}

#[tokio::test]
async fn a_person_sets_the_vcs_credentials_of_a_copy() {
    let emu = Emu::start(seed()).await;
    let (s, copy) = emu
        .post(
            "cde",
            "/connectors/copy",
            json!({"name": "Feed", "type": "datasource", "versions": [{"config": {
                "vcs": {"authorization": "basic", "url": "https://github.com/acme/feed.git", "branch": "main",
                        "username": "ci", "token": "t0ken"}}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{copy}");
    let vcs = &copy["data"]["versions"][0]["config"]["vcs"];
    assert_eq!(vcs["authorization"], "public");
    assert_eq!(vcs["username"], Value::Null);
    let id = copy["data"]["id"].as_str().unwrap().to_owned();
    let (s, b) = emu
        .control(
            "/_emulator/vcs",
            json!({"tenant": "cde", "id": id, "username": "ci"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, read) = emu.get("cde", &format!("/connectors/{id}")).await;
    let vcs = &read["data"]["versions"][0]["config"]["vcs"];
    assert_eq!(vcs["authorization"], "basic");
    assert_eq!(vcs["username"], "ci");
    assert!(vcs.get("token").is_none(), "the token is never returned");
    // A write: the stored version moves (the documented answer carries no version).
    let state = emu.state().await;
    let stored = objects(&state, "cde")
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap();
    assert_eq!(stored["version"], 2, "{stored}");
    let (s, b) = emu
        .control(
            "/_emulator/vcs",
            json!({"tenant": "sandbox", "id": "sc_0001"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = emu
        .control("/_emulator/vcs", json!({"tenant": "cde", "id": "nope"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// State, clock, errors

#[tokio::test]
async fn state_dump_holds_every_tenant_and_object_with_platform_fields() {
    let emu = Emu::start(seed()).await;
    emu.post("cde", "/connectors/copy", vendor_copy_body())
        .await;
    let state = emu.state().await;
    assert_eq!(
        state,
        emu.handle.state_json(),
        "the handle and the endpoint agree"
    );
    assert!(state["now"].as_str().is_some());
    let sandbox = &state["tenants"]["sandbox"];
    assert_eq!(
        (
            sandbox["platform"].clone(),
            sandbox["region"].clone(),
            sandbox["business"].clone()
        ),
        (json!("kizen"), json!("us-west"), json!("acme"))
    );
    let o = &sandbox["objects"][0];
    assert_eq!(
        (o["id"].clone(), o["name"].clone(), o["active"].clone()),
        (json!("sc_0001"), json!("Orders Sync"), json!(true))
    );
    for k in [
        "status",
        "warnings",
        "draft_sql",
        "owner",
        "version",
        "updated_at",
    ] {
        assert!(o.get(k).is_some(), "kizen object has {k}");
    }
    assert_eq!(state["tenants"]["studio-us"]["platform"], "agent-studio");
    assert_eq!(objects(&state, "studio-us").len(), 3);
    assert_eq!(objects(&state, "studio-us")[1]["state"], "draft");
    assert_eq!(state["tenants"]["cde"]["platform"], "productsup-cde");
    let c = &objects(&state, "cde")[0];
    assert_eq!(
        (c["name"].clone(), c["active"].clone(), c["binned"].clone()),
        (json!("Test Import - Copy"), json!(false), json!(false))
    );
    assert_eq!(state["tenants"].as_object().unwrap().len(), 7);
    assert!(
        !state.to_string().contains("sandbox-token"),
        "tokens never appear in the dump"
    );
}

#[tokio::test]
async fn the_clock_moves_timestamps() {
    let emu = Emu::start(seed()).await;
    let (s, b) = emu
        .control("/_emulator/clock", json!({"advanceSecs": 400 * 86_400}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = emu
        .post(
            "prod",
            "/api/smart-connectors/import",
            package("Later", "later"),
        )
        .await;
    let created =
        chrono::DateTime::parse_from_rfc3339(b["connector"]["created_at"].as_str().unwrap())
            .unwrap();
    assert!(
        created.with_timezone(&chrono::Utc) > chrono::Utc::now() + chrono::TimeDelta::days(399)
    );
    let state = emu.state().await;
    let now = chrono::DateTime::parse_from_rfc3339(state["now"].as_str().unwrap()).unwrap();
    assert!(now.with_timezone(&chrono::Utc) > chrono::Utc::now() + chrono::TimeDelta::days(399));
}

#[tokio::test]
async fn unknown_tenants_objects_routes_and_bad_bodies_answer_json_errors() {
    let emu = Emu::start(seed()).await;
    let (s, b) = send(emu.http.get(format!(
        "{}/tenants/staging/api/smart-connectors",
        emu.handle.url()
    )))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown tenant 'staging': this emulator serves sandbox"),
        "{b}"
    );
    let (s, b) = emu.get("sandbox", "/api/smart-connectors/sc_0999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(b["message"].as_str().unwrap().contains("'sc_0999'"), "{b}");
    let (s, b) = emu.get("cde", "/connectors/0000-missing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        b["message"].as_str().unwrap().contains("'0000-missing'"),
        "{b}"
    );
    let (s, b) = emu.get("studio-us", "/api/smart-connectors").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("'studio-us' is on platform agent-studio; /tenants/studio-us/api/smart-connectors is part of the kizen API"),
        "{b}"
    );

    let bad = emu
        .request(Method::POST, "sandbox", "/api/smart-connectors/import")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let b: Value = bad.json().await.unwrap();
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("The request body is not valid JSON"),
        "{b}"
    );

    let huge = "x".repeat(9 * 1024 * 1024);
    let resp = emu
        .request(Method::POST, "cde", "/connectors/copy")
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let b: Value = resp.json().await.unwrap();
    assert!(
        b["message"].as_str().unwrap().contains("larger than"),
        "{b}"
    );
    let (_, list) = emu.get("cde", "/connectors").await;
    assert_eq!(list["metadata"]["total"], 0);
}

#[tokio::test]
async fn state_survives_a_restart_through_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let addr = "127.0.0.1:0".parse().unwrap();
    let handle = emulator::spawn(seed(), Some(path.clone()), addr).unwrap();
    let emu = Emu {
        handle,
        http: reqwest::Client::new(),
    };
    let (_, b) = emu
        .post(
            "prod",
            "/api/smart-connectors/import",
            package("Leads", "leads"),
        )
        .await;
    let id = b["connector"]["id"].as_str().unwrap().to_owned();
    emu.call(
        Method::PATCH,
        "prod",
        &format!("/api/smart-connectors/{id}"),
        Some(json!({"active": true})),
    )
    .await;
    emu.call(
        Method::DELETE,
        "sandbox",
        "/api/smart-connectors/sc_0001",
        None,
    )
    .await;
    let link = export_link(&emu, "studio-us", "pl_0001").await;
    let (_, copy) = emu
        .post("cde", "/connectors/copy", vendor_copy_body())
        .await;
    let before = emu.state().await;
    let Emu { handle, .. } = emu;
    handle.shutdown().await.unwrap();
    assert!(path.exists());
    assert!(!dir.path().join("state.json.tmp").exists());

    let handle = emulator::spawn(seed(), Some(path.clone()), addr).unwrap();
    let emu = Emu {
        handle,
        http: reqwest::Client::new(),
    };
    let after = emu.state().await;
    for t in ["sandbox", "prod", "studio-us", "cde"] {
        assert_eq!(objects(&before, t), objects(&after, t), "{t}");
    }
    let (_, d) = emu
        .get("prod", &format!("/api/smart-connectors/{id}"))
        .await;
    assert_eq!(
        (d["active"].clone(), d["version"].clone()),
        (json!(true), json!(2))
    );
    let (s, _) = emu
        .get(
            "cde",
            &format!("/connectors/{}", copy["data"]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Links survive too, and ids keep counting.
    let (s, b) = emu
        .post("studio-us2", "/api/v1/install", json!({"link": link}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, b) = emu
        .post(
            "prod",
            "/api/smart-connectors/import",
            package("Leads 2", "leads_2"),
        )
        .await;
    assert_eq!(b["connector"]["id"], "sc_0002");
    let (_, b) = emu
        .post(
            "sandbox",
            "/api/smart-connectors/import",
            package("Fresh", "fresh"),
        )
        .await;
    assert_eq!(
        b["connector"]["id"], "sc_0002",
        "sc_0001 was deleted; numbering continues"
    );
    let Emu { handle, .. } = emu;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_state_file_for_another_platform_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let handle =
        emulator::spawn(seed(), Some(path.clone()), "127.0.0.1:0".parse().unwrap()).unwrap();
    let emu = Emu {
        handle,
        http: reqwest::Client::new(),
    };
    emu.post(
        "prod",
        "/api/smart-connectors/import",
        package("Leads", "leads"),
    )
    .await;
    let Emu { handle, .. } = emu;
    handle.shutdown().await.unwrap();
    let mut other = seed();
    other.tenants[1].platform = Platform::ProductsupCde;
    let err =
        emulator::spawn(other, Some(path.clone()), "127.0.0.1:0".parse().unwrap()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "holds kizen objects for tenant 'prod' but the seed says it is a productsup-cde tenant"
        ),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// The command

#[tokio::test]
async fn the_command_prints_its_address_and_tenants_and_serves_them() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let seed_path = dir.path().join("seed.yaml");
    std::fs::write(
        &seed_path,
        "tenants:\n  - name: sandbox\n    platform: kizen\n    region: us-west\n    business: acme\n    token: sandbox-token\n    catalog:\n      agenticWorkflows: [Lead Router]\n    objects: []\n    faults: {}\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed_path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first
        .strip_prefix("ferry emulator listening on ")
        .expect(&first)
        .to_owned();
    let tenant_line = lines.next_line().await.unwrap().unwrap();
    assert!(
        tenant_line.contains("sandbox") && tenant_line.contains("kizen"),
        "{tenant_line}"
    );
    assert!(
        tenant_line.contains(&format!("{url}/tenants/sandbox")),
        "{tenant_line}"
    );
    let resp = reqwest::Client::new()
        .get(format!("{url}/tenants/sandbox/api/catalog"))
        .header("X-API-KEY", "sandbox-token")
        .header("X-BUSINESS-ID", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["agentic_workflows"], json!(["Lead Router"]));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_command_reports_seed_errors_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let seed_path = dir.path().join("seed.yaml");
    std::fs::write(
        &seed_path,
        "tenants:\n  - name: sandbox\n    platform: kizen\n    tokn: x\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed_path)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4:5: unknown field `tokn`",
            seed_path.display()
        )),
        "{err}"
    );
}

/// `maxInFlight` beside the request counters: the most platform requests of a tenant
/// handled at once (latency included), per tenant, set back to what is in flight by a
/// reset of the counters.
#[tokio::test]
async fn the_most_requests_in_flight_are_recorded_per_tenant() {
    let emu = Emu::start(seed()).await;
    emu.control(
        "/_emulator/faults",
        json!({"tenant": "prod", "latencyMs": 150}),
    )
    .await;
    let list = || emu.get("prod", "/api/smart-connectors");
    let (a, b, c) = tokio::join!(list(), list(), list());
    assert!([a.0, b.0, c.0].iter().all(|s| *s == StatusCode::OK));
    emu.get("sandbox", "/api/smart-connectors").await;
    let url = format!("{}/_emulator/requests", emu.handle.url());
    let counts = send(emu.http.get(&url)).await.1;
    assert_eq!(counts["maxInFlight"]["prod"], 3, "{counts:#}");
    assert_eq!(counts["maxInFlight"]["sandbox"], 1);
    assert_eq!(counts["maxInFlight"]["cde"], 0);
    assert_eq!(
        counts["tenants"]["prod"],
        json!({"total": 3, "routes": {"GET /api/smart-connectors": 3}}),
        "the per-tenant counters keep their shape"
    );
    let reset = send(emu.http.delete(&url)).await.1;
    assert_eq!(reset["maxInFlight"]["prod"], 0);
}
