//! Productsup CDE connectors: the object (the vendor's `GET /connectors/{publicId}` shape),
//! the copy rules of `POST /connectors/copy` (name `<name> - Copy`, server fields filled in
//! as in the vendor's example response, VCS token dropped, secret registrations checked
//! against the tenant's store), the modelled rename, bin and restore, and the HTTP
//! handlers of `docs/platform-api.md`.
//!
//! The documented answers (`POST /connectors/copy`, `GET /connectors/{publicId}`) carry
//! exactly the keys of the vendor's example response: no top-level `updated-at`,
//! `version` or `active`. A write stamps `versions[*].updated-at`, as the vendor's shape
//! allows. What the emulator adds lives on modelled endpoints only: the list's summaries
//! carry the modelled `active` toggle, and so do the answers of the modelled `PATCH` and
//! restore. The state dump (`/_emulator/state`) shows the emulator's own counters.
//!
//! Auth: `Authorization: Bearer <token>`; `401` and `403` bodies exactly as documented
//! (the status codes are the emulator's choice: the document prints none).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::agent_studio::bearer;
use super::clock::rfc3339_offset;
use super::http::{ApiError, JsonBody, Params, created};
use super::server::{AppState, Ctx, PatchRequest, PlatformApi, Tenant, json_response};
use super::state::{
    Emulator, Entity, Objects, SeedContext, Store, TenantCell, check_new_name, set_if_changed,
};
use crate::model::Platform;

/// A connector: the fields the emulator tracks, plus the rest of the vendor shape as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CdeConnector {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) active: bool,
    pub(crate) version: u64,
    pub(crate) updated_at: String,
    /// When it was moved to the bin; binned connectors leave the list.
    pub(crate) binned_at: Option<String>,
    /// `type`, `description`, `readme`, `flow`, `main-version-number`, `owner`,
    /// `integrator`, `versions`, `main`, …
    pub(crate) data: Map<String, Value>,
}

impl Entity for CdeConnector {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl CdeConnector {
    /// The `data` of `GET /connectors/{publicId}` and `POST /connectors/copy`: the keys of
    /// the vendor's example, nothing more.
    fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.extend(self.data.clone());
        Value::Object(m)
    }

    /// The `data` of the modelled `PATCH` and restore answers: the documented shape plus the
    /// modelled `active`.
    fn to_modelled_data(&self) -> Value {
        let mut v = self.to_data();
        if let Value::Object(m) = &mut v {
            m.insert("active".into(), json!(self.active));
        }
        v
    }

    fn summary(&self) -> Summary<'_> {
        let versions = self
            .data
            .get("versions")
            .and_then(Value::as_array)
            .map(|versions| {
                versions
                    .iter()
                    .map(|v| VersionSummary {
                        version: v.get("version").unwrap_or(&Value::Null),
                        updated_at: v.get("updated-at").unwrap_or(&Value::Null),
                        state: v.get("state").unwrap_or(&Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Summary {
            id: &self.id,
            name: &self.name,
            kind: self.data.get("type").unwrap_or(&Value::Null),
            active: self.active,
            main_version_number: self.data.get("main-version-number").unwrap_or(&Value::Null),
            versions,
        }
    }

    /// A write: the emulator's counters, and every version's `updated-at`.
    fn touch(&mut self, ctx: &Ctx<'_>) {
        self.version += 1;
        self.updated_at = rfc3339_offset(ctx.now);
        if let Some(Value::Array(versions)) = self.data.get_mut("versions") {
            for v in versions.iter_mut().filter_map(Value::as_object_mut) {
                v.insert("updated-at".into(), json!(self.updated_at));
            }
        }
    }
}

/// A connector in the modelled `GET /connectors`: id, name, type, the modelled `active`,
/// and the documented fields a client tells changes by (`main-version-number`, and per
/// version `version`, `updated-at`, `state`).
#[derive(Serialize)]
struct Summary<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a Value,
    active: bool,
    #[serde(rename = "main-version-number")]
    main_version_number: &'a Value,
    versions: Vec<VersionSummary<'a>>,
}

/// One version in a list summary.
#[derive(Serialize)]
struct VersionSummary<'a> {
    version: &'a Value,
    #[serde(rename = "updated-at")]
    updated_at: &'a Value,
    state: &'a Value,
}

/// One page of `GET /connectors`.
#[derive(Serialize)]
struct Page<'a> {
    message: &'static str,
    resource: &'static str,
    data: Vec<Summary<'a>>,
    metadata: Metadata,
}

#[derive(Serialize)]
struct Metadata {
    from: usize,
    limit: usize,
    count: usize,
    total: usize,
    next: Option<usize>,
}

/// The object in the state dump: the `data` shape plus the modelled `active`, the
/// emulator's `version` counter and `updated-at`, and `binned`.
pub(crate) fn state_view(c: &CdeConnector) -> Value {
    let mut v = c.to_modelled_data();
    if let Value::Object(m) = &mut v {
        m.insert("version".into(), json!(c.version));
        m.insert("updated-at".into(), json!(c.updated_at));
        m.insert("binned".into(), json!(c.binned_at.is_some()));
        m.insert("binned-at".into(), json!(c.binned_at));
    }
    v
}

/// A stable UUID-like id for the API user of a tenant.
pub(crate) fn user_id(tenant: &str, business: &str) -> String {
    let digest = Sha256::digest(format!("ferry-emulator-user\0{tenant}\0{business}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid_like(bytes)
}

/// A random UUID-like id (version 4 layout).
fn random_id() -> String {
    uuid_like(rand::random::<[u8; 16]>())
}

fn uuid_like(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Build the seeded connectors (the `data` shape; server fields filled in when absent,
/// a VCS token removed as the platform never returns it).
pub(crate) fn from_seed(
    values: &[Value],
    ctx: &SeedContext<'_>,
) -> Result<Store<CdeConnector>, Vec<(usize, String)>> {
    let mut store: Store<CdeConnector> = Store::default();
    let mut errors = Vec::new();
    let now = rfc3339_offset(ctx.now);
    for (i, v) in values.iter().enumerate() {
        let Value::Object(obj) = v else {
            errors.push((
                i,
                "not a CDE connector: expected a mapping (the data of GET /connectors/{publicId})"
                    .into(),
            ));
            continue;
        };
        let mut data = obj.clone();
        let name = match data.remove("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => {
                errors.push((
                    i,
                    "not a CDE connector: `name` must be a non-empty string".into(),
                ));
                continue;
            }
        };
        if !matches!(data.get("type"), Some(Value::String(_))) {
            errors.push((
                i,
                "not a CDE connector: `type` must be a string (datasource, export, …)".into(),
            ));
            continue;
        }
        let id = match data.remove("id") {
            None | Some(Value::Null) => random_id(),
            Some(Value::String(s)) => s,
            Some(_) => {
                errors.push((i, "not a CDE connector: `id` must be a string".into()));
                continue;
            }
        };
        if store.get(&id).is_some() {
            errors.push((i, format!("id '{id}' is used twice")));
            continue;
        }
        let active = data
            .remove("active")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let version = data.remove("version").and_then(|v| v.as_u64()).unwrap_or(1);
        let updated_at = match data.remove("updated-at") {
            Some(Value::String(s)) => s,
            _ => now.clone(),
        };
        for (key, default) in [
            ("description", Value::Null),
            ("readme", Value::Null),
            ("flow", json!("default")),
            ("main-version-number", Value::Null),
            ("owner", json!(ctx.user)),
            ("integrator", json!(ctx.user)),
            ("versions", json!([])),
            ("main", Value::Null),
        ] {
            data.entry(key).or_insert(default);
        }
        strip_vcs_tokens(&mut data);
        stamp_versions(&mut data, &updated_at);
        store.insert(CdeConnector {
            id,
            name,
            active,
            version,
            updated_at,
            binned_at: None,
            data,
        });
    }
    if errors.is_empty() {
        Ok(store)
    } else {
        Err(errors)
    }
}

/// Give every version object a `created-at` and `updated-at` when the seed has none.
fn stamp_versions(data: &mut Map<String, Value>, at: &str) {
    if let Some(Value::Array(versions)) = data.get_mut("versions") {
        for v in versions.iter_mut().filter_map(Value::as_object_mut) {
            for key in ["created-at", "updated-at"] {
                if v.get(key).is_none_or(Value::is_null) {
                    v.insert(key.into(), json!(at));
                }
            }
        }
    }
}

fn strip_vcs_tokens(data: &mut Map<String, Value>) {
    if let Some(Value::Array(versions)) = data.get_mut("versions") {
        for v in versions {
            if let Some(Value::Object(vcs)) = v.pointer_mut("/config/vcs") {
                vcs.remove("token");
            }
        }
    }
}

/// The connector `id` if it is not in the bin.
fn live<'a>(
    store: &'a Store<CdeConnector>,
    ctx: &Ctx<'_>,
    id: &str,
) -> Result<&'a CdeConnector, ApiError> {
    let c = CdeApi::get(store, ctx, id)?;
    match c.binned_at {
        Some(_) => Err(ApiError::not_found(format!(
            "Connector '{id}' is in the bin; restore it with POST /connectors/{id}/restore."
        ))),
        None => Ok(c),
    }
}

/// Change the connector `id` if it is not in the bin.
fn update_live<R>(
    store: &mut Store<CdeConnector>,
    ctx: &Ctx<'_>,
    id: &str,
    f: impl FnOnce(&mut CdeConnector) -> R,
) -> Result<R, ApiError> {
    live(store, ctx, id)?;
    CdeApi::update(store, ctx, id, f)
}

fn bad_request(errors: BTreeMap<String, String>) -> ApiError {
    ApiError::with_errors(StatusCode::BAD_REQUEST, "Bad request.", errors)
}

/// `POST /connectors/copy`: a new connector from a `GET` body (see the module docs).
pub(crate) fn copy(
    store: &mut Store<CdeConnector>,
    ctx: &Ctx<'_>,
    body: Value,
) -> Result<CdeConnector, ApiError> {
    let Value::Object(src) = body else {
        return Err(bad_request(BTreeMap::from([(
            "body".into(),
            "Expected the connector object (the data of GET /connectors/{publicId}).".into(),
        )])));
    };
    let mut errors = BTreeMap::new();
    let name = src.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.trim().is_empty() {
        errors.insert("name".into(), "This value should not be blank.".into());
    }
    let kind = src.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind.trim().is_empty() {
        errors.insert("type".into(), "This value should not be blank.".into());
    }
    let versions = match src.get("versions") {
        Some(Value::Array(v)) if !v.is_empty() && v.iter().all(Value::is_object) => v.as_slice(),
        _ => {
            errors.insert(
                "versions".into(),
                "At least one version (with its config) is required.".into(),
            );
            &[]
        }
    };
    for v in versions {
        if let Some(Value::Array(regs)) = v.pointer("/config/secret-registrations") {
            for (i, reg) in regs.iter().enumerate() {
                let known = reg
                    .get("vault_secret")
                    .and_then(Value::as_str)
                    .is_some_and(|s| ctx.catalog.secrets.iter().any(|k| k == s));
                if !known {
                    errors.insert(
                        format!("secretRegistrations[{i}]"),
                        "Secret doesn't exist in the store.".into(),
                    );
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(bad_request(errors));
    }

    let new_name = format!("{name} - Copy");
    let now = rfc3339_offset(ctx.now);
    let description = src.get("description").cloned().unwrap_or(Value::Null);
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| copy_version(v, &new_name, &description, kind, &now))
        .collect();
    let mut data = Map::new();
    data.insert("type".into(), json!(kind));
    data.insert("description".into(), description);
    data.insert(
        "readme".into(),
        src.get("readme").cloned().unwrap_or(Value::Null),
    );
    data.insert(
        "flow".into(),
        src.get("flow").cloned().unwrap_or_else(|| json!("default")),
    );
    data.insert("main-version-number".into(), Value::Null);
    data.insert("owner".into(), json!(ctx.tenant.user));
    data.insert("integrator".into(), json!(ctx.tenant.user));
    data.insert("versions".into(), Value::Array(versions));
    data.insert("main".into(), Value::Null);
    let connector = CdeConnector {
        id: random_id(),
        name: new_name,
        active: ctx.activate_on_create,
        version: 1,
        updated_at: now,
        binned_at: None,
        data,
    };
    Ok(store.insert(connector).clone())
}

fn get_or(m: &Map<String, Value>, key: &str, default: Value) -> Value {
    m.get(key).cloned().unwrap_or(default)
}

/// One version of a copy, with the server fields the vendor's example shows.
fn copy_version(v: &Value, name: &str, description: &Value, kind: &str, now: &str) -> Value {
    let empty = Map::new();
    let v = v.as_object().unwrap_or(&empty);
    let config = v.get("config").and_then(Value::as_object).unwrap_or(&empty);
    json!({
        "name": name,
        "description": description,
        "readme": get_or(v, "readme", Value::Null),
        "version": get_or(v, "version", json!("1.0.0")),
        "logo": get_or(v, "logo", Value::Null),
        "created-at": now,
        "updated-at": now,
        "deleted-at": null,
        "state": "updated",
        "config": copy_config(config, kind, now),
        "platform_dev_reference": {
            "account": null, "project": null, "executable": null, "platform-connector": null,
            "site": null, "site-processing-cluster": null, "assigned-to-site": null,
            "assigned-to-channel": null, "assigned-to-channel-site": null,
            "assigned-to-channel-site-destination": null,
            "runtime": { "environment": "cre", "version": null }
        },
        "platform_prod_reference": {
            "executable": null, "platform-connector": null, "target-accounts": [],
            "target-projects": [], "target-sites": [], "enabled-for-accounts": [],
            "enabled-for-projects": [], "enabled-for-sites": [], "assigned-to-sites": [],
            "released": false, "version": null,
            "runtime": { "environment": "cre", "version": null }
        },
        "prod_config": null,
        "dev_config": null
    })
}

/// `amazon/seller` → `amazon::seller`, `google/io/shopping` → `google-io::shopping`.
fn ini_header(vault_secret: &str) -> String {
    match vault_secret.rsplit_once('/') {
        Some((head, last)) => format!("{}::{last}", head.replace('/', "-")),
        None => vault_secret.to_owned(),
    }
}

fn copy_config(c: &Map<String, Value>, kind: &str, now: &str) -> Value {
    let mut out = c.clone();
    out.insert(
        "update-progress".into(),
        json!(["vcs-config", "application-config"]),
    );

    let secrets: Vec<Value> = c
        .get("secret-registrations")
        .and_then(Value::as_array)
        .map(|regs| {
            regs.iter()
                .map(|r| {
                    let vault = r.get("vault_secret").and_then(Value::as_str).unwrap_or_default();
                    json!({
                        "ini_header": r.get("ini_header").cloned().unwrap_or_else(|| json!(ini_header(vault))),
                        "vault_secret": vault,
                        "fields": r.get("fields").cloned().unwrap_or_else(|| json!(["ini_header"])),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.insert("secret-registrations".into(), Value::Array(secrets));

    let auth_regs = get_or(c, "authentication-registrations", json!([]));
    let has_auth = auth_regs.as_array().is_some_and(|a| !a.is_empty());
    out.insert("authentication-registrations".into(), auth_regs);
    let extra: Vec<Value> = c
        .get("authentication-registrations-additional-fields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .map(|f| match f.as_str() {
                    Some(s) if !s.starts_with("pup-auth-") => json!(format!("pup-auth-{s}")),
                    _ => f.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    out.insert(
        "authentication-registrations-additional-fields".into(),
        Value::Array(extra),
    );

    out.insert("application".into(), get_or(c, "application", Value::Null));
    let vcs = match c.get("vcs") {
        Some(Value::Object(vcs)) => json!({
            "authorization": "public",
            "url": get_or(vcs, "url", Value::Null),
            "branch": get_or(vcs, "branch", Value::Null),
            "username": null,
            "deploy-key-public": null,
            "latest-commit": null,
        }),
        _ => Value::Null,
    };
    out.insert("vcs".into(), vcs);
    out.insert(
        "docker".into(),
        get_or(
            c,
            "docker",
            json!({ "image-name": null, "image-tag": null, "registry-url": null }),
        ),
    );

    let mut individuals: Vec<Value> = c
        .get("individuals")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|i| {
                    let mut m = i.as_object().cloned().unwrap_or_default();
                    for key in ["field-default-value", "field-config"] {
                        m.entry(key).or_insert(Value::Null);
                    }
                    m.insert("created-at".into(), json!(now));
                    m.insert("updated-at".into(), json!(now));
                    Value::Object(m)
                })
                .collect()
        })
        .unwrap_or_default();
    let has_select = individuals
        .iter()
        .any(|i| i.get("field-type").and_then(Value::as_str) == Some("authentication_select"));
    if has_auth && !has_select {
        let order = individuals
            .iter()
            .filter_map(|i| i.get("order").and_then(Value::as_u64))
            .max()
            .unwrap_or(0)
            + 1;
        individuals.push(json!({
            "command-option": "authentication_select",
            "field-type": "authentication_select",
            "field-name": "",
            "field-required": false,
            "field-placeholder": null,
            "field-description": null,
            "field-default-value": null,
            "field-config": null,
            "order": order,
            "created-at": now,
            "updated-at": now,
        }));
    }
    out.insert("individuals".into(), Value::Array(individuals));

    out.insert("migration".into(), get_or(c, "migration", Value::Null));
    let mut execution = json!({
        "execution-mode": "as-env-variables",
        "container-api-image": "cde.emulator.local/container-api-image:1.0.0",
        "docker-host": "unix:///var/run/docker.sock",
        "container-api": { "image": null, "version-constraint": "^0.25" }
    });
    if let (Some(Value::Object(given)), Value::Object(defaults)) =
        (c.get("execution"), &mut execution)
    {
        for (k, v) in given {
            defaults.insert(k.clone(), v.clone());
        }
    }
    out.insert("execution".into(), execution);
    for key in ["export", "data-service", "container-api-config"] {
        out.insert(key.into(), get_or(c, key, Value::Null));
    }
    let datasource = if kind == "datasource" {
        json!({ "categories": ["miscellaneous"] })
    } else {
        Value::Null
    };
    out.insert("datasource".into(), get_or(c, "datasource", datasource));
    out.insert("buckets".into(), get_or(c, "buckets", json!([])));
    out.insert(
        "feature-flags".into(),
        get_or(c, "feature-flags", json!([])),
    );
    Value::Object(out)
}

/// Rename a connector (names unique among connectors not in the bin) or flip its toggle.
pub(crate) fn patch(
    store: &mut Store<CdeConnector>,
    ctx: &Ctx<'_>,
    id: &str,
    req: PatchRequest,
) -> Result<CdeConnector, ApiError> {
    live(store, ctx, id)?;
    if let Some(name) = &req.name {
        let holder = store
            .with_name(name)
            .find(|c| c.id != id && c.binned_at.is_none());
        check_new_name("connector", name, holder, || {
            bad_request(BTreeMap::from([(
                "name".to_owned(),
                "This value should not be blank.".to_owned(),
            )]))
        })?;
    }
    update_live(store, ctx, id, |c| {
        let mut changed = false;
        if let Some(name) = req.name
            && name != c.name
        {
            if let Some(Value::Array(versions)) = c.data.get_mut("versions") {
                for v in versions {
                    if let Some(m) = v.as_object_mut() {
                        m.insert("name".into(), json!(name));
                    }
                }
            }
            c.name = name;
            changed = true;
        }
        changed |= set_if_changed(&mut c.active, req.active);
        if changed {
            c.touch(ctx);
        }
        c.clone()
    })
}

/// Move a connector to the bin.
pub(crate) fn bin(
    store: &mut Store<CdeConnector>,
    ctx: &Ctx<'_>,
    id: &str,
) -> Result<(), ApiError> {
    update_live(store, ctx, id, |c| {
        c.binned_at = Some(rfc3339_offset(ctx.now));
        c.touch(ctx);
    })
}

/// Take a connector out of the bin.
pub(crate) fn restore(
    store: &mut Store<CdeConnector>,
    ctx: &Ctx<'_>,
    id: &str,
) -> Result<CdeConnector, ApiError> {
    let c = CdeApi::get(store, ctx, id)?;
    if c.binned_at.is_none() {
        return Err(ApiError::conflict(format!(
            "Connector '{id}' is not in the bin."
        )));
    }
    CdeApi::update(store, ctx, id, |c| {
        c.binned_at = None;
        c.touch(ctx);
        c.clone()
    })
}

/// What a person does in the CDE UI after a copy ("VCS will need to be updated with the
/// proper authentication"): set the VCS `authorization` and `username` of every version
/// of connector `id` (the token is kept nowhere: the platform never returns it). A write:
/// the version and `updated-at` move.
pub(crate) fn set_vcs_credentials(
    store: &mut Store<CdeConnector>,
    now: chrono::DateTime<chrono::Utc>,
    id: &str,
    authorization: &str,
    username: Option<&str>,
) -> Option<CdeConnector> {
    store.update(id, |c| {
        if let Some(Value::Array(versions)) = c.data.get_mut("versions") {
            for v in versions {
                if let Some(Value::Object(vcs)) = v.pointer_mut("/config/vcs") {
                    vcs.insert("authorization".into(), json!(authorization));
                    vcs.insert("username".into(), json!(username));
                }
            }
        }
        c.version += 1;
        c.updated_at = rfc3339_offset(now);
        c.clone()
    })
}

/// The Productsup CDE API marker.
pub(crate) struct CdeApi;

impl PlatformApi for CdeApi {
    const PLATFORM: Platform = Platform::ProductsupCde;
    type Object = CdeConnector;

    fn store(objects: &mut Objects) -> Option<&mut Store<CdeConnector>> {
        match objects {
            Objects::Cde(s) => Some(s),
            _ => None,
        }
    }

    fn authorize(emu: &Emulator, tenant: &TenantCell, headers: &HeaderMap) -> Result<(), ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "You have to be authorized to access this resource.",
            )
        };
        let token = bearer(headers).ok_or_else(unauthorized)?;
        if token == tenant.token.expose() {
            Ok(())
        } else if emu.tenants().iter().any(|t| t.token.expose() == token) {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Access denied for user.",
            ))
        } else {
            Err(unauthorized())
        }
    }

    fn not_found(ctx: &Ctx<'_>, id: &str) -> ApiError {
        ApiError::not_found(format!(
            "Connector '{id}' not found in tenant '{}'.",
            ctx.tenant.name
        ))
    }
}

/// The CDE routes, under `/tenants/{tenant}`.
pub(crate) fn routes() -> Router<AppState> {
    let base = "/tenants/{tenant}";
    Router::new()
        .route(&format!("{base}/connectors"), get(list))
        .route(&format!("{base}/connectors/copy"), post(copy_handler))
        .route(
            &format!("{base}/connectors/{{id}}"),
            get(detail).patch(patch_handler).delete(delete_handler),
        )
        .route(
            &format!("{base}/connectors/{{id}}/restore"),
            post(restore_handler),
        )
        .route(&format!("{base}/secrets"), get(secrets))
}

type Id = Path<(String, String)>;

fn envelope(message: &str, data: Value) -> Value {
    json!({ "message": message, "resource": "connector", "data": data })
}

async fn list(t: Tenant<CdeApi>, params: Params) -> Result<Response, ApiError> {
    let from = params.number("from", 0, 0, usize::MAX / 2)?;
    let limit = params.number("limit", 50, 1, 500)?;
    t.read(|store, _| {
        let mut total = 0;
        let mut data = Vec::new();
        for c in store.iter().filter(|c| c.binned_at.is_none()) {
            if total >= from && data.len() < limit {
                data.push(c.summary());
            }
            total += 1;
        }
        let next = (from + data.len() < total).then_some(from + data.len());
        let count = data.len();
        Ok(json_response(
            StatusCode::OK,
            &Page {
                message: "OK",
                resource: "connector",
                data,
                metadata: Metadata {
                    from,
                    limit,
                    count,
                    total,
                    next,
                },
            },
        ))
    })
}

async fn detail(t: Tenant<CdeApi>, Path((_, id)): Id) -> Result<Response, ApiError> {
    t.read(|store, ctx| {
        let c = live(store, ctx, &id)?;
        Ok(json_response(StatusCode::OK, &envelope("OK", c.to_data())))
    })
}

async fn copy_handler(
    t: Tenant<CdeApi>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let c = t.write(|store, ctx| copy(store, ctx, body))?;
    Ok(created(envelope("Connector created.", c.to_data())))
}

async fn patch_handler(
    t: Tenant<CdeApi>,
    Path((_, id)): Id,
    JsonBody(req): JsonBody<PatchRequest>,
) -> Result<Response, ApiError> {
    let c = t.write(|store, ctx| patch(store, ctx, &id, req))?;
    Ok(json_response(
        StatusCode::OK,
        &envelope("Connector updated.", c.to_modelled_data()),
    ))
}

async fn delete_handler(t: Tenant<CdeApi>, Path((_, id)): Id) -> Result<Response, ApiError> {
    t.write(|store, ctx| bin(store, ctx, &id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore_handler(t: Tenant<CdeApi>, Path((_, id)): Id) -> Result<Response, ApiError> {
    let c = t.write(|store, ctx| restore(store, ctx, &id))?;
    Ok(json_response(
        StatusCode::OK,
        &envelope("Connector restored.", c.to_modelled_data()),
    ))
}

async fn secrets(t: Tenant<CdeApi>) -> Result<Response, ApiError> {
    t.read(|_, ctx| {
        let data: Vec<Value> = ctx
            .catalog
            .secrets
            .iter()
            .map(|s| json!({ "vault_secret": s }))
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "OK", "resource": "secret", "data": data }),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_headers_follow_the_vendor_example() {
        assert_eq!(ini_header("amazon/seller"), "amazon::seller");
        assert_eq!(ini_header("google/io/shopping"), "google-io::shopping");
        assert_eq!(ini_header("plain"), "plain");
    }

    #[test]
    fn ids_look_like_uuids() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
        assert_eq!(user_id("a", "b"), user_id("a", "b"));
        assert_ne!(user_id("a", "b"), user_id("a", "c"));
    }

    #[test]
    fn copied_config_drops_the_token_and_fills_server_fields() {
        let config = json!({
            "secret-registrations": [{ "vault_secret": "amazon/seller" }],
            "authentication-registrations": [20, 30],
            "authentication-registrations-additional-fields": ["option-1", "pup-auth-option-2"],
            "vcs": { "authorization": "basic", "url": "https://x/r.git", "branch": "main", "username": "u", "token": "secret" },
            "individuals": [{ "command-option": "host", "field-type": "input", "order": 1 }],
            "execution": { "execution-mode": "as-env-variables" }
        });
        let out = copy_config(config.as_object().unwrap(), "datasource", "NOW");
        assert_eq!(out["vcs"]["authorization"], "public");
        assert!(out["vcs"].get("token").is_none());
        assert_eq!(out["vcs"]["username"], Value::Null);
        assert_eq!(
            out["secret-registrations"][0]["ini_header"],
            "amazon::seller"
        );
        assert_eq!(
            out["authentication-registrations-additional-fields"],
            json!(["pup-auth-option-1", "pup-auth-option-2"])
        );
        assert_eq!(out["individuals"][1]["field-type"], "authentication_select");
        assert_eq!(out["individuals"][1]["order"], 2);
        assert_eq!(out["individuals"][0]["created-at"], "NOW");
        assert_eq!(
            out["execution"]["docker-host"],
            "unix:///var/run/docker.sock"
        );
        assert_eq!(out["datasource"]["categories"], json!(["miscellaneous"]));
        assert_eq!(
            out["update-progress"],
            json!(["vcs-config", "application-config"])
        );
    }
}
