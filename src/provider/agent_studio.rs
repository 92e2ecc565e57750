//! The Agent Studio plugin client.
//!
//! This module owns the mapping between Agent Studio's plugin API (`/api/v1/plugins`,
//! `/api/v1/templates`, `/api/v1/install`, `/api/v1/connectors`, bearer token) and the
//! [`Provider`] trait. It must not decide what to change and must never set
//! `active: true`.
//!
//! A create from git turns the plugin into an installation link issued by the target
//! tenant itself (`POST /api/v1/templates`, just in time, since links expire after 24 h) and
//! installs it at once with the manifest's connector bindings and `onConflict: fail`.
//! Promotion installs a link exported from another tenant. The platform enforces its own
//! rules (published only, no webhook triggers, no cross-region links, bindings must exist);
//! this client reports its refusals as [`Error`]s with the platform's message. The
//! install's answer is the new plugin's detail: when it carries `active`, the active guard
//! is enforced on it without a read-back; without `active` the plugin is read back first.
//!
//! The vendor documents promotion (export a published plugin, install its link within
//! 24 hours, select connectors in the wizard) as UI steps, so every path and field here is
//! modelled. Creating a plugin straight from git through `POST /api/v1/templates` is the
//! capability `templates`, renaming the capability `rename`. Readers are tolerant: unknown
//! fields are ignored; `id` and `name` (and, to export, `state` and `trigger`) are
//! required and a missing one is an error naming the field and the request; `active`
//! absent means off; `updatedAt` absent is empty; `version` absent falls back to a
//! fingerprint of `name` and `updatedAt`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::credentials::Credentials;
use super::error::{Error, Operation, Result, Scope};
use super::guard::{answered_or_read_back, created};
use super::http::{Endpoint, HttpClient, Request};
use super::paging;
use super::{CheckResult, CreateFrom, NameConflict, Provider};
use crate::capability::{Capability, CapabilitySet};
use crate::encode;
use crate::model::{
    Body, Catalog, Created, LiveObject, LiveSummary, Platform, PluginBody, PluginState,
    PluginTrigger, version_or_marker,
};

/// Page size of list calls (the API's maximum).
const PAGE_SIZE: u32 = 500;

/// Where the platform keeps its objects: `{COLLECTION}/{id}`.
const COLLECTION: &str = "/api/v1/plugins";

/// An Agent Studio tenant reached through its plugin API.
#[derive(Debug)]
pub struct AgentStudioClient {
    api: Endpoint,
    region: Option<String>,
}

impl AgentStudioClient {
    /// A client for `tenant` at `base_url`, sending `Authorization: Bearer <token>` and any
    /// other configured headers.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad URL, [`Error::Credentials`] for a token that cannot be
    /// sent as a header.
    pub fn new(
        base_url: &str,
        tenant: &str,
        credentials: &Credentials,
        region: Option<String>,
        http: HttpClient,
    ) -> Result<Self> {
        let api = Endpoint::bearer(base_url, tenant, Platform::AgentStudio, credentials, http)?;
        Ok(AgentStudioClient { api, region })
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

    /// Turn a plugin from git into an installation link issued by this tenant.
    async fn template(&self, plugin: &PluginBody) -> Result<String> {
        let scope = self.api.scope(Operation::Template, Some(&plugin.name));
        self.api.require(&scope, Capability::Templates)?;
        let body = json!({
            "name": plugin.name,
            "description": plugin.description,
            "state": plugin.state,
            "trigger": plugin.trigger,
            "actions": plugin.actions,
        });
        // Issuing a link changes nothing in the tenant, so it may be repeated.
        let link: Link = self
            .api
            .json(&scope, Request::post("/api/v1/templates", body))
            .await?;
        Ok(link.link)
    }

    async fn install(
        &self,
        name: Option<&str>,
        link: &str,
        connectors: &[String],
    ) -> Result<Created> {
        let scope = self.api.scope(Operation::Install, name);
        let body = json!({
            "link": link,
            "connectors": connectors,
            "onConflict": conflict_word(NameConflict::Fail),
        });
        let req = Request::post("/api/v1/install", body).not_idempotent();
        let installed: Detail = self.api.json(&scope, req).await?;
        // The answer is the plugin's detail: with its `active` flag it needs no read-back.
        let id = installed.id.clone();
        let read = answered_or_read_back(&self.api, COLLECTION, &id, installed.active, installed);
        let summary = read.await?.summary();
        let scope = self
            .api
            .scope(Operation::Install, Some(name.unwrap_or(&summary.name)));
        created(self, &scope, summary, Vec::new()).await
    }
}

fn conflict_word(choice: NameConflict) -> &'static str {
    match choice {
        NameConflict::Fail => "fail",
        NameConflict::NewName => "new-name",
    }
}

#[async_trait]
impl Provider for AgentStudioClient {
    fn platform(&self) -> Platform {
        Platform::AgentStudio
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
            body: Body::AgentStudio(detail.into_body()),
        })
    }

    async fn create(&self, from: CreateFrom<'_>) -> Result<Created> {
        match from {
            CreateFrom::Body(Body::AgentStudio(plugin)) => {
                let link = self.template(plugin).await?;
                self.install(Some(&plugin.name), &link, &plugin.connectors)
                    .await
            }
            CreateFrom::Body(other) => Err(Error::unsupported(
                self.api.scope(Operation::Install, Some(other.name())),
                format!(
                    "a {} body cannot be installed into Agent Studio",
                    other.platform()
                ),
            )),
            CreateFrom::InstallLink { link, connectors } => {
                self.install(None, link, connectors).await
            }
        }
    }

    async fn duplicate(
        &self,
        source_id: &str,
        _name: &str,
        _api_name: Option<&str>,
    ) -> Result<Created> {
        Err(Error::unsupported(
            self.api.scope(Operation::Duplicate, Some(source_id)),
            "Agent Studio duplicates by installing a plugin's link into its own tenant; export a link instead",
        ))
    }

    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.api.rename_object(COLLECTION, id, new_name).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.api.delete_object(COLLECTION, id).await
    }

    async fn deactivate(&self, id: &str) -> Result<()> {
        self.api.deactivate_object(COLLECTION, id).await
    }

    async fn recheck(&self, id: &str) -> Result<CheckResult> {
        Err(Error::unsupported(
            self.api.scope(Operation::Recheck, Some(id)),
            "Agent Studio has no pre-activation checks",
        ))
    }

    async fn export_link(&self, id: &str) -> Result<String> {
        let scope = self.api.scope(Operation::ExportLink, Some(id));
        let req = Request::post(
            format!("{COLLECTION}/{}/export", encode::component(id)),
            json!({}),
        );
        let link: Link = self.api.json(&scope, req).await?;
        Ok(link.link)
    }

    async fn catalog(&self) -> Result<Catalog> {
        let scope = self.api.scope(Operation::Catalog, None);
        let list: Connectors = self
            .api
            .json(&scope, Request::get("/api/v1/connectors"))
            .await?;
        Ok(Catalog {
            connectors: list.items.into_iter().map(|c| c.name).collect(),
            ..Catalog::default()
        })
    }
}

fn state_word(state: PluginState) -> &'static str {
    match state {
        PluginState::Published => "published",
        PluginState::Draft => "draft",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    items: Vec<Summary>,
    #[serde(default)]
    next_cursor: Option<String>,
}

impl paging::Page for Page {
    type Item = LiveSummary;
    type Token = String;

    fn first() -> String {
        "0".to_owned()
    }

    fn path(cursor: &String) -> String {
        format!(
            "{COLLECTION}?cursor={}&limit={PAGE_SIZE}",
            encode::component(cursor)
        )
    }

    fn unpaged_path() -> String {
        COLLECTION.to_owned()
    }

    fn describe(cursor: &String) -> String {
        format!("the page at cursor {cursor:?}")
    }

    fn into_parts(self, _: &Scope) -> Result<paging::Parts<LiveSummary, String>> {
        Ok(paging::Parts {
            items: self.items.into_iter().map(Summary::into_live).collect(),
            next: self.next_cursor,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    id: String,
    name: String,
    #[serde(default)]
    state: Option<PluginState>,
    #[serde(default)]
    active: bool,
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
            status: self.state.map(|s| state_word(s).to_owned()),
        }
    }
}

/// How the platform spells the update time in what the change marker fingerprints.
const UPDATED_KEY: &str = "updatedAt";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    state: PluginState,
    trigger: PluginTrigger,
    #[serde(default)]
    connectors: Vec<String>,
    #[serde(default)]
    actions: serde_json::Value,
    /// Absent means off; an install's answer without it is read back.
    #[serde(default)]
    active: Option<bool>,
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
            status: Some(state_word(self.state).to_owned()),
        }
    }

    fn into_body(self) -> PluginBody {
        PluginBody {
            name: self.name,
            description: self.description,
            state: self.state,
            trigger: self.trigger,
            connectors: self.connectors,
            actions: self.actions,
        }
    }
}

#[derive(Deserialize)]
struct Link {
    link: String,
}

#[derive(Deserialize)]
struct Connectors {
    items: Vec<ConnectorName>,
}

#[derive(Deserialize)]
struct ConnectorName {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_becomes_a_plugin_body() {
        let detail: Detail = serde_json::from_value(json!({
            "id": "pl_0001", "name": "PTO Balance", "description": null, "state": "published",
            "trigger": "conversational", "connectors": ["Workday"], "actions": {"get": {"path": "/pto"}},
            "active": false, "createdAt": "2026-05-11T12:00:00Z", "updatedAt": "2026-05-11T12:00:00Z", "version": 1
        }))
        .unwrap();
        let summary = detail.summary();
        assert_eq!(summary.status.as_deref(), Some("published"));
        assert!(!summary.active);
        let body = detail.into_body();
        assert_eq!(body.connectors, vec!["Workday".to_owned()]);
        assert_eq!(body.actions["get"]["path"], "/pto");
    }
}
