//! What one tenant should hold: manifests selected for the tenant, with its `${vars}`
//! substituted, turned into platform bodies and hashed.

use std::collections::BTreeMap;

use super::Diagnostics;
use super::load::{Manifest, ManifestSet};
use super::types::Spec;
use super::vars::Substitution;
use crate::config::Tenant;
use crate::model::{Body, CdeBody, Desired, KizenPackage, KizenReferences, PluginBody};

/// Whether every label of `selector` is on `labels` with the same value.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The body of `manifest` with variables substituted by `subst`, and the Kizen
/// `duplicateOf` name.
pub(crate) fn build_body(
    manifest: &Manifest,
    subst: &mut Substitution<'_>,
) -> (Body, Option<String>) {
    let contents = &manifest.contents;
    match &manifest.spec {
        Spec::SmartConnector(s) => {
            let body = Body::Kizen(KizenPackage {
                name: subst.apply("name", &s.name),
                api_name: s.api_name.clone(),
                kind: s.kind,
                live_sql: contents.live_sql.clone().unwrap_or_default(),
                reference_data: contents.reference_data.clone(),
                sample_file: contents.sample_file.clone(),
                references: KizenReferences {
                    agentic_workflows: subst.apply_list(
                        "references.agenticWorkflows",
                        &s.references.agentic_workflows,
                    ),
                    filter_groups: subst
                        .apply_list("references.filterGroups", &s.references.filter_groups),
                    field_mappings: subst
                        .apply_list("references.fieldMappings", &s.references.field_mappings),
                },
            });
            // `description` and test names are not part of the package, but their
            // variables must still resolve.
            let _ = subst.apply_opt("description", s.description.as_ref());
            for (i, case) in s.tests.iter().enumerate() {
                let _ = subst.apply(&format!("tests[{i}].name"), &case.name);
            }
            (
                body,
                subst.apply_opt("duplicateOf", s.duplicate_of.as_ref()),
            )
        }
        Spec::Plugin(p) => {
            let body = Body::AgentStudio(PluginBody {
                name: subst.apply("name", &p.name),
                description: subst.apply_opt("description", p.description.as_ref()),
                state: p.state,
                trigger: p.trigger,
                connectors: subst.apply_list("connectors", &p.connectors),
                actions: contents.actions.clone().unwrap_or(serde_json::Value::Null),
            });
            (body, None)
        }
        Spec::CdeConnector(c) => {
            let body = Body::ProductsupCde(CdeBody {
                name: subst.apply("name", &c.name),
                kind: subst.apply("type", &c.kind),
                description: subst.apply_opt("description", c.description.as_ref()),
                flow: subst.apply("flow", &c.flow),
                config: subst.apply_json("config", &c.config),
            });
            (body, None)
        }
    }
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
        let (body, duplicate_of) = build_body(manifest, &mut subst);
        if !subst.diagnostics.is_empty() {
            diagnostics.extend(subst.diagnostics);
            continue;
        }
        out.push(Desired {
            connector: manifest.metadata.name.clone(),
            kind,
            labels: manifest.metadata.labels.clone(),
            annotations: manifest.metadata.annotations.clone(),
            hash: body.content_hash(),
            body,
            source_hash: manifest.source_hash.clone(),
            location: manifest.location.clone(),
            field_locations: manifest.field_locations.clone(),
            duplicate_of,
            files: manifest.files.clone(),
        });
    }
    diagnostics.into_result(out)
}
