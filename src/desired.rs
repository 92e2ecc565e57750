//! What one tenant should hold: the manifests its selector takes, with its `${vars}`
//! substituted, turned into platform bodies and hashed ([`desired_for`]), and the check
//! that every variable resolves for a tenant without building that ([`check_vars`]).
//!
//! A manifest is parsed, rendered and hashed once per revision: a body no variable
//! changes is shared by every tenant (see `manifest::body`), so holding many tenants'
//! desired state costs the connectors once plus a small record per tenant and connector.
//!
//! This is the step between the loaded manifests ([`crate::manifest`]) and the planner
//! ([`crate::plan`]): it reads the tenant's configuration and a [`ManifestSet`], and does no
//! I/O.

use std::collections::BTreeMap;

use crate::config::Tenant;
use crate::manifest::{Diagnostics, Manifest, ManifestSet, Spec, Substitution, body};
use crate::model::Desired;

/// Whether every label of `selector` is on `labels` with the same value.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The connectors `tenant` should hold: the manifests of its platform's kind whose labels
/// match its `selector`, with its `vars` substituted, in file and line order.
///
/// # Errors
/// Every undefined `${var}`, naming the tenant and where the variable is written.
pub fn desired_for(set: &ManifestSet, tenant: &Tenant) -> Result<Vec<Desired>, Diagnostics> {
    let kind = tenant.platform.kind();
    let mut out = Vec::new();
    let mut diagnostics = Diagnostics::new();
    for manifest in set
        .iter()
        .filter(|m| m.kind == kind && selects(&tenant.selector, &m.metadata.labels))
    {
        let mut subst = Substitution::for_tenant(
            &tenant.name,
            &tenant.vars,
            &manifest.sites,
            &manifest.location,
        );
        let rendered = body::render(manifest, &mut subst);
        if !subst.diagnostics.is_empty() {
            diagnostics.extend(subst.diagnostics);
            continue;
        }
        out.push(Desired {
            connector: manifest.metadata.name.clone(),
            kind,
            labels: manifest.shared.labels.clone(),
            annotations: manifest.shared.annotations.clone(),
            body: rendered.body,
            hash: rendered.hash,
            source_hash: manifest.source_hash.clone(),
            location: manifest.location.clone(),
            field_locations: manifest.field_locations.clone(),
            duplicate_of: rendered.duplicate_of,
            files: manifest.files.clone(),
        });
    }
    diagnostics.into_result(out)
}

/// Every undefined `${var}` of the manifests `tenant` selects, as [`desired_for`] reports
/// them, without building what the tenant should hold: only manifests whose strings use
/// variables are substituted, the others are the same for every tenant.
pub fn check_vars(set: &ManifestSet, tenant: &Tenant) -> Diagnostics {
    let kind = tenant.platform.kind();
    let mut diagnostics = Diagnostics::new();
    for manifest in set
        .iter()
        .filter(|m| m.kind == kind && selects(&tenant.selector, &m.metadata.labels))
    {
        if !manifest.uses_vars {
            continue;
        }
        let mut subst = Substitution::for_tenant(
            &tenant.name,
            &tenant.vars,
            &manifest.sites,
            &manifest.location,
        );
        let _ = body::build(manifest, &mut subst);
        diagnostics.extend(subst.diagnostics);
    }
    diagnostics
}

/// The `spec.tests` names of a SmartConnector with `tenant`'s vars substituted (an
/// undefined variable stays as written; [`desired_for`] reports it).
pub(crate) fn test_names(manifest: &Manifest, tenant: &Tenant) -> Vec<String> {
    let Spec::SmartConnector(s) = &manifest.spec else {
        return Vec::new();
    };
    let mut subst = Substitution::for_tenant(
        &tenant.name,
        &tenant.vars,
        &manifest.sites,
        &manifest.location,
    );
    s.tests
        .iter()
        .enumerate()
        .map(|(i, case)| subst.apply(&format!("tests[{i}].name"), &case.name))
        .collect()
}
