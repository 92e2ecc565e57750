//! Agent Studio plugins: the object, installation links and the vendor rules (only
//! published plugins export; a link is valid 24 hours and its template drops the
//! connectors; install selects connectors (by name, modelled) and resolves name conflicts;
//! webhook plugins cannot be installed; no install across data centers; installing into
//! the same environment works and duplicates, the default; an update is delete and
//! redeploy) and the HTTP handlers of `docs/platform-api.md`.
//!
//! Links are shared by every tenant of one emulator, so a link exported from one tenant
//! installs into another. Auth: `Authorization: Bearer <token>`.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::rfc3339_z;
use super::http::{ApiError, JsonBody, Params, created};
use super::server::{
    AppState, Ctx, PatchRequest, PlatformApi, Tenant, delete, detail, json_response,
};
use super::state::{
    Emulator, Entity, Objects, SeedContext, Store, TenantCell, check_new_name, lock, set_if_changed,
};
use crate::model::{Platform, PluginState, PluginTrigger};

const ID_PREFIX: &str = "pl";

/// How long an installation link stays valid.
pub(crate) const LINK_VALIDITY: TimeDelta = TimeDelta::hours(24);

/// A plugin as the detail endpoint returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Plugin {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) state: PluginState,
    pub(crate) trigger: PluginTrigger,
    pub(crate) connectors: Vec<String>,
    pub(crate) actions: Value,
    pub(crate) active: bool,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) version: u64,
}

impl Entity for Plugin {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// One page of `GET /api/v1/plugins`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page<'a> {
    items: Vec<Summary<'a>>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    id: &'a str,
    name: &'a str,
    state: PluginState,
    trigger: PluginTrigger,
    active: bool,
    updated_at: &'a str,
    version: u64,
}

impl Plugin {
    fn summary(&self) -> Summary<'_> {
        Summary {
            id: &self.id,
            name: &self.name,
            state: self.state,
            trigger: self.trigger,
            active: self.active,
            updated_at: &self.updated_at,
            version: self.version,
        }
    }
}

/// The object in the state dump: the detail.
pub(crate) fn state_view(p: &Plugin) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// What an installation link carries: the plugin without its connectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Template {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) trigger: PluginTrigger,
    pub(crate) actions: Value,
}

/// An installation link issued by a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Link {
    /// The opaque token at the end of the link.
    pub(crate) token: String,
    /// The tenant that issued it.
    pub(crate) issuer: String,
    /// The issuer's data center.
    pub(crate) region: String,
    /// The plugin it installs.
    pub(crate) template: Template,
    /// The plugin it was exported from (none for `POST /api/v1/templates`).
    pub(crate) source_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

fn link_url(base: Option<&str>, link: &Link) -> String {
    format!(
        "{}/tenants/{}/install/{}",
        base.unwrap_or(""),
        link.issuer,
        link.token
    )
}

/// A link in the state dump.
pub(crate) fn link_view(l: &Link, base: Option<&str>, now: DateTime<Utc>) -> Value {
    json!({
        "link": link_url(base, l),
        "issuer": l.issuer,
        "region": l.region,
        "sourceId": l.source_id,
        "name": l.template.name,
        "trigger": l.template.trigger,
        "createdAt": rfc3339_z(l.created_at),
        "expiresAt": rfc3339_z(l.expires_at),
        "expired": now >= l.expires_at,
    })
}

/// A pre-existing plugin in the seed: the detail shape, server fields optional.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedPlugin {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    state: PluginState,
    trigger: PluginTrigger,
    #[serde(default)]
    connectors: Vec<String>,
    #[serde(default)]
    actions: Value,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    version: Option<u64>,
}

/// Build the seeded plugins; ids must be unique.
pub(crate) fn from_seed(
    values: &[Value],
    ctx: &SeedContext<'_>,
) -> Result<Store<Plugin>, Vec<(usize, String)>> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match serde_json::from_value::<SeedPlugin>(v.clone()) {
            Ok(p) => parsed.push((i, p)),
            Err(e) => errors.push((i, format!("not an Agent Studio plugin: {e}"))),
        }
    }
    let mut ids: Store<Plugin> = Store::default();
    for (i, p) in &parsed {
        if let Some(id) = &p.id {
            if ids.get(id).is_some() {
                errors.push((*i, format!("id '{id}' is used twice")));
            } else {
                ids.insert(bare(id));
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|(i, _)| *i);
        return Err(errors);
    }
    let now = rfc3339_z(ctx.now);
    let mut built = Vec::new();
    for (_, p) in parsed {
        let id = p.id.unwrap_or_else(|| ids.fresh_id(ID_PREFIX));
        let created_at = p.created_at.unwrap_or_else(|| now.clone());
        built.push(Plugin {
            id,
            name: p.name,
            description: p.description,
            state: p.state,
            trigger: p.trigger,
            connectors: p.connectors,
            actions: p.actions,
            active: p.active,
            updated_at: p.updated_at.unwrap_or_else(|| created_at.clone()),
            created_at,
            version: p.version.unwrap_or(1),
        });
    }
    Ok(Store::from_objects(built, ids.next_number()))
}

fn bare(id: &str) -> Plugin {
    Plugin {
        id: id.to_owned(),
        name: String::new(),
        description: None,
        state: PluginState::Draft,
        trigger: PluginTrigger::Conversational,
        connectors: Vec::new(),
        actions: Value::Null,
        active: false,
        created_at: String::new(),
        updated_at: String::new(),
        version: 0,
    }
}

fn draft_refused(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "Plugin '{name}' is a draft: publish it before exporting."
    ))
}

/// The template an export of plugin `id` carries; drafts cannot be exported.
pub(crate) fn export(store: &Store<Plugin>, ctx: &Ctx<'_>, id: &str) -> Result<Template, ApiError> {
    let p = AgentStudioApi::get(store, ctx, id)?;
    if p.state != PluginState::Published {
        return Err(draft_refused(&p.name));
    }
    Ok(Template {
        name: p.name.clone(),
        description: p.description.clone(),
        trigger: p.trigger,
        actions: p.actions.clone(),
    })
}

/// Issue a link for `template` from `issuer`, valid 24 hours from `now`.
pub(crate) fn issue(
    emu: &Emulator,
    issuer: &TenantCell,
    template: Template,
    source_id: Option<String>,
    now: DateTime<Utc>,
) -> Link {
    let link = Link {
        token: format!("{:032x}", rand::random::<u128>()),
        issuer: issuer.name.clone(),
        region: issuer.region.clone(),
        template,
        source_id,
        created_at: now,
        expires_at: now + LINK_VALIDITY,
    };
    lock(&emu.links).insert(link.token.clone(), link.clone());
    emu.mark_dirty();
    link
}

/// The wizard's name-conflict choice (modelled; the guide says the wizard makes a person
/// "resolve any name conflicts").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnConflict {
    /// Refuse the install.
    Fail,
    /// Install under the first free name `<name> (2)`, `<name> (3)`, …: the default, as
    /// "if you import a plugin into the same environment … it will work, but it will
    /// duplicate the plugin".
    #[default]
    NewName,
}

/// Body of `POST /api/v1/install`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InstallRequest {
    link: String,
    #[serde(default)]
    connectors: Vec<String>,
    #[serde(default)]
    on_conflict: OnConflict,
}

/// The token of an installation link (the link itself, or only its token).
fn link_token(link: &str) -> &str {
    let link = link.trim().trim_end_matches('/');
    link.rsplit_once("/install/").map_or(link, |(_, t)| t)
}

fn expired(link: &Link) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        format!(
            "This installation link expired at {} (links are valid for 24 hours); export the plugin '{}' again to get a new link.",
            rfc3339_z(link.expires_at),
            link.template.name
        ),
    )
}

/// Check a link can be installed here (expiry, region, trigger); the error says why not.
pub(crate) fn admit_link(
    link: &Link,
    tenant: &TenantCell,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if now >= link.expires_at {
        return Err(expired(link));
    }
    if link.region != tenant.region {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Installation links cannot be used across data centers (link: {}, tenant: {}).",
                link.region, tenant.region
            ),
        ));
    }
    if link.template.trigger == PluginTrigger::Webhook {
        return Err(ApiError::unprocessable(format!(
            "Plugin '{}' is webhook-triggered and cannot be installed: create the webhook in this tenant and copy the assets over.",
            link.template.name
        )));
    }
    Ok(())
}

/// Install `template` into this tenant with `connectors` bound (each must exist in the
/// tenant's catalog) and the name conflict resolved as asked.
pub(crate) fn install(
    store: &mut Store<Plugin>,
    ctx: &Ctx<'_>,
    template: Template,
    connectors: Vec<String>,
    on_conflict: OnConflict,
) -> Result<Plugin, ApiError> {
    let missing: BTreeMap<String, String> = connectors
        .iter()
        .enumerate()
        .filter(|(_, c)| !ctx.catalog.connectors.contains(c))
        .map(|(i, c)| {
            (
                format!("connectors[{i}]"),
                format!("Connector '{c}' does not exist in this tenant."),
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::with_errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Cannot install '{}': bind connectors that exist in tenant '{}' (see GET /api/v1/connectors).",
                template.name, ctx.tenant.name
            ),
            missing,
        ));
    }
    let name = match store.named(&template.name, "") {
        None => template.name,
        Some(existing) if on_conflict == OnConflict::Fail => {
            return Err(ApiError::conflict(format!(
                "A plugin named '{}' already exists in tenant '{}' ({}); install with onConflict \"new-name\", or delete it first to redeploy.",
                template.name, ctx.tenant.name, existing.id
            )));
        }
        Some(_) => free_name(store, &template.name),
    };
    let now = rfc3339_z(ctx.now);
    let plugin = Plugin {
        id: store.fresh_id(ID_PREFIX),
        name,
        description: template.description,
        state: PluginState::Published,
        trigger: template.trigger,
        connectors,
        actions: template.actions,
        active: ctx.activate_on_create,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    Ok(store.insert(plugin).clone())
}

fn free_name(store: &Store<Plugin>, name: &str) -> String {
    (2..)
        .map(|n| format!("{name} ({n})"))
        .find(|candidate| store.iter().all(|p| &p.name != candidate))
        .unwrap_or_else(|| name.to_owned())
}

/// Rename a plugin or flip its active toggle.
pub(crate) fn patch(
    store: &mut Store<Plugin>,
    ctx: &Ctx<'_>,
    id: &str,
    req: PatchRequest,
) -> Result<Plugin, ApiError> {
    AgentStudioApi::get(store, ctx, id)?;
    if let Some(name) = &req.name {
        check_new_name("plugin", name, store.named(name, id), || {
            ApiError::unprocessable("The name is empty.")
        })?;
    }
    AgentStudioApi::update(store, ctx, id, |p| {
        let changed =
            set_if_changed(&mut p.name, req.name) | set_if_changed(&mut p.active, req.active);
        if changed {
            p.version += 1;
            p.updated_at = rfc3339_z(ctx.now);
        }
        p.clone()
    })
}

/// Body of `POST /api/v1/templates`: a plugin kept in git (connectors are ignored: a
/// template never carries them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TemplateRequest {
    name: String,
    #[serde(default)]
    description: Option<String>,
    state: PluginState,
    trigger: PluginTrigger,
    #[serde(default)]
    actions: Value,
    /// Accepted so a `PluginBody` can be sent as is; never kept.
    #[serde(default, rename = "connectors")]
    _connectors: Vec<String>,
}

/// The Agent Studio API marker.
pub(crate) struct AgentStudioApi;

impl PlatformApi for AgentStudioApi {
    const PLATFORM: Platform = Platform::AgentStudio;
    type Object = Plugin;

    fn store(objects: &mut Objects) -> Option<&mut Store<Plugin>> {
        match objects {
            Objects::AgentStudio(s) => Some(s),
            _ => None,
        }
    }

    fn authorize(
        _emu: &Emulator,
        tenant: &TenantCell,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if bearer(headers) == Some(tenant.token.expose()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: missing or invalid bearer token.",
            ))
        }
    }

    fn not_found(ctx: &Ctx<'_>, id: &str) -> ApiError {
        ApiError::not_found(format!(
            "Plugin '{id}' not found in tenant '{}'.",
            ctx.tenant.name
        ))
    }
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The Agent Studio routes, under `/tenants/{tenant}`.
pub(crate) fn routes() -> Router<AppState> {
    let base = "/tenants/{tenant}/api/v1";
    Router::new()
        .route(&format!("{base}/plugins"), get(list))
        .route(
            &format!("{base}/plugins/{{id}}"),
            get(detail::<AgentStudioApi>)
                .patch(patch_handler)
                .delete(delete::<AgentStudioApi>),
        )
        .route(
            &format!("{base}/plugins/{{id}}/export"),
            post(export_handler),
        )
        .route(&format!("{base}/templates"), post(template_handler))
        .route(&format!("{base}/install"), post(install_handler))
        .route(&format!("{base}/connectors"), get(connectors))
        .route("/tenants/{tenant}/install/{token}", get(link_handler))
}

type Id = Path<(String, String)>;

async fn list(t: Tenant<AgentStudioApi>, params: Params) -> Result<Response, ApiError> {
    let cursor = match params.get("cursor") {
        None | Some("") => 0,
        Some(c) => c.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "Cursor '{c}' is not valid; pass the nextCursor of the previous page, or none for the first."
            ))
        })?,
    };
    let limit = params.number("limit", 100, 1, 500)?;
    t.read(|store, _| {
        let items: Vec<Summary<'_>> = store
            .iter()
            .skip(cursor)
            .take(limit)
            .map(Plugin::summary)
            .collect();
        let next = (cursor + items.len() < store.len()).then(|| (cursor + items.len()).to_string());
        Ok(json_response(
            StatusCode::OK,
            &Page {
                items,
                next_cursor: next,
            },
        ))
    })
}

fn link_response(emu: &Emulator, link: &Link) -> Response {
    let base = emu.addr.get().map(|a| format!("http://{a}"));
    created(json!({
        "link": link_url(base.as_deref(), link),
        "expiresAt": rfc3339_z(link.expires_at),
    }))
}

async fn export_handler(
    t: Tenant<AgentStudioApi>,
    Path((_, id)): Id,
) -> Result<Response, ApiError> {
    let (template, now) = t.read(|store, ctx| Ok((export(store, ctx, &id)?, ctx.now)))?;
    let link = issue(&t.emu, &t.cell, template, Some(id), now);
    Ok(link_response(&t.emu, &link))
}

async fn template_handler(
    t: Tenant<AgentStudioApi>,
    JsonBody(req): JsonBody<TemplateRequest>,
) -> Result<Response, ApiError> {
    if req.state != PluginState::Published {
        return Err(draft_refused(&req.name));
    }
    if req.name.trim().is_empty() {
        return Err(ApiError::unprocessable("The template's name is empty."));
    }
    let template = Template {
        name: req.name,
        description: req.description,
        trigger: req.trigger,
        actions: req.actions,
    };
    let link = issue(&t.emu, &t.cell, template, None, t.emu.now());
    Ok(link_response(&t.emu, &link))
}

fn find_link(emu: &Emulator, token: &str) -> Result<Link, ApiError> {
    lock(&emu.links).get(token).cloned().ok_or_else(|| {
        ApiError::not_found(
            "This installation link is not known to this Agent Studio; export the plugin again to get a new link.",
        )
    })
}

async fn install_handler(
    t: Tenant<AgentStudioApi>,
    JsonBody(req): JsonBody<InstallRequest>,
) -> Result<Response, ApiError> {
    let link = find_link(&t.emu, link_token(&req.link))?;
    admit_link(&link, &t.cell, t.emu.now())?;
    let plugin =
        t.write(|store, ctx| install(store, ctx, link.template, req.connectors, req.on_conflict))?;
    Ok(created(plugin))
}

async fn link_handler(
    t: Tenant<AgentStudioApi>,
    Path((_, token)): Id,
) -> Result<Response, ApiError> {
    let link = find_link(&t.emu, &token)?;
    if t.emu.now() >= link.expires_at {
        return Err(expired(&link));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "template": link.template,
            "region": link.region,
            "issuer": link.issuer,
            "expiresAt": rfc3339_z(link.expires_at),
        }),
    ))
}

async fn patch_handler(
    t: Tenant<AgentStudioApi>,
    Path((_, id)): Id,
    JsonBody(req): JsonBody<PatchRequest>,
) -> Result<Response, ApiError> {
    let p = t.write(|store, ctx| patch(store, ctx, &id, req))?;
    Ok(json_response(StatusCode::OK, &p))
}

async fn connectors(t: Tenant<AgentStudioApi>) -> Result<Response, ApiError> {
    t.read(|_, ctx| {
        let items: Vec<Value> = ctx
            .catalog
            .connectors
            .iter()
            .map(|c| json!({ "name": c }))
            .collect();
        Ok(json_response(StatusCode::OK, &json!({ "items": items })))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_come_from_the_url_or_alone() {
        assert_eq!(link_token("http://h/tenants/a/install/abc123"), "abc123");
        assert_eq!(link_token(" http://h/tenants/a/install/abc123/ "), "abc123");
        assert_eq!(link_token("abc123"), "abc123");
    }

    #[test]
    fn new_names_count_up() {
        let mut s = Store::default();
        let mut p = bare("pl_0001");
        p.name = "PTO Balance".into();
        s.insert(p);
        let mut q = bare("pl_0002");
        q.name = "PTO Balance (2)".into();
        s.insert(q);
        assert_eq!(free_name(&s, "PTO Balance"), "PTO Balance (3)");
    }

    #[test]
    fn bearer_is_parsed_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
