//! The Kizen SmartConnector client.
//!
//! This module owns the mapping between Kizen's SmartConnector API (`/api/smart-connectors`,
//! `/api/catalog`, headers `X-API-KEY` and `X-BUSINESS-ID`) and the [`Provider`] trait.
//! It must not decide what to change and must never set `active: true`.
//!
//! Export reads the detail (`GET /api/smart-connectors/{id}`), which holds everything of
//! the export package (name, API name, type, Live SQL, reference data, sample file,
//! references) plus the summary fields, in one call. The Draft SQL, owner, status,
//! warnings and timestamps are server-owned and never part of the [`KizenPackage`].
//!
//! Kizen documents export, import and duplication as UI actions and no management API, so
//! every path and field here is modelled. Readers are tolerant all the same: unknown fields
//! are ignored; `id` and `name` (and, to export, `api_name`, `type` and `live_sql`) are
//! required and a missing one is an error naming the field and the request; `active`
//! absent means off; `updated_at` absent is empty; `version` absent falls back to a
//! fingerprint of `name` and `updated_at` (see [`crate::model::change_marker`]). The
//! modelled `PATCH` of a name, the `PATCH` of an API name and the re-check are the
//! capabilities `rename`, `apiName` and `checks`.
//!
//! An import or duplicate answers with the new connector's detail. When that answer
//! carries `active`, ferry takes the object from it (no read-back) and enforces the active
//! guard on it; an answer without `active` is not taken as "off": the object is read back
//! (`GET …/{id}`) first, as for every create before.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::credentials::Credentials;
use super::error::{Error, Operation, Result, Scope};
use super::guard::{answered_or_read_back, created};
use super::http::{Endpoint, HttpClient, Request};
use super::paging;
use super::{CheckResult, CreateFrom, Provider};
use crate::capability::{Capability, CapabilitySet};
use crate::encode;
use crate::model::{
    Body, Catalog, CheckStatus, ContentHash, Created, KizenPackage, KizenReferences, KizenType,
    LiveObject, LiveSummary, Platform, Warning, version_or_marker,
};

/// Page size of list calls (the API's maximum).
const PAGE_SIZE: u32 = 500;

/// Where the platform keeps its objects: `{COLLECTION}/{id}`.
const COLLECTION: &str = "/api/smart-connectors";

/// A Kizen business reached through its SmartConnector API.
#[derive(Debug)]
pub struct KizenClient {
    api: Endpoint,
    region: Option<String>,
}

impl KizenClient {
    /// A client for `tenant` at `base_url`. Sends the token as `X-API-KEY` and the business
    /// as `X-BUSINESS-ID`, taken from the `X-BUSINESS-ID` header source or else the tenant's
    /// `business`; other configured headers are sent as given.
    ///
    /// # Errors
    /// [`Error::Credentials`] when no business is known, [`Error::InvalidUrl`] for a bad URL.
    pub fn new(
        base_url: &str,
        tenant: &str,
        credentials: &Credentials,
        region: Option<String>,
        http: HttpClient,
    ) -> Result<Self> {
        let business = match (credentials.header("X-BUSINESS-ID"), &credentials.business) {
            (Some(header), _) => header.clone(),
            (None, Some(business)) => business.as_str().into(),
            (None, None) => {
                return Err(Error::Credentials {
                    tenant: tenant.to_owned(),
                    problem: "Kizen needs a business id: set the tenant's business or auth.headers.X-BUSINESS-ID"
                        .to_owned(),
                });
            }
        };
        let mut headers = vec![
            ("X-API-KEY", &credentials.token),
            ("X-BUSINESS-ID", &business),
        ];
        headers.extend(
            credentials
                .headers
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("X-BUSINESS-ID"))
                .map(|(name, value)| (name.as_str(), value)),
        );
        let api = Endpoint::new(
            base_url,
            tenant,
            Platform::Kizen,
            headers,
            &credentials.token_origin,
            http,
        )?;
        Ok(KizenClient { api, region })
    }

    /// This client with only `capabilities` of the modelled operations.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: CapabilitySet) -> Self {
        self.api.capabilities = capabilities;
        self
    }

    /// The tenant's data center, if configured.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Enforce the active guard on a new object and build [`Created`]: from the create's
    /// answer when it carries the object's `active` flag, else from a read-back.
    async fn finish_create(&self, scope: &Scope, answer: Detail) -> Result<Created> {
        let warnings = answer.warnings.clone();
        let id = answer.id.clone();
        let read = answered_or_read_back(&self.api, COLLECTION, &id, answer.active, answer);
        let summary = read.await?.summary();
        created(self, scope, summary, warnings).await
    }

    async fn import(&self, package: &KizenPackage) -> Result<Created> {
        let scope = self.api.scope(Operation::Import, Some(&package.name));
        let body =
            serde_json::to_value(package).map_err(|err| Error::decode(&scope, err.to_string()))?;
        let req = Request::post("/api/smart-connectors/import", body).not_idempotent();
        let reply = self.api.send(&scope, req).await?;
        let outcome: ImportOutcome = reply.json(&scope)?;
        match outcome {
            ImportOutcome::Created { connector } => self.finish_create(&scope, *connector).await,
            ImportOutcome::Skipped {
                reason,
                existing_id,
            } => {
                let existing = existing_id
                    .as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default();
                let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
                Err(Error::Conflict {
                    scope: Box::new(scope),
                    status: None,
                    message: format!(
                        "the import was skipped because a SmartConnector named \"{}\" already exists{existing}{reason}; \
                         rename or delete it first, or set the tenant's onConflict to adopt or replace",
                        package.name
                    ),
                    existing_id,
                })
            }
            ImportOutcome::Failed { message, errors } => Err(Error::Rejected {
                scope: Box::new(scope),
                status: reply.status.as_u16(),
                message: message
                    .unwrap_or_else(|| "the platform reported a failed import".to_owned()),
                errors: errors.unwrap_or_default(),
            }),
        }
    }
}

#[async_trait]
impl Provider for KizenClient {
    fn platform(&self) -> Platform {
        Platform::Kizen
    }

    fn tenant(&self) -> &str {
        self.api.tenant()
    }

    fn rate_limited(&self) -> u64 {
        self.api.rate_limited()
    }

    async fn list(&self) -> Result<Vec<LiveSummary>> {
        let scope = self.api.scope(Operation::List, None);
        self.api.list_all::<Page>(&scope).await
    }

    async fn export(&self, id: &str) -> Result<LiveObject> {
        let scope = self.api.scope(Operation::Export, Some(id));
        let detail: Detail = self.api.get_object(&scope, COLLECTION, id).await?;
        let summary = detail.summary();
        Ok(LiveObject {
            summary,
            body: Body::Kizen(detail.into_package()),
        })
    }

    async fn create(&self, from: CreateFrom<'_>) -> Result<Created> {
        match from {
            CreateFrom::Body(Body::Kizen(package)) => self.import(package).await,
            CreateFrom::Body(other) => Err(Error::unsupported(
                self.api.scope(Operation::Import, Some(other.name())),
                format!("a {} body cannot be imported into Kizen", other.platform()),
            )),
            CreateFrom::InstallLink { .. } => Err(Error::unsupported(
                self.api.scope(Operation::Install, None),
                "Kizen has no installation links; import a package instead",
            )),
        }
    }

    async fn duplicate(
        &self,
        source_id: &str,
        name: &str,
        api_name: Option<&str>,
    ) -> Result<Created> {
        let scope = self.api.scope(Operation::Duplicate, Some(source_id));
        // Without an API name the platform derives a free one from the name.
        let body = match api_name {
            Some(api_name) => json!({ "name": name, "api_name": api_name }),
            None => json!({ "name": name }),
        };
        let path = format!("{COLLECTION}/{}/duplicate", encode::component(source_id));
        let req = Request::post(path, body).not_idempotent();
        let detail: Detail = self.api.json(&scope, req).await?;
        self.finish_create(&scope, detail).await
    }

    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.api.rename_object(COLLECTION, id, new_name).await
    }

    async fn rename_aside(&self, id: &str, aside_name: &str) -> Result<()> {
        let scope = self.api.scope(Operation::Rename, Some(id));
        self.api.require(&scope, Capability::Rename)?;
        self.api.require(&scope, Capability::ApiName)?;
        let current: Detail = self.api.get_object(&scope, COLLECTION, id).await?;
        let api_name = aside_api_name(&current.api_name, aside_name);
        let body = json!({ "name": aside_name, "api_name": api_name });
        self.api
            .patch_object(Operation::Rename, COLLECTION, id, body)
            .await
    }

    async fn restore_name(&self, id: &str, name: &str) -> Result<()> {
        let scope = self.api.scope(Operation::Rename, Some(id));
        self.api.require(&scope, Capability::Rename)?;
        let current: Detail = self.api.get_object(&scope, COLLECTION, id).await?;
        let body = match original_api_name(&current.api_name) {
            Some(original) => {
                self.api.require(&scope, Capability::ApiName)?;
                json!({ "name": name, "api_name": original })
            }
            None => json!({ "name": name }),
        };
        self.api
            .patch_object(Operation::Rename, COLLECTION, id, body)
            .await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.api.delete_object(COLLECTION, id).await
    }

    async fn deactivate(&self, id: &str) -> Result<()> {
        self.api.deactivate_object(COLLECTION, id).await
    }

    async fn recheck(&self, id: &str) -> Result<CheckResult> {
        let scope = self.api.scope(Operation::Recheck, Some(id));
        self.api.require(&scope, Capability::Checks)?;
        let req = Request::post(
            format!("{COLLECTION}/{}/checks", encode::component(id)),
            json!({}),
        );
        let checks: Checks = self.api.json(&scope, req).await?;
        Ok(CheckResult {
            status: checks.status,
            warnings: checks.warnings,
        })
    }

    async fn export_link(&self, id: &str) -> Result<String> {
        Err(Error::unsupported(
            self.api.scope(Operation::ExportLink, Some(id)),
            "Kizen has no installation links; ferry exports the package instead",
        ))
    }

    async fn catalog(&self) -> Result<Catalog> {
        let scope = self.api.scope(Operation::Catalog, None);
        let catalog: KizenCatalog = self.api.json(&scope, Request::get("/api/catalog")).await?;
        Ok(Catalog {
            agentic_workflows: catalog.agentic_workflows,
            filter_groups: catalog.filter_groups,
            fields: catalog.fields,
            ..Catalog::default()
        })
    }
}

/// What separates the original API name from the aside tag: `orders_sync__ferry_aside_1a2b3c4d`.
const ASIDE_MARKER: &str = "__ferry_aside_";

/// The API name a connector carries while it is moved aside: its original API name, the
/// marker, and a tag derived from the aside name (so two asides never collide).
pub(crate) fn aside_api_name(current: &str, aside_name: &str) -> String {
    let original = original_api_name(current).unwrap_or(current);
    let tag = ContentHash::of_json(&serde_json::Value::String(aside_name.to_owned()));
    format!("{original}{ASIDE_MARKER}{}", &tag.short()[..8])
}

/// The original API name of a connector moved aside, `None` when it is not aside.
pub(crate) fn original_api_name(api_name: &str) -> Option<&str> {
    api_name
        .split_once(ASIDE_MARKER)
        .map(|(original, _)| original)
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<u64>,
    results: Vec<Summary>,
}

impl paging::Page for Page {
    type Item = LiveSummary;
    type Token = u64;

    fn first() -> u64 {
        1
    }

    fn path(page: &u64) -> String {
        format!("{COLLECTION}?page={page}&page_size={PAGE_SIZE}")
    }

    fn unpaged_path() -> String {
        COLLECTION.to_owned()
    }

    fn describe(page: &u64) -> String {
        format!("page {page}")
    }

    fn into_parts(self, _: &Scope) -> Result<paging::Parts<LiveSummary, u64>> {
        Ok(paging::Parts {
            items: self.results.into_iter().map(Summary::into_live).collect(),
            next: self.next,
        })
    }
}

#[derive(Deserialize)]
struct Summary {
    id: String,
    name: String,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    updated_at: String,
    #[serde(default)]
    version: Option<u64>,
}

impl Summary {
    fn into_live(self) -> LiveSummary {
        LiveSummary {
            version: version_or_marker(self.version, &self.name, UPDATED_KEY, &self.updated_at),
            id: self.id,
            name: self.name,
            active: self.active,
            updated_at: self.updated_at,
            status: self.status,
        }
    }
}

/// How the platform spells the update time in what the change marker fingerprints.
const UPDATED_KEY: &str = "updated_at";

/// `references` as the platform sends it (unknown fields tolerated, unlike manifests).
#[derive(Deserialize, Default)]
struct References {
    #[serde(default)]
    agentic_workflows: Vec<String>,
    #[serde(default)]
    filter_groups: Vec<String>,
    #[serde(default)]
    field_mappings: Vec<String>,
}

#[derive(Deserialize)]
struct Detail {
    id: String,
    name: String,
    api_name: String,
    #[serde(rename = "type")]
    kind: KizenType,
    /// Absent means off; a create's answer without it is read back.
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    status: Option<String>,
    live_sql: String,
    #[serde(default)]
    reference_data: Option<String>,
    #[serde(default)]
    sample_file: Option<String>,
    #[serde(default)]
    references: References,
    #[serde(default)]
    warnings: Vec<Warning>,
    #[serde(default)]
    updated_at: String,
    #[serde(default)]
    version: Option<u64>,
}

impl Detail {
    fn summary(&self) -> LiveSummary {
        LiveSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            active: self.active.unwrap_or(false),
            updated_at: self.updated_at.clone(),
            version: version_or_marker(self.version, &self.name, UPDATED_KEY, &self.updated_at),
            status: self.status.clone(),
        }
    }

    fn into_package(self) -> KizenPackage {
        KizenPackage {
            name: self.name,
            api_name: self.api_name,
            kind: self.kind,
            live_sql: self.live_sql,
            reference_data: self.reference_data,
            sample_file: self.sample_file,
            references: KizenReferences {
                agentic_workflows: self.references.agentic_workflows,
                filter_groups: self.references.filter_groups,
                field_mappings: self.references.field_mappings,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
enum ImportOutcome {
    Created {
        connector: Box<Detail>,
    },
    Skipped {
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        existing_id: Option<String>,
    },
    Failed {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        errors: Option<std::collections::BTreeMap<String, String>>,
    },
}

#[derive(Deserialize)]
struct Checks {
    status: CheckStatus,
    #[serde(default)]
    warnings: Vec<Warning>,
}

#[derive(Deserialize)]
struct KizenCatalog {
    #[serde(default)]
    agentic_workflows: Vec<String>,
    #[serde(default)]
    filter_groups: Vec<String>,
    #[serde(default)]
    fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_move_aside_and_back() {
        let aside = aside_api_name("orders_sync", "Orders Sync (replaced 1a2b)");
        assert!(aside.starts_with("orders_sync__ferry_aside_"), "{aside}");
        assert_eq!(aside.len(), "orders_sync__ferry_aside_".len() + 8);
        assert_eq!(original_api_name(&aside), Some("orders_sync"));
        assert_eq!(
            aside_api_name(&aside, "Orders Sync (replaced 1a2b)"),
            aside,
            "moving aside again is stable"
        );
        assert_ne!(aside_api_name("orders_sync", "other"), aside);
        assert_eq!(original_api_name("orders_sync"), None);
    }

    #[test]
    fn fields_the_platform_may_not_send_are_optional_and_unknown_ones_ignored() {
        let detail: Detail = serde_json::from_value(json!({
            "id": "sc_1", "name": "Orders Sync", "api_name": "orders_sync", "type": "webhook",
            "live_sql": "SELECT 1", "something_new": {"nested": true}
        }))
        .unwrap();
        let summary: Summary =
            serde_json::from_value(json!({"id": "sc_1", "name": "Orders Sync"})).unwrap();
        let (from_detail, from_list) = (detail.summary(), summary.into_live());
        assert!(!from_detail.active);
        assert_eq!(from_detail.updated_at, "");
        assert_eq!(
            from_detail.version, from_list.version,
            "list and detail give one marker"
        );
        let renamed: Summary =
            serde_json::from_value(json!({"id": "sc_1", "name": "Orders"})).unwrap();
        assert_ne!(renamed.into_live().version, from_list.version);
        let given: Summary =
            serde_json::from_value(json!({"id": "sc_1", "name": "Orders", "version": 4})).unwrap();
        assert_eq!(given.into_live().version, 4);
    }

    #[test]
    fn detail_becomes_a_package_without_the_draft() {
        let detail: Detail = serde_json::from_value(json!({
            "id": "sc_0001", "name": "Orders Sync", "api_name": "orders_sync", "type": "spreadsheet",
            "active": false, "status": "Operational (Needs Attention)", "owner": "api-user",
            "live_sql": "SELECT 1", "draft_sql": "SELECT 2",
            "reference_data": "sku\n1", "sample_file": null,
            "references": {"agentic_workflows": ["Lead Router"], "filter_groups": [], "field_mappings": ["contacts.email"]},
            "warnings": [{"kind": "agentic-workflow", "reference": "Lead Router"}],
            "created_at": "2026-05-11T12:00:00Z", "updated_at": "2026-05-11T12:00:00Z", "version": 3
        }))
        .unwrap();
        assert_eq!(
            detail.summary().status.as_deref(),
            Some("Operational (Needs Attention)")
        );
        let package = detail.into_package();
        assert_eq!(package.live_sql, "SELECT 1");
        assert_eq!(package.sample_file, None);
        assert_eq!(
            package.references.agentic_workflows,
            vec!["Lead Router".to_owned()]
        );
        assert!(
            !serde_json::to_string(&package)
                .unwrap()
                .contains("SELECT 2")
        );
    }
}
