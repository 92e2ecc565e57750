//! The provider clients against ferry's emulator, in-process on a loopback port: every rule
//! of `docs/platform-api.md`, seen through the [`Provider`] trait.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry::config::Tenant;
use ferry::emulator::{
    self, CatalogUpdate, EmulatorHandle, Faults, RateLimit, Seed, SeedCatalog, SeedTenant,
};
use ferry::model::{
    Body, CdeBody, CheckStatus, KizenPackage, KizenReferences, KizenType, Platform, PluginBody,
    PluginState, PluginTrigger, Warning, WarningKind,
};
use ferry::provider::{
    ClientOptions, CreateFrom, Error, Provider, RetryPolicy, Secret, connect_with_token,
    normalize_cde_config,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Fixtures

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn token_of(tenant: &str) -> String {
    format!("{tenant}-token")
}

fn tenant(name: &str, platform: Platform, region: &str, catalog: SeedCatalog) -> SeedTenant {
    let mut t = SeedTenant::new(name, platform, token_of(name));
    t.region = Some(region.to_owned());
    t.business = Some(format!("{name}-business"));
    t.catalog = catalog;
    t
}

fn start(tenants: Vec<SeedTenant>) -> EmulatorHandle {
    emulator::spawn(Seed { tenants }, None, loopback()).unwrap()
}

/// A provider for an emulated tenant, with a fast retry policy unless `options` says otherwise.
fn provider_with(
    emu: &EmulatorHandle,
    name: &str,
    platform: Platform,
    token: &str,
    options: &ClientOptions,
) -> Arc<dyn Provider> {
    let config: Tenant = serde_json::from_value(json!({
        "name": name, "platform": platform, "url": "emulator", "business": format!("{name}-business"),
    }))
    .unwrap();
    connect_with_token(&config, &emu.base_url(name), Secret::new(token), options).unwrap()
}

fn fast() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    }
}

fn provider(emu: &EmulatorHandle, name: &str, platform: Platform) -> Arc<dyn Provider> {
    provider_with(emu, name, platform, &token_of(name), &fast())
}

fn kizen_catalog() -> SeedCatalog {
    SeedCatalog {
        agentic_workflows: vec!["Lead Router".to_owned()],
        filter_groups: vec!["EU Leads".to_owned()],
        fields: vec!["contacts.email".to_owned()],
        ..SeedCatalog::default()
    }
}

fn orders_sync() -> KizenPackage {
    KizenPackage {
        name: "Orders Sync".to_owned(),
        api_name: "orders_sync".to_owned(),
        kind: KizenType::Spreadsheet,
        live_sql: "SELECT order_id, email FROM orders WHERE (status = 'open')".to_owned(),
        reference_data: Some("sku,name\nA1,Widget\n".to_owned()),
        sample_file: Some("order_id,email\n1,a@example.com\n".to_owned()),
        references: KizenReferences {
            agentic_workflows: vec!["Lead Router".to_owned()],
            filter_groups: vec!["EU Leads".to_owned()],
            field_mappings: vec!["contacts.email".to_owned()],
        },
    }
}

fn pto_balance() -> PluginBody {
    PluginBody {
        name: "PTO Balance".to_owned(),
        description: Some("Answers PTO questions".to_owned()),
        state: PluginState::Published,
        trigger: PluginTrigger::Conversational,
        connectors: vec!["Workday".to_owned()],
        actions: json!({"getBalance": {"method": "GET", "path": "/pto/{employee}"}}),
    }
}

fn workday() -> SeedCatalog {
    SeedCatalog {
        connectors: vec!["Workday".to_owned()],
        ..SeedCatalog::default()
    }
}

fn amazon_seller() -> CdeBody {
    CdeBody {
        name: "Amazon Seller Import".to_owned(),
        kind: "datasource".to_owned(),
        description: Some("Imports Amazon Seller orders".to_owned()),
        flow: "default".to_owned(),
        config: json!({
            "execution": {"execution-mode": "as-env-variables"},
            "secret-registrations": [{"vault_secret": "amazon/seller"}],
            "application": {"command": "php", "arguments": "app.php import", "health-check": "--help"},
            "vcs": {"url": "https://github.com/acme/amazon-seller.git", "branch": "main"},
            "individuals": [{
                "command-option": "host", "field-type": "input", "field-name": "Host",
                "field-required": false, "field-placeholder": "Host url", "field-description": "A url to host",
                "order": 1
            }],
            "datasource": {"categories": ["marketplaces"]}
        }),
    }
}

fn secrets(paths: &[&str]) -> SeedCatalog {
    SeedCatalog {
        secrets: paths.iter().map(|s| (*s).to_owned()).collect(),
        ..SeedCatalog::default()
    }
}

// ---------------------------------------------------------------------------------------
// Kizen

#[tokio::test]
async fn kizen_import_without_warnings_exports_what_was_imported() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let package = orders_sync();

    let created = kizen
        .create(CreateFrom::Body(&Body::Kizen(package.clone())))
        .await
        .unwrap();
    assert!(created.warnings.is_empty(), "{:?}", created.warnings);
    assert!(!created.summary.active, "import leaves the toggle off");
    assert_eq!(created.summary.name, "Orders Sync");
    assert_eq!(created.summary.status.as_deref(), Some("Operational"));

    let listed = kizen.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], created.summary);

    let exported = kizen.export(&created.id).await.unwrap();
    assert_eq!(exported.body, Body::Kizen(package));
    assert_eq!(exported.summary, created.summary);
}

#[tokio::test]
async fn kizen_import_reports_each_unresolved_reference_as_a_warning() {
    let emu = start(vec![tenant(
        "prod",
        Platform::Kizen,
        "us-west",
        SeedCatalog::default(),
    )]);
    let kizen = provider(&emu, "prod", Platform::Kizen);

    let created = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();
    let mut warnings = created.warnings.clone();
    warnings.sort();
    assert_eq!(
        warnings,
        vec![
            Warning {
                kind: WarningKind::AgenticWorkflow,
                reference: "Lead Router".to_owned()
            },
            Warning {
                kind: WarningKind::SeedingFilterGroup,
                reference: "EU Leads".to_owned()
            },
            Warning {
                kind: WarningKind::FieldReference,
                reference: "contacts.email".to_owned()
            },
        ]
    );
    assert_eq!(
        created.summary.status.as_deref(),
        Some(CheckStatus::NeedsAttention.as_str())
    );
    assert!(!created.summary.active);
}

#[tokio::test]
async fn kizen_import_of_an_existing_name_is_skipped_as_a_conflict() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let first = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();

    let mut again = orders_sync();
    again.api_name = "orders_sync_2".to_owned();
    let err = kizen
        .create(CreateFrom::Body(&Body::Kizen(again)))
        .await
        .unwrap_err();
    match &err {
        Error::Conflict {
            existing_id,
            status: None,
            ..
        } => assert_eq!(existing_id.as_deref(), Some(first.id.as_str())),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with(
            "tenant sandbox (kizen): import of \"Orders Sync\" failed: the import was skipped because a \
             SmartConnector named \"Orders Sync\" already exists"
        ),
        "{text}"
    );
    assert!(text.contains("rename or delete it first"), "{text}");
    assert_eq!(kizen.list().await.unwrap().len(), 1, "nothing created");
}

#[tokio::test]
async fn kizen_import_with_empty_sql_fails_and_creates_nothing() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let mut package = orders_sync();
    package.live_sql = "  -- nothing here\n".to_owned();

    let err = kizen
        .create(CreateFrom::Body(&Body::Kizen(package)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert!(err.field_errors().contains_key("live_sql"), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "tenant sandbox (kizen): import of \"Orders Sync\" failed: 422 Unprocessable Entity: "
        ),
        "{text}"
    );
    assert!(text.contains("live_sql"), "{text}");
    assert!(kizen.list().await.unwrap().is_empty(), "nothing created");
}

#[tokio::test]
async fn kizen_duplicate_rename_and_delete() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let original = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();

    let copy = kizen
        .duplicate(&original.id, "Orders Sync (EU)", Some("orders_sync_eu"))
        .await
        .unwrap();
    assert_ne!(copy.id, original.id);
    assert!(!copy.summary.active);
    let Body::Kizen(dup) = kizen.export(&copy.id).await.unwrap().body else {
        panic!("kizen body")
    };
    let expected = KizenPackage {
        name: "Orders Sync (EU)".to_owned(),
        api_name: "orders_sync_eu".to_owned(),
        ..orders_sync()
    };
    assert_eq!(
        dup, expected,
        "all config copied under the new name and API name"
    );

    // A second duplicate under the same name is refused.
    let err = kizen
        .duplicate(&original.id, "Orders Sync (EU)", Some("orders_sync_eu_2"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                status: Some(409),
                ..
            }
        ),
        "{err:?}"
    );

    kizen.rename(&copy.id, "Orders Sync (old)").await.unwrap();
    let names: Vec<String> = kizen
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.contains(&"Orders Sync (old)".to_owned()), "{names:?}");

    let err = kizen.rename(&copy.id, "Orders Sync").await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    kizen.delete(&copy.id).await.unwrap();
    let ids: Vec<String> = kizen
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![original.id.clone()]);
    let err = kizen.export(&copy.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!(
        "tenant sandbox (kizen): export of \"{}\" failed: 404 Not Found",
        copy.id
    )));
}

#[tokio::test]
async fn kizen_duplicate_without_an_api_name_gets_one_from_the_platform() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let original = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();
    let copy = kizen
        .duplicate(&original.id, "Orders Sync Copy", None)
        .await
        .unwrap();
    let Body::Kizen(dup) = kizen.export(&copy.id).await.unwrap().body else {
        panic!("kizen body")
    };
    assert_eq!(dup.name, "Orders Sync Copy");
    assert_eq!(dup.api_name, "orders_sync_copy");
}

#[tokio::test]
async fn kizen_replace_moves_name_and_api_name_aside_for_the_new_import() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let old = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();

    // Without moving the API name aside, the new package cannot be imported.
    kizen
        .rename(&old.id, "Orders Sync (plain rename)")
        .await
        .unwrap();
    let err = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                status: Some(409),
                ..
            }
        ),
        "{err:?}"
    );
    kizen.rename(&old.id, "Orders Sync").await.unwrap();

    // Rename aside, import the new content under the same name and API name, delete the old.
    kizen
        .rename_aside(&old.id, "Orders Sync (replaced 1a2b3c)")
        .await
        .unwrap();
    let Body::Kizen(aside) = kizen.export(&old.id).await.unwrap().body else {
        panic!("kizen body")
    };
    assert_eq!(aside.name, "Orders Sync (replaced 1a2b3c)");
    assert!(
        aside.api_name.starts_with("orders_sync__ferry_aside_"),
        "{}",
        aside.api_name
    );

    let mut changed = orders_sync();
    changed.live_sql = "SELECT order_id FROM orders".to_owned();
    let new = kizen
        .create(CreateFrom::Body(&Body::Kizen(changed.clone())))
        .await
        .unwrap();
    assert_eq!(
        kizen.export(&new.id).await.unwrap().body,
        Body::Kizen(changed)
    );
    kizen.delete(&old.id).await.unwrap();
    let ids: Vec<String> = kizen
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![new.id]);
}

#[tokio::test]
async fn kizen_failed_replace_restores_name_and_api_name() {
    let emu = start(vec![tenant(
        "sandbox",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let kizen = provider(&emu, "sandbox", Platform::Kizen);
    let old = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();

    kizen
        .rename_aside(&old.id, "Orders Sync (replaced 1a2b3c)")
        .await
        .unwrap();
    let mut broken = orders_sync();
    broken.live_sql = String::new();
    let err = kizen
        .create(CreateFrom::Body(&Body::Kizen(broken)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 422, .. }),
        "{err:?}"
    );

    kizen.restore_name(&old.id, "Orders Sync").await.unwrap();
    assert_eq!(
        kizen.export(&old.id).await.unwrap().body,
        Body::Kizen(orders_sync()),
        "as before the replace"
    );
}

#[tokio::test]
async fn kizen_recheck_clears_warnings_once_the_catalog_has_the_reference() {
    let mut catalog = kizen_catalog();
    catalog.agentic_workflows.clear();
    let emu = start(vec![tenant("prod", Platform::Kizen, "us-west", catalog)]);
    let kizen = provider(&emu, "prod", Platform::Kizen);
    let created = kizen
        .create(CreateFrom::Body(&Body::Kizen(orders_sync())))
        .await
        .unwrap();
    assert_eq!(
        created.warnings,
        vec![Warning {
            kind: WarningKind::AgenticWorkflow,
            reference: "Lead Router".to_owned()
        }]
    );

    let still = kizen.recheck(&created.id).await.unwrap();
    assert_eq!(still.status, CheckStatus::NeedsAttention);
    assert_eq!(still.warnings.len(), 1);

    emu.emulator()
        .set_catalog(
            "prod",
            CatalogUpdate {
                agentic_workflows: Some(vec!["Lead Router".to_owned()]),
                ..CatalogUpdate::default()
            },
        )
        .unwrap();
    let checked = kizen.recheck(&created.id).await.unwrap();
    assert_eq!(checked.status, CheckStatus::Operational);
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    let catalog = kizen.catalog().await.unwrap();
    assert_eq!(catalog.agentic_workflows, vec!["Lead Router".to_owned()]);
    assert_eq!(catalog.filter_groups, vec!["EU Leads".to_owned()]);
}

#[tokio::test]
async fn kizen_wrong_key_and_wrong_business() {
    let emu = start(vec![
        tenant("sandbox", Platform::Kizen, "us-west", kizen_catalog()),
        tenant("prod", Platform::Kizen, "us-west", kizen_catalog()),
    ]);
    let wrong = provider_with(&emu, "sandbox", Platform::Kizen, "not-a-key", &fast());
    let err = wrong.list().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant sandbox (kizen): list failed: 401 Unauthorized: Invalid API key.; check that the token given to \
         ferry directly holds a valid token for tenant sandbox"
    );
    assert!(!err.to_string().contains("not-a-key"));

    // The right key, but another business than the tenant's.
    let config: Tenant = serde_json::from_value(json!({
        "name": "sandbox", "platform": "kizen", "url": "emulator", "business": "prod-business",
    }))
    .unwrap();
    let other = connect_with_token(
        &config,
        &emu.base_url("sandbox"),
        Secret::new(token_of("sandbox")),
        &fast(),
    )
    .unwrap();
    let err = other.list().await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant sandbox (kizen): list failed: 403 Forbidden: API key has no access to business prod-business."
    );
}

// ---------------------------------------------------------------------------------------
// Agent Studio

#[tokio::test]
async fn agent_studio_installs_a_plugin_from_git_through_a_template() {
    let emu = start(vec![tenant(
        "dev",
        Platform::AgentStudio,
        "us-west",
        workday(),
    )]);
    let studio = provider(&emu, "dev", Platform::AgentStudio);
    let plugin = pto_balance();

    let created = studio
        .create(CreateFrom::Body(&Body::AgentStudio(plugin.clone())))
        .await
        .unwrap();
    assert!(!created.summary.active);
    assert_eq!(created.summary.name, "PTO Balance");
    assert_eq!(created.summary.status.as_deref(), Some("published"));
    let exported = studio.export(&created.id).await.unwrap();
    assert_eq!(exported.body, Body::AgentStudio(plugin));

    // The name is taken now: onConflict fail refuses a second install.
    let err = studio
        .create(CreateFrom::Body(&Body::AgentStudio(pto_balance())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                status: Some(409),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(studio.list().await.unwrap().len(), 1);
    assert_eq!(
        studio.catalog().await.unwrap().connectors,
        vec!["Workday".to_owned()]
    );
}

#[tokio::test]
async fn agent_studio_promotes_with_an_export_link_into_another_tenant() {
    let emu = start(vec![
        tenant("dev", Platform::AgentStudio, "us-west", workday()),
        tenant("prod", Platform::AgentStudio, "us-west", workday()),
    ]);
    let dev = provider(&emu, "dev", Platform::AgentStudio);
    let prod = provider(&emu, "prod", Platform::AgentStudio);
    let source = dev
        .create(CreateFrom::Body(&Body::AgentStudio(pto_balance())))
        .await
        .unwrap();

    let link = dev.export_link(&source.id).await.unwrap();
    assert!(link.contains("/install/"), "{link}");
    let connectors = vec!["Workday".to_owned()];
    let installed = prod
        .create(CreateFrom::InstallLink {
            link: &link,
            connectors: &connectors,
        })
        .await
        .unwrap();
    assert!(!installed.summary.active);
    let exported = prod.export(&installed.id).await.unwrap();
    assert_eq!(
        exported.body,
        Body::AgentStudio(pto_balance()),
        "bound to prod's Workday by name"
    );
}

#[tokio::test]
async fn agent_studio_refuses_a_link_from_another_data_center() {
    let emu = start(vec![
        tenant("dev", Platform::AgentStudio, "us-west", workday()),
        tenant("eu", Platform::AgentStudio, "eu-central", workday()),
    ]);
    let dev = provider(&emu, "dev", Platform::AgentStudio);
    let eu = provider(&emu, "eu", Platform::AgentStudio);
    let source = dev
        .create(CreateFrom::Body(&Body::AgentStudio(pto_balance())))
        .await
        .unwrap();
    let link = dev.export_link(&source.id).await.unwrap();

    let connectors = vec!["Workday".to_owned()];
    let err = eu
        .create(CreateFrom::InstallLink {
            link: &link,
            connectors: &connectors,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant eu (agent-studio): install failed: 403 Forbidden: Installation links cannot be used across data \
         centers (link: us-west, tenant: eu-central)."
    );
    assert!(eu.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn agent_studio_refuses_drafts() {
    let emu = start(vec![tenant(
        "dev",
        Platform::AgentStudio,
        "us-west",
        workday(),
    )]);
    let studio = provider(&emu, "dev", Platform::AgentStudio);
    let draft = PluginBody {
        state: PluginState::Draft,
        ..pto_balance()
    };

    let err = studio
        .create(CreateFrom::Body(&Body::AgentStudio(draft)))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert!(
        err.status().is_some_and(|s| (400..500).contains(&s)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("tenant dev (agent-studio): template upload of \"PTO Balance\" failed: "),
        "{err}"
    );
    assert!(studio.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn agent_studio_refuses_to_export_a_draft() {
    let mut dev = tenant("dev", Platform::AgentStudio, "us-west", workday());
    dev.objects.push(json!({
        "id": "pl_draft", "name": "Half Done", "description": null, "state": "draft", "trigger": "conversational",
        "connectors": [], "actions": {}, "active": false
    }));
    let emu = start(vec![dev]);
    let studio = provider(&emu, "dev", Platform::AgentStudio);
    let err = studio.export_link("pl_draft").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                status: Some(409),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tenant dev (agent-studio): export of an installation link of \"pl_draft\" failed: 409 Conflict: Plugin \
         'Half Done' is a draft: publish it before exporting."
    );
}

#[tokio::test]
async fn agent_studio_refuses_webhook_plugins() {
    let emu = start(vec![tenant(
        "dev",
        Platform::AgentStudio,
        "us-west",
        workday(),
    )]);
    let studio = provider(&emu, "dev", Platform::AgentStudio);
    let webhook = PluginBody {
        trigger: PluginTrigger::Webhook,
        ..pto_balance()
    };
    let err = studio
        .create(CreateFrom::Body(&Body::AgentStudio(webhook)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("422 Unprocessable Entity"),
        "{err}"
    );
    assert!(studio.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn agent_studio_names_the_missing_binding_by_index() {
    let emu = start(vec![tenant(
        "bare",
        Platform::AgentStudio,
        "us-west",
        SeedCatalog::default(),
    )]);
    let studio = provider(&emu, "bare", Platform::AgentStudio);
    let err = studio
        .create(CreateFrom::Body(&Body::AgentStudio(pto_balance())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.field_errors().get("connectors[0]").map(String::as_str),
        Some("Connector 'Workday' does not exist in this tenant.")
    );
    assert!(
        err.to_string()
            .contains("connectors[0]: Connector 'Workday' does not exist in this tenant."),
        "{err}"
    );
}

#[tokio::test]
async fn agent_studio_links_expire_after_24_hours() {
    let emu = start(vec![
        tenant("dev", Platform::AgentStudio, "us-west", workday()),
        tenant("prod", Platform::AgentStudio, "us-west", workday()),
    ]);
    let dev = provider(&emu, "dev", Platform::AgentStudio);
    let prod = provider(&emu, "prod", Platform::AgentStudio);
    let source = dev
        .create(CreateFrom::Body(&Body::AgentStudio(pto_balance())))
        .await
        .unwrap();
    let link = dev.export_link(&source.id).await.unwrap();

    emu.emulator().advance_clock(25 * 3600);
    let connectors = vec!["Workday".to_owned()];
    let err = prod
        .create(CreateFrom::InstallLink {
            link: &link,
            connectors: &connectors,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 410, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("410 Gone"), "{err}");
    assert!(prod.list().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Productsup CDE

#[tokio::test]
async fn cde_copy_is_renamed_to_the_manifest_name_with_a_vcs_warning() {
    let emu = start(vec![tenant(
        "cde",
        Platform::ProductsupCde,
        "eu",
        secrets(&["amazon/seller"]),
    )]);
    let cde = provider(&emu, "cde", Platform::ProductsupCde);
    let body = amazon_seller();

    let created = cde
        .create(CreateFrom::Body(&Body::ProductsupCde(body.clone())))
        .await
        .unwrap();
    assert_eq!(
        created.summary.name, "Amazon Seller Import",
        "the ' - Copy' suffix is renamed away"
    );
    assert!(!created.summary.active);
    assert_eq!(
        created.warnings,
        vec![Warning {
            kind: WarningKind::VcsCredentials,
            reference: "set VCS credentials for https://github.com/acme/amazon-seller.git"
                .to_owned(),
        }]
    );
    let listed = cde.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Amazon Seller Import");

    let exported = cde.export(&created.id).await.unwrap();
    // The manifest spells out the default execution mode; both sides compare canonically.
    let canonical = CdeBody {
        config: normalize_cde_config(&body.config),
        ..body.clone()
    };
    assert_ne!(canonical.config, body.config);
    assert_eq!(
        exported.body,
        Body::ProductsupCde(canonical),
        "normalized export equals the copied body"
    );
    assert_eq!(
        cde.catalog().await.unwrap().secrets,
        vec!["amazon/seller".to_owned()]
    );

    cde.delete(&created.id).await.unwrap();
    assert!(
        cde.list().await.unwrap().is_empty(),
        "binned connectors leave the list"
    );
}

#[tokio::test]
async fn cde_copy_onto_a_taken_name_leaves_no_stray_copy() {
    let emu = start(vec![tenant(
        "cde",
        Platform::ProductsupCde,
        "eu",
        secrets(&["amazon/seller"]),
    )]);
    let cde = provider(&emu, "cde", Platform::ProductsupCde);
    let first = cde
        .create(CreateFrom::Body(&Body::ProductsupCde(amazon_seller())))
        .await
        .unwrap();

    let err = cde
        .create(CreateFrom::Body(&Body::ProductsupCde(amazon_seller())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                status: Some(409),
                ..
            }
        ),
        "{err:?}"
    );
    let copy_id = err.scope().and_then(|scope| scope.object.clone()).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "tenant cde (productsup-cde): rename of \"{copy_id}\" failed: 409 Conflict: A connector named 'Amazon \
             Seller Import' already exists ({}); choose another name.; the copy \"Amazon Seller Import - Copy\" \
             ({copy_id}) was moved to the bin",
            first.id
        )
    );
    let listed = cde.list().await.unwrap();
    assert_eq!(listed.len(), 1, "the copy went to the bin: {listed:?}");
    assert_eq!(listed[0].id, first.id);
}

#[tokio::test]
async fn cde_missing_secret_is_rejected_with_its_registration_index() {
    let emu = start(vec![tenant(
        "cde",
        Platform::ProductsupCde,
        "eu",
        secrets(&[]),
    )]);
    let cde = provider(&emu, "cde", Platform::ProductsupCde);
    let err = cde
        .create(CreateFrom::Body(&Body::ProductsupCde(amazon_seller())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.field_errors()
            .get("secretRegistrations[0]")
            .map(String::as_str),
        Some("Secret doesn't exist in the store.")
    );
    assert_eq!(
        err.to_string(),
        "tenant cde (productsup-cde): copy of \"Amazon Seller Import\" failed: 400 Bad Request: Bad request. \
         (secretRegistrations[0]: Secret doesn't exist in the store.)"
    );
    assert!(cde.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn cde_unknown_token_and_another_tenants_token() {
    let emu = start(vec![
        tenant("cde", Platform::ProductsupCde, "eu", secrets(&[])),
        tenant("other", Platform::ProductsupCde, "eu", secrets(&[])),
    ]);
    let unknown = provider_with(&emu, "cde", Platform::ProductsupCde, "nope", &fast());
    let err = unknown.list().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "tenant cde (productsup-cde): list failed: 401 Unauthorized: You have to be authorized to access this \
             resource.; check that"
        ),
        "{err}"
    );

    let foreign = provider_with(
        &emu,
        "cde",
        Platform::ProductsupCde,
        &token_of("other"),
        &fast(),
    );
    let err = foreign.list().await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant cde (productsup-cde): list failed: 403 Forbidden: Access denied for user."
    );
}

// ---------------------------------------------------------------------------------------
// Faults

fn kizen_objects(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "id": format!("sc_{i:05}"), "name": format!("Connector {i:05}"), "api_name": format!("connector_{i:05}"),
                "type": "scheduler", "active": false, "live_sql": "SELECT 1",
                "references": {"agentic_workflows": [], "filter_groups": [], "field_mappings": []}
            })
        })
        .collect()
}

#[tokio::test]
async fn a_tenant_at_30_percent_errors_still_converges_through_retries() {
    let mut flaky = tenant("flaky", Platform::Kizen, "us-west", kizen_catalog());
    flaky.objects = kizen_objects(120);
    let emu = start(vec![flaky]);
    emu.emulator()
        .set_faults(
            Some("flaky"),
            Faults {
                error_rate: 0.3,
                ..Faults::default()
            },
        )
        .unwrap();

    // Without retries the faults show.
    let once = ClientOptions {
        retry: RetryPolicy::none(),
        ..fast()
    };
    let bare = provider_with(&emu, "flaky", Platform::Kizen, &token_of("flaky"), &once);
    let mut failures = 0;
    for _ in 0..20 {
        if let Err(err) = bare.list().await {
            assert!(
                matches!(
                    err,
                    Error::Transient {
                        status: 503,
                        attempts: 1,
                        ..
                    }
                ),
                "{err:?}"
            );
            failures += 1;
        }
    }
    assert!(failures > 0, "the fault injection is on");

    // With retries every list converges.
    let kizen = provider(&emu, "flaky", Platform::Kizen);
    for round in 0..50 {
        let listed = kizen
            .list()
            .await
            .unwrap_or_else(|err| panic!("round {round}: {err}"));
        assert_eq!(listed.len(), 120);
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limited_tenant_is_retried_after_retry_after() {
    let emu = start(vec![tenant(
        "busy",
        Platform::Kizen,
        "us-west",
        kizen_catalog(),
    )]);
    let rate_limit = RateLimit {
        retry_after_secs: 7,
        every_nth: 1,
    };
    emu.emulator()
        .set_faults(
            Some("busy"),
            Faults {
                rate_limit: Some(rate_limit),
                ..Faults::default()
            },
        )
        .unwrap();
    let kizen = provider_with(
        &emu,
        "busy",
        Platform::Kizen,
        &token_of("busy"),
        &ClientOptions::default(),
    );

    // Every request is refused: the client waits Retry-After between attempts, then gives up.
    let started = tokio::time::Instant::now();
    let err = kizen.list().await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            err,
            Error::Transient {
                status: 429,
                attempts: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(
        waited >= Duration::from_secs(4 * 7) && waited < Duration::from_secs(4 * 7 + 1),
        "waited {waited:?}"
    );

    // Every second request refused: each list converges after one wait.
    let rate_limit = RateLimit {
        retry_after_secs: 3,
        every_nth: 2,
    };
    emu.emulator()
        .set_faults(
            Some("busy"),
            Faults {
                rate_limit: Some(rate_limit),
                ..Faults::default()
            },
        )
        .unwrap();
    let started = tokio::time::Instant::now();
    for _ in 0..4 {
        kizen.list().await.unwrap();
    }
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(3), "waited {waited:?}");
    assert!(waited < Duration::from_secs(4 * 3 + 1), "waited {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_tenant_times_out_within_the_configured_limit() {
    let emu = start(vec![tenant(
        "stuck",
        Platform::ProductsupCde,
        "eu",
        secrets(&[]),
    )]);
    emu.emulator()
        .set_faults(
            Some("stuck"),
            Faults {
                hang: true,
                ..Faults::default()
            },
        )
        .unwrap();
    let options = ClientOptions {
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    };
    let cde = provider_with(
        &emu,
        "stuck",
        Platform::ProductsupCde,
        &token_of("stuck"),
        &options,
    );

    let started = tokio::time::Instant::now();
    let err = cde.list().await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { attempts: 3, .. }), "{err:?}");
    let limit = options.request_timeout * 3
        + options.retry.backoff_ceiling(1)
        + options.retry.backoff_ceiling(2);
    assert!(
        took >= options.request_timeout * 3 && took <= limit,
        "took {took:?}, limit {limit:?}"
    );
    assert!(
        err.to_string()
            .contains("no answer within 2s (after 3 attempts)"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Scale

#[tokio::test]
async fn lists_of_10000_objects_return_all_of_them() {
    const N: usize = 10_000;
    let mut kizen = tenant("k", Platform::Kizen, "us-west", kizen_catalog());
    kizen.objects = kizen_objects(N);
    let mut studio = tenant("a", Platform::AgentStudio, "us-west", workday());
    studio.objects = (0..N)
        .map(|i| {
            json!({"id": format!("pl_{i:05}"), "name": format!("Plugin {i:05}"), "state": "published",
                   "trigger": "conversational", "connectors": [], "actions": {}, "active": false})
        })
        .collect();
    let mut cde = tenant("c", Platform::ProductsupCde, "eu", secrets(&[]));
    cde.objects = (0..N)
        .map(|i| {
            json!({"id": format!("c-{i:05}"), "name": format!("Connector {i:05}"), "type": "datasource",
                   "flow": "default", "active": false, "versions": [{"config": {}}]})
        })
        .collect();
    let emu = start(vec![kizen, studio, cde]);

    for (name, platform) in [
        ("k", Platform::Kizen),
        ("a", Platform::AgentStudio),
        ("c", Platform::ProductsupCde),
    ] {
        let provider = provider(&emu, name, platform);
        let started = std::time::Instant::now();
        let listed = provider.list().await.unwrap();
        let took = started.elapsed();
        eprintln!("{platform}: listed {} objects in {took:?}", listed.len());
        assert_eq!(listed.len(), N, "{platform}");
        let mut ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), N, "{platform}: every object once");
    }
}
