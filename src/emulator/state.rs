//! The emulator's state: every tenant with its catalog, objects and faults, the installation
//! links shared by all tenants, and the clock; the JSON dump of all of it; and its
//! persistence in a state file (written atomically: temporary file, then rename).
//!
//! Each tenant's data sits behind its own `std::sync::Mutex`, held only for in-memory work
//! and never across an `.await`, so one busy or faulty tenant does not slow the others.
//! Platform rules live in the platform modules; this module stores and dumps, and holds
//! the one name check every platform makes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::agent_studio::{self, Link, Plugin};
use super::cde::{self, CdeConnector};
use super::clock::{Clock, rfc3339_z};
use super::error::{Error, Result};
use super::faults::{FaultState, Faults, MutatingOperation};
use super::http::ApiError;
use super::kizen::{self, SmartConnector};
use super::seed::{Seed, SeedCatalog, SeedTenant, Token};
use crate::model::Platform;

/// Lock a mutex; a poisoned lock (a panic elsewhere) still yields the data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Put `value` into `slot` when it is given and differs; whether it changed. A `PATCH`
/// that changes nothing is not a write (no version bump).
pub(crate) fn set_if_changed<T: PartialEq>(slot: &mut T, value: Option<T>) -> bool {
    match value {
        Some(v) if v != *slot => {
            *slot = v;
            true
        }
        _ => false,
    }
}

/// The checks of a new name every platform makes: not blank (`blank` is the platform's
/// refusal) and not held by another object (`holder`, found by the platform's rule):
/// `409 A {noun} named '{name}' already exists ({id}); choose another name.`
pub(crate) fn check_new_name<T: Entity>(
    noun: &str,
    name: &str,
    holder: Option<&T>,
    blank: impl FnOnce() -> ApiError,
) -> std::result::Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(blank());
    }
    match holder {
        Some(holder) => Err(ApiError::conflict(format!(
            "A {noun} named '{name}' already exists ({}); choose another name.",
            holder.id()
        ))),
        None => Ok(()),
    }
}

/// An object a [`Store`] can hold.
pub(crate) trait Entity {
    /// The platform's id.
    fn id(&self) -> &str;
    /// The tenant-side name.
    fn name(&self) -> &str;
    /// A second key the platform keeps unique (Kizen's API name), if any.
    fn alt_key(&self) -> Option<&str> {
        None
    }
}

/// A tenant's objects of one platform, in creation order, indexed by id, name and second
/// key, so conflict checks cost the same with 10 or 10,000 objects. Objects change only
/// through [`Store::update`], which keeps the indexes right.
#[derive(Debug, Clone)]
pub(crate) struct Store<T> {
    items: BTreeMap<u64, T>,
    index: HashMap<String, u64>,
    by_name: HashMap<String, Vec<u64>>,
    by_alt: HashMap<String, Vec<u64>>,
    next_seq: u64,
    next_number: u64,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            items: BTreeMap::new(),
            index: HashMap::new(),
            by_name: HashMap::new(),
            by_alt: HashMap::new(),
            next_seq: 0,
            next_number: 0,
        }
    }
}

fn index_add(map: &mut HashMap<String, Vec<u64>>, key: &str, seq: u64) {
    let seqs = map.entry(key.to_owned()).or_default();
    if let Err(at) = seqs.binary_search(&seq) {
        seqs.insert(at, seq);
    }
}

fn index_remove(map: &mut HashMap<String, Vec<u64>>, key: &str, seq: u64) {
    if let Some(seqs) = map.get_mut(key) {
        seqs.retain(|s| *s != seq);
        if seqs.is_empty() {
            map.remove(key);
        }
    }
}

impl<T: Entity> Store<T> {
    /// A store holding `objects` in order, numbering new ids after `next_number`.
    pub(crate) fn from_objects(objects: Vec<T>, next_number: u64) -> Self {
        let mut s = Store {
            next_number,
            ..Store::default()
        };
        for o in objects {
            s.insert(o);
        }
        s
    }

    /// A fresh `<prefix>_NNNN` id not used in this store.
    pub(crate) fn fresh_id(&mut self, prefix: &str) -> String {
        loop {
            self.next_number += 1;
            let id = format!("{prefix}_{:04}", self.next_number);
            if !self.index.contains_key(&id) {
                return id;
            }
        }
    }

    fn index_keys(&mut self, seq: u64) {
        if let Some(item) = self.items.get(&seq) {
            index_add(&mut self.by_name, item.name(), seq);
            if let Some(alt) = item.alt_key() {
                index_add(&mut self.by_alt, alt, seq);
            }
        }
    }

    fn unindex_keys(&mut self, seq: u64) {
        if let Some(item) = self.items.get(&seq) {
            index_remove(&mut self.by_name, item.name(), seq);
            if let Some(alt) = item.alt_key() {
                index_remove(&mut self.by_alt, alt, seq);
            }
        }
    }

    /// Add an object at the end (replacing one with the same id in place).
    pub(crate) fn insert(&mut self, item: T) -> &T {
        let seq = match self.index.get(item.id()) {
            Some(&seq) => {
                self.unindex_keys(seq);
                seq
            }
            None => {
                self.next_seq += 1;
                self.index.insert(item.id().to_owned(), self.next_seq);
                self.next_seq
            }
        };
        self.items.insert(seq, item);
        self.index_keys(seq);
        &self.items[&seq]
    }

    /// The object with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).and_then(|seq| self.items.get(seq))
    }

    /// Change the object with this id (never its id); `None` when there is none.
    pub(crate) fn update<R>(&mut self, id: &str, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let seq = *self.index.get(id)?;
        self.unindex_keys(seq);
        let out = self.items.get_mut(&seq).map(|item| {
            let out = f(item);
            debug_assert_eq!(item.id(), id, "an update must not change the id");
            out
        });
        self.index_keys(seq);
        out
    }

    /// Remove the object with this id.
    pub(crate) fn remove(&mut self, id: &str) -> Option<T> {
        let seq = self.index.remove(id)?;
        self.unindex_keys(seq);
        self.items.remove(&seq)
    }

    /// Objects named `name`, oldest first.
    pub(crate) fn with_name<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a T> + 'a {
        self.indexed(&self.by_name, name)
    }

    /// Objects whose second key is `key`, oldest first.
    pub(crate) fn with_alt_key<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a T> + 'a {
        self.indexed(&self.by_alt, key)
    }

    /// The objects `index` lists under `key`, oldest first.
    fn indexed<'a>(
        &'a self,
        index: &'a HashMap<String, Vec<u64>>,
        key: &str,
    ) -> impl Iterator<Item = &'a T> + 'a {
        index
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|seq| self.items.get(seq))
    }

    /// The first object named `name`, other than the one with id `except`.
    pub(crate) fn named(&self, name: &str, except: &str) -> Option<&T> {
        self.with_name(name).find(|o| o.id() != except)
    }

    /// Every object, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.values()
    }

    /// How many objects.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The counter behind [`Store::fresh_id`].
    pub(crate) fn next_number(&self) -> u64 {
        self.next_number
    }
}

/// A tenant's objects.
#[derive(Debug, Clone)]
pub(crate) enum Objects {
    /// Kizen SmartConnectors.
    Kizen(Store<SmartConnector>),
    /// Agent Studio plugins.
    AgentStudio(Store<Plugin>),
    /// Productsup CDE connectors (binned ones included).
    Cde(Store<CdeConnector>),
}

impl Objects {
    fn empty(platform: Platform) -> Self {
        match platform {
            Platform::Kizen => Objects::Kizen(Store::default()),
            Platform::AgentStudio => Objects::AgentStudio(Store::default()),
            Platform::ProductsupCde => Objects::Cde(Store::default()),
        }
    }

    fn platform(&self) -> Platform {
        match self {
            Objects::Kizen(_) => Platform::Kizen,
            Objects::AgentStudio(_) => Platform::AgentStudio,
            Objects::Cde(_) => Platform::ProductsupCde,
        }
    }

    fn views(&self) -> Vec<Value> {
        match self {
            Objects::Kizen(s) => s.iter().map(kizen::state_view).collect(),
            Objects::AgentStudio(s) => s.iter().map(agent_studio::state_view).collect(),
            Objects::Cde(s) => s.iter().map(cde::state_view).collect(),
        }
    }
}

/// What seed objects are built with.
pub(crate) struct SeedContext<'a> {
    /// Timestamp for fields the seed leaves out.
    pub(crate) now: DateTime<Utc>,
    /// The tenant's API user (owner of seeded objects without one).
    pub(crate) user: &'a str,
    /// The tenant's catalog (Kizen checks of seeded connectors without a status).
    pub(crate) catalog: &'a SeedCatalog,
}

/// Build a tenant's objects from the seed; errors by object index.
fn objects_from_seed(
    platform: Platform,
    values: &[Value],
    ctx: &SeedContext<'_>,
) -> std::result::Result<Objects, Vec<(usize, String)>> {
    Ok(match platform {
        Platform::Kizen => Objects::Kizen(kizen::from_seed(values, ctx)?),
        Platform::AgentStudio => Objects::AgentStudio(agent_studio::from_seed(values, ctx)?),
        Platform::ProductsupCde => Objects::Cde(cde::from_seed(values, ctx)?),
    })
}

/// Problems with a tenant's seed objects, by object index.
pub(crate) fn seed_object_problems(platform: Platform, values: &[Value]) -> Vec<(usize, String)> {
    let catalog = SeedCatalog::default();
    let ctx = SeedContext {
        now: Utc::now(),
        user: "api-user",
        catalog: &catalog,
    };
    objects_from_seed(platform, values, &ctx)
        .err()
        .unwrap_or_default()
}

/// A tenant's mutable data.
#[derive(Debug)]
pub(crate) struct TenantData {
    /// What references, bindings and secrets resolve to.
    pub(crate) catalog: SeedCatalog,
    /// The tenant's objects.
    pub(crate) objects: Objects,
}

/// One emulated tenant.
#[derive(Debug)]
pub(crate) struct TenantCell {
    /// Name (the URL segment).
    pub(crate) name: String,
    /// Platform.
    pub(crate) platform: Platform,
    /// Data center.
    pub(crate) region: String,
    /// Owning business.
    pub(crate) business: String,
    /// The credential it accepts.
    pub(crate) token: Token,
    /// The API user (owner of what API calls create).
    pub(crate) user: String,
    data: Mutex<TenantData>,
    faults: Mutex<FaultState>,
    /// Platform requests admitted for this tenant, by `METHOD /route` (see
    /// [`Emulator::requests_json`]).
    requests: Mutex<BTreeMap<String, u64>>,
    /// Answers lost by the `loseResponse` fault, by operation.
    lost: Mutex<BTreeMap<&'static str, u64>>,
    /// Platform requests being handled now, and the most at once (see
    /// [`Emulator::requests_json`]).
    in_flight: Mutex<InFlight>,
}

/// Requests of one tenant being handled now, and the most there were at once since start
/// or the last [`Emulator::reset_requests`].
#[derive(Debug, Default)]
struct InFlight {
    now: u64,
    max: u64,
}

impl TenantCell {
    /// Lock the tenant's data (for in-memory work only).
    pub(crate) fn data(&self) -> MutexGuard<'_, TenantData> {
        lock(&self.data)
    }

    /// Lock the tenant's faults.
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    /// Count one platform request on `route` (`GET /api/smart-connectors`).
    pub(crate) fn count_request(&self, route: String) {
        *lock(&self.requests).entry(route).or_default() += 1;
    }

    /// Count one answer the `loseResponse` fault dropped.
    pub(crate) fn count_lost(&self, operation: MutatingOperation) {
        *lock(&self.lost).entry(operation.as_str()).or_default() += 1;
    }

    /// A platform request of this tenant is being handled until the returned guard drops.
    pub(crate) fn in_flight(self: &Arc<Self>) -> InFlightGuard {
        let mut in_flight = lock(&self.in_flight);
        in_flight.now += 1;
        in_flight.max = in_flight.max.max(in_flight.now);
        InFlightGuard(self.clone())
    }

    /// The most requests of this tenant handled at once.
    pub(crate) fn max_in_flight(&self) -> u64 {
        lock(&self.in_flight).max
    }
}

/// One request of a tenant in flight (see [`TenantCell::in_flight`]).
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<TenantCell>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.0.in_flight);
        in_flight.now = in_flight.now.saturating_sub(1);
    }
}

/// Persistence settings and the "something changed" signal for the saver.
#[derive(Debug, Default)]
pub(crate) struct Persist {
    pub(crate) path: Option<PathBuf>,
    pub(crate) dirty: AtomicBool,
    pub(crate) notify: Notify,
}

/// The whole emulator: tenants, installation links, clock. Shared by every request
/// behind an `Arc`; each tenant has its own lock.
#[derive(Debug)]
pub struct Emulator {
    tenants: Vec<Arc<TenantCell>>,
    by_name: HashMap<String, usize>,
    pub(crate) links: Mutex<HashMap<String, Link>>,
    pub(crate) clock: Clock,
    pub(crate) addr: OnceLock<std::net::SocketAddr>,
    pub(crate) persist: Persist,
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
}

/// On-disk state: objects, links, id counters and the clock offset. Tenant settings,
/// catalogs and faults always come from the seed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot<T> {
    format: u32,
    clock_offset_ms: i64,
    tenants: BTreeMap<String, T>,
    links: Vec<Link>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "kebab-case")]
enum TenantSnapshot {
    #[serde(rename_all = "camelCase")]
    Kizen {
        next_number: u64,
        objects: Vec<SmartConnector>,
    },
    #[serde(rename_all = "camelCase")]
    AgentStudio {
        next_number: u64,
        objects: Vec<Plugin>,
    },
    #[serde(rename_all = "camelCase")]
    ProductsupCde {
        next_number: u64,
        objects: Vec<CdeConnector>,
    },
}

impl TenantSnapshot {
    fn platform(&self) -> Platform {
        match self {
            TenantSnapshot::Kizen { .. } => Platform::Kizen,
            TenantSnapshot::AgentStudio { .. } => Platform::AgentStudio,
            TenantSnapshot::ProductsupCde { .. } => Platform::ProductsupCde,
        }
    }

    fn into_objects(self) -> Objects {
        match self {
            TenantSnapshot::Kizen {
                next_number,
                objects,
            } => Objects::Kizen(Store::from_objects(objects, next_number)),
            TenantSnapshot::AgentStudio {
                next_number,
                objects,
            } => Objects::AgentStudio(Store::from_objects(objects, next_number)),
            TenantSnapshot::ProductsupCde {
                next_number,
                objects,
            } => Objects::Cde(Store::from_objects(objects, next_number)),
        }
    }
}

const SNAPSHOT_FORMAT: u32 = 1;

impl Emulator {
    /// An emulator serving the seed's tenants with the seed's objects.
    ///
    /// # Errors
    /// [`Error::SeedInvalid`] listing every problem of the seed.
    pub fn new(seed: Seed) -> Result<Emulator> {
        seed.validate()?;
        let clock = Clock::default();
        let now = clock.now();
        let mut tenants = Vec::with_capacity(seed.tenants.len());
        let mut by_name = HashMap::new();
        let mut problems = Vec::new();
        for (i, t) in seed.tenants.into_iter().enumerate() {
            let user = api_user(&t);
            let ctx = SeedContext {
                now,
                user: &user,
                catalog: &t.catalog,
            };
            let objects = match objects_from_seed(t.platform, &t.objects, &ctx) {
                Ok(o) => o,
                Err(errs) => {
                    problems.extend(
                        errs.into_iter()
                            .map(|(j, m)| format!("tenant '{}' objects[{j}]: {m}", t.name)),
                    );
                    Objects::empty(t.platform)
                }
            };
            by_name.insert(t.name.clone(), i);
            tenants.push(Arc::new(TenantCell {
                faults: Mutex::new(FaultState::new(&t.name, t.faults.clone())),
                region: t.region().to_owned(),
                business: t.business().to_owned(),
                name: t.name,
                platform: t.platform,
                token: t.token,
                user,
                requests: Mutex::new(BTreeMap::new()),
                lost: Mutex::new(BTreeMap::new()),
                in_flight: Mutex::new(InFlight::default()),
                data: Mutex::new(TenantData {
                    catalog: t.catalog,
                    objects,
                }),
            }));
        }
        if !problems.is_empty() {
            return Err(Error::SeedInvalid { problems });
        }
        Ok(Emulator {
            tenants,
            by_name,
            links: Mutex::new(HashMap::new()),
            clock,
            addr: OnceLock::new(),
            persist: Persist::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// An emulator that keeps its state in `path`: loaded now if the file exists (objects,
    /// links and clock offset replace the seed's objects tenant by tenant), saved after
    /// writes while it runs.
    ///
    /// # Errors
    /// As [`Emulator::new`], plus [`Error::StateRead`], [`Error::StateParse`] and
    /// [`Error::StateMismatch`] for a state file that cannot be used.
    pub fn open(seed: Seed, path: impl Into<PathBuf>) -> Result<Emulator> {
        let path = path.into();
        let mut emu = Emulator::new(seed)?;
        match std::fs::read(&path) {
            Ok(bytes) => emu.restore(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::StateRead { path, source }),
        }
        emu.persist.path = Some(path);
        Ok(emu)
    }

    fn restore(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        let snap: Snapshot<TenantSnapshot> =
            serde_json::from_slice(bytes).map_err(|source| Error::StateParse {
                path: path.to_owned(),
                source,
            })?;
        for (name, ts) in snap.tenants {
            let Some(cell) = self.tenant(&name) else {
                tracing::warn!(tenant = %name, path = %path.display(), "state file holds a tenant the seed no longer has; ignoring it");
                continue;
            };
            if ts.platform() != cell.platform {
                return Err(Error::StateMismatch {
                    path: path.to_owned(),
                    tenant: name,
                    expected: cell.platform.to_string(),
                    found: ts.platform().to_string(),
                });
            }
            cell.data().objects = ts.into_objects();
        }
        self.clock = Clock::with_offset_ms(snap.clock_offset_ms);
        *lock(&self.links) = snap
            .links
            .into_iter()
            .map(|l| (l.token.clone(), l))
            .collect();
        Ok(())
    }

    /// The tenant with this name.
    pub(crate) fn tenant(&self, name: &str) -> Option<&Arc<TenantCell>> {
        self.by_name.get(name).map(|&i| &self.tenants[i])
    }

    /// Every tenant, in seed order.
    pub(crate) fn tenants(&self) -> &[Arc<TenantCell>] {
        &self.tenants
    }

    /// The tenant names, in seed order.
    pub fn tenant_names(&self) -> Vec<&str> {
        self.tenants.iter().map(|t| t.name.as_str()).collect()
    }

    /// The emulator's current time (system time plus the clock offset).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Move the emulator's clock by `secs` seconds (what `POST /_emulator/clock` does).
    pub fn advance_clock(&self, secs: i64) {
        self.clock.advance_secs(secs);
        self.mark_dirty();
    }

    /// Set the faults of one tenant, or of every tenant when `tenant` is `None` (what
    /// `POST /_emulator/faults` does).
    ///
    /// # Errors
    /// [`Error::UnknownTenant`] or [`Error::InvalidFaults`].
    pub fn set_faults(&self, tenant: Option<&str>, faults: Faults) -> Result<()> {
        let problems = faults.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidFaults { problems });
        }
        match tenant {
            Some(name) => {
                let cell = self.tenant(name).ok_or_else(|| self.unknown_tenant(name))?;
                cell.faults().set(faults);
            }
            None => {
                for cell in &self.tenants {
                    cell.faults().set(faults.clone());
                }
            }
        }
        Ok(())
    }

    /// Replace the listed parts of a tenant's catalog (what `POST /_emulator/catalog`
    /// does); parts given as `None` are kept.
    ///
    /// # Errors
    /// [`Error::UnknownTenant`].
    pub fn set_catalog(&self, tenant: &str, update: CatalogUpdate) -> Result<SeedCatalog> {
        let cell = self
            .tenant(tenant)
            .ok_or_else(|| self.unknown_tenant(tenant))?;
        let mut data = cell.data();
        let c = &mut data.catalog;
        let CatalogUpdate {
            agentic_workflows,
            filter_groups,
            fields,
            connectors,
            secrets,
        } = update;
        for (slot, new) in [
            (&mut c.agentic_workflows, agentic_workflows),
            (&mut c.filter_groups, filter_groups),
            (&mut c.fields, fields),
            (&mut c.connectors, connectors),
            (&mut c.secrets, secrets),
        ] {
            if let Some(new) = new {
                *slot = new;
            }
        }
        Ok(c.clone())
    }

    pub(crate) fn unknown_tenant(&self, name: &str) -> Error {
        Error::UnknownTenant {
            tenant: name.to_owned(),
            known: self.tenant_names().join(", "),
        }
    }

    /// The whole state as JSON (what `GET /_emulator/state` answers): for every tenant its
    /// platform, region, business, catalog, faults and every object with its id, name,
    /// `active` flag and platform fields; plus the installation links and the clock.
    pub fn state_json(&self) -> Value {
        let now = self.clock.now();
        let mut tenants = serde_json::Map::new();
        for t in &self.tenants {
            let (catalog, objects) = {
                let data = t.data();
                (data.catalog.clone(), data.objects.views())
            };
            let faults = t.faults().faults().clone();
            tenants.insert(
                t.name.clone(),
                json!({
                    "platform": t.platform,
                    "region": t.region,
                    "business": t.business,
                    "catalog": catalog,
                    "faults": faults,
                    "objects": objects,
                }),
            );
        }
        let base = self.addr.get().map(|a| format!("http://{a}"));
        let links: Vec<Value> = lock(&self.links)
            .values()
            .map(|l| agent_studio::link_view(l, base.as_deref(), now))
            .collect();
        json!({ "now": rfc3339_z(now), "tenants": tenants, "links": links })
    }

    /// The platform requests each tenant received since start or the last
    /// [`Emulator::reset_requests`] (what `GET /_emulator/requests` answers):
    /// `{"tenants":{NAME:{"total":N,"routes":{"GET /api/smart-connectors":N,…}}}}`.
    /// Every request that reached a tenant's platform API counts, including those answered
    /// by an injected fault; control endpoints never count. A tenant whose answers the
    /// `loseResponse` fault dropped also has `"lost":{"create":N,…}` by operation. Beside
    /// `tenants`, `"maxInFlight":{NAME:N,…}` gives the most platform requests of each tenant
    /// handled at once (latency included) in the same period.
    pub fn requests_json(&self) -> Value {
        let mut tenants = serde_json::Map::new();
        let mut in_flight = serde_json::Map::new();
        for t in &self.tenants {
            in_flight.insert(t.name.clone(), json!(t.max_in_flight()));
            let routes = lock(&t.requests).clone();
            let total: u64 = routes.values().sum();
            let lost = lock(&t.lost).clone();
            let mut entry = json!({ "total": total, "routes": routes });
            if !lost.is_empty() {
                entry["lost"] = json!(lost);
            }
            tenants.insert(t.name.clone(), entry);
        }
        json!({ "tenants": tenants, "maxInFlight": in_flight })
    }

    /// Set every tenant's request counters (and lost-answer counters) back to zero, and its
    /// `maxInFlight` to the requests in flight now.
    pub fn reset_requests(&self) {
        for t in &self.tenants {
            lock(&t.requests).clear();
            lock(&t.lost).clear();
            let mut in_flight = lock(&t.in_flight);
            in_flight.max = in_flight.now;
        }
    }

    /// Note that state changed; the saver writes it soon.
    pub(crate) fn mark_dirty(&self) {
        if self.persist.path.is_some() {
            self.persist.dirty.store(true, Ordering::Release);
            self.persist.notify.notify_one();
        }
    }

    /// Write the state file now if anything changed since the last save (blocking I/O:
    /// call it off the async workers).
    ///
    /// # Errors
    /// [`Error::StateWrite`].
    pub(crate) fn save_if_dirty(&self) -> Result<()> {
        let Some(path) = &self.persist.path else {
            return Ok(());
        };
        if !self.persist.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let bytes = self.snapshot_bytes();
        write_atomically(path, &bytes).inspect_err(|_| {
            // Keep it dirty so the next attempt retries.
            self.persist.dirty.store(true, Ordering::Release);
        })
    }

    fn snapshot_bytes(&self) -> Vec<u8> {
        let mut tenants = BTreeMap::new();
        for t in &self.tenants {
            let data = t.data();
            let v = match &data.objects {
                Objects::Kizen(s) => json!({
                    "platform": Platform::Kizen,
                    "nextNumber": s.next_number(),
                    "objects": s.iter().collect::<Vec<_>>(),
                }),
                Objects::AgentStudio(s) => json!({
                    "platform": Platform::AgentStudio,
                    "nextNumber": s.next_number(),
                    "objects": s.iter().collect::<Vec<_>>(),
                }),
                Objects::Cde(s) => json!({
                    "platform": Platform::ProductsupCde,
                    "nextNumber": s.next_number(),
                    "objects": s.iter().collect::<Vec<_>>(),
                }),
            };
            debug_assert_eq!(data.objects.platform(), t.platform);
            tenants.insert(t.name.clone(), v);
        }
        let links: Vec<Link> = lock(&self.links).values().cloned().collect();
        let snap = Snapshot {
            format: SNAPSHOT_FORMAT,
            clock_offset_ms: self.clock.offset_ms(),
            tenants,
            links,
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }
}

/// A partial catalog replacement (`POST /_emulator/catalog`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogUpdate {
    /// New Agentic Workflow names.
    #[serde(default)]
    pub agentic_workflows: Option<Vec<String>>,
    /// New filter group names.
    #[serde(default)]
    pub filter_groups: Option<Vec<String>>,
    /// New field names.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// New connector names.
    #[serde(default)]
    pub connectors: Option<Vec<String>>,
    /// New secret paths.
    #[serde(default)]
    pub secrets: Option<Vec<String>>,
}

/// The user API calls act as: Kizen and Agent Studio `api-user`, CDE a UUID-like id
/// stable per tenant.
fn api_user(t: &SeedTenant) -> String {
    match t.platform {
        Platform::Kizen | Platform::AgentStudio => "api-user".to_owned(),
        Platform::ProductsupCde => cde::user_id(&t.name, t.business()),
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a crash leaves either the old or the new file, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let err = |source| Error::StateWrite {
        path: path.to_owned(),
        source,
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Thing(String, String);
    impl Entity for Thing {
        fn id(&self) -> &str {
            &self.0
        }
        fn name(&self) -> &str {
            &self.1
        }
    }

    #[test]
    fn store_keeps_creation_order_and_skips_taken_ids() {
        let mut s = Store::from_objects(vec![Thing("x_0002".into(), "b".into())], 0);
        let a = s.fresh_id("x");
        assert_eq!(a, "x_0001");
        s.insert(Thing(a, "a".into()));
        assert_eq!(s.fresh_id("x"), "x_0003");
        let names: Vec<_> = s.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(names, vec!["b", "a"]);
        assert_eq!(s.remove("x_0002").map(|t| t.1), Some("b".to_owned()));
        assert!(s.get("x_0002").is_none());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn name_index_follows_updates_removals_and_replacements() {
        let mut s = Store::default();
        s.insert(Thing("x_1".into(), "a".into()));
        s.insert(Thing("x_2".into(), "a".into()));
        assert_eq!(s.with_name("a").count(), 2);
        assert_eq!(s.named("a", "x_1").map(|t| t.0.as_str()), Some("x_2"));
        s.update("x_1", |t| t.1 = "b".into());
        assert_eq!(s.named("b", "").map(|t| t.0.as_str()), Some("x_1"));
        assert_eq!(s.with_name("a").count(), 1);
        s.remove("x_2");
        assert!(s.named("a", "").is_none());
        s.insert(Thing("x_1".into(), "c".into()));
        assert!(s.named("b", "").is_none(), "replacing in place re-indexes");
        assert_eq!(s.update("nope", |_| ()), None);
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("state.json.tmp").exists());
    }
}
