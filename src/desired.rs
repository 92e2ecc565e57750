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
pub(crate) fn selects(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;
    use crate::manifest;
    use crate::model::{Body, Platform};
    use crate::source::WorkTree;

    fn tenant(name: &str, group: &str) -> Tenant {
        let mut t = Tenant::new(name, Platform::Kizen, "emulator");
        t.vars.insert("group".into(), group.into());
        t
    }

    fn write(root: &std::path::Path, path: &str, contents: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }

    fn connector(name: &str, group: &str) -> String {
        format!(
            "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {{ name: {name} }}\nspec:\n  name: {name}\n  apiName: {}\n  type: spreadsheet\n  liveSql: q.sql\n  references: {{ filterGroups: [\"{group}\"] }}\n",
            name.replace('-', "_")
        )
    }

    #[test]
    fn tenants_share_every_body_no_variable_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "c/q.sql", "SELECT 1\n");
        write(root, "c/plain.yaml", &connector("plain", "EU Leads"));
        write(root, "c/varied.yaml", &connector("varied", "${group}"));
        let set = manifest::load(&WorkTree::new(root), "c").unwrap();
        let tenants: Vec<Tenant> = (0..50)
            .map(|i| tenant(&format!("t{i}"), &format!("Group {i}")))
            .collect();
        let all: Vec<Vec<Desired>> = tenants
            .iter()
            .map(|t| desired_for(&set, t).unwrap())
            .collect();

        let bodies = |connector: &str| -> HashSet<*const Body> {
            all.iter()
                .map(|d| {
                    let d = d.iter().find(|d| d.connector == connector).unwrap();
                    Arc::as_ptr(&d.body)
                })
                .collect()
        };
        // One body for fifty tenants where no variable is written …
        assert_eq!(bodies("plain").len(), 1);
        // … and one each where a variable makes them differ, each with its own value.
        assert_eq!(bodies("varied").len(), 50);
        let group = |d: &Desired| match &*d.body {
            Body::Kizen(p) => p.references.filter_groups.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(group(&all[7][1]), ["Group 7"]);
        assert_eq!(group(&all[7][0]), ["EU Leads"]);
        // Where fields are written and the files read are shared by every tenant either way.
        for i in 1..all.len() {
            for (a, b) in all[0].iter().zip(&all[i]) {
                assert!(Arc::ptr_eq(&a.field_locations, &b.field_locations));
                assert!(Arc::ptr_eq(&a.files, &b.files));
                assert_eq!(a.source_hash, b.source_hash);
            }
        }
        // A shared body is the one a tenant would get on its own.
        let alone = manifest::load(&WorkTree::new(root), "c").unwrap();
        assert_eq!(desired_for(&alone, &tenants[3]).unwrap(), all[3]);
        assert!(check_vars(&set, &tenants[3]).is_empty());
        let undefined = check_vars(&set, &Tenant::new("bare", Platform::Kizen, "emulator"));
        assert_eq!(
            undefined
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "c/varied.yaml:9:33: undefined variable `${group}` for tenant `bare`: add `group` under the tenant's `vars` in ferry.yaml"
            ]
        );
    }
}
