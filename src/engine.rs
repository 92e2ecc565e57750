//! The reconcile engine: the one place that turns a revision's manifests into plans and
//! applied changes, shared by `ferry plan`, `ferry apply` and `ferry serve`.
//!
//! For one tenant it: resolves the apply journal (after a crash or a lost answer), lists
//! the live tenant (one paginated list), exports only the objects the planner asks for,
//! builds the policy (window, promotion, conflict, prune, drift, catalog), calls the pure
//! planner, and on apply executes the plan, records the outcome and reviews the open
//! warnings (closing those ferry now sees resolved). It owns the connections to tenants,
//! including the in-process emulator for tenants whose `url` is `emulator`.
//!
//! It must not decide what to change itself: that is [`crate::plan`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{debug, info};

use crate::apply::{self, ApplyContext, ApplyReport};
use crate::config::{self, LoadedConfig};
use crate::emulator;
use crate::lock::Lock;
use crate::manifest::ManifestSet;
use crate::model::{Body, Catalog, ContentHash, Desired, FieldLocations, LiveObject, Location};
use crate::plan::window;
use crate::plan::{self, InventoryEntry, LiveView, Plan, Policy, Promotion};
use crate::provider::{self, ClientOptions, Provider};
use crate::recovery;
use crate::review;
use crate::store::{self, InventoryRow, Store, applied, clean, inventory};

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tenant named on the command line or in an API call is not in the config.
    #[error("no tenant named {0:?} in the configuration; configured tenants: {1}")]
    UnknownTenant(String, String),
    /// The platform could not be reached or refused the request.
    #[error(transparent)]
    Provider(#[from] provider::Error),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The in-process emulator could not start.
    #[error("cannot start the in-process emulator: {0}")]
    Emulator(String),
    /// The in-process emulator's seed file (`emulator.seed`) cannot be used.
    #[error("cannot use the in-process emulator's seed: {0}")]
    EmulatorSeed(String),
    /// A sync window definition could not be evaluated.
    #[error("tenant {tenant}: sync window: {message}")]
    Window {
        /// Tenant.
        tenant: String,
        /// What is wrong.
        message: String,
    },
    /// Open journal entries could not be resolved.
    #[error(
        "tenant {tenant}: resolving the apply journal failed: {message}; ferry retries before applying anything"
    )]
    Recovery {
        /// Tenant.
        tenant: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// Whether the configuration is what must change (credentials that cannot be read, a
    /// tenant URL, the emulator's seed), rather than something that may pass later.
    pub fn is_config(&self) -> bool {
        match self {
            Error::Provider(e) => matches!(
                e,
                provider::Error::Credentials { .. } | provider::Error::InvalidUrl { .. }
            ),
            Error::EmulatorSeed(_) | Error::UnknownTenant(..) | Error::Window { .. } => true,
            _ => false,
        }
    }

    /// Whether retrying later may succeed (outage, rate limit, timeout).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Provider(e) => e.is_transient(),
            Error::Recovery { .. } | Error::Store(_) => true,
            _ => false,
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a plan treats drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    /// Plan a replace for drifted connectors (what `ferry plan` / `apply` show).
    Heal,
    /// Report drift only (the daemon with `selfHeal: false`).
    Report,
    /// Follow the tenant's `drift.selfHeal`.
    FromConfig,
}

/// A tenant's plan together with what planning saw.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// List and exports the plan was made from.
    pub live: LiveView,
    /// Where each connector's fields are written (to point platform errors at lines),
    /// shared with the desired state.
    pub locations: HashMap<String, (Location, FieldLocations)>,
    /// The tenant's catalog, when planning read it (reused to close warnings).
    pub catalog: Option<Catalog>,
}

struct TenantHandle {
    cfg: config::Tenant,
    provider: Arc<dyn Provider>,
}

/// The engine: configuration, state store and a provider per tenant.
pub struct Engine {
    config: Arc<LoadedConfig>,
    store: Store,
    tenants: BTreeMap<String, TenantHandle>,
    providers: HashMap<String, Arc<dyn Provider>>,
    emulator: std::sync::Mutex<Option<emulator::EmulatorHandle>>,
    emulator_url: Option<String>,
    _emulator_lock: Option<Lock>,
    /// SQL test outcomes kept for `tests: advisory|required` ([`crate::gate`]).
    test_outcomes: crate::gate::Outcomes,
}

/// Exclusive use of the in-process emulator's state file: two ferry processes serving the
/// same emulated tenants would each hold their own copy and overwrite each other's file.
fn lock_emulator(path: &Path) -> Result<Lock> {
    Lock::acquire(
        path,
        "the emulated tenants",
        "stop it, or talk to its tenants through it (its log prints their address)",
    )
    .map_err(|e| Error::Emulator(e.to_string()))
}

impl Engine {
    /// Connect to every tenant of `config` (starting the in-process emulator for
    /// `url: emulator` tenants, its state kept beside the state store).
    pub async fn start(
        config: Arc<LoadedConfig>,
        store: Store,
        options: &ClientOptions,
    ) -> Result<Engine> {
        let base_dir = config.dir.to_path_buf();
        let emulated: Vec<&config::Tenant> = config
            .config
            .tenants
            .iter()
            .filter(|t| t.url == "emulator")
            .collect();
        let mut emulator_handle = None;
        let mut lock = None;
        let mut tokens: HashMap<String, String> = HashMap::new();
        let mut businesses: HashMap<String, String> = HashMap::new();
        if !emulated.is_empty() {
            let seed = emulator_seed(&config, &emulated)?;
            for t in &seed.tenants {
                tokens.insert(t.name.clone(), t.token.expose().to_owned());
                businesses.insert(t.name.clone(), t.business().to_owned());
            }
            let state_path = store
                .path()
                .map(|p| p.with_file_name("emulator-state.json"));
            if let Some(path) = &state_path {
                lock = Some(lock_emulator(&path.with_extension("lock"))?);
            }
            let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let handle = emulator::spawn(seed, state_path, listen)
                .map_err(|e| Error::Emulator(e.to_string()))?;
            info!(addr = %handle.addr(), tenants = emulated.len(), "in-process emulator started");
            emulator_handle = Some(handle);
        }
        let mut tenants = BTreeMap::new();
        let mut providers = HashMap::new();
        for t in &config.config.tenants {
            let provider = match (&emulator_handle, t.url.as_str()) {
                (Some(h), "emulator") => provider::connect_with_token(
                    // The emulated tenant answers to the business its seed gives it (the
                    // tenant name by default), whatever `business` says.
                    &config::Tenant {
                        business: businesses.get(&t.name).cloned().or(t.business.clone()),
                        ..t.clone()
                    },
                    &h.base_url(&t.name),
                    provider::Secret::new(tokens.get(&t.name).cloned().unwrap_or_default()),
                    options,
                )?,
                _ => provider::connect(t, &t.url, &base_dir, options)?,
            };
            providers.insert(t.name.clone(), provider.clone());
            tenants.insert(
                t.name.clone(),
                TenantHandle {
                    cfg: t.clone(),
                    provider,
                },
            );
        }
        Ok(Engine {
            config,
            store,
            tenants,
            providers,
            emulator_url: emulator_handle.as_ref().map(|h| h.url()),
            _emulator_lock: lock,
            emulator: std::sync::Mutex::new(emulator_handle),
            test_outcomes: crate::gate::Outcomes::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoadedConfig {
        &self.config
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The address of the in-process emulator (`http://127.0.0.1:PORT`), if any tenant
    /// uses one.
    pub fn emulator_url(&self) -> Option<&str> {
        self.emulator_url.as_deref()
    }

    /// Tenant names, in config order.
    pub fn tenant_names(&self) -> Vec<String> {
        self.config
            .config
            .tenants
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    /// A tenant's config.
    pub fn tenant(&self, name: &str) -> Result<&config::Tenant> {
        self.handle(name).map(|h| &h.cfg)
    }

    /// A tenant's provider.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        self.handle(name).map(|h| h.provider.clone())
    }

    fn handle(&self, name: &str) -> Result<&TenantHandle> {
        self.tenants
            .get(name)
            .ok_or_else(|| Error::UnknownTenant(name.to_owned(), self.tenant_names().join(", ")))
    }

    /// Resolve open journal entries of a tenant against its live state.
    pub async fn recover(&self, tenant: &str) -> Result<Vec<String>> {
        let h = self.handle(tenant)?;
        recovery::recover(tenant, h.provider.as_ref(), &self.store)
            .await
            .map_err(|message| Error::Recovery {
                tenant: tenant.to_owned(),
                message,
            })
    }

    /// Plan one tenant: one list call, exports only where needed, the catalog only when
    /// something is to be created or changed.
    pub async fn plan(
        &self,
        tenant: &str,
        desired: &[Desired],
        revision: &str,
        drift: DriftMode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Planned> {
        let h = self.handle(tenant)?;
        let cfg = &h.cfg;
        let provider = h.provider.as_ref();
        let desired = &*canonical(desired);
        let t = tenant.to_owned();
        let rows = self.store.call(move |c| inventory::list(c, &t)).await?;
        let mut inventory: Vec<InventoryEntry> = rows.into_iter().map(to_entry).collect();
        // When the inventory alone says something changes, the catalog is needed whatever
        // the tenant holds: it is looked up beside the list instead of after it (two
        // calls at once: not with `concurrency: 1`).
        let changed = changes_by_inventory(desired, &inventory);
        let (summaries, early_catalog) = if changed && cfg.apply_concurrency() > 1 {
            let (summaries, catalog) = tokio::join!(provider.list(), provider.catalog());
            (summaries?, Some(catalog?))
        } else {
            (provider.list().await?, None)
        };
        let mut policy = self.policy(cfg, revision, drift, now).await?;
        let ids = plan::needs_export(desired, &summaries, &inventory, &policy);
        // What ferry applied is what a drift is compared against, and only an exported
        // object can show a drift: the kept bodies of those alone are read.
        if !ids.is_empty() {
            let exported: HashSet<&str> = ids.iter().map(String::as_str).collect();
            let connectors: Vec<String> = inventory
                .iter()
                .filter(|e| exported.contains(e.live_id.as_str()))
                .map(|e| e.connector.clone())
                .collect();
            let t = tenant.to_owned();
            let mut bodies = self
                .store
                .call(move |c| applied::of(c, &t, &connectors))
                .await?;
            for entry in &mut inventory {
                entry.applied_body = bodies
                    .remove(&entry.connector)
                    .filter(|(hash, _)| *hash == entry.applied_hash)
                    .map(|(_, body)| body);
            }
        }
        let mut exported: HashMap<String, LiveObject> = HashMap::new();
        for id in ids {
            let object = provider.export(&id).await?;
            exported.insert(id, object);
        }
        let mut catalog = None;
        if changed
            || needs_catalog(desired, &inventory, &summaries)
            || (policy.heal_drift && drifted(&exported, &inventory))
        {
            policy.catalog = match early_catalog {
                Some(early) => early,
                None => provider.catalog().await?,
            };
            catalog = Some(policy.catalog.clone());
        }
        let live = LiveView {
            summaries,
            exported,
        };
        let plan = plan::plan(desired, &live, &inventory, &policy);
        let locations = desired
            .iter()
            .map(|d| {
                (
                    d.connector.clone(),
                    (d.location.clone(), d.field_locations.clone()),
                )
            })
            .collect();
        debug!(tenant, actions = plan.actions.len(), "planned");
        Ok(Planned {
            plan,
            live,
            locations,
            catalog,
        })
    }

    /// With `tests: advisory` or `required` for `tenant`, run the SQL tests of the
    /// connectors `plan` creates or replaces (the manifests of `set`, on the engine of
    /// `sqlEngine`, `FERRY_PYTHON` overriding its interpreter) and put the outcome on the
    /// plan; `required` blocks the connectors whose tests fail ([`crate::gate`]).
    ///
    /// # Errors
    /// The tenant is not configured.
    pub async fn gate_tests(&self, plan: &mut Plan, set: &ManifestSet, tenant: &str) -> Result<()> {
        let cfg = self.tenant(tenant)?;
        let mode = crate::gate::mode_for(cfg, self.config.config.tests);
        if mode == config::TestsMode::Off {
            return Ok(());
        }
        let mut engine =
            crate::sqltest::settings_from(self.config.config.sql_engine.as_ref(), &self.config.dir);
        if let Some(python) = std::env::var_os("FERRY_PYTHON").filter(|p| !p.is_empty()) {
            engine.python = python.into();
        }
        let options = crate::sqltest::Options {
            engine,
            require_engine_version: false,
        };
        crate::gate::gate(plan, set, cfg, mode, &options, Some(&self.test_outcomes)).await;
        Ok(())
    }

    /// Execute a plan made by [`Engine::plan`], record the outcome, and close the open
    /// warnings ferry now sees resolved ([`review::review`], reusing the catalog planning
    /// read).
    pub async fn apply(&self, planned: &Planned) -> Result<ApplyReport> {
        let tenant = planned.plan.tenant.as_str();
        let h = self.handle(tenant)?;
        let revision = planned.plan.revision.clone().unwrap_or_default();
        let ctx = ApplyContext {
            provider: h.provider.as_ref(),
            store: &self.store,
            revision: &revision,
            peers: &self.providers,
            locations: &planned.locations,
            live: &planned.live.summaries,
            warnings: h.cfg.warnings,
            concurrency: h.cfg.apply_concurrency(),
        };
        let mut report = apply::apply(&ctx, &planned.plan).await;
        self.keep_applied(planned).await?;
        report.closed_warnings = self.review_with(tenant, planned.catalog.as_ref()).await?;
        Ok(report)
    }

    /// Keep the content ferry now holds as applied to each connector of the plan (what a
    /// later drift is compared against): the body a create or replace sent, the live body
    /// an adoption or a recorded no-op took as it was. Only what the inventory confirms
    /// is kept; the bodies of pruned connectors go.
    async fn keep_applied(&self, planned: &Planned) -> Result<()> {
        let exported = &planned.live.exported;
        let mut bodies: Vec<(String, ContentHash, Body)> = Vec::new();
        for action in &planned.plan.actions {
            match &action.op {
                plan::Op::Create { body, hash, .. } | plan::Op::Replace { body, hash, .. } => {
                    bodies.push((action.connector.clone(), hash.clone(), (**body).clone()));
                }
                plan::Op::Adopt {
                    live_id, live_hash, ..
                }
                | plan::Op::Noop {
                    live_id,
                    applied_hash: Some(live_hash),
                    ..
                } => {
                    if let Some(o) = exported.get(live_id) {
                        bodies.push((action.connector.clone(), live_hash.clone(), o.body.clone()));
                    }
                }
                _ => {}
            }
        }
        let tenant = planned.plan.tenant.clone();
        self.store
            .call(move |c| {
                for (connector, hash, body) in &bodies {
                    applied::record(c, &tenant, connector, hash, body)?;
                }
                applied::forget_unmanaged(c, &tenant)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Close the open warnings of `tenant` that ferry now sees resolved (a reference the
    /// catalog holds, a VCS authorised): what `apply` does after its actions, for callers
    /// with nothing to apply. No open warning, no call.
    pub async fn review_warnings(&self, tenant: &str) -> Result<Vec<review::Closed>> {
        self.review_with(tenant, None).await
    }

    async fn review_with(
        &self,
        tenant: &str,
        catalog: Option<&Catalog>,
    ) -> Result<Vec<review::Closed>> {
        let h = self.handle(tenant)?;
        Ok(review::review(
            tenant,
            h.cfg.warnings,
            h.provider.as_ref(),
            &self.store,
            catalog,
        )
        .await?)
    }

    async fn policy(
        &self,
        cfg: &config::Tenant,
        revision: &str,
        drift: DriftMode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Policy> {
        let window = window::decide(&cfg.windows, now).map_err(|e| Error::Window {
            tenant: cfg.name.clone(),
            message: e.to_string(),
        })?;
        let promotion = match &cfg.promote_from {
            Some(from) => {
                let f = from.clone();
                let (hashes, rows) = self
                    .store
                    .call(move |c| Ok((clean::hashes(c, &f)?, inventory::list(c, &f)?)))
                    .await?;
                Some(Promotion {
                    from: from.clone(),
                    clean_source_hashes: hashes,
                    source_ids: rows.into_iter().map(|r| (r.connector, r.live_id)).collect(),
                })
            }
            None => None,
        };
        let source = cfg
            .promote_from
            .as_deref()
            .and_then(|f| self.tenants.get(f))
            .map(|h| &h.cfg);
        let heal_drift = match drift {
            DriftMode::Heal => true,
            DriftMode::Report => false,
            DriftMode::FromConfig => cfg.drift.as_ref().is_some_and(|d| d.self_heal),
        };
        Ok(Policy {
            tenant: cfg.name.clone(),
            platform: cfg.platform,
            revision: Some(revision.to_owned()),
            on_conflict: cfg.on_conflict,
            prune: cfg.prune,
            heal_drift,
            window,
            promotion,
            cross_business: cross_business(&self.config.config.tenants, cfg),
            plugin_source_region: source.and_then(|s| s.region.clone()),
            region: cfg.region.clone(),
            catalog: Catalog::default(),
            capabilities: cfg.capability_set(),
        })
    }

    /// Stop the in-process emulator, if any, saving its state.
    pub async fn shutdown(&self) {
        let handle = self
            .emulator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle
            && let Err(e) = h.shutdown().await
        {
            tracing::warn!(error = %e, "in-process emulator did not shut down cleanly");
        }
    }
}

/// Desired bodies in the shape providers report live ones in, hashed again: a CDE
/// connector's `config` without the server fields and platform defaults that
/// [`provider::normalize_cde_config`] drops from what the platform returns. Without it a
/// manifest spelling out a default (`execution-mode: as-env-variables`,
/// `vcs.authorization: public`) would never compare equal to its live copy, and any write
/// in the tenant (turning the connector on) would read as drift. Other platforms' bodies
/// are compared as written; the slice is borrowed when nothing changes.
pub fn canonical(desired: &[Desired]) -> Cow<'_, [Desired]> {
    let normalized = |d: &Desired| match &*d.body {
        Body::ProductsupCde(c) => {
            let config = provider::normalize_cde_config(&c.config);
            (config != c.config).then_some(config)
        }
        _ => None,
    };
    if !desired.iter().any(|d| normalized(d).is_some()) {
        return Cow::Borrowed(desired);
    }
    Cow::Owned(
        desired
            .iter()
            .map(|d| {
                let mut d = d.clone();
                if let (Some(config), Body::ProductsupCde(c)) =
                    (normalized(&d), Arc::make_mut(&mut d.body))
                {
                    c.config = config;
                    d.hash = d.body.content_hash();
                }
                d
            })
            .collect(),
    )
}

fn to_entry(r: InventoryRow) -> InventoryEntry {
    InventoryEntry {
        connector: r.connector,
        kind: r.kind,
        live_id: r.live_id,
        name: r.name,
        applied_hash: r.applied_hash,
        source_hash: r.source_hash,
        live_version: r.live_version,
        revision: r.revision,
        created_by_ferry: r.created_by_ferry,
        applied_body: None,
    }
}

/// Whether anything may be created or changed, so the catalog look-up is worth a call.
fn needs_catalog(
    desired: &[Desired],
    inventory: &[InventoryEntry],
    summaries: &[crate::model::LiveSummary],
) -> bool {
    let live: HashSet<&str> = summaries.iter().map(|s| s.id.as_str()).collect();
    differs(desired, inventory, |e| !live.contains(e.live_id.as_str()))
}

/// Whether a connector is new or changed since ferry applied it, whatever the tenant holds:
/// then the catalog is needed in any case.
fn changes_by_inventory(desired: &[Desired], inventory: &[InventoryEntry]) -> bool {
    differs(desired, inventory, |_| false)
}

/// Whether a desired connector has no inventory entry, another applied hash, or an entry
/// for which `gone` holds.
fn differs(
    desired: &[Desired],
    inventory: &[InventoryEntry],
    gone: impl Fn(&InventoryEntry) -> bool,
) -> bool {
    let mut entries: HashMap<&str, &InventoryEntry> = HashMap::with_capacity(inventory.len());
    for e in inventory {
        // The first entry of a connector, as a search from the front would find it.
        entries.entry(e.connector.as_str()).or_insert(e);
    }
    desired
        .iter()
        .any(|d| match entries.get(d.connector.as_str()) {
            None => true,
            Some(e) => e.applied_hash != d.hash || gone(e),
        })
}

/// Whether an exported managed object differs from what ferry applied: healing it is a
/// replace, which needs the catalog like any other.
fn drifted(exported: &HashMap<String, LiveObject>, inventory: &[InventoryEntry]) -> bool {
    exported.values().any(|o| {
        inventory
            .iter()
            .any(|e| e.live_id == o.summary.id && e.applied_hash != o.body.content_hash())
    })
}

/// A tenant is "cross-business" when its business differs from the business its content
/// comes from: the `promoteFrom` tenant's, or else the business most tenants of the
/// configuration share (the platform team's own). Unset businesses never differ.
pub fn cross_business(all: &[config::Tenant], t: &config::Tenant) -> bool {
    let Some(business) = t.business.as_deref() else {
        return false;
    };
    let home = match t
        .promote_from
        .as_deref()
        .and_then(|f| all.iter().find(|x| x.name == f))
    {
        Some(source) => source.business.clone(),
        None => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for x in all {
                if let Some(b) = x.business.as_deref() {
                    *counts.entry(b).or_default() += 1;
                }
            }
            counts
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(b, _)| b.to_owned())
        }
    };
    home.is_some_and(|h| h != business)
}

/// The seed of the in-process emulator: the configured seed file's tenants matching
/// emulated tenants by name, and an empty tenant for any that the seed lacks.
fn emulator_seed(config: &LoadedConfig, emulated: &[&config::Tenant]) -> Result<emulator::Seed> {
    let from_file = match config
        .config
        .emulator
        .as_ref()
        .and_then(|e| e.seed.as_ref())
    {
        Some(path) => {
            let path: PathBuf = config.dir.join(path);
            emulator::Seed::load(&path).map_err(|e| Error::EmulatorSeed(e.to_string()))?
        }
        None => emulator::Seed {
            tenants: Vec::new(),
        },
    };
    let mut tenants = Vec::new();
    for t in emulated {
        let seeded = from_file.tenants.iter().find(|s| s.name == t.name).cloned();
        let tenant = match seeded {
            Some(s) => s,
            None => {
                // An emulated tenant the seed file does not describe: empty, with the
                // config's region and business. The token only guards a loopback port.
                let mut seeded =
                    emulator::SeedTenant::new(&t.name, t.platform, format!("emulator-{}", t.name));
                seeded.region = t.region.clone();
                seeded.business = t.business.clone();
                seeded
            }
        };
        tenants.push(tenant);
    }
    Ok(emulator::Seed { tenants })
}

/// Path helper: the state file for a config, honouring an override.
pub fn state_path(config: &LoadedConfig, overridden: Option<&Path>) -> PathBuf {
    match overridden {
        Some(p) => p.to_path_buf(),
        None => config.dir.join(&config.config.state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Platform;

    fn tenant(name: &str, business: Option<&str>, promote_from: Option<&str>) -> config::Tenant {
        config::Tenant {
            business: business.map(Into::into),
            promote_from: promote_from.map(Into::into),
            ..config::Tenant::new(name, Platform::Kizen, "emulator")
        }
    }

    #[tokio::test]
    async fn emulated_kizen_tenants_connect_without_a_business() {
        let dir = tempfile::tempdir().unwrap();
        // `sandbox` has no business anywhere; the seed lists `prod` without one while the
        // configuration gives it `acme`: both answer to their seed's business.
        std::fs::write(
            dir.path().join("seed.yaml"),
            "tenants:\n  - {name: prod, platform: kizen, token: prod-token}\n",
        )
        .unwrap();
        let yaml = "source: {repo: .}\n\
                    emulator: {seed: seed.yaml}\n\
                    tenants:\n  \
                    - {name: sandbox, platform: kizen, url: emulator}\n  \
                    - {name: prod, platform: kizen, url: emulator, business: acme}\n";
        let path = dir.path().join("ferry.yaml");
        std::fs::write(&path, yaml).unwrap();
        let loaded = config::load(&path).unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let engine = Engine::start(Arc::new(loaded), store, &ClientOptions::default())
            .await
            .unwrap();
        for tenant in ["sandbox", "prod"] {
            let live = engine.provider(tenant).unwrap().list().await.unwrap();
            assert!(live.is_empty(), "{tenant}: {live:?}");
        }
        engine.shutdown().await;
    }

    #[test]
    fn canonical_hashes_cde_configs_as_the_platform_lists_them() {
        use crate::plan::testing;
        let kizen = vec![testing::kizen("orders").build()];
        assert!(matches!(canonical(&kizen), Cow::Borrowed(_)));

        let written = testing::cde("feed").vcs_authorization("public").build();
        let Body::ProductsupCde(body) = &*written.body else {
            panic!("a CDE body")
        };
        let mut live = body.clone();
        live.config = provider::normalize_cde_config(&body.config);
        let live_hash = Body::ProductsupCde(live).content_hash();
        assert_ne!(written.hash, live_hash);
        let desired = [written.clone()];
        let canonical = canonical(&desired);
        assert_eq!(canonical[0].hash, live_hash);
        assert_eq!(canonical[0].source_hash, written.source_hash);
    }

    #[test]
    fn the_emulator_state_lock_refuses_a_live_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emulator-state.lock");
        let held = lock_emulator(&path).unwrap();
        let err = lock_emulator(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "another ferry process (pid {}) is using the emulated tenants",
                std::process::id()
            )),
            "{err}"
        );
        drop(held);
        assert!(
            lock_emulator(&path).is_ok(),
            "the lock goes with the engine"
        );
    }

    #[test]
    fn cross_business_compares_with_the_promotion_source_or_the_home_business() {
        let all = vec![
            tenant("sandbox", Some("acme"), None),
            tenant("prod", Some("acme"), Some("sandbox")),
            tenant("client", Some("globex"), Some("sandbox")),
            tenant("other", Some("initech"), None),
            tenant("anon", None, None),
        ];
        assert!(!cross_business(&all, &all[0]));
        assert!(!cross_business(&all, &all[1]));
        assert!(cross_business(&all, &all[2]));
        assert!(cross_business(&all, &all[3]));
        assert!(!cross_business(&all, &all[4]));
    }
}
