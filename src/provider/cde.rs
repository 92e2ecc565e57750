//! The Productsup CDE connector client.
//!
//! This module owns the mapping between the CDE API (`/connectors`, `/connectors/copy`,
//! `/secrets`, bearer token) and the [`Provider`] trait, and the normalization of a
//! connector into ferry's [`CdeBody`]. It must not decide what to change and must never
//! set `active: true`.
//!
//! # Reading what the vendor documents
//! The vendor documents `GET /connectors/{publicId}` and prints the request and response
//! of `POST /connectors/copy`; everything else (the list and its paging, rename, the bin,
//! the secrets look-up, an active toggle) is modelled. Readers are tolerant: of a
//! connector only `id` and `name` are required (a missing one is an error naming the field
//! and the request it answered), unknown fields are ignored, and what the vendor never
//! shows has a fallback:
//!
//! - `active`: absent means off. The documents show no toggle; the modelled list carries
//!   one, so a copy is read back from the list (the documented copy answer carries no
//!   `active`, unlike the modelled Kizen and Agent Studio answers, whose creates need no
//!   read-back).
//! - `updated-at`: the top-level field when present, else `versions[0].updated-at`, else
//!   empty.
//! - the change marker (`version` of [`LiveSummary`]): when any version carries an
//!   `updated-at`, a fingerprint of `name`, `main-version-number` and each version's
//!   `version`, `updated-at` and `state` (documented fields); else a top-level integer
//!   `version` when present; else a fingerprint of the whole object (a content hash). The
//!   list and `GET /connectors/{publicId}` give the same marker for the same connector
//!   when both carry those fields.
//!
//! A copy answers `<name> - Copy`; ferry renames it to the manifest's name through the
//! modelled `PATCH` (capability `rename`). With that capability off the copy keeps its
//! name and a person renames it.
//!
//! # Normalization
//! [`normalize_connector`] keeps what a person writes in a manifest and drops what the
//! server or the environment owns; [`normalize_config`] also drops values equal to what the
//! platform fills in when a field is absent, so a connector copied from git compares equal
//! to git whether or not the manifest spelled those defaults out. The function is
//! idempotent; callers that hash a desired body should pass its `config` through
//! [`normalize_config`] too, so both sides are in the same canonical shape.
//!
//! - top level: keeps `name`, `type`, `description`, `flow` and `versions[0].config` (an
//!   empty config when the connector has no version); drops `id`, `readme`,
//!   `main-version-number`, `owner`, `integrator`, `main`, `updated-at`, `version`,
//!   `active` and every other field of `versions[]` (`name`, `version`, `created-at`,
//!   `updated-at`, `deleted-at`, `state`, `logo`, `platform_dev_reference`,
//!   `platform_prod_reference`, `prod_config`, `dev_config`, …);
//! - in the config: drops `update-progress`, `docker`, `migration`, `export`,
//!   `data-service`, `buckets`, `feature-flags`, `container-api-config`, and any field
//!   whose value is `null`;
//! - `vcs`: keeps `url` and `branch` (and any other non-null field); drops `token`,
//!   `authorization`, `username` (credentials a person sets per environment after a copy),
//!   `deploy-key-public` and `latest-commit`;
//! - `execution`: drops the server's `container-api-image`, `docker-host` and
//!   `container-api`, and `execution-mode` when it is the default `as-env-variables`;
//! - `individuals[]`: drops `created-at`, `updated-at` and keys whose value is `null`, and
//!   the `authentication_select` entry the server adds for authentication registrations;
//! - `secret-registrations[]`: drops the store-derived `fields`, and `ini_header` when it
//!   is the one derived from `vault_secret` (`google/io/shopping` → `google-io::shopping`);
//! - `authentication-registrations-additional-fields[]`: drops the server's `pup-auth-`
//!   prefix;
//! - `datasource`: dropped when it is the default `{"categories": ["miscellaneous"]}`;
//! - `vcs`, `execution`, `individuals`, `secret-registrations`,
//!   `authentication-registrations` and `authentication-registrations-additional-fields`
//!   are dropped when they end up empty.
//!
//! Every other field is kept as the platform sent it.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::credentials::Credentials;
use super::error::{Error, Operation, Result, Scope};
use super::guard::created;
use super::http::{Endpoint, HttpClient, Request};
use super::paging;
use super::{CheckResult, CreateFrom, Provider};
use crate::capability::{Capability, CapabilitySet};
use crate::model::{
    Body, Catalog, CdeBody, Created, LiveObject, LiveSummary, Platform, Warning, change_marker,
};

/// Where the platform keeps its connectors: `{COLLECTION}/{id}`.
const COLLECTION: &str = "/connectors";

/// Page size of list calls (the API's maximum).
const PAGE_SIZE: u32 = 500;

/// The documented copy call.
const COPY: &str = "POST /connectors/copy";

/// The documented read of one connector.
const GET_ONE: &str = "GET /connectors/{publicId}";

/// The modelled list call.
const LIST: &str = "GET /connectors";

/// Config fields owned by the server or the environment.
const SERVER_CONFIG_FIELDS: &[&str] = &[
    "update-progress",
    "docker",
    "migration",
    "export",
    "data-service",
    "buckets",
    "feature-flags",
    "container-api-config",
];

/// `vcs` fields that are credentials or server state.
const SERVER_VCS_FIELDS: &[&str] = &[
    "token",
    "authorization",
    "username",
    "deploy-key-public",
    "latest-commit",
];

/// `execution` fields the server fills in.
const SERVER_EXECUTION_FIELDS: &[&str] = &["container-api-image", "docker-host", "container-api"];

/// The `execution-mode` the platform uses when none is given.
const DEFAULT_EXECUTION_MODE: &str = "as-env-variables";

/// Config fields dropped when normalization leaves them empty (absent means the same).
const DROPPED_WHEN_EMPTY: &[&str] = &[
    "vcs",
    "execution",
    "individuals",
    "secret-registrations",
    "authentication-registrations",
    "authentication-registrations-additional-fields",
];

/// `individuals[]` fields the server fills in.
const SERVER_INDIVIDUAL_FIELDS: &[&str] = &["created-at", "updated-at"];

/// A Productsup CDE account reached through its connector API.
#[derive(Debug)]
pub struct CdeClient {
    api: Endpoint,
    region: Option<String>,
}

impl CdeClient {
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
        let api = Endpoint::bearer(base_url, tenant, Platform::ProductsupCde, credentials, http)?;
        Ok(CdeClient { api, region })
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

    /// A connector as the list shows it (the active toggle is modelled and only listed):
    /// how ferry reads a copy back. The modelled list is in creation order, so a new copy is
    /// its last item: with paging, one item to learn the total and the last item, and the
    /// whole list only when the last item is another connector (a concurrent create) or the
    /// list gives no total.
    async fn listed(&self, id: &str) -> Result<LiveSummary> {
        let scope = self.api.scope(Operation::ReadBack, Some(id));
        if self.api.capabilities.enabled(Capability::Paging) {
            let item = |from: u64| Request::get(format!("{COLLECTION}?from={from}&limit=1"));
            let first: Page = self.api.json(&scope, item(0)).await?;
            let total = first.metadata.as_ref().and_then(|m| m.total);
            let last = match total {
                Some(0) | None => None,
                Some(1) => Some(first),
                Some(n) => Some(self.api.json::<Page>(&scope, item(n - 1)).await?),
            };
            if let Some(last) = last {
                let items = paging::Page::into_parts(last, &scope)?.items;
                if let Some(found) = items.into_iter().find(|s| s.id == id) {
                    return Ok(found);
                }
            }
        }
        let listed = self.api.list_all::<Page>(&scope).await?;
        listed.into_iter().find(|s| s.id == id).ok_or_else(|| {
            Error::decode(
                &scope,
                format!("the connector {id} that {COPY} answered is not in the answer to {LIST}"),
            )
        })
    }

    async fn connector(&self, scope: &Scope, id: &str) -> Result<Value> {
        let reply: Envelope = self.api.get_object(scope, COLLECTION, id).await?;
        Ok(reply.data)
    }

    async fn copy(&self, body: &CdeBody) -> Result<Created> {
        let scope = self.api.scope(Operation::Copy, Some(&body.name));
        let request = json!({
            "name": body.name,
            "type": body.kind,
            "description": body.description,
            "flow": body.flow,
            "versions": [{ "config": body.config }],
        });
        let reply: Envelope = self
            .api
            .json(
                &scope,
                Request::post("/connectors/copy", request).not_idempotent(),
            )
            .await?;
        let copy = summary_of(&scope, COPY, &reply.data)?;

        let rename = self.api.capabilities.enabled(Capability::Rename);
        if rename
            && copy.name != body.name
            && let Err(err) = self.rename(&copy.id, &body.name).await
        {
            if err.is_transient() {
                // The rename may have happened: the caller settles it by reading the
                // tenant (and finishes the rename there), never by copying again.
                return Err(err);
            }
            // Refused: leave no stray "<name> - Copy" behind; move it to the bin
            // (restorable).
            let note = match self.delete(&copy.id).await {
                Ok(()) => format!(
                    "the copy \"{}\" ({}) was moved to the bin",
                    copy.name, copy.id
                ),
                Err(_) => format!(
                    "the copy \"{}\" ({}) is left in the tenant: delete it by hand",
                    copy.name, copy.id
                ),
            };
            return Err(err.with_note(&note));
        }

        let summary = self.listed(&copy.id).await?;
        let warnings = Warning::vcs_credentials(&body.config).into_iter().collect();
        created(self, &scope, summary, warnings).await
    }
}

#[async_trait]
impl Provider for CdeClient {
    fn platform(&self) -> Platform {
        Platform::ProductsupCde
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
        let data = self.connector(&scope, id).await?;
        let summary = summary_of(&scope, GET_ONE, &data)?;
        let body = normalize_connector(&data).map_err(|reason| Error::decode(&scope, reason))?;
        Ok(LiveObject {
            summary,
            body: Body::ProductsupCde(body),
        })
    }

    async fn create(&self, from: CreateFrom<'_>) -> Result<Created> {
        match from {
            CreateFrom::Body(Body::ProductsupCde(body)) => self.copy(body).await,
            CreateFrom::Body(other) => Err(Error::unsupported(
                self.api.scope(Operation::Copy, Some(other.name())),
                format!(
                    "a {} body cannot be copied into Productsup CDE",
                    other.platform()
                ),
            )),
            CreateFrom::InstallLink { .. } => Err(Error::unsupported(
                self.api.scope(Operation::Install, None),
                "Productsup CDE has no installation links; copy the connector body instead",
            )),
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
            "Productsup CDE duplicates through a copy of the connector body; create from the body instead",
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
            "Productsup CDE has no pre-activation checks",
        ))
    }

    async fn export_link(&self, id: &str) -> Result<String> {
        Err(Error::unsupported(
            self.api.scope(Operation::ExportLink, Some(id)),
            "Productsup CDE has no installation links; ferry copies the connector body instead",
        ))
    }

    async fn catalog(&self) -> Result<Catalog> {
        if !self.api.capabilities.enabled(Capability::Secrets) {
            // The look-up is modelled; without it the copy's own error names missing secrets.
            return Ok(Catalog::default());
        }
        let scope = self.api.scope(Operation::Catalog, None);
        let secrets: Secrets = self.api.json(&scope, Request::get("/secrets")).await?;
        Ok(Catalog {
            secrets: secrets.data.into_iter().map(|s| s.vault_secret).collect(),
            ..Catalog::default()
        })
    }

    async fn vcs_authorised(&self, id: &str) -> Result<bool> {
        let scope = self.api.scope(Operation::Export, Some(id));
        let data = self.connector(&scope, id).await?;
        Ok(vcs_authorised(&data))
    }
}

/// Whether the first version's VCS of a connector (`data` of `GET /connectors/{id}`) shows
/// credentials: an `authorization` other than `public`, or a `username`. A copy comes back
/// `public` with no username whatever the source had.
fn vcs_authorised(data: &Value) -> bool {
    let Some(vcs) = data.pointer("/versions/0/config/vcs") else {
        return false;
    };
    let text = |key: &str| {
        vcs.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    text("authorization").is_some_and(|a| !a.eq_ignore_ascii_case("public"))
        || text("username").is_some()
}

/// The [`LiveSummary`] of a connector, a list item or a copy's answer (`call` names the
/// request, for messages). Only `id` and `name` are required; see the module documentation
/// for the fallbacks of `active`, `updated-at` and the change marker.
fn summary_of(scope: &Scope, call: &str, data: &Value) -> Result<LiveSummary> {
    let required = |field: &str| {
        data.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::decode(
                    scope,
                    format!(
                        "the answer to {call} has no connector `{field}` (a string); ferry cannot track a connector without it"
                    ),
                )
            })
    };
    let id = required("id")?;
    let name = required("name")?;
    let updated_at = data
        .get("updated-at")
        .and_then(Value::as_str)
        .or_else(|| {
            data.pointer("/versions/0/updated-at")
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_owned();
    Ok(LiveSummary {
        id,
        name,
        active: data.get("active").and_then(Value::as_bool).unwrap_or(false),
        updated_at,
        version: marker_of(data),
        status: None,
    })
}

/// The change marker of a connector: see the module documentation.
fn marker_of(data: &Value) -> u64 {
    let versions: &[Value] = data
        .get("versions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let stamped = versions
        .iter()
        .any(|v| v.get("updated-at").is_some_and(|u| !u.is_null()));
    if stamped {
        let field = |v: &Value, key: &str| v.get(key).cloned().unwrap_or(Value::Null);
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| {
                json!({
                    "version": field(v, "version"),
                    "updated-at": field(v, "updated-at"),
                    "state": field(v, "state"),
                })
            })
            .collect();
        return change_marker(&json!({
            "name": field(data, "name"),
            "main-version-number": field(data, "main-version-number"),
            "versions": versions,
        }));
    }
    data.get("version")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| change_marker(data))
}

/// A connector (`data` of `GET /connectors/{id}`) in ferry's [`CdeBody`] shape. See the
/// module documentation for exactly what is dropped.
///
/// # Errors
/// A description of what is missing when `name` or `type` is absent.
pub fn normalize_connector(data: &Value) -> std::result::Result<CdeBody, String> {
    let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
    let name = text("name").ok_or("connector has no name")?;
    let kind = text("type").ok_or("connector has no type")?;
    let config = data
        .pointer("/versions/0/config")
        .cloned()
        .unwrap_or_else(|| json!({}));
    Ok(CdeBody {
        name,
        kind,
        description: text("description"),
        flow: text("flow").unwrap_or_else(|| "default".to_owned()),
        config: normalize_config(&config),
    })
}

/// A connector version's `config` in canonical form: without server and environment
/// fields and without values equal to the platform's defaults (see the module
/// documentation). Idempotent.
pub fn normalize_config(config: &Value) -> Value {
    let Value::Object(config) = config else {
        return config.clone();
    };
    let mut out = Map::new();
    for (key, value) in config {
        if SERVER_CONFIG_FIELDS.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        let value = match key.as_str() {
            "vcs" => without_nulls(&without(value, SERVER_VCS_FIELDS)),
            "execution" => {
                let mut execution = without(value, SERVER_EXECUTION_FIELDS);
                if let Value::Object(map) = &mut execution
                    && map.get("execution-mode").and_then(Value::as_str)
                        == Some(DEFAULT_EXECUTION_MODE)
                {
                    map.remove("execution-mode");
                }
                execution
            }
            "individuals" => map_items(value, |item| {
                let field_type = item.get("field-type").and_then(Value::as_str);
                (field_type != Some("authentication_select"))
                    .then(|| without_nulls(&without(item, SERVER_INDIVIDUAL_FIELDS)))
            }),
            "secret-registrations" => map_items(value, |item| Some(secret_registration(item))),
            "authentication-registrations-additional-fields" => {
                map_items(value, |item| match item.as_str() {
                    Some(field) => Some(Value::String(
                        field.strip_prefix("pup-auth-").unwrap_or(field).to_owned(),
                    )),
                    None => Some(item.clone()),
                })
            }
            "datasource" if *value == json!({ "categories": ["miscellaneous"] }) => continue,
            _ => value.clone(),
        };
        let empty = match &value {
            Value::Object(map) => map.is_empty(),
            Value::Array(items) => items.is_empty(),
            _ => false,
        };
        if empty && DROPPED_WHEN_EMPTY.contains(&key.as_str()) {
            continue;
        }
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// One secret registration without what the store derives: `fields`, and `ini_header`
/// when it is the one derived from `vault_secret`.
fn secret_registration(item: &Value) -> Value {
    let Value::Object(map) = item else {
        return item.clone();
    };
    let vault = map.get("vault_secret").and_then(Value::as_str);
    let mut out = map.clone();
    out.remove("fields");
    if let (Some(vault), Some(header)) = (vault, map.get("ini_header").and_then(Value::as_str))
        && header == derived_ini_header(vault)
    {
        out.remove("ini_header");
    }
    without_nulls(&Value::Object(out))
}

/// `amazon/seller` → `amazon::seller`, `google/io/shopping` → `google-io::shopping`.
fn derived_ini_header(vault_secret: &str) -> String {
    match vault_secret.rsplit_once('/') {
        Some((head, last)) => format!("{}::{last}", head.replace('/', "-")),
        None => vault_secret.to_owned(),
    }
}

fn without(value: &Value, keys: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn map_items(value: &Value, f: impl Fn(&Value) -> Option<Value>) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().filter_map(f).collect()),
        other => other.clone(),
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Value,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<Value>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next: Option<u64>,
    /// Every connector outside the bin.
    #[serde(default)]
    total: Option<u64>,
}

impl paging::Page for Page {
    type Item = LiveSummary;
    type Token = u64;

    fn first() -> u64 {
        0
    }

    fn path(from: &u64) -> String {
        format!("{COLLECTION}?from={from}&limit={PAGE_SIZE}")
    }

    fn unpaged_path() -> String {
        COLLECTION.to_owned()
    }

    fn describe(from: &u64) -> String {
        format!("page from {from}")
    }

    fn into_parts(self, scope: &Scope) -> Result<paging::Parts<LiveSummary, u64>> {
        let items = self
            .data
            .iter()
            .map(|item| summary_of(scope, LIST, item))
            .collect::<Result<Vec<_>>>()?;
        Ok(paging::Parts {
            items,
            next: self.metadata.and_then(|m| m.next),
        })
    }
}

#[derive(Deserialize)]
struct Secrets {
    data: Vec<SecretName>,
}

#[derive(Deserialize)]
struct SecretName {
    vault_secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendor's `POST /connectors/copy` response, verbatim.
    const VENDOR_COPY_RESPONSE: &str =
        include_str!("../../tests/fixtures/vendor/cde_copy_response.json");

    /// The vendor's `POST /connectors/copy` request, verbatim.
    const VENDOR_COPY_REQUEST: &str =
        include_str!("../../tests/fixtures/vendor/cde_copy_request.json");

    fn vendor_copy() -> Value {
        let response: Value = serde_json::from_str(VENDOR_COPY_RESPONSE).unwrap();
        response["data"].clone()
    }

    fn vendor_request_config() -> Value {
        let request: Value = serde_json::from_str(VENDOR_COPY_REQUEST).unwrap();
        request["versions"][0]["config"].clone()
    }

    fn scope() -> Scope {
        Scope::new("feeds", Platform::ProductsupCde, Operation::Copy, None)
    }

    /// The canonical form of both.
    fn canonical_config() -> Value {
        json!({
            "authentication-registrations": [20, 30],
            "authentication-registrations-additional-fields": ["option-1", "option-2", "option-3"],
            "secret-registrations": [{"vault_secret": "amazon/seller"}, {"vault_secret": "google/io/shopping"}],
            "application": {"command": "php", "arguments": "app.php import", "health-check": "--help"},
            "vcs": {"url": "https://github.com/some-repo.git", "branch": "main"},
            "individuals": [
                {"command-option": "host", "field-type": "input", "field-name": "Host", "field-required": false,
                 "field-placeholder": "Host url", "field-description": "A url to host", "order": 1},
                {"command-option": "port-number", "field-type": "input", "field-name": "Port", "field-required": false,
                 "field-placeholder": "Port number", "field-description": "Port number", "order": 2},
                {"command-option": "db-name", "field-type": "input", "field-name": "Db-name", "field-required": false,
                 "field-placeholder": "Database name", "field-description": "Database name",
                 "field-default-value": "MYSQL", "field-config": "some config", "order": 3}
            ]
        })
    }

    #[test]
    fn copy_response_and_request_normalize_to_the_same_config() {
        let body = normalize_connector(&vendor_copy()).unwrap();
        assert_eq!(body.name, "Test Import - Copy");
        assert_eq!(body.kind, "datasource");
        assert_eq!(body.flow, "default");
        assert_eq!(
            body.description.as_deref(),
            Some("this is a imported connector")
        );
        assert_eq!(body.config, canonical_config());
        assert_eq!(
            normalize_config(&vendor_request_config()),
            canonical_config()
        );
    }

    #[test]
    fn the_documented_copy_response_reads_without_the_fields_it_lacks() {
        let data = vendor_copy();
        for absent in ["updated-at", "version", "active"] {
            assert!(data.get(absent).is_none(), "the vendor shows no {absent}");
        }
        let summary = summary_of(&scope(), COPY, &data).unwrap();
        assert_eq!(summary.id, "00d8c347-0dec-480f-8c99-7f7dfcfb06bf");
        assert_eq!(summary.name, "Test Import - Copy");
        assert!(!summary.active);
        assert_eq!(summary.updated_at, "2026-05-11T14:12:29+02:00");
        assert!(summary.version < 1 << 52, "{}", summary.version);

        // The marker follows the documented per-version fields and the name, and nothing
        // else: a toggle or a config field the list does not carry leaves it alone.
        let mut same = data.clone();
        same["active"] = json!(true);
        same["versions"][0]["config"] = json!({});
        assert_eq!(marker_of(&same), summary.version);
        let mut renamed = data.clone();
        renamed["name"] = json!("Test Import");
        assert_ne!(marker_of(&renamed), summary.version);
        let mut touched = data.clone();
        touched["versions"][0]["updated-at"] = json!("2026-05-11T14:13:00+02:00");
        assert_ne!(marker_of(&touched), summary.version);
    }

    #[test]
    fn without_timestamps_the_marker_is_a_given_version_or_a_content_hash() {
        let item = json!({"id": "c-1", "name": "A", "version": 7});
        assert_eq!(marker_of(&item), 7);
        let bare = json!({"id": "c-1", "name": "A"});
        assert_eq!(marker_of(&bare), change_marker(&bare));
        assert_ne!(
            marker_of(&bare),
            marker_of(&json!({"id": "c-1", "name": "B"}))
        );
        let summary = summary_of(&scope(), LIST, &bare).unwrap();
        assert_eq!(summary.updated_at, "");
        assert!(!summary.active);
    }

    #[test]
    fn a_connector_without_an_id_names_the_field_and_the_request() {
        let mut data = vendor_copy();
        data.as_object_mut().unwrap().remove("id");
        let err = summary_of(&scope(), COPY, &data).unwrap_err().to_string();
        assert!(
            err.contains(
                "the answer to POST /connectors/copy has no connector `id` (a string); ferry cannot track a connector without it"
            ),
            "{err}"
        );
    }

    #[test]
    fn normalizing_is_idempotent() {
        let once = normalize_config(&vendor_copy()["versions"][0]["config"]);
        assert_eq!(normalize_config(&once), once);
        assert_eq!(normalize_config(&canonical_config()), canonical_config());
    }

    #[test]
    fn values_other_than_the_defaults_are_kept() {
        let config = json!({
            "execution": {"execution-mode": "as-arguments", "docker-host": "unix:///x"},
            "datasource": {"categories": ["marketplaces"]},
            "secret-registrations": [{"vault_secret": "google/io/shopping", "ini_header": "custom::header",
                                      "fields": ["id"]},
                                     {"vault_secret": "google/io/shopping", "ini_header": "google-io::shopping"}],
            "individuals": [],
            "vcs": {"url": null}
        });
        assert_eq!(
            normalize_config(&config),
            json!({
                "execution": {"execution-mode": "as-arguments"},
                "datasource": {"categories": ["marketplaces"]},
                "secret-registrations": [{"vault_secret": "google/io/shopping", "ini_header": "custom::header"},
                                         {"vault_secret": "google/io/shopping"}]
            })
        );
    }

    #[test]
    fn connector_without_versions_has_an_empty_config() {
        let body = normalize_connector(&json!({"name": "x", "type": "datasource", "versions": []}))
            .unwrap();
        assert_eq!(body.config, json!({}));
    }

    #[test]
    fn connector_without_a_name_is_a_decode_problem() {
        let err = normalize_connector(&json!({"type": "datasource"})).unwrap_err();
        assert_eq!(err, "connector has no name");
    }
}
