//! A saved plan: what `ferry plan --out FILE` writes and `ferry apply FILE` applies.
//!
//! A versioned JSON document holding, per tenant, the plan's actions and drift, the content
//! hash git wants for each connector, and a fingerprint of what the tenant held when it was
//! planned (each live object's id, name and version), with the source revision and the
//! ferry version that made it. Bodies are left out: they are in git, sample files may hold
//! personal data, and `ferry apply FILE` reads them from the manifests again, checking that
//! they still hash to what was planned.
//!
//! It owns the document's shape, reading it (refusing what is not a ferry plan, or of
//! another format version), and comparing a saved tenant with a fresh plan of it. It does no
//! I/O and must not decide what to change: that is [`super::plan()`].
//!
//! # Guarantees
//!
//! - No secret: the document holds names, ids, versions, hashes, the planner's reasons and
//!   secret *references* (the paths a blocked action names), never a token, a secret value,
//!   nor any connector body.
//! - A tenant passes [`SavedTenant::check`] only when the manifests give the same desired
//!   hashes, the tenant lists the same objects at the same versions, and the planner makes
//!   the same actions and finds the same drift: what is applied then is exactly what was
//!   saved.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{ContentHash, Desired, LiveSummary, Platform};
use crate::plan::{LiveView, Plan};

/// The `kind` of a saved plan document.
pub const KIND: &str = "FerryPlan";

/// The format version this ferry writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Errors reading a saved plan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not a ferry plan at all.
    #[error(
        "{path} is not a ferry plan ({why}); make one with `ferry plan --out {path}` and apply that"
    )]
    NotAPlan {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A ferry plan of a format version this ferry does not read.
    #[error(
        "{path} is a ferry plan of format version {found}, and this ferry reads version {FORMAT_VERSION} only; run `ferry plan --out {path}` again with this ferry"
    )]
    OtherVersion {
        /// The file.
        path: String,
        /// The version it declares.
        found: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the planned manifests were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFrom {
    /// The commit `revision` (`ferry plan --rev`).
    Commit,
    /// The working tree (its `HEAD` is `revision`).
    WorkingTree,
}

/// A saved plan document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedPlan {
    /// Always [`KIND`].
    pub kind: String,
    /// Always [`FORMAT_VERSION`] when written by this ferry.
    pub format_version: u32,
    /// The ferry that made it (`ferry --version`).
    pub ferry_version: String,
    /// When it was planned.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The git revision planned: the commit, or `HEAD` when the working tree was read.
    pub revision: String,
    /// Whether the manifests came from the commit or the working tree.
    pub read_from: ReadFrom,
    /// Each tenant planned, in the order planned.
    pub tenants: Vec<SavedTenant>,
}

impl SavedPlan {
    /// A new document of `tenants`.
    pub fn new(
        ferry_version: &str,
        revision: &str,
        read_from: ReadFrom,
        tenants: Vec<SavedTenant>,
    ) -> Self {
        SavedPlan {
            kind: KIND.to_owned(),
            format_version: FORMAT_VERSION,
            ferry_version: ferry_version.to_owned(),
            created_at: chrono::Utc::now(),
            revision: revision.to_owned(),
            read_from,
            tenants,
        }
    }

    /// Read a saved plan from the text of `path`.
    ///
    /// # Errors
    /// [`Error::NotAPlan`] for text that is not JSON, not a ferry plan, or a ferry plan
    /// whose fields do not read; [`Error::OtherVersion`] for another format version.
    pub fn parse(path: &str, text: &str) -> Result<SavedPlan> {
        let not = |why: String| Error::NotAPlan {
            path: path.to_owned(),
            why,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| not(format!("not JSON: {e}")))?;
        if value.get("kind").and_then(Value::as_str) != Some(KIND) {
            return Err(not(format!("it has no `\"kind\": \"{KIND}\"`")));
        }
        match value.get("formatVersion") {
            Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
            found => {
                return Err(Error::OtherVersion {
                    path: path.to_owned(),
                    found: found.map_or_else(|| "(none)".to_owned(), ToString::to_string),
                });
            }
        }
        serde_json::from_value(value).map_err(|e| not(format!("a field does not read: {e}")))
    }

    /// The document as pretty JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("saved plans always serialize");
        text.push('\n');
        text
    }
}

/// One tenant of a saved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedTenant {
    /// Tenant name.
    pub name: String,
    /// The tenant's platform.
    pub platform: Platform,
    /// The content hash git wants for each connector (`metadata.name`).
    pub desired: BTreeMap<String, ContentHash>,
    /// What the tenant held when planned: every listed object, by id.
    pub live: Vec<LiveMark>,
    /// The plan's actions and drift, without bodies ([`stripped`]).
    pub plan: Value,
}

/// One live object as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiveMark {
    /// The platform's id.
    pub id: String,
    /// Tenant-side name.
    pub name: String,
    /// The version counter the platform bumps on every write.
    pub version: u64,
}

impl From<&LiveSummary> for LiveMark {
    fn from(s: &LiveSummary) -> Self {
        LiveMark {
            id: s.id.clone(),
            name: s.name.clone(),
            version: s.version,
        }
    }
}

/// Why a saved tenant no longer matches a fresh plan of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The manifests give other desired content than planned.
    Manifests {
        /// Tenant.
        tenant: String,
        /// Each connector that differs, with how.
        connectors: Vec<String>,
    },
    /// The tenant changed since it was planned.
    Tenant {
        /// Tenant.
        tenant: String,
        /// Each object that changed, with how.
        changes: Vec<String>,
    },
    /// The same inputs now plan otherwise (the state store or the policy changed: another
    /// apply recorded something, a sync window closed, promotion moved on).
    Plan {
        /// Tenant.
        tenant: String,
        /// Each connector planned otherwise, with how.
        connectors: Vec<String>,
    },
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Manifests { tenant, connectors } => write!(
                f,
                "tenant {tenant}: the manifests no longer give the planned desired state: {}",
                connectors.join("; ")
            ),
            Stale::Tenant { tenant, changes } => write!(
                f,
                "tenant {tenant} changed since the plan was made: {}",
                changes.join("; ")
            ),
            Stale::Plan { tenant, connectors } => write!(
                f,
                "tenant {tenant}: ferry now plans otherwise than saved: {}",
                connectors.join("; ")
            ),
        }
    }
}

impl SavedTenant {
    /// The saved form of a tenant's plan, the live view it was made from, and the desired
    /// state it was made for.
    pub fn new(plan: &Plan, live: &LiveView, desired: &[Desired]) -> Self {
        SavedTenant {
            name: plan.tenant.clone(),
            platform: plan.platform,
            desired: desired_hashes(desired),
            live: live_marks(live),
            plan: stripped(plan),
        }
    }

    /// Whether a fresh plan of this tenant (made from `live` for `desired`) is the saved
    /// one: same desired hashes, same live objects at the same versions, same actions and
    /// drift.
    ///
    /// # Errors
    /// [`Stale`] naming the connectors that differ, checked in that order.
    pub fn check(&self, plan: &Plan, live: &LiveView, desired: &[Desired]) -> Result<(), Stale> {
        let tenant = self.name.clone();
        let now = desired_hashes(desired);
        let connectors = diff_desired(&self.desired, &now);
        if !connectors.is_empty() {
            return Err(Stale::Manifests { tenant, connectors });
        }
        let changes = self.diff_live(&live_marks(live));
        if !changes.is_empty() {
            return Err(Stale::Tenant { tenant, changes });
        }
        let fresh = stripped(plan);
        if fresh != self.plan {
            return Err(Stale::Plan {
                tenant,
                connectors: diff_plans(&self.plan, &fresh),
            });
        }
        Ok(())
    }

    /// The connector (`metadata.name`) a saved plan knew a live id by, from its actions and
    /// drift.
    fn connector_of(&self, id: &str) -> Option<&str> {
        let items = ["actions", "drift"]
            .iter()
            .filter_map(|k| self.plan.get(k).and_then(Value::as_array))
            .flatten();
        for item in items {
            let live_id = item
                .get("op")
                .and_then(|op| op.get("liveId"))
                .or_else(|| item.get("liveId"))
                .and_then(Value::as_str);
            if live_id == Some(id) {
                return item.get("connector").and_then(Value::as_str);
            }
        }
        None
    }

    fn describe(&self, mark: &LiveMark) -> String {
        match self.connector_of(&mark.id) {
            Some(c) => format!("connector `{c}` ({}, id {})", mark.name, mark.id),
            None => format!("`{}` (id {})", mark.name, mark.id),
        }
    }

    fn diff_live(&self, now: &[LiveMark]) -> Vec<String> {
        let then: BTreeMap<&str, &LiveMark> =
            self.live.iter().map(|m| (m.id.as_str(), m)).collect();
        let current: BTreeMap<&str, &LiveMark> = now.iter().map(|m| (m.id.as_str(), m)).collect();
        let mut changes = Vec::new();
        for (id, was) in &then {
            match current.get(id) {
                None => changes.push(format!("{} is gone", self.describe(was))),
                Some(is) if is.name != was.name => changes.push(format!(
                    "{} was renamed to `{}`",
                    self.describe(was),
                    is.name
                )),
                Some(is) if is.version != was.version => changes.push(format!(
                    "{} was written (version {} when planned, {} now)",
                    self.describe(was),
                    was.version,
                    is.version
                )),
                Some(_) => {}
            }
        }
        for (id, is) in &current {
            if !then.contains_key(id) {
                changes.push(format!("{} was created", self.describe(is)));
            }
        }
        changes
    }
}

fn desired_hashes(desired: &[Desired]) -> BTreeMap<String, ContentHash> {
    desired
        .iter()
        .map(|d| (d.connector.clone(), d.hash.clone()))
        .collect()
}

fn live_marks(live: &LiveView) -> Vec<LiveMark> {
    let mut marks: Vec<LiveMark> = live.summaries.iter().map(LiveMark::from).collect();
    marks.sort_by(|a, b| a.id.cmp(&b.id));
    marks
}

fn diff_desired(
    then: &BTreeMap<String, ContentHash>,
    now: &BTreeMap<String, ContentHash>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (connector, hash) in then {
        match now.get(connector) {
            None => out.push(format!(
                "connector `{connector}` is gone from the manifests"
            )),
            Some(h) if h != hash => out.push(format!(
                "connector `{connector}` changed (planned {}, now {})",
                hash.short(),
                h.short()
            )),
            Some(_) => {}
        }
    }
    for connector in now.keys() {
        if !then.contains_key(connector) {
            out.push(format!("connector `{connector}` was added"));
        }
    }
    out
}

/// A plan as saved: its JSON with every body left out (`op.body`, a replace's `op.old`,
/// which the desired and live hashes stand for). What a saved plan compares.
pub fn stripped(plan: &Plan) -> Value {
    let mut value = serde_json::json!({
        "actions": plan.actions,
        "drift": plan.drift,
    });
    if let Some(actions) = value["actions"].as_array_mut() {
        for action in actions {
            if let Some(op) = action.get_mut("op").and_then(Value::as_object_mut) {
                op.remove("body");
                op.remove("old");
            }
        }
    }
    value
}

/// One line per connector whose saved action or drift differs from the fresh ones.
fn diff_plans(saved: &Value, fresh: &Value) -> Vec<String> {
    let by_connector = |v: &Value, key: &str| -> BTreeMap<String, Vec<Value>> {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for item in v.get(key).and_then(Value::as_array).into_iter().flatten() {
            let c = item
                .get("connector")
                .and_then(Value::as_str)
                .unwrap_or_default();
            map.entry(c.to_owned()).or_default().push(item.clone());
        }
        map
    };
    let ops = |items: Option<&Vec<Value>>| -> String {
        let names: Vec<&str> = items
            .into_iter()
            .flatten()
            .map(|a| {
                a.pointer("/op/op")
                    .and_then(Value::as_str)
                    .unwrap_or("nothing")
            })
            .collect();
        if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(" + ")
        }
    };
    let mut out = Vec::new();
    let (then, now) = (
        by_connector(saved, "actions"),
        by_connector(fresh, "actions"),
    );
    let connectors: std::collections::BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    for c in connectors {
        let (a, b) = (then.get(c), now.get(c));
        if a != b {
            let (was, is) = (ops(a), ops(b));
            if was == is {
                out.push(format!("connector `{c}`: {was}, with other details"));
            } else {
                out.push(format!("connector `{c}`: {was} planned, {is} now"));
            }
        }
    }
    let (then, now) = (by_connector(saved, "drift"), by_connector(fresh, "drift"));
    let connectors: std::collections::BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    for c in connectors {
        if then.get(c) != now.get(c) {
            out.push(format!("connector `{c}`: its drift differs"));
        }
    }
    if out.is_empty() {
        out.push("the actions differ".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Policy;
    use crate::plan::testing::{self, summary};

    /// A tenant with `orders` applied at version 1 and a changed manifest: a replace.
    fn replaced() -> (Vec<Desired>, LiveView, Plan) {
        let applied = testing::kizen("orders").sql("SELECT 1").build();
        let desired = vec![
            testing::kizen("orders")
                .sql("SELECT 2")
                .sample("email\nsecret-sample-row@example.com\n")
                .build(),
        ];
        let live = LiveView::listed(vec![summary("k1", "Orders", 1)]).with_export(testing::object(
            "k1",
            1,
            &applied.body,
        ));
        let inventory = vec![testing::entry(&applied, "k1", 1)];
        let policy = Policy::new("sandbox", Platform::Kizen);
        let plan = crate::plan::plan(&desired, &live, &inventory, &policy);
        (desired, live, plan)
    }

    #[test]
    fn a_saved_plan_reads_back_and_passes_against_the_same_inputs() {
        let (desired, live, plan) = replaced();
        assert_eq!(plan.changes(), 1, "{plan:?}");
        let saved = SavedPlan::new(
            "0.1.0",
            "abc",
            ReadFrom::WorkingTree,
            vec![SavedTenant::new(&plan, &live, &desired)],
        );
        let read = SavedPlan::parse("plan.json", &saved.to_json()).unwrap();
        assert_eq!(read, saved);
        read.tenants[0].check(&plan, &live, &desired).unwrap();
    }

    #[test]
    fn a_saved_plan_holds_no_body_sample_or_secret() {
        let (desired, live, plan) = replaced();
        let text = SavedPlan::new(
            "0.1.0",
            "abc",
            ReadFrom::Commit,
            vec![SavedTenant::new(&plan, &live, &desired)],
        )
        .to_json();
        for leaked in [
            "SELECT",
            "secret-sample-row",
            "sample_file",
            "live_sql",
            "\"body\"",
            "\"old\"",
        ] {
            assert!(
                !text.contains(leaked),
                "{leaked} in the saved plan:\n{text}"
            );
        }
        assert!(text.contains(&desired[0].hash.0), "{text}");
    }

    #[test]
    fn a_written_object_is_named_by_its_connector() {
        let (desired, live, plan) = replaced();
        let saved = SavedTenant::new(&plan, &live, &desired);
        let moved = LiveView::listed(vec![summary("k1", "Orders", 2)]);
        let err = saved.check(&plan, &moved, &desired).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant sandbox changed since the plan was made: connector `orders` (Orders, id k1) was written (version 1 when planned, 2 now)"
        );
        let added = LiveView::listed(vec![summary("k1", "Orders", 1), summary("k9", "hand", 1)]);
        let err = saved.check(&plan, &added, &desired).unwrap_err();
        assert!(
            err.to_string().ends_with("`hand` (id k9) was created"),
            "{err}"
        );
    }

    #[test]
    fn other_manifests_are_refused_before_the_tenant_is_compared() {
        let (desired, live, plan) = replaced();
        let saved = SavedTenant::new(&plan, &live, &desired);
        let edited = vec![testing::kizen("orders").sql("SELECT 3").build()];
        let err = saved.check(&plan, &live, &edited).unwrap_err();
        assert!(matches!(err, Stale::Manifests { .. }), "{err:?}");
        assert!(
            err.to_string().contains(
                "the manifests no longer give the planned desired state: connector `orders` changed"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_plan_made_otherwise_is_refused() {
        let (desired, live, plan) = replaced();
        let saved = SavedTenant::new(&plan, &live, &desired);
        let mut other = plan.clone();
        other.actions.clear();
        let err = saved.check(&other, &live, &desired).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant sandbox: ferry now plans otherwise than saved: connector `orders`: replace planned, nothing now"
        );
    }

    #[test]
    fn other_documents_are_refused_with_what_to_do() {
        let err = SavedPlan::parse("p.json", "not json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("p.json is not a ferry plan (not JSON"),
            "{err}"
        );
        assert!(
            err.ends_with("make one with `ferry plan --out p.json` and apply that"),
            "{err}"
        );
        let err = SavedPlan::parse("p.json", r#"{"tenants": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("it has no `\"kind\": \"FerryPlan\"`"), "{err}");
        let err = SavedPlan::parse("p.json", r#"{"kind": "FerryPlan", "formatVersion": 7}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "p.json is a ferry plan of format version 7, and this ferry reads version 1 only; run `ferry plan --out p.json` again with this ferry"
        );
    }
}
