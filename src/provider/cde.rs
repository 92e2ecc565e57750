//! The Productsup CDE connector client.
//!
//! This module owns the mapping between the CDE API (`/connectors`, `/connectors/copy`,
//! `/secrets`, bearer token) and the [`Provider`] trait, and the normalization of a
//! connector into ferry's [`CdeBody`]. It must not decide what to change and must never
//! set `active: true`.
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

use super::credentials::{Credentials, Secret};
use super::error::{Error, Operation, Result, Scope};
use super::guard::ensure_inactive;
use super::http::{Endpoint, HttpClient, Request};
use super::paging;
use super::{CheckResult, CreateFrom, Provider};
use crate::encode;
use crate::model::{Body, Catalog, CdeBody, Created, LiveObject, LiveSummary, Platform, Warning};

/// Where the platform keeps its connectors: `{COLLECTION}/{id}`.
const COLLECTION: &str = "/connectors";

/// Page size of list calls (the API's maximum).
const PAGE_SIZE: u32 = 500;

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
        let bearer = Secret::new(format!("Bearer {}", credentials.token.expose()));
        let mut headers = vec![("Authorization", &bearer)];
        headers.extend(
            credentials
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value)),
        );
        let api = Endpoint::new(
            base_url,
            tenant,
            Platform::ProductsupCde,
            headers,
            &credentials.token_origin,
            http,
        )?;
        Ok(CdeClient { api, region })
    }

    /// The tenant's data center, if configured.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    async fn connector(&self, scope: &Scope, id: &str) -> Result<Value> {
        let reply: Envelope = self
            .api
            .json(
                scope,
                Request::get(format!("{COLLECTION}/{}", encode::component(id))),
            )
            .await?;
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
        let copy = summary_of(&scope, &reply.data)?;

        if copy.name != body.name
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

        let read = self
            .connector(
                &self.api.scope(Operation::ReadBack, Some(&copy.id)),
                &copy.id,
            )
            .await?;
        let summary = summary_of(&scope, &read)?;
        ensure_inactive(self, &scope, &summary).await?;

        let warnings = Warning::vcs_credentials(&body.config).into_iter().collect();
        Ok(Created {
            id: summary.id.clone(),
            summary,
            warnings,
        })
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

    async fn list(&self) -> Result<Vec<LiveSummary>> {
        let scope = self.api.scope(Operation::List, None);
        self.api.list_all::<Page>(&scope).await
    }

    async fn export(&self, id: &str) -> Result<LiveObject> {
        let scope = self.api.scope(Operation::Export, Some(id));
        let data = self.connector(&scope, id).await?;
        let summary = summary_of(&scope, &data)?;
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

/// The [`LiveSummary`] of a connector or list item (`updated-at`, `version`, `active`).
fn summary_of(scope: &Scope, data: &Value) -> Result<LiveSummary> {
    #[derive(Deserialize)]
    struct Summary {
        id: String,
        name: String,
        #[serde(default)]
        active: bool,
        #[serde(rename = "updated-at")]
        updated_at: String,
        version: u64,
    }
    let s: Summary = Summary::deserialize(data)
        .map_err(|err| Error::decode(scope, format!("connector: {err}")))?;
    Ok(LiveSummary {
        id: s.id,
        name: s.name,
        active: s.active,
        updated_at: s.updated_at,
        version: s.version,
        status: None,
    })
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

    fn describe(from: &u64) -> String {
        format!("page from {from}")
    }

    fn into_parts(self, scope: &Scope) -> Result<paging::Parts<LiveSummary, u64>> {
        let items = self
            .data
            .iter()
            .map(|item| summary_of(scope, item))
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

    /// The vendor's `POST /connectors/copy` response `data` (abridged only in platform refs).
    fn vendor_copy() -> Value {
        let config = json!({
            "update-progress": ["vcs-config", "application-config"],
            "secret-registrations": [
                {"ini_header": "amazon::seller", "vault_secret": "amazon/seller", "fields": ["ini_header", "seller"]}
            ],
            "authentication-registrations": [20, 30],
            "authentication-registrations-additional-fields": ["pup-auth-option-1", "pup-auth-option-2"],
            "application": {"command": "php", "arguments": "app.php import", "health-check": "--help"},
            "vcs": {"authorization": "public", "url": "https://github.com/some-repo.git", "branch": "main",
                    "username": null, "deploy-key-public": null, "latest-commit": null},
            "docker": {"image-name": null, "image-tag": null, "registry-url": null},
            "individuals": [vendor_individual(), vendor_auth_select()],
            "migration": null,
            "execution": {"execution-mode": "as-env-variables", "container-api-image": "img:1.0.0",
                          "docker-host": "unix:///var/run/docker.sock",
                          "container-api": {"image": null, "version-constraint": "^0.25"}},
            "export": null, "data-service": null,
            "datasource": {"categories": ["miscellaneous"]},
            "buckets": [], "feature-flags": [], "container-api-config": null
        });
        let version = json!({
            "name": "Test Import - Copy", "version": "1.0.0", "created-at": "2026-05-11T14:12:28+02:00",
            "updated-at": "2026-05-11T14:12:29+02:00", "deleted-at": null, "state": "updated",
            "config": config,
            "platform_dev_reference": {"account": null}, "platform_prod_reference": {"released": false}
        });
        json!({
            "id": "00d8c347-0dec-480f-8c99-7f7dfcfb06bf", "type": "datasource", "name": "Test Import - Copy",
            "description": "this is a imported connector", "readme": null, "flow": "default",
            "main-version-number": null, "owner": "019e16f3", "integrator": "019e16f3",
            "updated-at": "2026-05-11T14:12:29+02:00", "version": 1, "active": false,
            "versions": [version],
            "main": null
        })
    }

    fn vendor_individual() -> Value {
        json!({"command-option": "host", "field-type": "input", "field-name": "Host", "field-required": false,
               "field-placeholder": "Host url", "field-description": "A url to host",
               "field-default-value": null, "field-config": null, "order": 1,
               "created-at": "2026-05-11T14:12:28+02:00", "updated-at": "2026-05-11T14:12:28+02:00"})
    }

    fn vendor_auth_select() -> Value {
        json!({"command-option": "authentication_select", "field-type": "authentication_select",
               "field-name": "", "field-required": false, "order": 2,
               "created-at": "2026-05-11T14:12:28+02:00", "updated-at": "2026-05-11T14:12:28+02:00"})
    }

    /// What the vendor's copy request sent, as a manifest would hold it.
    fn vendor_request_config() -> Value {
        json!({
            "execution": {"execution-mode": "as-env-variables"},
            "authentication-registrations": [20, 30],
            "authentication-registrations-additional-fields": ["option-1", "option-2"],
            "secret-registrations": [{"vault_secret": "amazon/seller"}],
            "application": {"command": "php", "arguments": "app.php import", "health-check": "--help"},
            "vcs": {"authorization": "basic", "url": "https://github.com/some-repo.git", "branch": "main",
                    "username": "username", "token": "token"},
            "individuals": [
                {"command-option": "host", "field-type": "input", "field-name": "Host", "field-required": false,
                 "field-placeholder": "Host url", "field-description": "A url to host", "order": 1}
            ]
        })
    }

    /// The canonical form of both.
    fn canonical_config() -> Value {
        json!({
            "authentication-registrations": [20, 30],
            "authentication-registrations-additional-fields": ["option-1", "option-2"],
            "secret-registrations": [{"vault_secret": "amazon/seller"}],
            "application": {"command": "php", "arguments": "app.php import", "health-check": "--help"},
            "vcs": {"url": "https://github.com/some-repo.git", "branch": "main"},
            "individuals": [
                {"command-option": "host", "field-type": "input", "field-name": "Host", "field-required": false,
                 "field-placeholder": "Host url", "field-description": "A url to host", "order": 1}
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
