//! Apply against an in-memory platform whose create fails in each way that leaves the
//! outcome unknown, checked against invariant 4: the journal entry stays open as unknown,
//! the tenant is read, what the call made is adopted, and there is never a second create
//! for one entry before the tenant has been read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::model::{Catalog, Created, LiveObject, Platform};
use crate::plan::testing;
use crate::provider::{CheckResult, Error, Scope};

/// How the next create fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// The object is made; the answer cannot be read (the issue of a CDE copy answered in
    /// a shape the client does not expect).
    Unreadable,
    /// The object is made; a gateway answers 503.
    ServerError,
    /// The object is made; no answer arrives in time.
    Timeout,
    /// The object is made and left active; the read-back finds it so.
    LeftActive,
    /// The platform refuses: nothing is made.
    Refused,
}

/// One tenant in memory. A CDE create makes `<name> - Copy` and renames it, as the copy
/// endpoint and ferry's client do.
struct Fake {
    platform: Platform,
    objects: Mutex<Vec<LiveObject>>,
    fault: Mutex<Option<Fault>>,
    creates: Mutex<usize>,
    lists: Mutex<usize>,
    /// The tenant switched the modelled rename off: renames are refused unmade.
    rename_off: Mutex<bool>,
}

impl Fake {
    fn new(platform: Platform) -> Self {
        Fake {
            platform,
            objects: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
            creates: Mutex::new(0),
            lists: Mutex::new(0),
            rename_off: Mutex::new(false),
        }
    }

    fn fail_next(&self, fault: Fault) {
        *self.fault.lock().unwrap() = Some(fault);
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.summary.name.clone())
            .collect();
        names.sort();
        names
    }

    fn scope(&self, op: Operation, object: Option<&str>) -> Box<Scope> {
        Box::new(Scope::new("prod", self.platform, op, object))
    }
}

fn renamed(body: &Body, name: &str) -> Body {
    let mut body = body.clone();
    match &mut body {
        Body::Kizen(p) => p.name = name.to_owned(),
        Body::AgentStudio(p) => p.name = name.to_owned(),
        Body::ProductsupCde(c) => c.name = name.to_owned(),
    }
    body
}

#[async_trait]
impl Provider for Fake {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn tenant(&self) -> &str {
        "prod"
    }

    async fn list(&self) -> provider::Result<Vec<LiveSummary>> {
        *self.lists.lock().unwrap() += 1;
        Ok(self
            .objects
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.summary.clone())
            .collect())
    }

    async fn export(&self, id: &str) -> provider::Result<LiveObject> {
        self.objects
            .lock()
            .unwrap()
            .iter()
            .find(|o| o.summary.id == id)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                scope: self.scope(Operation::Export, Some(id)),
                message: "gone".into(),
            })
    }

    async fn create(&self, from: CreateFrom<'_>) -> provider::Result<crate::model::Created> {
        let CreateFrom::Body(body) = from else {
            unreachable!("tests create from bodies")
        };
        let op = match self.platform {
            Platform::ProductsupCde => Operation::Copy,
            Platform::Kizen => Operation::Import,
            Platform::AgentStudio => Operation::Install,
        };
        let scope = self.scope(op, Some(body.name()));
        let fault = self.fault.lock().unwrap().take();
        if fault == Some(Fault::Refused) {
            return Err(Error::Rejected {
                scope,
                status: 422,
                message: "refused".into(),
                errors: Default::default(),
            });
        }
        *self.creates.lock().unwrap() += 1;
        let made_name = match self.platform {
            Platform::ProductsupCde => format!("{} - Copy", body.name()),
            _ => body.name().to_owned(),
        };
        let summary = {
            let mut objects = self.objects.lock().unwrap();
            let summary = LiveSummary {
                id: format!("id-{}", objects.len() + 1),
                name: made_name.clone(),
                active: fault == Some(Fault::LeftActive),
                updated_at: "2026-05-11T12:00:00Z".into(),
                version: 1,
                status: None,
            };
            objects.push(LiveObject {
                summary: summary.clone(),
                body: renamed(body, &made_name),
            });
            summary
        };
        let id = summary.id.clone();
        match fault {
            Some(Fault::Unreadable) => Err(Error::Decode {
                scope,
                reason: "connector: missing field `updated-at`".into(),
            }),
            Some(Fault::ServerError) => Err(Error::Transient {
                scope,
                attempts: 1,
                status: 503,
                message: "Service Unavailable".into(),
                retry_after: None,
            }),
            Some(Fault::Timeout) => Err(Error::Timeout {
                scope,
                attempts: 1,
                timeout: Duration::from_secs(30),
            }),
            Some(Fault::LeftActive) => {
                self.deactivate(&id).await?;
                Err(Error::ActivatedByPlatform {
                    scope,
                    id,
                    deactivation_error: None,
                })
            }
            Some(Fault::Refused) | None => {
                if made_name != body.name() {
                    self.rename(&id, body.name()).await?;
                }
                let summary = LiveSummary {
                    name: body.name().to_owned(),
                    ..summary
                };
                Ok(Created {
                    id,
                    summary,
                    warnings: Vec::new(),
                })
            }
        }
    }

    async fn duplicate(&self, id: &str, _: &str, _: Option<&str>) -> provider::Result<Created> {
        Err(Error::unsupported(
            *self.scope(Operation::Duplicate, Some(id)),
            "not in these tests",
        ))
    }

    async fn rename(&self, id: &str, new_name: &str) -> provider::Result<()> {
        if *self.rename_off.lock().unwrap() {
            return Err(Error::switched_off(
                *self.scope(Operation::Rename, Some(id)),
                crate::capability::Capability::Rename,
            ));
        }
        let mut objects = self.objects.lock().unwrap();
        let o = objects.iter_mut().find(|o| o.summary.id == id).unwrap();
        o.summary.name = new_name.to_owned();
        o.summary.version += 1;
        o.body = renamed(&o.body, new_name);
        Ok(())
    }

    async fn delete(&self, id: &str) -> provider::Result<()> {
        self.objects.lock().unwrap().retain(|o| o.summary.id != id);
        Ok(())
    }

    async fn deactivate(&self, id: &str) -> provider::Result<()> {
        let mut objects = self.objects.lock().unwrap();
        let o = objects.iter_mut().find(|o| o.summary.id == id).unwrap();
        o.summary.active = false;
        Ok(())
    }

    async fn recheck(&self, id: &str) -> provider::Result<CheckResult> {
        Err(Error::unsupported(
            *self.scope(Operation::Recheck, Some(id)),
            "none",
        ))
    }

    async fn export_link(&self, id: &str) -> provider::Result<String> {
        Err(Error::unsupported(
            *self.scope(Operation::ExportLink, Some(id)),
            "none",
        ))
    }

    async fn catalog(&self) -> provider::Result<Catalog> {
        Ok(Catalog::default())
    }
}

/// A plan creating `d` in tenant `prod`, predicting `expected`.
fn create_plan(d: &crate::model::Desired, platform: Platform, expected: Vec<Warning>) -> Plan {
    Plan {
        tenant: "prod".into(),
        platform,
        revision: Some("rev1".into()),
        actions: vec![Action {
            connector: d.connector.clone(),
            kind: d.kind,
            name: d.body.name().to_owned(),
            op: Op::Create {
                body: d.body.clone(),
                hash: d.hash.clone(),
                source_hash: d.source_hash.clone(),
                via: CreateVia::Copy,
                expected_warnings: expected,
            },
            reason: None,
            modelled: Vec::new(),
        }],
        drift: Vec::new(),
        tests: None,
    }
}

async fn run(fake: &Fake, store: &Store, plan: &Plan) -> ApplyReport {
    let peers = HashMap::new();
    let locations = HashMap::new();
    let ctx = ApplyContext {
        provider: fake,
        store,
        revision: "rev1",
        peers: &peers,
        locations: &locations,
        live: &[],
        warnings: WarningSource::Predicted,
        concurrency: 4,
    };
    apply(&ctx, plan).await
}

fn open_entries(store: &Store) -> Vec<journal::Entry> {
    store.call_blocking(|c| journal::open(c, "prod")).unwrap()
}

fn inventory_of(store: &Store) -> Vec<InventoryRow> {
    store.call_blocking(|c| inventory::list(c, "prod")).unwrap()
}

fn vcs_warning() -> Warning {
    Warning::vcs_credentials(
        &serde_json::json!({"vcs": {"url": "https://git.example.com/import.git"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn an_unreadable_copy_answer_is_settled_by_adopting_the_copy() {
    let fake = Fake::new(Platform::ProductsupCde);
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::cde("test-import").build();
    fake.fail_next(Fault::Unreadable);
    let report = run(
        &fake,
        &store,
        &create_plan(&d, Platform::ProductsupCde, vec![vcs_warning()]),
    )
    .await;

    let r = &report.results[0];
    assert_eq!(r.outcome, Outcome::Warning, "{r:?}");
    assert_eq!(r.warnings, vec![vcs_warning()]);
    let message = r.message.as_deref().unwrap();
    assert!(
        message.contains("missing field `updated-at`")
            && message.contains("settled by reading the tenant: adopted id-1"),
        "{message}"
    );
    assert_eq!(
        fake.names(),
        ["Test Import"],
        "renamed from `Test Import - Copy`"
    );
    assert_eq!(*fake.creates.lock().unwrap(), 1);
    let rows = inventory_of(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].live_id.as_str(), rows[0].name.as_str()),
        ("id-1", "Test Import")
    );
    assert_eq!(rows[0].applied_hash, d.hash);
    assert!(open_entries(&store).is_empty());
    let open = store
        .call_blocking(|c| warnings::for_tenant(c, "prod"))
        .unwrap();
    assert_eq!(open.len(), 1, "the predicted warning is recorded");
}

#[tokio::test]
async fn with_rename_off_an_unreadable_copy_answer_adopts_the_copy_under_its_own_name() {
    let fake = Fake::new(Platform::ProductsupCde);
    *fake.rename_off.lock().unwrap() = true;
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::cde("test-import").build();
    fake.fail_next(Fault::Unreadable);
    let report = run(
        &fake,
        &store,
        &create_plan(&d, Platform::ProductsupCde, vec![vcs_warning()]),
    )
    .await;

    let message = report.results[0].message.as_deref().unwrap();
    assert!(
        message.contains("settled by reading the tenant: adopted id-1")
            && message.contains("rename it by hand"),
        "{message}"
    );
    assert_eq!(fake.names(), ["Test Import - Copy"], "nothing binned");
    assert_eq!(*fake.creates.lock().unwrap(), 1);
    let rows = inventory_of(&store);
    assert_eq!(
        (rows[0].live_id.as_str(), rows[0].name.as_str()),
        ("id-1", "Test Import - Copy")
    );
    assert!(open_entries(&store).is_empty());
}

#[tokio::test]
async fn a_503_to_a_create_is_settled_not_repeated() {
    let fake = Fake::new(Platform::Kizen);
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::kizen("orders-sync").build();
    fake.fail_next(Fault::ServerError);
    let report = run(&fake, &store, &create_plan(&d, Platform::Kizen, vec![])).await;
    assert_eq!(report.results[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(fake.names(), ["Orders Sync"]);
    assert_eq!(*fake.creates.lock().unwrap(), 1);
    assert_eq!(inventory_of(&store)[0].live_id, "id-1");
    assert!(open_entries(&store).is_empty());
}

#[tokio::test]
async fn a_refused_create_closes_its_entry_and_makes_nothing() {
    let fake = Fake::new(Platform::Kizen);
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::kizen("orders-sync").build();
    fake.fail_next(Fault::Refused);
    let report = run(&fake, &store, &create_plan(&d, Platform::Kizen, vec![])).await;
    assert_eq!(report.results[0].outcome, Outcome::Failed);
    assert_eq!(*fake.lists.lock().unwrap(), 0, "a refusal needs no read");
    assert!(fake.names().is_empty());
    assert!(open_entries(&store).is_empty());
    assert!(inventory_of(&store).is_empty());
}

#[tokio::test]
async fn after_a_timeout_nothing_is_created_again_before_the_tenant_is_read() {
    let fake = Fake::new(Platform::ProductsupCde);
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::cde("test-import").build();
    let plan = create_plan(&d, Platform::ProductsupCde, vec![]);
    fake.fail_next(Fault::Timeout);
    let first = run(&fake, &store, &plan).await;
    assert_eq!(first.results[0].outcome, Outcome::Failed);
    assert!(
        first.results[0]
            .message
            .as_deref()
            .unwrap()
            .contains("the outcome is unknown"),
        "{first:?}"
    );
    let open = open_entries(&store);
    assert_eq!(open.len(), 1);
    assert!(
        open[0].payload["unknown"]
            .as_str()
            .unwrap()
            .contains("no answer within 30s")
    );

    // The same plan again (as if made before recovery ran): not attempted.
    let again = run(&fake, &store, &plan).await;
    assert_eq!(again.results[0].outcome, Outcome::Failed);
    assert!(
        again.results[0]
            .message
            .as_deref()
            .unwrap()
            .starts_with("not attempted: the outcome of an earlier create"),
        "{again:?}"
    );
    assert_eq!(*fake.creates.lock().unwrap(), 1);

    let notes = crate::recovery::recover("prod", &fake, &store)
        .await
        .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("adopted id-1"), "{notes:?}");
    assert_eq!(fake.names(), ["Test Import"]);
    assert_eq!(inventory_of(&store)[0].live_id, "id-1");
    assert!(open_entries(&store).is_empty());
    assert_eq!(*fake.creates.lock().unwrap(), 1);
}

#[tokio::test]
async fn an_object_left_active_is_recorded_off_and_reported() {
    let fake = Fake::new(Platform::Kizen);
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::kizen("orders-sync").build();
    fake.fail_next(Fault::LeftActive);
    let report = run(&fake, &store, &create_plan(&d, Platform::Kizen, vec![])).await;
    let r = &report.results[0];
    assert_eq!(r.outcome, Outcome::Failed, "activation is reported: {r:?}");
    assert!(
        r.message
            .as_deref()
            .unwrap()
            .contains("with its active toggle on"),
        "{r:?}"
    );
    assert_eq!(r.live_id.as_deref(), Some("id-1"));
    assert!(
        fake.objects
            .lock()
            .unwrap()
            .iter()
            .all(|o| !o.summary.active)
    );
    assert_eq!(
        inventory_of(&store)[0].live_id,
        "id-1",
        "ferry's object, recorded"
    );
    assert!(open_entries(&store).is_empty());
}

#[tokio::test]
async fn a_copy_with_other_content_is_never_adopted() {
    let fake = Fake::new(Platform::ProductsupCde);
    let store = Store::in_memory(&[]).unwrap();
    let d = testing::cde("test-import").build();
    // A person's own copy under the same name, with other content.
    let other = testing::cde("test-import")
        .vcs_authorization("basic")
        .build();
    fake.objects.lock().unwrap().push(LiveObject {
        summary: LiveSummary {
            id: "person-1".into(),
            name: "Test Import - Copy".into(),
            active: false,
            updated_at: "2026-05-11T12:00:00Z".into(),
            version: 1,
            status: None,
        },
        body: renamed(&other.body, "Test Import - Copy"),
    });
    let id = store
        .call_blocking(|c| {
            journal::begin(
                c,
                "prod",
                "test-import",
                "create",
                "create",
                &serde_json::json!({"name": "Test Import", "kind": d.kind, "hash": d.hash, "source_hash": d.source_hash}),
            )
        })
        .unwrap();
    let notes = crate::recovery::recover("prod", &fake, &store)
        .await
        .unwrap();
    assert!(notes[0].contains("had not happened"), "{notes:?}");
    assert_eq!(fake.names(), ["Test Import - Copy"], "untouched");
    assert!(inventory_of(&store).is_empty());
    assert!(open_entries(&store).iter().all(|e| e.id != id));
}

/// Connectors in sync whose source changed without changing content: the new source hash
/// counts as applied cleanly (promotion reads it), except for a connector with an open
/// warning; the record follows the new hash.
#[tokio::test]
async fn connectors_in_sync_record_their_new_source_as_clean_unless_warned() {
    let store = Store::in_memory(&[]).unwrap();
    let fake = Fake::new(Platform::Kizen);
    store
        .call_blocking(|c| {
            for name in ["orders", "refunds"] {
                inventory::upsert(c, "prod", &InventoryRow::test(name))?;
            }
            warnings::set(c, "prod", "refunds", "live-refunds", &[vcs_warning()])
        })
        .unwrap();
    let noop = |connector: &str, hash: &str| Action {
        connector: connector.into(),
        kind: Kind::SmartConnector,
        name: connector.to_uppercase(),
        op: Op::Noop {
            live_id: format!("live-{connector}"),
            source_hash: ContentHash(hash.repeat(64)),
            observed_version: None,
            applied_hash: None,
        },
        reason: None,
        modelled: Vec::new(),
    };
    let plan = Plan {
        actions: vec![noop("orders", "c"), noop("refunds", "e")],
        ..create_plan(&testing::kizen("orders").build(), Platform::Kizen, vec![])
    };
    let report = run(&fake, &store, &plan).await;
    assert_eq!((report.in_sync, report.results.len()), (2, 0));
    let clean = store.call_blocking(|c| clean::hashes(c, "prod")).unwrap();
    assert!(clean.contains(&ContentHash("c".repeat(64))), "{clean:?}");
    assert!(
        !clean.contains(&ContentHash("e".repeat(64))),
        "an open warning keeps it from counting as clean: {clean:?}"
    );
    let sources: Vec<String> = inventory_of(&store)
        .into_iter()
        .map(|r| r.source_hash.0[..1].to_owned())
        .collect();
    assert_eq!(sources, ["c", "e"]);
    assert_eq!(*fake.creates.lock().unwrap(), 0, "nothing was created");
}
