//! A manifest's platform body: its `spec` and referenced files, with `${vars}`
//! substituted, as the platform takes it. [`crate::desired`] builds one per selected
//! manifest and tenant, except where no variable is written: that body is the same for
//! every tenant, so it is built and hashed once per revision and shared ([`Shared`]). The
//! loader builds one to check that variables resolve.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::load::Manifest;
use super::types::{Metadata, Spec};
use super::vars::Substitution;
use crate::model::{Body, CdeBody, ContentHash, KizenPackage, KizenReferences, PluginBody};

/// A body ready for a tenant: shared, hashed, with the Kizen `duplicateOf` name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub body: Arc<Body>,
    pub hash: ContentHash,
    pub duplicate_of: Option<String>,
}

impl Rendered {
    fn new(body: Body, duplicate_of: Option<String>) -> Self {
        Rendered {
            hash: body.content_hash(),
            body: Arc::new(body),
            duplicate_of,
        }
    }
}

/// What every tenant's desired value of one manifest shares: its labels and annotations,
/// and its rendered body when no `${…}` is written in its spec (made by the first tenant
/// that needs it, then shared by the others and by later revisions that reuse the
/// manifest).
#[derive(Debug, Clone, Default)]
pub(crate) struct Shared {
    pub labels: Arc<BTreeMap<String, String>>,
    pub annotations: Arc<BTreeMap<String, String>>,
    rendered: OnceLock<Option<Rendered>>,
}

impl Shared {
    pub(crate) fn new(metadata: &Metadata) -> Self {
        Shared {
            labels: Arc::new(metadata.labels.clone()),
            annotations: Arc::new(metadata.annotations.clone()),
            rendered: OnceLock::new(),
        }
    }
}

/// The cache is not part of a manifest's content: equal manifests stay equal whether or
/// not a tenant rendered one of them yet.
impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels && self.annotations == other.annotations
    }
}

/// The body of `manifest` for the tenant `subst` substitutes for. A manifest without
/// `${…}` is rendered once and shared; one with variables is rendered for this tenant,
/// and any undefined variable is left in `subst.diagnostics`.
pub(crate) fn render(manifest: &Manifest, subst: &mut Substitution<'_>) -> Rendered {
    if let Some(rendered) = shared(manifest) {
        return rendered.clone();
    }
    let (body, duplicate_of) = build(manifest, subst);
    Rendered::new(body, duplicate_of)
}

/// The body every tenant shares, when no `${…}` is written in `manifest`'s spec.
fn shared(manifest: &Manifest) -> Option<&Rendered> {
    manifest
        .shared
        .rendered
        .get_or_init(|| {
            if manifest.uses_vars {
                return None;
            }
            let mut check = Substitution::check(&manifest.sites, &manifest.location);
            let (body, duplicate_of) = build(manifest, &mut check);
            Some(Rendered::new(body, duplicate_of))
        })
        .as_ref()
}

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
