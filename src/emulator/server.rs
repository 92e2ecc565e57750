//! The HTTP server: routing of the three platform APIs under `/tenants/{tenant}`, the
//! request admission every platform call goes through (tenant look-up, faults, auth), the
//! lost-answer fault applied after a request is handled, the control endpoints under
//! `/_emulator`, the background saver of the state file, and [`spawn`] with its
//! [`EmulatorHandle`].
//!
//! Locks are taken only inside the synchronous closures of [`Tenant::read`] and
//! [`Tenant::write`]; no lock is held across an `.await`. Hanging requests and added
//! latency wait on timers and the shutdown token, so they never block other tenants.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{
    DefaultBodyLimit, FromRequestParts, MatchedPath, Path, RawPathParams, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::rfc3339_z;
use super::error::{Error, Result};
use super::faults::{Faults, LoseResponse, MutatingOperation, Outcome, RateLimit};
use super::http::{ApiError, JsonBody, MAX_BODY_BYTES};
use super::seed::{Seed, SeedCatalog};
use super::state::{CatalogUpdate, Emulator, Entity, Objects, Store, TenantCell, TenantData};
use super::{agent_studio, cde, kizen};
use crate::model::Platform;

/// The state every handler shares.
pub(crate) type AppState = Arc<Emulator>;

/// How long the saver waits after a write for more writes before saving.
const SAVE_DEBOUNCE: Duration = Duration::from_millis(50);

/// What a platform API needs from the server: which platform it is, where its objects
/// are, and how it authenticates.
pub(crate) trait PlatformApi: Send + Sync + 'static {
    /// The platform.
    const PLATFORM: Platform;
    /// The object it stores.
    type Object: Entity;
    /// Its store inside a tenant's objects.
    fn store(objects: &mut Objects) -> Option<&mut Store<Self::Object>>;
    /// Check the request's credentials for `tenant`.
    fn authorize(
        emu: &Emulator,
        tenant: &TenantCell,
        headers: &HeaderMap,
    ) -> std::result::Result<(), ApiError>;
    /// The platform's answer for an unknown object `id`.
    fn not_found(ctx: &Ctx<'_>, id: &str) -> ApiError;

    /// The object `id`, or the platform's not-found answer.
    fn get<'a>(
        store: &'a Store<Self::Object>,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> std::result::Result<&'a Self::Object, ApiError> {
        store.get(id).ok_or_else(|| Self::not_found(ctx, id))
    }

    /// Change the object `id` with `f`, or the platform's not-found answer.
    fn update<R>(
        store: &mut Store<Self::Object>,
        ctx: &Ctx<'_>,
        id: &str,
        f: impl FnOnce(&mut Self::Object) -> R,
    ) -> std::result::Result<R, ApiError> {
        store.update(id, f).ok_or_else(|| Self::not_found(ctx, id))
    }
}

/// Body of `PATCH …/{id}` on Agent Studio (`/api/v1/plugins/{id}`) and Productsup CDE
/// (`/connectors/{publicId}`): a new name, the active toggle, or both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchRequest {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) active: Option<bool>,
}

/// `GET …/{id}`: the object as stored, or the platform's not-found answer.
pub(crate) async fn detail<P: PlatformApi<Object: serde::Serialize>>(
    t: Tenant<P>,
    Path((_, id)): Path<(String, String)>,
) -> std::result::Result<Response, ApiError> {
    t.read(|store, ctx| Ok(json_response(StatusCode::OK, P::get(store, ctx, &id)?)))
}

/// `DELETE …/{id}`: the object is gone at once (204), or the platform's not-found answer.
pub(crate) async fn delete<P: PlatformApi>(
    t: Tenant<P>,
    Path((_, id)): Path<(String, String)>,
) -> std::result::Result<Response, ApiError> {
    t.write(|store, ctx| {
        store
            .remove(&id)
            .map(drop)
            .ok_or_else(|| P::not_found(ctx, &id))
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What platform operations see besides their store.
pub(crate) struct Ctx<'a> {
    /// The emulator clock's time for this request.
    pub(crate) now: DateTime<Utc>,
    /// The tenant.
    pub(crate) tenant: &'a TenantCell,
    /// The tenant's catalog.
    pub(crate) catalog: &'a SeedCatalog,
    /// Whether what this request creates is left active (the `activateOnCreate` fault);
    /// the platforms' rule is that it never is.
    pub(crate) activate_on_create: bool,
}

/// An admitted request to a tenant of platform `P`: the tenant exists and speaks `P`,
/// faults have been applied, credentials checked.
pub(crate) struct Tenant<P> {
    pub(crate) emu: Arc<Emulator>,
    pub(crate) cell: Arc<TenantCell>,
    _platform: PhantomData<fn() -> P>,
}

impl<P: PlatformApi> Tenant<P> {
    /// Run `f` on the tenant's objects under its lock.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Store<P::Object>, &Ctx<'_>) -> std::result::Result<R, ApiError>,
    ) -> std::result::Result<R, ApiError> {
        self.with(|store, ctx| f(store, ctx))
    }

    /// Run `f` on the tenant's objects under its lock; on success the state file is
    /// scheduled for saving.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&mut Store<P::Object>, &Ctx<'_>) -> std::result::Result<R, ApiError>,
    ) -> std::result::Result<R, ApiError> {
        let out = self.with(f)?;
        self.emu.mark_dirty();
        Ok(out)
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Store<P::Object>, &Ctx<'_>) -> std::result::Result<R, ApiError>,
    ) -> std::result::Result<R, ApiError> {
        let now = self.emu.now();
        let activate_on_create = self.cell.faults().activates_on_create();
        let mut data = self.cell.data();
        let TenantData { catalog, objects } = &mut *data;
        let store = P::store(objects).ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "Tenant '{}' holds no {} objects.",
                    self.cell.name,
                    P::PLATFORM
                ),
            )
        })?;
        let ctx = Ctx {
            now,
            tenant: &self.cell,
            catalog,
            activate_on_create,
        };
        f(store, &ctx)
    }
}

impl<P: PlatformApi> FromRequestParts<AppState> for Tenant<P> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        emu: &AppState,
    ) -> std::result::Result<Self, Response> {
        let params = RawPathParams::from_request_parts(parts, emu)
            .await
            .map_err(IntoResponse::into_response)?;
        let name = params
            .iter()
            .find(|(k, _)| *k == "tenant")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        let cell = emu
            .tenant(&name)
            .cloned()
            .ok_or_else(|| unknown_tenant(emu, &name).into_response())?;
        if cell.platform != P::PLATFORM {
            return Err(ApiError::not_found(format!(
                "Tenant '{}' is on platform {}; {} is part of the {} API.",
                cell.name,
                cell.platform,
                parts.uri.path(),
                P::PLATFORM
            ))
            .into_response());
        }
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or(parts.uri.path(), MatchedPath::as_str);
        let route = route.strip_prefix("/tenants/{tenant}").unwrap_or(route);
        cell.count_request(format!("{} {route}", parts.method));
        apply_faults(emu, &cell)
            .await
            .map_err(IntoResponse::into_response)?;
        P::authorize(emu, &cell, &parts.headers).map_err(IntoResponse::into_response)?;
        tracing::debug!(tenant = %cell.name, method = %parts.method, path = %parts.uri.path(), "request");
        Ok(Tenant {
            emu: emu.clone(),
            cell,
            _platform: PhantomData,
        })
    }
}

fn unknown_tenant(emu: &Emulator, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Unknown tenant '{name}': this emulator serves {}.",
        emu.tenant_names().join(", ")
    ))
}

async fn apply_faults(emu: &Emulator, cell: &TenantCell) -> std::result::Result<(), ApiError> {
    let decision = cell.faults().decide();
    let stopping = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The emulator is shutting down.",
        )
    };
    if let Some(delay) = decision.delay {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = emu.shutdown.cancelled() => return Err(stopping()),
        }
    }
    match decision.outcome {
        Outcome::Pass => Ok(()),
        Outcome::Hang => {
            emu.shutdown.cancelled().await;
            Err(stopping())
        }
        Outcome::RateLimited { retry_after_secs } => {
            Err(ApiError::rate_limited(&cell.name, retry_after_secs))
        }
        Outcome::ServerError => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Simulated server error for tenant '{}' (fault injection); retry the request.",
                cell.name
            ),
        )),
    }
}

/// Serialize `body` as a JSON response.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The response could not be serialized: {e}."),
        )
        .into_response(),
    }
}

/// The `loseResponse` fault: once a mutating platform request has been carried out
/// (a 2xx answer), its answer may be dropped: the connection closes before a status line
/// is sent, so the client sees the connection end without an answer and cannot know what
/// happened. Lost answers are counted per tenant and operation.
async fn lose_answers(State(emu): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let operation = MutatingOperation::of(req.method(), &route);
    let tenant = tenant_of(&emu, req.uri());
    let response = next.run(req).await;
    let (Some(operation), Some(cell)) = (operation, tenant) else {
        return response;
    };
    if !response.status().is_success() || !cell.faults().loses_answer(operation) {
        return response;
    }
    cell.count_lost(operation);
    tracing::debug!(tenant = %cell.name, operation = operation.as_str(), "answer lost (fault injection)");
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::new(LostAnswer))
}

/// Count a platform request of a tenant as in flight while it is handled (faults,
/// latency and the work included), for the tenant's `maxInFlight`.
async fn in_flight(State(emu): State<AppState>, req: Request, next: Next) -> Response {
    let _guard = tenant_of(&emu, req.uri()).map(|cell| cell.in_flight());
    next.run(req).await
}

/// The tenant a platform request under `/tenants/{tenant}/…` is for, if it exists.
fn tenant_of(emu: &Emulator, uri: &Uri) -> Option<Arc<TenantCell>> {
    uri.path()
        .strip_prefix("/tenants/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|name| emu.tenant(name))
        .cloned()
}

/// A response body that fails before its first byte: the server closes the connection
/// without sending the response.
struct LostAnswer;

impl axum::body::HttpBody for LostAnswer {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other(
            "answer lost (fault injection)",
        ))))
    }
}

/// The whole HTTP API.
pub(crate) fn router(emu: AppState) -> Router {
    let platforms = Router::new()
        .merge(kizen::routes())
        .merge(agent_studio::routes())
        .merge(cde::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            emu.clone(),
            lose_answers,
        ))
        .route_layer(axum::middleware::from_fn_with_state(emu.clone(), in_flight));
    Router::new()
        .merge(platforms)
        .route("/_emulator/state", get(state_handler))
        .route("/_emulator/faults", post(faults_handler))
        .route("/_emulator/clock", post(clock_handler))
        .route("/_emulator/catalog", post(catalog_handler))
        .route("/_emulator/vcs", post(vcs_handler))
        .route(
            "/_emulator/requests",
            get(requests_handler).delete(reset_requests_handler),
        )
        .route("/_emulator/healthz", get(healthz))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(emu)
}

async fn state_handler(State(emu): State<AppState>) -> Response {
    json_response(StatusCode::OK, &emu.state_json())
}

/// Body of `POST /_emulator/faults`: the tenant (all when absent) and its faults;
/// omitted faults are reset.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultsRequest {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    hang: bool,
    #[serde(default)]
    lose_response: Option<LoseResponse>,
    #[serde(default)]
    activate_on_create: bool,
}

async fn faults_handler(
    State(emu): State<AppState>,
    JsonBody(req): JsonBody<FaultsRequest>,
) -> std::result::Result<Response, ApiError> {
    let faults = Faults {
        latency_ms: req.latency_ms,
        error_rate: req.error_rate,
        rate_limit: req.rate_limit,
        hang: req.hang,
        lose_response: req.lose_response,
        activate_on_create: req.activate_on_create,
    };
    emu.set_faults(req.tenant.as_deref(), faults)
        .map_err(|e| match e {
            Error::UnknownTenant { tenant, .. } => unknown_tenant(&emu, &tenant),
            other => ApiError::bad_request(format!("{other}.")),
        })?;
    let tenants: serde_json::Map<String, Value> = emu
        .tenants()
        .iter()
        .filter(|t| req.tenant.as_deref().is_none_or(|n| n == t.name))
        .map(|t| (t.name.clone(), json!(t.faults().faults())))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenants": tenants }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockRequest {
    advance_secs: i64,
}

async fn clock_handler(
    State(emu): State<AppState>,
    JsonBody(req): JsonBody<ClockRequest>,
) -> Response {
    emu.advance_clock(req.advance_secs);
    json_response(
        StatusCode::OK,
        &json!({ "now": rfc3339_z(emu.now()), "offsetSecs": emu.clock.offset_ms() / 1000 }),
    )
}

/// Body of `POST /_emulator/catalog`: the tenant and the catalog lists to replace.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CatalogRequest {
    tenant: String,
    #[serde(default)]
    agentic_workflows: Option<Vec<String>>,
    #[serde(default)]
    filter_groups: Option<Vec<String>>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    connectors: Option<Vec<String>>,
    #[serde(default)]
    secrets: Option<Vec<String>>,
}

async fn catalog_handler(
    State(emu): State<AppState>,
    JsonBody(req): JsonBody<CatalogRequest>,
) -> std::result::Result<Response, ApiError> {
    let update = CatalogUpdate {
        agentic_workflows: req.agentic_workflows,
        filter_groups: req.filter_groups,
        fields: req.fields,
        connectors: req.connectors,
        secrets: req.secrets,
    };
    let catalog = emu
        .set_catalog(&req.tenant, update)
        .map_err(|_| unknown_tenant(&emu, &req.tenant))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": req.tenant, "catalog": catalog }),
    ))
}

/// Body of `POST /_emulator/vcs`: a person sets the VCS credentials of a CDE connector.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VcsRequest {
    tenant: String,
    id: String,
    #[serde(default = "basic")]
    authorization: String,
    #[serde(default)]
    username: Option<String>,
}

fn basic() -> String {
    "basic".to_owned()
}

async fn vcs_handler(
    State(emu): State<AppState>,
    JsonBody(req): JsonBody<VcsRequest>,
) -> std::result::Result<Response, ApiError> {
    let cell = emu
        .tenant(&req.tenant)
        .cloned()
        .ok_or_else(|| unknown_tenant(&emu, &req.tenant))?;
    let now = emu.now();
    let updated = {
        let mut data = cell.data();
        let Objects::Cde(store) = &mut data.objects else {
            return Err(ApiError::bad_request(format!(
                "Tenant '{}' is on platform {}; only productsup-cde connectors have a VCS.",
                cell.name, cell.platform
            )));
        };
        cde::set_vcs_credentials(
            store,
            now,
            &req.id,
            &req.authorization,
            req.username.as_deref(),
        )
    };
    let Some(c) = updated else {
        return Err(ApiError::not_found(format!(
            "Connector '{}' not found in tenant '{}'.",
            req.id, cell.name
        )));
    };
    emu.mark_dirty();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": cell.name, "id": c.id, "version": c.version }),
    ))
}

async fn requests_handler(State(emu): State<AppState>) -> Response {
    json_response(StatusCode::OK, &emu.requests_json())
}

async fn reset_requests_handler(State(emu): State<AppState>) -> Response {
    emu.reset_requests();
    json_response(StatusCode::OK, &emu.requests_json())
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

async fn fallback(State(emu): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/tenants/") {
        let name = rest.split('/').next().unwrap_or_default();
        return match emu.tenant(name) {
            None => unknown_tenant(&emu, name).into_response(),
            Some(t) => ApiError::not_found(format!(
                "No endpoint {method} {path} on {} tenant '{}'; see docs/platform-api.md for its paths.",
                t.platform, t.name
            ))
            .into_response(),
        };
    }
    ApiError::not_found(format!(
        "No endpoint {method} {path}; tenants are served under /tenants/<name>/ and the emulator's controls under /_emulator/."
    ))
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}.", uri.path()),
    )
    .into_response()
}

/// A running emulator. Dropping it stops the server (without waiting); call
/// [`EmulatorHandle::shutdown`] to stop gracefully and save the state file.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    emu: Arc<Emulator>,
    saver_stop: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
    saver: Option<JoinHandle<Result<()>>>,
}

impl EmulatorHandle {
    /// The address the emulator listens on (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL of a tenant: `http://ADDR/tenants/NAME`.
    pub fn base_url(&self, tenant: &str) -> String {
        format!("http://{}/tenants/{tenant}", self.addr)
    }

    /// The whole state, as `GET /_emulator/state` returns it.
    pub fn state_json(&self) -> Value {
        self.emu.state_json()
    }

    /// The emulator itself (faults, clock, catalog, state).
    pub fn emulator(&self) -> &Arc<Emulator> {
        &self.emu
    }

    /// Stop accepting connections, let in-flight requests finish (hanging ones are
    /// answered `503`), then save the state file one last time.
    ///
    /// # Errors
    /// [`Error::Serve`] if the server failed, [`Error::StateWrite`] if the last save failed.
    pub async fn shutdown(mut self) -> Result<()> {
        self.emu.shutdown.cancel();
        let served = match self.server.take() {
            Some(h) => h.await.unwrap_or(Ok(())).map_err(Error::Serve),
            None => Ok(()),
        };
        self.saver_stop.cancel();
        let saved = match self.saver.take() {
            Some(h) => h.await.unwrap_or(Ok(())),
            None => Ok(()),
        };
        served.and(saved)
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.emu.shutdown.cancel();
        self.saver_stop.cancel();
    }
}

/// Start an emulator for `seed` on `listen` (port 0 picks a free port), on the current
/// tokio runtime. With `state_path`, state is loaded from that file if it exists and saved
/// to it (atomically, shortly after every write, and on shutdown).
///
/// # Errors
/// Seed and state-file errors (see [`Emulator::open`]), [`Error::Bind`] when the address
/// cannot be bound, [`Error::NoRuntime`] outside a tokio runtime.
pub fn spawn(
    seed: Seed,
    state_path: Option<PathBuf>,
    listen: SocketAddr,
) -> Result<EmulatorHandle> {
    let emu = match state_path {
        Some(path) => Emulator::open(seed, path)?,
        None => Emulator::new(seed)?,
    };
    serve(Arc::new(emu), listen)
}

/// Serve an already built emulator on `listen`, on the current tokio runtime.
///
/// # Errors
/// As [`spawn`], without the seed errors.
pub fn serve(emu: Arc<Emulator>, listen: SocketAddr) -> Result<EmulatorHandle> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let _enter = runtime.enter();
    let bind_err = |source| Error::Bind {
        addr: listen,
        source,
    };
    let std_listener = std::net::TcpListener::bind(listen).map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    let addr = std_listener.local_addr().map_err(bind_err)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .map_err(bind_err)?
        .tap_io(|tcp| {
            // Large list pages go out in several writes; do not let Nagle hold them back.
            let _ = tcp.set_nodelay(true);
        });
    let _ = emu.addr.set(addr);

    let app = router(emu.clone());
    let stop = emu.shutdown.clone();
    let span = tracing::info_span!("emulator", %addr);
    let server = tokio::spawn(tracing::Instrument::instrument(
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        },
        span.clone(),
    ));

    let saver_stop = CancellationToken::new();
    let saver = emu.persist.path.is_some().then(|| {
        tokio::spawn(tracing::Instrument::instrument(
            saver(emu.clone(), saver_stop.clone()),
            span,
        ))
    });
    Ok(EmulatorHandle {
        addr,
        emu,
        saver_stop,
        server: Some(server),
        saver,
    })
}

/// Save the state file shortly after writes (debounced), and once more when stopped.
async fn saver(emu: Arc<Emulator>, stop: CancellationToken) -> Result<()> {
    loop {
        tokio::select! {
            () = emu.persist.notify.notified() => {}
            () = stop.cancelled() => break,
        }
        tokio::select! {
            () = tokio::time::sleep(SAVE_DEBOUNCE) => {}
            () = stop.cancelled() => break,
        }
        if let Err(e) = save(&emu).await {
            tracing::error!(error = %e, "saving the emulator state failed; will retry after the next write");
        }
    }
    save(&emu).await
}

async fn save(emu: &Arc<Emulator>) -> Result<()> {
    let emu = emu.clone();
    match tokio::task::spawn_blocking(move || emu.save_if_dirty()).await {
        Ok(r) => r,
        Err(join) => Err(Error::Serve(std::io::Error::other(join.to_string()))),
    }
}
