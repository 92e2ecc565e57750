//! The machine rendering:
//! `{"tenants":[{"name","actions":[{"action","kind","connector","name","reason",…}],…}]}`.
//! The five fields of each action are stable; others may be added. `modelled` lists the
//! modelled capabilities an action relies on (absent when none).

use serde_json::{Map, Value, json};

use crate::plan::{Action, Op, Plan};

/// Render plans as JSON. Every action is listed, noops included; bodies are not (they are
/// in git, and sample files may hold personal data).
pub fn json(plans: &[Plan]) -> Value {
    render(plans, true)
}

/// [`json`] without the noop actions, which the summary still counts (`unchanged`): what
/// a reconcile's history keeps, so a pass over a tenant in sync stays a few hundred bytes
/// however many connectors it holds.
pub fn json_of_changes(plans: &[Plan]) -> Value {
    render(plans, false)
}

fn render(plans: &[Plan], noops: bool) -> Value {
    let tenants: Vec<Value> = plans
        .iter()
        .map(|plan| {
            let summary = plan.summary();
            let actions: Vec<Value> = plan
                .actions
                .iter()
                .filter(|a| noops || !matches!(a.op, Op::Noop { .. }))
                .map(action)
                .collect();
            let mut tenant = json!({
                "name": plan.tenant,
                "platform": plan.platform,
                "revision": plan.revision,
                "actions": actions,
                "drift": plan.drift,
                "summary": summary,
                "changes": plan.changes(),
            });
            if let Some(tests) = &plan.tests {
                tenant["tests"] = json!(tests);
            }
            tenant
        })
        .collect();
    json!({ "tenants": tenants })
}

fn action(action: &Action) -> Value {
    let mut fields = Map::new();
    fields.insert("action".into(), json!(action.op.kind()));
    fields.insert("kind".into(), json!(action.kind));
    fields.insert("connector".into(), json!(action.connector));
    fields.insert("name".into(), json!(action.name));
    fields.insert("reason".into(), json!(action.reason));
    if let Some(id) = action.op.live_id() {
        fields.insert("liveId".into(), json!(id));
    }
    if !action.modelled.is_empty() {
        fields.insert("modelled".into(), json!(action.modelled));
    }
    let extra = match &action.op {
        Op::Create {
            hash,
            via,
            expected_warnings,
            ..
        } => json!({ "hash": hash, "via": via, "expectedWarnings": expected_warnings }),
        Op::Duplicate {
            source_id,
            source_name,
            api_name,
            hash,
            expected_warnings,
            ..
        } => json!({
            "sourceId": source_id,
            "sourceName": source_name,
            "apiName": api_name,
            "hash": hash,
            "expectedWarnings": expected_warnings,
        }),
        Op::Replace {
            hash,
            cause,
            via,
            strategy,
            expected_warnings,
            ..
        } => json!({
            "hash": hash,
            "cause": cause,
            "via": via,
            "strategy": strategy,
            "expectedWarnings": expected_warnings,
        }),
        Op::Rename { from, to, hash, .. } => json!({ "from": from, "to": to, "hash": hash }),
        Op::Adopt {
            live_hash, version, ..
        } => json!({ "liveHash": live_hash, "version": version }),
        Op::Prune { .. } | Op::Noop { .. } => json!({}),
        Op::Blocked { intended, reason } => json!({ "intended": intended, "block": reason }),
    };
    if let Value::Object(extra) = extra {
        fields.extend(extra);
    }
    Value::Object(fields)
}
