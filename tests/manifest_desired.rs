//! What each quickstart tenant should hold: selection by platform and labels, `${vars}`,
//! hashes, field locations and file paths.

use std::path::Path;

use ferry::config::{self, LoadedConfig, Tenant};
use ferry::manifest::{self, ManifestSet};
use ferry::model::{Body, Desired, Kind, Location};
use ferry::source::WorkTree;

fn quickstart() -> (LoadedConfig, ManifestSet) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = config::load(&root.join("examples/quickstart/ferry.yaml"))
        .expect("quickstart config is valid");
    let repo = cfg.local_repository().expect("a local repository");
    let set = manifest::load(&WorkTree::new(repo), cfg.manifests_folder())
        .expect("quickstart manifests are valid");
    (cfg, set)
}

fn tenant<'a>(cfg: &'a LoadedConfig, name: &str) -> &'a Tenant {
    cfg.tenant(name).expect("tenant exists")
}

fn at(path: &str, line: u64, column: u64) -> Location {
    Location {
        path: path.to_owned(),
        line,
        column,
    }
}

const KIZEN_FILE: &str = "examples/quickstart/connectors/smart-connectors.yaml";

#[test]
fn kizen_tenants_get_their_own_variables_and_share_the_source_hash() {
    let (cfg, set) = quickstart();
    let sandbox = ferry::desired::desired_for(&set, tenant(&cfg, "sandbox")).unwrap();
    let prod = ferry::desired::desired_for(&set, tenant(&cfg, "prod")).unwrap();
    let names: Vec<_> = sandbox
        .iter()
        .map(|d| (d.connector.as_str(), d.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("orders-sync", Kind::SmartConnector),
            ("lead-intake", Kind::SmartConnector)
        ]
    );

    let groups = |d: &Desired| match &*d.body {
        Body::Kizen(p) => p.references.filter_groups.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(groups(&sandbox[0]), ["EU Leads (sandbox)"]);
    assert_eq!(groups(&prod[0]), ["EU Leads"]);
    assert_ne!(
        sandbox[0].hash, prod[0].hash,
        "different vars, different content"
    );
    assert_eq!(
        sandbox[0].source_hash, prod[0].source_hash,
        "same manifest and files"
    );
    assert_eq!(sandbox[0].hash, sandbox[0].body.content_hash());
    assert_eq!(
        sandbox[1], prod[1],
        "no variables: identical for both tenants"
    );

    let Body::Kizen(package) = &*sandbox[0].body else {
        unreachable!()
    };
    assert_eq!(package.api_name, "orders_sync");
    assert!(package.live_sql.starts_with("-- Orders Sync"));
    assert!(
        package
            .reference_data
            .as_deref()
            .unwrap()
            .starts_with("code,label\n")
    );
    assert!(
        package
            .sample_file
            .as_deref()
            .unwrap()
            .contains("ada@example.com")
    );

    let d = &sandbox[0];
    assert_eq!(d.location, at(KIZEN_FILE, 2, 1));
    assert_eq!(d.labels.get("tier").map(String::as_str), Some("core"));
    assert_eq!(d.field_locations["liveSql"], at(KIZEN_FILE, 12, 12));
    assert_eq!(d.field_locations["live_sql"], at(KIZEN_FILE, 12, 12));
    assert_eq!(
        d.field_locations["references.filterGroups[0]"],
        at(KIZEN_FILE, 17, 20)
    );
    assert_eq!(
        *d.files,
        [
            "examples/quickstart/connectors/sql/orders-sync.sql",
            "examples/quickstart/connectors/ref/order-status.csv",
            "examples/quickstart/connectors/samples/orders.csv",
            "examples/quickstart/connectors/tests/orders-sync.expected.csv",
        ]
    );
    assert_eq!(
        sandbox[1].location,
        at(KIZEN_FILE, 26, 1),
        "second document of the file"
    );
}

#[test]
fn plugin_and_cde_tenants_get_their_kind_with_platform_error_paths() {
    let (cfg, set) = quickstart();
    let plugins = ferry::desired::desired_for(&set, tenant(&cfg, "assistants")).unwrap();
    assert_eq!(plugins.len(), 1);
    let Body::AgentStudio(plugin) = &*plugins[0].body else {
        panic!("{:?}", plugins[0].body)
    };
    assert_eq!(plugin.connectors, ["Workday"]);
    assert_eq!(
        plugin.actions[0]["request"]["headers"]["Authorization"],
        "Bearer {{secret:WORKDAY_TOKEN}}"
    );
    assert_eq!(
        plugins[0].field_locations["connectors[0]"],
        at("examples/quickstart/connectors/pto-balance.yaml", 13, 16)
    );

    let feeds = ferry::desired::desired_for(&set, tenant(&cfg, "feeds")).unwrap();
    assert_eq!(feeds.len(), 1);
    let Body::ProductsupCde(cde) = &*feeds[0].body else {
        panic!("{:?}", feeds[0].body)
    };
    assert_eq!(
        cde.config["secret-registrations"][0]["vault_secret"],
        "amazon/seller"
    );
    assert_eq!(
        feeds[0].field_locations["secretRegistrations[0]"],
        at(
            "examples/quickstart/connectors/amazon-seller-import.yaml",
            19,
            9
        )
    );
}

#[test]
fn selectors_pick_labelled_manifests() {
    let (cfg, set) = quickstart();
    let mut core_only = tenant(&cfg, "sandbox").clone();
    core_only.selector.insert("tier".into(), "core".into());
    assert_eq!(
        ferry::desired::desired_for(&set, &core_only).unwrap().len(),
        2
    );
    core_only
        .selector
        .insert("tier".into(), "experimental".into());
    assert!(
        ferry::desired::desired_for(&set, &core_only)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_undefined_variable_is_reported_per_tenant() {
    let (cfg, set) = quickstart();
    let mut bare = tenant(&cfg, "prod").clone();
    bare.vars.clear();
    let err = ferry::desired::desired_for(&set, &bare).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{KIZEN_FILE}:17:21: undefined variable `${{seedingGroup}}` for tenant `prod`: add `seedingGroup` under the tenant's `vars` in ferry.yaml"
        )
    );
}

#[test]
fn test_fields_stay_in_git_and_leave_the_package_and_its_hash_alone() {
    let (cfg, _) = quickstart();
    let sandbox = tenant(&cfg, "sandbox");
    let desired = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("c/tests")).unwrap();
        std::fs::write(root.join("c/q.sql"), "SELECT * FROM source_rows").unwrap();
        std::fs::write(root.join("c/s.csv"), "a\n1\n").unwrap();
        std::fs::write(root.join("c/tests/e.csv"), "a\n1\n").unwrap();
        std::fs::write(
            root.join("c/m.yaml"),
            format!(
                "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: q\nspec:\n  name: Q ${{seedingGroup}}\n  apiName: q\n  type: spreadsheet\n  liveSql: q.sql\n  sampleFile: s.csv\n{extra}"
            ),
        )
        .unwrap();
        let set = manifest::load(&WorkTree::new(root), "c").expect("valid");
        ferry::desired::desired_for(&set, sandbox)
            .unwrap()
            .remove(0)
    };
    let plain = desired("");
    let tested = desired(
        "  chdbVersion: \"26.9\"\n  tables: { input: rows, referenceData: refs, output: out }\n  tests:\n    - name: in ${seedingGroup}\n      inputs: { rows: tests/e.csv }\n      expect: { out: tests/e.csv }\n      key: [a]\n",
    );
    assert_eq!(
        plain.body, tested.body,
        "nothing new is sent to the platform"
    );
    assert_eq!(plain.hash, tested.hash, "the planner sees no change");
    assert_ne!(
        plain.source_hash, tested.source_hash,
        "the manifest text changed, so promotion waits for a clean apply of it"
    );
    assert!(tested.files.contains(&"c/tests/e.csv".to_owned()));
}
