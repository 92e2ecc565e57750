//! Fixture builders for planner and renderer tests: manifests as the loader would produce
//! them, live objects as providers would list and export them, and inventory entries as
//! the state store would hold them. Not part of ferry's API.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::model::{
    Body, CdeBody, ContentHash, Desired, Kind, KizenPackage, KizenReferences, KizenType,
    LiveObject, LiveSummary, Location, PluginBody, PluginState, PluginTrigger, REVIEWED_ANNOTATION,
};

use super::types::{InventoryEntry, LiveView};

/// Builds a [`Desired`].
#[derive(Debug, Clone)]
pub struct DesiredBuilder {
    desired: Desired,
    source_hash: Option<ContentHash>,
}

/// `orders-sync` → `Orders Sync`.
fn title(connector: &str) -> String {
    connector
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn builder(connector: &str, kind: Kind, body: Body) -> DesiredBuilder {
    DesiredBuilder {
        desired: Desired {
            connector: connector.to_owned(),
            kind,
            labels: Arc::default(),
            annotations: Arc::default(),
            hash: body.content_hash(),
            body: Arc::new(body),
            source_hash: ContentHash(String::new()),
            location: Location {
                path: format!("connectors/{connector}.yaml"),
                line: 1,
                column: 1,
            },
            field_locations: Arc::default(),
            duplicate_of: None,
            files: Arc::from([]),
        },
        source_hash: None,
    }
}

/// A Kizen SmartConnector named after the connector (`orders-sync` → `Orders Sync`).
pub fn kizen(connector: &str) -> DesiredBuilder {
    let body = Body::Kizen(KizenPackage {
        name: title(connector),
        api_name: connector.replace('-', "_"),
        kind: KizenType::Spreadsheet,
        live_sql: format!("select *\nfrom {}\n", connector.replace('-', "_")),
        reference_data: None,
        sample_file: None,
        references: KizenReferences::default(),
    });
    builder(connector, Kind::SmartConnector, body)
}

/// A published, conversational Agent Studio plugin without bindings.
pub fn plugin(connector: &str) -> DesiredBuilder {
    let body = Body::AgentStudio(PluginBody {
        name: title(connector),
        description: None,
        state: PluginState::Published,
        trigger: PluginTrigger::Conversational,
        connectors: Vec::new(),
        actions: json!([{ "name": "lookup", "method": "GET" }]),
    });
    builder(connector, Kind::Plugin, body)
}

/// A Productsup CDE datasource with a public repository and no secrets.
pub fn cde(connector: &str) -> DesiredBuilder {
    let body = Body::ProductsupCde(CdeBody {
        name: title(connector),
        kind: "datasource".to_owned(),
        description: None,
        flow: "default".to_owned(),
        config: json!({
            "application": { "command": "php", "arguments": "app.php import" },
            "vcs": { "authorization": "public", "url": "https://git.example.com/import.git", "branch": "main" },
        }),
    });
    builder(connector, Kind::CdeConnector, body)
}

impl DesiredBuilder {
    fn kizen_mut(&mut self) -> &mut KizenPackage {
        match Arc::make_mut(&mut self.desired.body) {
            Body::Kizen(p) => p,
            other => panic!("a Kizen setter on a {} body", other.platform()),
        }
    }

    fn plugin_mut(&mut self) -> &mut PluginBody {
        match Arc::make_mut(&mut self.desired.body) {
            Body::AgentStudio(p) => p,
            other => panic!("a plugin setter on a {} body", other.platform()),
        }
    }

    fn cde_mut(&mut self) -> &mut CdeBody {
        match Arc::make_mut(&mut self.desired.body) {
            Body::ProductsupCde(c) => c,
            other => panic!("a CDE setter on a {} body", other.platform()),
        }
    }

    /// Tenant-side name (`spec.name`).
    pub fn name(mut self, name: &str) -> Self {
        match Arc::make_mut(&mut self.desired.body) {
            Body::Kizen(p) => p.name = name.to_owned(),
            Body::AgentStudio(p) => p.name = name.to_owned(),
            Body::ProductsupCde(c) => c.name = name.to_owned(),
        }
        self
    }

    /// Kizen Live SQL.
    pub fn sql(mut self, sql: &str) -> Self {
        self.kizen_mut().live_sql = sql.to_owned();
        self
    }

    /// Kizen reference data.
    pub fn reference_data(mut self, csv: &str) -> Self {
        self.kizen_mut().reference_data = Some(csv.to_owned());
        self
    }

    /// Kizen sample file.
    pub fn sample(mut self, csv: &str) -> Self {
        self.kizen_mut().sample_file = Some(csv.to_owned());
        self
    }

    /// Kizen references: workflows, filter groups, fields.
    pub fn references(
        mut self,
        workflows: &[&str],
        filter_groups: &[&str],
        fields: &[&str],
    ) -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        self.kizen_mut().references = KizenReferences {
            agentic_workflows: owned(workflows),
            filter_groups: owned(filter_groups),
            field_mappings: owned(fields),
        };
        self
    }

    /// Kizen `duplicateOf`.
    pub fn duplicate_of(mut self, name: &str) -> Self {
        self.desired.duplicate_of = Some(name.to_owned());
        self
    }

    /// Record a sensitive-data review.
    pub fn reviewed(mut self) -> Self {
        Arc::make_mut(&mut self.desired.annotations).insert(
            REVIEWED_ANNOTATION.to_owned(),
            "jane@platform, 2024-06-01".to_owned(),
        );
        self
    }

    /// Plugin state.
    pub fn state(mut self, state: PluginState) -> Self {
        self.plugin_mut().state = state;
        self
    }

    /// Plugin trigger.
    pub fn trigger(mut self, trigger: PluginTrigger) -> Self {
        self.plugin_mut().trigger = trigger;
        self
    }

    /// Plugin connector bindings.
    pub fn bindings(mut self, connectors: &[&str]) -> Self {
        self.plugin_mut().connectors = connectors.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// CDE secret registrations (`vault_secret` paths).
    pub fn secrets(mut self, secrets: &[&str]) -> Self {
        let registrations: Vec<_> = secrets
            .iter()
            .map(|s| json!({ "vault_secret": s }))
            .collect();
        self.cde_mut().config["secret-registrations"] = json!(registrations);
        self
    }

    /// CDE repository access (`vcs.authorization`).
    pub fn vcs_authorization(mut self, authorization: &str) -> Self {
        self.cde_mut().config["vcs"]["authorization"] = json!(authorization);
        self
    }

    /// CDE application arguments (a content change).
    pub fn arguments(mut self, arguments: &str) -> Self {
        self.cde_mut().config["application"]["arguments"] = json!(arguments);
        self
    }

    /// A fixed source hash (default: derived from the connector and the body).
    pub fn source_hash(mut self, hash: &str) -> Self {
        self.source_hash = Some(ContentHash(hash.to_owned()));
        self
    }

    /// The manifest, hashed, with field locations as the loader records them.
    pub fn build(self) -> Desired {
        let mut d = self.desired;
        d.hash = d.body.content_hash();
        d.source_hash = self.source_hash.unwrap_or_else(|| {
            ContentHash::of_json(&json!({ "connector": d.connector, "body": d.body }))
        });
        let at = |line: u64, column: u64| Location {
            path: d.location.path.clone(),
            line,
            column,
        };
        let mut fields = BTreeMap::new();
        match &*d.body {
            Body::Kizen(p) => {
                fields.insert("liveSql".to_owned(), at(7, 3));
                if p.reference_data.is_some() {
                    fields.insert("referenceData".to_owned(), at(8, 3));
                }
                if p.sample_file.is_some() {
                    fields.insert("sampleFile".to_owned(), at(9, 3));
                }
            }
            Body::AgentStudio(p) => {
                for i in 0..p.connectors.len() {
                    fields.insert(format!("connectors[{i}]"), at(9 + i as u64, 7));
                }
            }
            Body::ProductsupCde(c) => {
                let n = c
                    .config
                    .get("secret-registrations")
                    .and_then(|v| v.as_array())
                    .map_or(0, Vec::len);
                for i in 0..n {
                    fields.insert(format!("secretRegistrations[{i}]"), at(14 + i as u64, 9));
                }
            }
        }
        d.field_locations = Arc::new(fields);
        d
    }
}

/// A listed object, inactive.
pub fn summary(id: &str, name: &str, version: u64) -> LiveSummary {
    LiveSummary {
        id: id.to_owned(),
        name: name.to_owned(),
        active: false,
        updated_at: "2024-06-01T12:00:00Z".to_owned(),
        version,
        status: None,
    }
}

/// An exported object holding `body`.
pub fn object(id: &str, version: u64, body: &Body) -> LiveObject {
    LiveObject {
        summary: summary(id, body.name(), version),
        body: body.clone(),
    }
}

/// The live id fixtures give a connector.
pub fn live_id(connector: &str) -> String {
    format!("id-{connector}")
}

/// ferry's record after creating `d` as `live_id` at `version`.
pub fn entry(d: &Desired, live_id: &str, version: u64) -> InventoryEntry {
    InventoryEntry {
        connector: d.connector.clone(),
        kind: d.kind,
        live_id: live_id.to_owned(),
        name: d.body.name().to_owned(),
        applied_hash: d.hash.clone(),
        source_hash: d.source_hash.clone(),
        live_version: version,
        revision: "0a1b2c3".to_owned(),
        created_by_ferry: true,
        applied_body: None,
    }
}

/// A tenant that already holds exactly `desired` (ids from [`live_id`], version 1), with a
/// consistent inventory and nothing exported.
pub fn in_sync(desired: &[Desired]) -> (LiveView, Vec<InventoryEntry>) {
    let summaries = desired
        .iter()
        .map(|d| summary(&live_id(&d.connector), d.body.name(), 1))
        .collect();
    let inventory = desired
        .iter()
        .map(|d| entry(d, &live_id(&d.connector), 1))
        .collect();
    (LiveView::listed(summaries), inventory)
}
