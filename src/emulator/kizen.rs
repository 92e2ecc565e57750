//! Kizen SmartConnectors: the object, the vendor rules (export never holds the Draft;
//! import skips an existing name, regenerates the Draft from the Live SQL, leaves the
//! toggle off and runs pre-activation checks; duplicate copies everything under a new
//! name, API name and owner; a live run sets `Operational` whatever the warnings) and the
//! HTTP handlers of `docs/platform-api.md`.
//!
//! Auth: `X-API-KEY` (the tenant's token) and `X-BUSINESS-ID` (its business).

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::rfc3339_z;
use super::http::{ApiError, JsonBody, Params, created};
use super::seed::SeedCatalog;
use super::server::{AppState, Ctx, PlatformApi, Tenant, delete, detail};
use super::sql;
use super::state::{
    Emulator, Entity, Objects, SeedContext, Store, TenantCell, check_new_name, set_if_changed,
};
use crate::model::{
    CheckStatus, KizenPackage, KizenReferences, KizenType, Platform, Warning, WarningKind,
};

/// Prefix of SmartConnector ids (`sc_0001`).
const ID_PREFIX: &str = "sc";

/// A SmartConnector as the detail endpoint returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SmartConnector {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) api_name: String,
    #[serde(rename = "type")]
    pub(crate) kind: KizenType,
    pub(crate) active: bool,
    pub(crate) status: CheckStatus,
    pub(crate) owner: String,
    pub(crate) live_sql: String,
    pub(crate) draft_sql: String,
    pub(crate) reference_data: Option<String>,
    pub(crate) sample_file: Option<String>,
    pub(crate) references: KizenReferences,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) version: u64,
}

impl Entity for SmartConnector {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn alt_key(&self) -> Option<&str> {
        Some(&self.api_name)
    }
}

impl SmartConnector {
    fn summary(&self) -> Summary<'_> {
        Summary {
            id: &self.id,
            name: &self.name,
            api_name: &self.api_name,
            kind: self.kind,
            active: self.active,
            status: self.status,
            updated_at: &self.updated_at,
            version: self.version,
        }
    }

    fn package(&self) -> KizenPackage {
        KizenPackage {
            name: self.name.clone(),
            api_name: self.api_name.clone(),
            kind: self.kind,
            live_sql: self.live_sql.clone(),
            reference_data: self.reference_data.clone(),
            sample_file: self.sample_file.clone(),
            references: self.references.clone(),
        }
    }

    /// Record a write: new version and timestamp.
    fn touch(&mut self, ctx: &Ctx<'_>) {
        self.version += 1;
        self.updated_at = rfc3339_z(ctx.now);
    }
}

/// One page of `GET /api/smart-connectors`.
#[derive(Serialize)]
struct Page<'a> {
    count: usize,
    next: Option<usize>,
    results: Vec<Summary<'a>>,
}

/// Answer of a created import.
#[derive(Serialize)]
struct CreatedAnswer<'a> {
    result: &'static str,
    connector: &'a SmartConnector,
}

#[derive(Serialize)]
struct Summary<'a> {
    id: &'a str,
    name: &'a str,
    api_name: &'a str,
    #[serde(rename = "type")]
    kind: KizenType,
    active: bool,
    status: CheckStatus,
    updated_at: &'a str,
    version: u64,
}

/// The object in the state dump: the detail.
pub(crate) fn state_view(c: &SmartConnector) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// A pre-existing connector in the seed: the detail shape, server fields optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedConnector {
    #[serde(default)]
    id: Option<String>,
    name: String,
    api_name: String,
    #[serde(rename = "type")]
    kind: KizenType,
    live_sql: String,
    #[serde(default)]
    draft_sql: Option<String>,
    #[serde(default)]
    reference_data: Option<String>,
    #[serde(default)]
    sample_file: Option<String>,
    #[serde(default)]
    references: KizenReferences,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    status: Option<CheckStatus>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    warnings: Option<Vec<Warning>>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    version: Option<u64>,
}

/// Build the seeded connectors; names, API names and ids must be unique.
pub(crate) fn from_seed(
    values: &[Value],
    ctx: &SeedContext<'_>,
) -> Result<Store<SmartConnector>, Vec<(usize, String)>> {
    let mut store = Store::default();
    let mut errors = Vec::new();
    let now = rfc3339_z(ctx.now);
    let mut parsed = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match serde_json::from_value::<SeedConnector>(v.clone()) {
            Ok(c) => parsed.push((i, c)),
            Err(e) => errors.push((i, format!("not a SmartConnector: {e}"))),
        }
    }
    // Given ids first, so generated ones avoid them.
    for (i, c) in &parsed {
        if let Some(id) = &c.id
            && store.get(id).is_some()
        {
            errors.push((*i, format!("id '{id}' is used twice")));
        } else if let Some(id) = &c.id {
            store.insert(placeholder(id));
        }
    }
    let mut built = Vec::new();
    for (i, c) in parsed {
        if let Some((j, _)) = built
            .iter()
            .find(|(_, b): &&(usize, SmartConnector)| b.name == c.name)
        {
            errors.push((
                i,
                format!("name '{}' is already used by objects[{j}]", c.name),
            ));
            continue;
        }
        if let Some((j, _)) = built
            .iter()
            .find(|(_, b): &&(usize, SmartConnector)| b.api_name == c.api_name)
        {
            errors.push((
                i,
                format!("API name '{}' is already used by objects[{j}]", c.api_name),
            ));
            continue;
        }
        let id = c.id.clone().unwrap_or_else(|| store.fresh_id(ID_PREFIX));
        let warnings = c
            .warnings
            .unwrap_or_else(|| checks(&c.references, ctx.catalog));
        let status = c.status.unwrap_or_else(|| status_of(&warnings));
        let created_at = c.created_at.unwrap_or_else(|| now.clone());
        built.push((
            i,
            SmartConnector {
                id,
                draft_sql: c.draft_sql.unwrap_or_else(|| c.live_sql.clone()),
                name: c.name,
                api_name: c.api_name,
                kind: c.kind,
                active: c.active,
                status,
                owner: c.owner.unwrap_or_else(|| ctx.user.to_owned()),
                live_sql: c.live_sql,
                reference_data: c.reference_data,
                sample_file: c.sample_file,
                references: c.references,
                warnings,
                updated_at: c.updated_at.unwrap_or_else(|| created_at.clone()),
                created_at,
                version: c.version.unwrap_or(1),
            },
        ));
    }
    if !errors.is_empty() {
        errors.sort_by_key(|(i, _)| *i);
        return Err(errors);
    }
    let next = store.next_number();
    Ok(Store::from_objects(
        built.into_iter().map(|(_, c)| c).collect(),
        next,
    ))
}

fn placeholder(id: &str) -> SmartConnector {
    SmartConnector {
        id: id.to_owned(),
        name: String::new(),
        api_name: String::new(),
        kind: KizenType::Spreadsheet,
        active: false,
        status: CheckStatus::Operational,
        owner: String::new(),
        live_sql: String::new(),
        draft_sql: String::new(),
        reference_data: None,
        sample_file: None,
        references: KizenReferences::default(),
        warnings: Vec::new(),
        created_at: String::new(),
        updated_at: String::new(),
        version: 0,
    }
}

/// Pre-activation checks: every reference the catalog does not hold is a warning of its
/// kind (agentic workflow, seeding filter group, matching or mapping field).
pub(crate) fn checks(refs: &KizenReferences, catalog: &SeedCatalog) -> Vec<Warning> {
    let missing = |names: &[String], known: &[String], kind: WarningKind| -> Vec<Warning> {
        names
            .iter()
            .filter(|n| !known.contains(n))
            .map(|n| Warning {
                kind,
                reference: n.clone(),
            })
            .collect()
    };
    let mut out = missing(
        &refs.agentic_workflows,
        &catalog.agentic_workflows,
        WarningKind::AgenticWorkflow,
    );
    out.extend(missing(
        &refs.filter_groups,
        &catalog.filter_groups,
        WarningKind::SeedingFilterGroup,
    ));
    out.extend(missing(
        &refs.field_mappings,
        &catalog.fields,
        WarningKind::FieldReference,
    ));
    out
}

/// `Operational` without warnings, `Operational (Needs Attention)` with.
pub(crate) fn status_of(warnings: &[Warning]) -> CheckStatus {
    if warnings.is_empty() {
        CheckStatus::Operational
    } else {
        CheckStatus::NeedsAttention
    }
}

/// What an import did.
#[derive(Debug, PartialEq)]
pub(crate) enum Imported {
    /// The name exists: nothing changed.
    Skipped {
        /// The connector holding the name.
        existing_id: String,
        /// Why, for people.
        reason: String,
    },
    /// A new connector.
    Created(Box<SmartConnector>),
}

fn failed(status: StatusCode, message: String, field: &str, detail: String) -> ApiError {
    ApiError::body(
        status,
        json!({ "result": "failed", "message": message, "errors": { field: detail } }),
    )
}

fn name_holder<'a>(
    store: &'a Store<SmartConnector>,
    name: &str,
    except: &str,
) -> Option<&'a SmartConnector> {
    store.named(name, except)
}

fn api_name_holder<'a>(
    store: &'a Store<SmartConnector>,
    api_name: &str,
    except: &str,
) -> Option<&'a SmartConnector> {
    store.with_alt_key(api_name).find(|c| c.id != except)
}

/// Import a package (see the module docs for the rules).
pub(crate) fn import(
    store: &mut Store<SmartConnector>,
    ctx: &Ctx<'_>,
    pkg: KizenPackage,
) -> Result<Imported, ApiError> {
    if let Some(existing) = name_holder(store, &pkg.name, "") {
        return Ok(Imported::Skipped {
            existing_id: existing.id.clone(),
            reason: format!(
                "A SmartConnector named '{}' already exists in business {} ({}); the import was skipped. Delete or rename it first to re-import.",
                pkg.name, ctx.tenant.business, existing.id
            ),
        });
    }
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    if pkg.name.trim().is_empty() {
        return Err(failed(
            unprocessable,
            "Import failed: the package has no name.".to_owned(),
            "name",
            "The name is empty.".to_owned(),
        ));
    }
    if pkg.api_name.trim().is_empty() {
        return Err(failed(
            unprocessable,
            format!(
                "Import of '{}' failed: the package has no API name.",
                pkg.name
            ),
            "api_name",
            "The API name is empty.".to_owned(),
        ));
    }
    if let Err(why) = sql::check(&pkg.live_sql) {
        return Err(failed(
            unprocessable,
            format!(
                "Import of '{}' failed: {why}. Nothing was created.",
                pkg.name
            ),
            "live_sql",
            why,
        ));
    }
    if let Some(holder) = api_name_holder(store, &pkg.api_name, "") {
        return Err(failed(
            StatusCode::CONFLICT,
            format!(
                "Import of '{}' failed: API name '{}' is already used by '{}' ({}). Change that connector's API name or delete it first. Nothing was created.",
                pkg.name, pkg.api_name, holder.name, holder.id
            ),
            "api_name",
            format!("API name '{}' is already in use.", pkg.api_name),
        ));
    }
    let warnings = checks(&pkg.references, ctx.catalog);
    let now = rfc3339_z(ctx.now);
    let connector = SmartConnector {
        id: store.fresh_id(ID_PREFIX),
        name: pkg.name,
        api_name: pkg.api_name,
        kind: pkg.kind,
        active: ctx.activate_on_create,
        status: status_of(&warnings),
        owner: ctx.tenant.user.clone(),
        draft_sql: regenerate_draft(&pkg.live_sql),
        live_sql: pkg.live_sql,
        reference_data: pkg.reference_data,
        sample_file: pkg.sample_file,
        references: pkg.references,
        warnings,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    Ok(Imported::Created(Box::new(store.insert(connector).clone())))
}

/// The Draft an import creates from the Live SQL: the same script.
fn regenerate_draft(live_sql: &str) -> String {
    live_sql.to_owned()
}

/// Body of `POST …/{id}/duplicate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DuplicateRequest {
    name: String,
    #[serde(default)]
    api_name: Option<String>,
}

/// Duplicate a connector of this business.
pub(crate) fn duplicate(
    store: &mut Store<SmartConnector>,
    ctx: &Ctx<'_>,
    id: &str,
    req: DuplicateRequest,
) -> Result<SmartConnector, ApiError> {
    let source = KizenApi::get(store, ctx, id)?.clone();
    if req.name.trim().is_empty() {
        return Err(ApiError::unprocessable("The duplicate's name is empty."));
    }
    if let Some(holder) = name_holder(store, &req.name, "") {
        return Err(ApiError::conflict(format!(
            "A SmartConnector named '{}' already exists ({}); choose another name for the duplicate.",
            req.name, holder.id
        )));
    }
    let api_name = match req.api_name {
        Some(a) if a.trim().is_empty() => {
            return Err(ApiError::unprocessable(
                "The duplicate's API name is empty.",
            ));
        }
        Some(a) => {
            if let Some(holder) = api_name_holder(store, &a, "") {
                return Err(ApiError::conflict(format!(
                    "API name '{a}' is already used by '{}' ({}); choose another API name for the duplicate.",
                    holder.name, holder.id
                )));
            }
            a
        }
        None => free_api_name(store, &req.name),
    };
    let warnings = checks(&source.references, ctx.catalog);
    let now = rfc3339_z(ctx.now);
    let copy = SmartConnector {
        id: store.fresh_id(ID_PREFIX),
        name: req.name,
        api_name,
        active: ctx.activate_on_create,
        status: status_of(&warnings),
        owner: ctx.tenant.user.clone(),
        warnings,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
        ..source
    };
    Ok(store.insert(copy).clone())
}

/// An API name derived from `name` (lowercase, `_` between words), made unique with a
/// `_2`, `_3`… suffix.
fn free_api_name(store: &Store<SmartConnector>, name: &str) -> String {
    let mut base = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            base.push(c.to_ascii_lowercase());
        } else if !base.ends_with('_') {
            base.push('_');
        }
    }
    let base = base.trim_matches('_');
    let base = if base.is_empty() { "connector" } else { base };
    let mut candidate = base.to_owned();
    let mut n = 1;
    while api_name_holder(store, &candidate, "").is_some() {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

/// Body of `PATCH …/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    api_name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

/// Rename, change the API name, or flip the active toggle.
pub(crate) fn patch(
    store: &mut Store<SmartConnector>,
    ctx: &Ctx<'_>,
    id: &str,
    req: PatchRequest,
) -> Result<SmartConnector, ApiError> {
    KizenApi::get(store, ctx, id)?;
    if let Some(name) = &req.name {
        check_new_name("SmartConnector", name, name_holder(store, name, id), || {
            ApiError::unprocessable("The name is empty.")
        })?;
    }
    if let Some(api_name) = &req.api_name {
        if api_name.trim().is_empty() {
            return Err(ApiError::unprocessable("The API name is empty."));
        }
        if let Some(holder) = api_name_holder(store, api_name, id) {
            return Err(ApiError::conflict(format!(
                "API name '{api_name}' is already used by '{}' ({}); choose another API name.",
                holder.name, holder.id
            )));
        }
    }
    KizenApi::update(store, ctx, id, |c| {
        let changed = set_if_changed(&mut c.name, req.name)
            | set_if_changed(&mut c.api_name, req.api_name)
            | set_if_changed(&mut c.active, req.active);
        if changed {
            c.touch(ctx);
        }
        c.clone()
    })
}

/// Re-run pre-activation checks against the current catalog.
pub(crate) fn recheck(
    store: &mut Store<SmartConnector>,
    ctx: &Ctx<'_>,
    id: &str,
) -> Result<(CheckStatus, Vec<Warning>), ApiError> {
    KizenApi::update(store, ctx, id, |c| {
        let warnings = checks(&c.references, ctx.catalog);
        let status = status_of(&warnings);
        if warnings != c.warnings || status != c.status {
            c.warnings = warnings;
            c.status = status;
            c.touch(ctx);
        }
        (c.status, c.warnings.clone())
    })
}

/// A simulated live run: the status becomes `Operational` whatever the warnings (the
/// platform's documented caveat); the warnings stay.
pub(crate) fn run(
    store: &mut Store<SmartConnector>,
    ctx: &Ctx<'_>,
    id: &str,
) -> Result<SmartConnector, ApiError> {
    KizenApi::update(store, ctx, id, |c| {
        if c.status != CheckStatus::Operational {
            c.status = CheckStatus::Operational;
            c.touch(ctx);
        }
        c.clone()
    })
}

/// The Kizen API marker.
pub(crate) struct KizenApi;

impl PlatformApi for KizenApi {
    const PLATFORM: Platform = Platform::Kizen;
    type Object = SmartConnector;

    fn store(objects: &mut Objects) -> Option<&mut Store<SmartConnector>> {
        match objects {
            Objects::Kizen(s) => Some(s),
            _ => None,
        }
    }

    fn authorize(
        _emu: &Emulator,
        tenant: &TenantCell,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key != Some(tenant.token.expose()) {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Invalid API key."));
        }
        match headers
            .get("x-business-id")
            .map(|v| v.to_str().unwrap_or(""))
        {
            None => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "X-BUSINESS-ID header is missing: set it to the business the API key belongs to.",
            )),
            Some(b) if b == tenant.business => Ok(()),
            Some(b) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("API key has no access to business {b}."),
            )),
        }
    }

    fn not_found(ctx: &Ctx<'_>, id: &str) -> ApiError {
        ApiError::not_found(format!(
            "SmartConnector '{id}' not found in business {} (tenant '{}').",
            ctx.tenant.business, ctx.tenant.name
        ))
    }
}

/// The Kizen routes, under `/tenants/{tenant}`.
pub(crate) fn routes() -> Router<AppState> {
    let base = "/tenants/{tenant}/api/smart-connectors";
    Router::new()
        .route(base, get(list))
        .route(&format!("{base}/import"), post(import_handler))
        .route(
            &format!("{base}/{{id}}"),
            get(detail::<KizenApi>)
                .patch(patch_handler)
                .delete(delete::<KizenApi>),
        )
        .route(&format!("{base}/{{id}}/export"), get(export))
        .route(&format!("{base}/{{id}}/duplicate"), post(duplicate_handler))
        .route(&format!("{base}/{{id}}/checks"), post(checks_handler))
        .route(&format!("{base}/{{id}}/run"), post(run_handler))
        .route("/tenants/{tenant}/api/catalog", get(catalog))
}

type Id = axum::extract::Path<(String, String)>;

async fn list(t: Tenant<KizenApi>, params: Params) -> Result<Response, ApiError> {
    let page = params.number("page", 1, 1, usize::MAX / 1000)?;
    let size = params.number("page_size", 100, 1, 500)?;
    t.read(|store, _| {
        let total = store.len();
        let skip = (page - 1) * size;
        let results: Vec<Summary<'_>> = store
            .iter()
            .skip(skip)
            .take(size)
            .map(SmartConnector::summary)
            .collect();
        let next = (skip + results.len() < total).then_some(page + 1);
        Ok(super::server::json_response(
            StatusCode::OK,
            &Page {
                count: total,
                next,
                results,
            },
        ))
    })
}

async fn export(
    t: Tenant<KizenApi>,
    axum::extract::Path((_, id)): Id,
) -> Result<Response, ApiError> {
    t.read(|store, ctx| {
        let c = KizenApi::get(store, ctx, &id)?;
        Ok(super::server::json_response(StatusCode::OK, &c.package()))
    })
}

async fn import_handler(
    t: Tenant<KizenApi>,
    JsonBody(pkg): JsonBody<KizenPackage>,
) -> Result<Response, ApiError> {
    match t.write(|store, ctx| import(store, ctx, pkg))? {
        Imported::Skipped {
            existing_id,
            reason,
        } => Ok((
            StatusCode::OK,
            axum::Json(
                json!({ "result": "skipped", "reason": reason, "existing_id": existing_id }),
            ),
        )
            .into_response()),
        Imported::Created(c) => Ok(created(CreatedAnswer {
            result: "created",
            connector: &c,
        })),
    }
}

async fn duplicate_handler(
    t: Tenant<KizenApi>,
    axum::extract::Path((_, id)): Id,
    JsonBody(req): JsonBody<DuplicateRequest>,
) -> Result<Response, ApiError> {
    let c = t.write(|store, ctx| duplicate(store, ctx, &id, req))?;
    Ok(created(c))
}

async fn patch_handler(
    t: Tenant<KizenApi>,
    axum::extract::Path((_, id)): Id,
    JsonBody(req): JsonBody<PatchRequest>,
) -> Result<Response, ApiError> {
    let c = t.write(|store, ctx| patch(store, ctx, &id, req))?;
    Ok(axum::Json(c).into_response())
}

async fn checks_handler(
    t: Tenant<KizenApi>,
    axum::extract::Path((_, id)): Id,
) -> Result<Response, ApiError> {
    let (status, warnings) = t.write(|store, ctx| recheck(store, ctx, &id))?;
    Ok(axum::Json(json!({ "status": status, "warnings": warnings })).into_response())
}

async fn run_handler(
    t: Tenant<KizenApi>,
    axum::extract::Path((_, id)): Id,
) -> Result<Response, ApiError> {
    let c = t.write(|store, ctx| run(store, ctx, &id))?;
    Ok(axum::Json(c).into_response())
}

async fn catalog(t: Tenant<KizenApi>) -> Result<Response, ApiError> {
    t.read(|_, ctx| {
        let c = ctx.catalog;
        Ok(axum::Json(json!({
            "agentic_workflows": c.agentic_workflows,
            "filter_groups": c.filter_groups,
            "fields": c.fields,
        }))
        .into_response())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> SeedCatalog {
        SeedCatalog {
            agentic_workflows: vec!["Lead Router".into()],
            filter_groups: vec!["EU Leads".into()],
            fields: vec!["contacts.email".into()],
            ..SeedCatalog::default()
        }
    }

    #[test]
    fn unresolved_references_are_warnings_of_their_kind() {
        let refs = KizenReferences {
            agentic_workflows: vec!["Lead Router".into(), "Missing Flow".into()],
            filter_groups: vec!["US Leads".into()],
            field_mappings: vec!["contacts.email".into(), "contacts.fax".into()],
        };
        let w = checks(&refs, &catalog());
        assert_eq!(
            w,
            vec![
                Warning {
                    kind: WarningKind::AgenticWorkflow,
                    reference: "Missing Flow".into()
                },
                Warning {
                    kind: WarningKind::SeedingFilterGroup,
                    reference: "US Leads".into()
                },
                Warning {
                    kind: WarningKind::FieldReference,
                    reference: "contacts.fax".into()
                },
            ]
        );
        assert_eq!(status_of(&w), CheckStatus::NeedsAttention);
        assert_eq!(status_of(&[]), CheckStatus::Operational);
    }

    #[test]
    fn derived_api_names_are_unique() {
        let mut store = Store::default();
        let mut c = placeholder("sc_0001");
        c.api_name = "orders_sync".into();
        store.insert(c);
        assert_eq!(free_api_name(&store, "Orders Sync"), "orders_sync_2");
        assert_eq!(free_api_name(&store, "  Leads -> CRM! "), "leads_crm");
        assert_eq!(free_api_name(&store, "!!!"), "connector");
    }
}
