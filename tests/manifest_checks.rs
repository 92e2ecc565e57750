//! Manifest rules through the library: each case writes a manifests folder in a tempdir and
//! checks the exact diagnostics `manifest::load` returns.

use ferry::manifest::{self, Diagnostics};
use ferry::source::WorkTree;

fn load(files: &[(&str, &str)]) -> Result<ferry::manifest::ManifestSet, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    manifest::load(&WorkTree::new(dir.path()), "c")
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    load(files)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

const HEAD: &str = "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {name: orders}\n";

#[test]
fn duplicate_of_makes_live_sql_optional() {
    let dup = format!(
        "{HEAD}spec: {{name: Orders 2, apiName: orders_2, type: webhook, duplicateOf: Orders}}\n"
    );
    let set = load(&[("c/a.yaml", &dup)]).expect("valid");
    assert_eq!(set.len(), 1);
    let missing = format!("{HEAD}spec:\n  name: Orders\n  apiName: orders\n  type: webhook\n");
    assert_eq!(
        errors(&[("c/a.yaml", &missing)]),
        [
            "c/a.yaml:5:3: spec.liveSql is missing: name the Live SQL file, or set spec.duplicateOf to duplicate a connector of the tenant"
        ]
    );
}

#[test]
fn sql_must_be_non_empty_utf8_and_references_well_formed() {
    let doc = format!(
        "{HEAD}spec:\n  name: Orders\n  apiName: orders\n  type: scheduler\n  liveSql: q.sql\n  sampleFile: s.csv\n  references: {{fieldMappings: [email]}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    std::fs::write(dir.path().join("c/a.yaml"), doc).unwrap();
    std::fs::write(dir.path().join("c/q.sql"), "  \n").unwrap();
    std::fs::write(dir.path().join("c/s.csv"), b"id\n\xff\n").unwrap();
    let got: Vec<String> = manifest::load(&WorkTree::new(dir.path()), "c")
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "c/a.yaml:8:12: spec.liveSql: `c/q.sql` is empty: write the Live SQL query",
            "c/a.yaml:9:15: spec.sampleFile: `c/s.csv` is not valid UTF-8 text: save it as UTF-8",
            "c/a.yaml:10:32: field reference `email` must be written `object.field` (for example `contacts.email`)",
        ]
    );
}

#[test]
fn names_and_api_names() {
    let doc = "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {name: Orders_Sync}\nspec: {name: '', apiName: Orders, type: webhook, duplicateOf: x}\n";
    assert_eq!(
        errors(&[("c/a.yaml", doc)]),
        [
            "c/a.yaml:3:18: metadata.name `Orders_Sync` is not a valid name: use lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (for example `orders-sync`)",
            "c/a.yaml:4:14: spec.name is empty: write the connector's name in the tenant",
            "c/a.yaml:4:27: spec.apiName `Orders` must be lowercase letters, digits and `_`, starting with a letter (for example `orders_sync`); webhook URLs depend on it, so choose it once",
        ]
    );
}

#[test]
fn duplicate_api_names_across_files() {
    let a = format!("{HEAD}spec: {{name: A, apiName: same, type: webhook, duplicateOf: x}}\n");
    let b = "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {name: other}\nspec: {name: B, apiName: same, type: webhook, duplicateOf: x}\n";
    assert_eq!(
        errors(&[("c/a.yaml", &a), ("c/b.yaml", b)]),
        [
            "c/b.yaml:4:26: spec.apiName `same` is already used by the manifest at c/a.yaml:4:26: API names are unique per business; choose another"
        ]
    );
}

#[test]
fn malformed_variables_are_reported_once_at_their_column() {
    let doc = format!(
        "{HEAD}spec:\n  name: \"Orders ${{env\"\n  apiName: orders\n  type: webhook\n  duplicateOf: \"${{bad name}}\"\n"
    );
    assert_eq!(
        errors(&[("c/a.yaml", &doc)]),
        [
            "c/a.yaml:5:17: `${` is not closed: end the variable with `}`, or write `$${` for a literal `${`",
            "c/a.yaml:8:17: `${bad name}` is not a valid variable name: use letters, digits, `_` and `-`, starting with a letter or `_` (write `$${` for a literal `${`)",
        ]
    );
}

#[test]
fn cde_secret_registrations_need_a_vault_path() {
    // `export` is a documented key whose contents the vendor never shows: not checked for
    // keys, still scanned for secrets.
    let doc = "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata: {name: feed}\nspec:\n  name: Feed\n  type: datasource\n  config:\n    secret-registrations:\n      - vault_secret: amazon/seller\n      - ini_header: x\n    export:\n      api-key: \"{{secret:FEED_KEY}}\"\n      db-password: hunter2\n";
    assert_eq!(
        errors(&[("c/a.yaml", doc)]),
        [
            "c/a.yaml:10:9: each secret registration needs `vault_secret: <path in the tenant's secret store>` (for example `amazon/seller`)",
            "c/a.yaml:13:20: `spec.config.export.db-password` holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
        ]
    );
    let not_a_map = "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata: {name: feed}\nspec: {name: Feed, type: datasource, config: [1]}\n";
    assert_eq!(
        errors(&[("c/a.yaml", not_a_map)]),
        [
            "c/a.yaml:4:46: spec.config must be a mapping: the connector configuration in the platform's shape (`versions[0].config`)"
        ]
    );
}

/// The keys of a CDE `config` are the ones Productsup's `POST /connectors/copy` reference
/// shows; a typo is an error at its line with the documented key it resembles.
#[test]
fn cde_config_keys_are_the_documented_ones() {
    let doc = "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata: {name: feed}\nspec:\n  name: Feed\n  type: datasource\n  config:\n    application:\n      command: php\n      helth-check: --help\n    vcs: {url: 'https://github.com/acme/feed.git', brnch: main}\n    individuals:\n      - {command-option: host, oder: 1}\n    buckets: [{anything: goes}]\n";
    assert_eq!(
        errors(&[("c/a.yaml", doc)]),
        [
            "c/a.yaml:10:20: spec.config.application.helth-check: unknown key `helth-check` in a CDE connector's `application`: the vendor documents `command`, `arguments`, `health-check`; did you mean `health-check`?",
            "c/a.yaml:11:59: spec.config.vcs.brnch: unknown key `brnch` in a CDE connector's `vcs`: the vendor documents `authorization`, `url`, `branch`, `username`, `token`, `deploy-key-public`, `latest-commit`; did you mean `branch`?",
            "c/a.yaml:13:38: spec.config.individuals[0].oder: unknown key `oder` in a CDE connector's `individuals[]`: the vendor documents `command-option`, `field-type`, `field-name`, `field-required`, `field-placeholder`, `field-description`, `field-default-value`, `field-config`, `order`, `created-at`, `updated-at`; did you mean `order`?",
        ]
    );
}

#[test]
fn header_pairs_in_actions_need_references() {
    let doc = "apiVersion: ferry/v1\nkind: Plugin\nmetadata: {name: p}\nspec: {name: P, state: draft, trigger: scheduled, actions: a.json}\n";
    let actions = "{\"headers\": [\n  {\"name\": \"X-API-KEY\", \"value\": \"plain\"},\n  {\"name\": \"Accept\", \"value\": \"text/csv\"}\n]}\n";
    assert_eq!(
        errors(&[("c/p.yaml", doc), ("c/a.json", actions)]),
        [
            "c/a.json:2:34: `headers[0].value` (the `X-API-KEY` header) holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git"
        ]
    );
}

#[test]
fn manifest_files_may_hold_several_kinds_and_ignore_other_files() {
    let docs = format!(
        "# comment\n{HEAD}spec: {{name: A, apiName: a, type: webhook, duplicateOf: x}}\n---\n---\napiVersion: ferry/v1\nkind: Plugin\nmetadata: {{name: p}}\nspec: {{name: P, state: published, trigger: webhook}}\n...\n"
    );
    let set = load(&[
        ("c/all.yml", &docs),
        ("c/README.md", "# notes"),
        ("c/.hidden.yaml", "not: yaml: ["),
    ])
    .expect("valid");
    let kinds: Vec<_> = set
        .iter()
        .map(|m| (m.metadata.name.as_str(), m.kind.as_str(), m.location.line))
        .collect();
    assert_eq!(kinds, [("orders", "SmartConnector", 2), ("p", "Plugin", 8)]);
}

#[test]
fn a_missing_folder_is_reported() {
    let got = errors(&[("other/a.yaml", "x: 1")]);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("c: the manifests folder does not exist in the working tree ")
            && got[0].ends_with(": check source.path in ferry.yaml"),
        "{}",
        got[0]
    );
}
