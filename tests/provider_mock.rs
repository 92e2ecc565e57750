//! Provider behaviour the emulator never shows, against a scripted platform on a loopback
//! port: a platform that creates objects active (ferry must turn them off and fail), a CDE
//! copy whose rename fails (the stray copy goes to the bin), and paging that loops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry::config::Tenant;
use ferry::model::{
    Body, CdeBody, KizenPackage, KizenReferences, KizenType, PluginBody, PluginState, PluginTrigger,
};
use ferry::provider::{
    ClientOptions, CreateFrom, Error, Provider, RetryPolicy, Secret, connect_with_token,
};
use serde_json::{Value, json};

/// Answers by `(METHOD, path and query)`.
type Answers = HashMap<(String, String), Vec<(u16, Value)>>;

/// A scripted platform: `(METHOD, path)` → answers in order (the last one repeats).
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<Answers>>,
    calls: Arc<Mutex<Vec<(String, String, Value)>>>,
}

impl Script {
    fn on(&self, method: &str, path: &str, status: u16, body: Value) -> &Self {
        let key = (method.to_owned(), path.to_owned());
        self.answers
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push((status, body));
        self
    }

    fn calls(&self) -> Vec<(String, String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

async fn answer(State(script): State<Script>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    script
        .calls
        .lock()
        .unwrap()
        .push((method.clone(), path.clone(), body));
    let mut answers = script.answers.lock().unwrap();
    match answers.get_mut(&(method, path)) {
        Some(list) => {
            let (status, body) = if list.len() > 1 {
                list.remove(0)
            } else {
                list[0].clone()
            };
            let status = StatusCode::from_u16(status).unwrap();
            if status == StatusCode::NO_CONTENT {
                status.into_response()
            } else {
                (status, axum::Json(body)).into_response()
            }
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "no such route"})),
        )
            .into_response(),
    }
}

async fn platform(script: &Script) -> String {
    let app = Router::new().fallback(answer).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn provider(platform_name: &str, base: &str) -> Arc<dyn Provider> {
    let tenant: Tenant = serde_json::from_value(json!({
        "name": "prod", "platform": platform_name, "url": "emulator", "business": "acme"
    }))
    .unwrap();
    let options = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    connect_with_token(&tenant, base, Secret::new("t0ken"), &options).unwrap()
}

fn kizen_detail(id: &str, active: bool) -> Value {
    json!({
        "id": id, "name": "Orders Sync", "api_name": "orders_sync", "type": "spreadsheet",
        "active": active, "status": "Operational", "owner": "api-user",
        "live_sql": "SELECT 1", "draft_sql": "SELECT 1", "reference_data": null, "sample_file": null,
        "references": {"agentic_workflows": [], "filter_groups": [], "field_mappings": []},
        "warnings": [], "created_at": "2026-05-11T12:00:00Z", "updated_at": "2026-05-11T12:00:00Z", "version": 1
    })
}

fn package() -> Body {
    Body::Kizen(KizenPackage {
        name: "Orders Sync".to_owned(),
        api_name: "orders_sync".to_owned(),
        kind: KizenType::Spreadsheet,
        live_sql: "SELECT 1".to_owned(),
        reference_data: None,
        sample_file: None,
        references: KizenReferences::default(),
    })
}

#[tokio::test]
async fn kizen_object_created_active_is_turned_off_and_reported() {
    // An answer without `active` says nothing about the toggle: the object is read back.
    let mut answer = kizen_detail("sc_9", false);
    answer.as_object_mut().unwrap().remove("active");
    let script = Script::default();
    script
        .on(
            "POST",
            "/api/smart-connectors/import",
            201,
            json!({"result": "created", "connector": answer}),
        )
        .on(
            "GET",
            "/api/smart-connectors/sc_9",
            200,
            kizen_detail("sc_9", true),
        )
        .on(
            "PATCH",
            "/api/smart-connectors/sc_9",
            200,
            kizen_detail("sc_9", false),
        );
    let base = platform(&script).await;
    let err = provider("kizen", &base)
        .create(CreateFrom::Body(&package()))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::ActivatedByPlatform { id, deactivation_error: None, .. } if id == "sc_9"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tenant prod (kizen): import of \"Orders Sync\": the platform created sc_9 with its active toggle on; \
         ferry turned it off again. Activation is a person's decision: review sc_9 and find out why the platform \
         activated it"
    );
    let calls = script.calls();
    assert!(
        calls
            .iter()
            .any(|(m, p, _)| m == "GET" && p == "/api/smart-connectors/sc_9"),
        "read back: {calls:?}"
    );
    let patch = calls
        .iter()
        .find(|(m, _, _)| m == "PATCH")
        .expect("deactivated");
    assert_eq!(patch.2, json!({"active": false}));
    assert!(
        calls
            .iter()
            .all(|(_, _, body)| body.get("active") != Some(&json!(true))),
        "never turns a toggle on"
    );
}

#[tokio::test]
async fn failed_deactivation_tells_a_person_to_turn_it_off() {
    // The duplicate's answer shows it active: no read-back is needed to know it.
    let script = Script::default();
    script
        .on(
            "POST",
            "/api/smart-connectors/sc_1/duplicate",
            201,
            kizen_detail("sc_2", true),
        )
        .on(
            "PATCH",
            "/api/smart-connectors/sc_2",
            403,
            json!({"message": "API key may not change sc_2."}),
        );
    let base = platform(&script).await;
    let err = provider("kizen", &base)
        .duplicate("sc_1", "Orders Sync 2", None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ferry could not turn it off ("), "{text}");
    assert!(text.contains("API key may not change sc_2."), "{text}");
    assert!(text.ends_with("turn sc_2 off by hand now"), "{text}");
    let calls = script.calls();
    let duplicate = &calls[0];
    assert_eq!(
        duplicate.2,
        json!({"name": "Orders Sync 2"}),
        "without an API name the platform derives one"
    );
    assert!(
        calls.iter().all(|(m, _, _)| m != "GET"),
        "the answer carried the toggle: no read-back: {calls:?}"
    );
}

#[tokio::test]
async fn plugin_installed_active_is_turned_off() {
    let plugin = json!({
        "id": "pl_7", "name": "PTO Balance", "description": null, "state": "published",
        "trigger": "conversational", "connectors": ["Workday"], "actions": {},
        "active": true, "createdAt": "2026-05-11T12:00:00Z", "updatedAt": "2026-05-11T12:00:00Z", "version": 1
    });
    let script = Script::default();
    script
        .on(
            "POST",
            "/api/v1/templates",
            201,
            json!({"link": "http://x/install/abc", "expiresAt": "2026-05-12T12:00:00Z"}),
        )
        .on("POST", "/api/v1/install", 201, plugin)
        .on("PATCH", "/api/v1/plugins/pl_7", 200, json!({}));
    let base = platform(&script).await;
    let body = Body::AgentStudio(PluginBody {
        name: "PTO Balance".to_owned(),
        description: None,
        state: PluginState::Published,
        trigger: PluginTrigger::Conversational,
        connectors: vec!["Workday".to_owned()],
        actions: json!({}),
    });
    let err = provider("agent-studio", &base)
        .create(CreateFrom::Body(&body))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ActivatedByPlatform { id, .. } if id == "pl_7"),
        "{err:?}"
    );
    let calls = script.calls();
    let install = calls
        .iter()
        .find(|(_, p, _)| p == "/api/v1/install")
        .unwrap();
    assert_eq!(
        install.2,
        json!({"link": "http://x/install/abc", "connectors": ["Workday"], "onConflict": "fail"})
    );
    assert!(calls.iter().any(|(m, p, b)| m == "PATCH"
        && p == "/api/v1/plugins/pl_7"
        && *b == json!({"active": false})));
    assert!(
        calls.iter().all(|(m, _, _)| m != "GET"),
        "the install's answer carried the toggle: no read-back: {calls:?}"
    );
}

fn cde_connector(id: &str, name: &str) -> Value {
    json!({"message": "OK", "resource": "connector", "data": {
        "id": id, "type": "datasource", "name": name, "description": null, "flow": "default",
        "updated-at": "2026-05-11T14:12:29+02:00", "version": 1, "active": false,
        "versions": [{"config": {"vcs": {"url": "https://github.com/acme/amazon.git", "branch": "main"}}}]
    }})
}

#[tokio::test]
async fn cde_copy_whose_rename_fails_is_moved_to_the_bin() {
    let script = Script::default();
    script
        .on(
            "POST",
            "/connectors/copy",
            201,
            cde_connector("c-2", "Amazon Seller Import - Copy"),
        )
        .on(
            "PATCH",
            "/connectors/c-2",
            409,
            json!({"message": "A connector named 'Amazon Seller Import' exists."}),
        )
        .on("DELETE", "/connectors/c-2", 204, Value::Null);
    let base = platform(&script).await;
    let body = Body::ProductsupCde(CdeBody {
        name: "Amazon Seller Import".to_owned(),
        kind: "datasource".to_owned(),
        description: None,
        flow: "default".to_owned(),
        config: json!({"vcs": {"url": "https://github.com/acme/amazon.git", "branch": "main"}}),
    });
    let err = provider("productsup-cde", &base)
        .create(CreateFrom::Body(&body))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant prod (productsup-cde): rename of \"c-2\" failed: 409 Conflict: A connector named 'Amazon Seller \
         Import' exists.; the copy \"Amazon Seller Import - Copy\" (c-2) was moved to the bin"
    );
    let calls = script.calls();
    let copy = &calls[0];
    assert_eq!(
        copy.2["versions"][0]["config"]["vcs"]["url"],
        "https://github.com/acme/amazon.git"
    );
    assert_eq!(copy.2["name"], "Amazon Seller Import");
    assert!(
        calls
            .iter()
            .any(|(m, p, _)| m == "DELETE" && p == "/connectors/c-2")
    );
}

#[tokio::test]
async fn paging_that_points_backwards_is_an_error_not_a_loop() {
    let script = Script::default();
    let item = json!({"id": "c-1", "name": "A", "type": "datasource", "active": false,
                      "updated-at": "2026-05-11T14:12:29+02:00", "version": 1});
    script
        .on(
            "GET",
            "/connectors?from=0&limit=500",
            200,
            json!({"data": [item], "metadata": {"next": 100}}),
        )
        .on(
            "GET",
            "/connectors?from=100&limit=500",
            200,
            json!({"data": [item], "metadata": {"next": 0}}),
        );
    let base = platform(&script).await;
    let err = provider("productsup-cde", &base).list().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(
        err.to_string().contains("page from 100 points back to 0"),
        "{err}"
    );
}

#[tokio::test]
async fn body_of_another_platform_is_unsupported() {
    let script = Script::default();
    let base = platform(&script).await;
    let err = provider("productsup-cde", &base)
        .create(CreateFrom::Body(&package()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tenant prod (productsup-cde): copy of \"Orders Sync\" is not supported: a kizen body cannot be copied \
         into Productsup CDE"
    );
    assert!(script.calls().is_empty(), "nothing sent");
}

/// A modelled operation the tenant switched off is never called: the provider refuses it
/// with a message naming the capability, and a list without paging is one plain request.
#[tokio::test]
async fn switched_off_capabilities_are_never_called() {
    let script = Script::default();
    script.on(
        "GET",
        "/api/smart-connectors",
        200,
        json!({"count": 1, "next": null, "results": [{"id": "sc_1", "name": "Orders Sync"}]}),
    );
    let base = platform(&script).await;
    let tenant: Tenant = serde_json::from_value(json!({
        "name": "prod", "platform": "kizen", "url": "emulator", "business": "acme",
        "capabilities": {"rename": false, "apiName": false, "checks": false, "paging": false}
    }))
    .unwrap();
    let options = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    let p = connect_with_token(&tenant, &base, Secret::new("t0ken"), &options).unwrap();

    let listed = p.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].active, "absent means off");
    for err in [
        p.rename("sc_1", "Orders").await.unwrap_err(),
        p.rename_aside("sc_1", "Orders (aside)").await.unwrap_err(),
        p.recheck("sc_1").await.map(drop).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("the tenant switched off capability `"),
            "{err}"
        );
    }
    let calls = script.calls();
    assert_eq!(
        calls
            .iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect::<Vec<_>>(),
        ["GET /api/smart-connectors"],
        "one list request without paging parameters, nothing else"
    );

    // A list that names a next page cannot be read whole without paging: an error says so.
    let paged = Script::default();
    paged.on(
        "GET",
        "/api/smart-connectors",
        200,
        json!({"count": 2, "next": 2, "results": [{"id": "sc_1", "name": "Orders Sync"}]}),
    );
    let base = platform(&paged).await;
    let p = connect_with_token(&tenant, &base, Secret::new("t0ken"), &options).unwrap();
    let err = p.list().await.unwrap_err().to_string();
    assert!(
        err.contains("names a next page (2) but the tenant switched capability `paging` off"),
        "{err}"
    );
}

/// The CDE documents show no active toggle; the modelled list does. A copy the list shows
/// active is turned off and reported, like on every platform.
#[tokio::test]
async fn cde_copy_the_list_shows_active_is_turned_off_and_reported() {
    let script = Script::default();
    let copy = cde_connector("c-3", "Amazon Seller Import");
    let mut listed = copy["data"].clone();
    listed["active"] = json!(true);
    script
        .on("POST", "/connectors/copy", 201, copy)
        .on(
            "GET",
            "/connectors?from=0&limit=1",
            200,
            json!({"data": [listed], "metadata": {"next": null, "total": 1}}),
        )
        .on("PATCH", "/connectors/c-3", 200, json!({"data": {}}));
    let base = platform(&script).await;
    let body = Body::ProductsupCde(CdeBody {
        name: "Amazon Seller Import".to_owned(),
        kind: "datasource".to_owned(),
        description: None,
        flow: "default".to_owned(),
        config: json!({}),
    });
    let err = provider("productsup-cde", &base)
        .create(CreateFrom::Body(&body))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ActivatedByPlatform { .. }), "{err:?}");
    let calls = script.calls();
    assert!(
        calls.iter().any(|(m, p, b)| m == "PATCH"
            && p == "/connectors/c-3"
            && *b == json!({"active": false})),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .all(|(_, _, b)| b.get("active") != Some(&json!(true))),
        "ferry never turns a toggle on"
    );
}
