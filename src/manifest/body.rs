//! A manifest's platform body: its `spec` and referenced files, with `${vars}`
//! substituted, as the platform takes it. [`crate::desired`] builds one per selected
//! manifest and tenant; the loader builds one to check that variables resolve.

use super::load::Manifest;
use super::types::Spec;
use super::vars::Substitution;
use crate::model::{Body, CdeBody, KizenPackage, KizenReferences, PluginBody};

/// The body of `manifest` with variables substituted by `subst`, and the Kizen
/// `duplicateOf` name.
pub(crate) fn build(manifest: &Manifest, subst: &mut Substitution<'_>) -> (Body, Option<String>) {
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
