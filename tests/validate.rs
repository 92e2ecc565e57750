//! `ferry validate` end to end: the real binary on repositories made in a tempdir.
//!
//! Each test writes a small repository (a `ferry.yaml` and a `connectors/` folder), breaks
//! one thing, and checks the exact line a user would read on stderr and the exit code.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

const CONFIG: &str = "\
source:
  repo: .
  path: connectors
tenants:
  - name: sandbox
    platform: kizen
    url: emulator
    vars: { group: EU Leads (sandbox) }
  - name: prod
    platform: kizen
    url: emulator
    promoteFrom: sandbox
    vars: { group: EU Leads }
  - name: assistants
    platform: agent-studio
    url: emulator
  - name: feeds
    platform: productsup-cde
    url: emulator
";

const ORDERS: &str = "\
apiVersion: ferry/v1
kind: SmartConnector
metadata:
  name: orders-sync
  labels: { tier: core }
spec:
  name: Orders Sync
  apiName: orders_sync
  type: spreadsheet
  liveSql: sql/orders.sql
  references:
    filterGroups: [\"${group}\"]
";

const PLUGIN: &str = "\
apiVersion: ferry/v1
kind: Plugin
metadata:
  name: pto-balance
spec:
  name: PTO Balance
  state: published
  trigger: conversational
  connectors: [Workday]
  actions: actions.json
";

const ACTIONS: &str = r#"[
  {
    "name": "balance",
    "headers": { "Authorization": "Bearer {{secret:WORKDAY_TOKEN}}" }
  }
]
"#;

const CDE: &str = "\
apiVersion: ferry/v1
kind: CdeConnector
metadata:
  name: amazon-import
spec:
  name: Amazon Import
  type: datasource
  config:
    secret-registrations:
      - vault_secret: amazon/seller
    vcs:
      authorization: public
      url: https://github.com/acme/amazon.git
";

/// A valid repository with one manifest of each kind.
struct Repo {
    dir: TempDir,
}

impl Repo {
    fn new() -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.write("ferry.yaml", CONFIG);
        repo.write("connectors/orders.yaml", ORDERS);
        repo.write(
            "connectors/sql/orders.sql",
            "SELECT order_id FROM source_rows\n",
        );
        repo.write("connectors/pto.yaml", PLUGIN);
        repo.write("connectors/actions.json", ACTIONS);
        repo.write("connectors/amazon.yaml", CDE);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }

    /// Replace `from` with `to` in the file at `path`; the text must be there.
    fn edit(&self, path: &str, from: &str, to: &str) {
        let full = self.path().join(path);
        let text = std::fs::read_to_string(&full).unwrap();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        std::fs::write(full, text.replacen(from, to, 1)).unwrap();
    }

    fn validate(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("validate")
            .args(args)
            .current_dir(self.path())
            .env_remove("FERRY_CONFIG")
            .output()
            .expect("run ferry");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run validate, expect exit 1, and return the problem lines (without the summary).
    fn errors(&self) -> Vec<String> {
        let (code, stdout, stderr) = self.validate(&[]);
        assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
        let mut lines: Vec<String> = stderr.lines().map(str::to_owned).collect();
        let summary = lines.pop().unwrap_or_default();
        assert!(
            summary.starts_with("ferry: ")
                && summary.ends_with("found; nothing is applied until they are fixed"),
            "{summary}"
        );
        lines
    }
}

#[test]
fn a_valid_repository_passes_with_a_summary() {
    let repo = Repo::new();
    let (code, stdout, stderr) = repo.validate(&[]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "3 manifests valid for 4 tenants\n", "")
    );
}

#[test]
fn the_config_defaults_to_ferry_yaml_and_can_be_named() {
    let repo = Repo::new();
    std::fs::rename(
        repo.path().join("ferry.yaml"),
        repo.path().join("other.yaml"),
    )
    .unwrap();
    let (code, _, stderr) = repo.validate(&[]);
    assert_eq!(code, 64);
    assert!(
        stderr.starts_with("ferry: cannot read the configuration ferry.yaml: ")
            && stderr
                .trim_end()
                .ends_with("; pass the right file with --config"),
        "{stderr}"
    );
    let (code, stdout, _) = repo.validate(&["--config", "other.yaml"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "3 manifests valid for 4 tenants\n")
    );
}

#[test]
fn malformed_yaml() {
    let repo = Repo::new();
    repo.write(
        "connectors/broken.yaml",
        "apiVersion: ferry/v1\nkind: Plugin\nmetadata: {name: \"x\n",
    );
    assert_eq!(
        repo.errors(),
        ["connectors/broken.yaml:3:18: unclosed quote"]
    );
}

#[test]
fn wrong_type() {
    let repo = Repo::new();
    repo.edit(
        "connectors/orders.yaml",
        "apiName: orders_sync",
        "apiName: [orders_sync]",
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:8:12: spec.apiName: expected a string; write a single string value (quote it if needed)"
        ]
    );
}

#[test]
fn wrong_enum_value() {
    let repo = Repo::new();
    repo.edit("connectors/orders.yaml", "type: spreadsheet", "type: csv");
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:9:9: spec.type: unknown variant `csv`, expected one of spreadsheet, webhook, scheduler"
        ]
    );
}

#[test]
fn unknown_field() {
    let repo = Repo::new();
    repo.edit(
        "connectors/orders.yaml",
        "  liveSql:",
        "  liveSQL: x.sql\n  liveSql:",
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:10:3: unknown field `liveSQL`, expected one of name, apiName, type, liveSql, referenceData, sampleFile, references, duplicateOf, description, chdbVersion, tables, tests in spec; remove it or fix its spelling (`ferry schema` lists every field)"
        ]
    );
}

#[test]
fn every_unknown_field_is_reported_not_just_the_first() {
    let repo = Repo::new();
    repo.edit(
        "connectors/orders.yaml",
        "  name: orders-sync",
        "  nme: orders-sync\n  name: orders-sync",
    );
    repo.edit(
        "connectors/orders.yaml",
        "  type: spreadsheet",
        "  typ:\n    nested: [1, 2]\n    deeper: {a: b}\n  type: spreadsheet",
    );
    repo.edit(
        "connectors/orders.yaml",
        "    filterGroups: [\"${group}\"]",
        "    filterGroups: [\"${group}\"]\n    fliterGroups: [x]",
    );
    let errors = repo.errors();
    let places: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        places,
        [
            "connectors/orders.yaml:4:3",
            "connectors/orders.yaml:10:3",
            "connectors/orders.yaml:17:5",
        ],
        "{errors:#?}"
    );
    assert!(errors[0].contains("unknown field `nme`") && errors[0].contains("in metadata"));
    assert!(errors[1].contains("unknown field `typ`") && errors[1].contains("in spec;"));
    assert!(errors[2].contains("unknown field `fliterGroups`"));
    assert!(errors[2].contains("in spec.references"));
}

#[test]
fn every_unknown_field_of_the_configuration_is_reported() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "  path: connectors",
        "  path: connectors\n  branh: main",
    );
    repo.edit(
        "ferry.yaml",
        "    vars: { group: EU Leads }",
        "    var: { group: EU Leads }",
    );
    let errors = repo.errors();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("ferry.yaml:4:3: unknown field `branh`"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("ferry.yaml:14:5: unknown field `var`"),
        "{errors:#?}"
    );
    assert!(errors[1].contains("in tenants[1]"), "{errors:#?}");
}

#[test]
fn unknown_kind_and_missing_kind() {
    let repo = Repo::new();
    repo.write(
        "connectors/odd.yaml",
        "apiVersion: ferry/v1\nkind: Connector\n---\napiVersion: ferry/v1\nmetadata: {name: a}\n",
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/odd.yaml:2:7: unknown kind `Connector`: use SmartConnector, Plugin or CdeConnector",
            "connectors/odd.yaml:4:1: missing `kind`: set it to SmartConnector, Plugin or CdeConnector",
        ]
    );
}

#[test]
fn errors_in_later_documents_keep_their_line_numbers() {
    let repo = Repo::new();
    let second = ORDERS
        .replace("orders-sync", "refunds")
        .replace("Orders Sync", "Refunds")
        .replace("orders_sync", "refunds");
    let second = second.replace("type: spreadsheet", "type: spreadsheet\n  bogus: true");
    repo.write("connectors/orders.yaml", format!("{ORDERS}---\n{second}"));
    // The second document starts on line 14; `bogus` is its 10th line.
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:23:3: unknown field `bogus`, expected one of name, apiName, type, liveSql, referenceData, sampleFile, references, duplicateOf, description, chdbVersion, tables, tests in spec; remove it or fix its spelling (`ferry schema` lists every field)"
        ]
    );
}

#[test]
fn missing_file() {
    let repo = Repo::new();
    repo.edit("connectors/orders.yaml", "sql/orders.sql", "sql/order.sql");
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:10:12: spec.liveSql: `sql/order.sql` does not exist (looked for `connectors/sql/order.sql`): check the name or add the file"
        ]
    );
}

#[test]
fn dot_dot_escape() {
    let repo = Repo::new();
    repo.write("outside.sql", "SELECT 1");
    repo.edit("connectors/orders.yaml", "sql/orders.sql", "../outside.sql");
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:10:12: spec.liveSql: `../outside.sql` leaves the manifests folder `connectors`: move the file inside the folder and reference it from there"
        ]
    );
}

#[test]
fn absolute_path() {
    let repo = Repo::new();
    repo.edit("connectors/orders.yaml", "sql/orders.sql", "/etc/passwd");
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:10:12: spec.liveSql: `/etc/passwd` is an absolute path: write it relative to this manifest, inside the manifests folder `connectors`"
        ]
    );
}

#[cfg(unix)]
#[test]
fn symlink_out_of_the_folder() {
    let repo = Repo::new();
    repo.write("private/orders.sql", "SELECT secret FROM vault");
    std::os::unix::fs::symlink("../private", repo.path().join("connectors/linked")).unwrap();
    repo.edit(
        "connectors/orders.yaml",
        "sql/orders.sql",
        "linked/orders.sql",
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:10:12: spec.liveSql: `linked/orders.sql` goes through the symbolic link `connectors/linked` -> `../private`, which leaves the manifests folder `connectors`: copy the file into the folder instead of linking to it"
        ]
    );
}

#[test]
fn undefined_variable_names_tenant_file_line_and_column() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "vars: { group: EU Leads }",
        "vars: { other: x }",
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:12:21: undefined variable `${group}` for tenant `prod`: add `group` under the tenant's `vars` in ferry.yaml"
        ]
    );
}

#[test]
fn escaped_variables_are_literal() {
    let repo = Repo::new();
    repo.edit(
        "connectors/orders.yaml",
        "name: Orders Sync",
        "name: Orders Sync $${literal}",
    );
    let (code, stdout, stderr) = repo.validate(&[]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "3 manifests valid for 4 tenants\n", "")
    );
}

#[test]
fn duplicate_names_name_both_places() {
    let repo = Repo::new();
    repo.write(
        "connectors/copy.yaml",
        ORDERS.replace("orders_sync", "orders_copy"),
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/orders.yaml:4:9: metadata.name `orders-sync` is already used by the manifest at connectors/copy.yaml:4:9: names must be unique across all manifests; rename one of them",
            "connectors/orders.yaml:7:9: spec.name `Orders Sync` is already claimed on kizen by the manifest at connectors/copy.yaml:7:9: two manifests cannot manage the same connector; rename one of them",
        ]
    );
}

#[test]
fn literal_secret_in_cde_config() {
    let repo = Repo::new();
    repo.edit(
        "connectors/amazon.yaml",
        "authorization: public",
        "authorization: basic\n      token: s3cr3t-value",
    );
    let errors = repo.errors();
    assert_eq!(
        errors,
        [
            "connectors/amazon.yaml:13:14: `spec.config.vcs.token` holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git"
        ]
    );
    assert!(
        !errors[0].contains("s3cr3t"),
        "the value must never be printed"
    );
}

#[test]
fn literal_secret_in_actions_points_into_the_json_file() {
    let repo = Repo::new();
    repo.write(
        "connectors/actions.json",
        ACTIONS.replace("Bearer {{secret:WORKDAY_TOKEN}}", "Bearer abc123"),
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/actions.json:4:35: `[0].headers.Authorization` holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git"
        ]
    );
}

#[test]
fn invalid_actions_json_points_into_the_json_file() {
    let repo = Repo::new();
    repo.write(
        "connectors/actions.json",
        "[\n  {\"name\": \"balance\",}\n]\n",
    );
    assert_eq!(
        repo.errors(),
        [
            "connectors/actions.json:2:22: invalid JSON: trailing comma; fix the syntax of this actions file"
        ]
    );
}

#[test]
fn bad_duration() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "  path: connectors\n",
        "  path: connectors\n  interval: 5 minutes\n",
    );
    assert_eq!(
        repo.errors(),
        [
            "ferry.yaml:4:13: source.interval: `5 minutes` is not a duration: write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)"
        ]
    );
}

#[test]
fn bad_source_timeout() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "  path: connectors\n",
        "  path: connectors\n  timeout: 0s\n",
    );
    assert_eq!(
        repo.errors(),
        [
            "ferry.yaml:4:12: source.timeout must be longer than zero: write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)"
        ]
    );
}

#[test]
fn bad_cron() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "    vars: { group: EU Leads }\n",
        "    vars: { group: EU Leads }\n    drift: { schedule: \"0 */10 * * * *\" }\n",
    );
    assert_eq!(
        repo.errors(),
        [
            "ferry.yaml:14:24: tenants[1].drift.schedule: `0 */10 * * * *` has 6 fields: ferry schedules use 5 fields (minute hour day-of-month month day-of-week), without seconds or years"
        ]
    );
}

#[test]
fn unknown_promote_from() {
    let repo = Repo::new();
    repo.edit("ferry.yaml", "promoteFrom: sandbox", "promoteFrom: sandbx");
    assert_eq!(
        repo.errors(),
        [
            "ferry.yaml:12:18: tenant `prod` promotes from `sandbx`, which is not a tenant: use one of: sandbox"
        ]
    );
}

#[test]
fn promote_from_cycle() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "    vars: { group: EU Leads (sandbox) }\n",
        "    vars: { group: EU Leads (sandbox) }\n    promoteFrom: prod\n",
    );
    assert_eq!(
        repo.errors(),
        [
            "ferry.yaml:9:18: promoteFrom makes a cycle: sandbox -> prod -> sandbox; one tenant of the chain must be applied directly: remove promoteFrom from it"
        ]
    );
}

#[test]
fn token_in_place_of_a_variable_name() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "  - name: assistants\n    platform: agent-studio\n    url: emulator\n",
        "  - name: assistants\n    platform: agent-studio\n    url: https://studio.example.com\n    auth: { tokenEnv: ghp_16C7e42F292c6912E7710c838347Ae178B4a }\n",
    );
    let errors = repo.errors();
    assert_eq!(
        errors,
        [
            "ferry.yaml:17:23: tenants[2].auth.tokenEnv looks like a token, not a variable name: put the token in an environment variable and name the variable here"
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_order() {
    let repo = Repo::new();
    repo.edit("ferry.yaml", "promoteFrom: sandbox", "promoteFrom: nobody");
    repo.edit("connectors/orders.yaml", "sql/orders.sql", "missing.sql");
    repo.write("connectors/actions.json", "{");
    let errors = repo.errors();
    let places: Vec<&str> = errors
        .iter()
        .map(|e| e.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        places,
        [
            "connectors/actions.json:1:1:",
            "connectors/orders.yaml:10:12:",
            "ferry.yaml:12:18:"
        ]
    );
}

#[test]
fn bytes_that_are_not_utf8() {
    let repo = Repo::new();
    repo.write("connectors/binary.yaml", b"kind: Plugin\nname: \xff\xfe\n");
    assert_eq!(
        repo.errors(),
        ["connectors/binary.yaml:2:7: the file is not valid UTF-8; save it as UTF-8 text"]
    );
}

#[test]
fn missing_manifests_folder() {
    let repo = Repo::new();
    repo.edit("ferry.yaml", "path: connectors", "path: conectors");
    let errors = repo.errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "ferry.yaml:3:9: the manifests folder `conectors` does not exist in the working tree "
        ) && errors[0].ends_with(": fix source.path (relative to the repository root)"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_remote_repository_is_a_usage_error() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "repo: .",
        "repo: https://github.com/acme/connectors.git",
    );
    let (code, _, stderr) = repo.validate(&[]);
    assert_eq!(code, 64);
    assert_eq!(
        stderr,
        "ferry: source.repo `https://github.com/acme/connectors.git` is a remote URL: `ferry validate` reads a local repository; point source.repo at a local clone (a path relative to ferry.yaml), optionally with --rev to read a commit of it\n"
    );
}

#[test]
fn rev_needs_a_git_repository() {
    let repo = Repo::new();
    let (code, _, stderr) = repo.validate(&["--rev", "HEAD"]);
    assert_eq!(code, 64);
    assert!(
        stderr.starts_with("ferry: cannot open git repository "),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("check that source.repo points at a local clone"),
        "{stderr}"
    );
}

#[test]
fn the_quickstart_example_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["validate", "--config", "examples/quickstart/ferry.yaml"])
        .current_dir(root)
        .output()
        .expect("run ferry");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "4 manifests valid for 4 tenants\n"
    );
}

#[test]
fn credentials_in_a_url_are_refused_and_never_shown() {
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "  - name: assistants\n    platform: agent-studio\n    url: emulator\n",
        "  - name: assistants\n    platform: agent-studio\n    url: https://ferry:hunter2-pass@studio.example.com/api\n    auth: { tokenEnv: STUDIO_TOKEN }\n",
    );
    let (code, _, stderr) = repo.validate(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password is shown: {stderr}"
    );
    assert!(
        stderr.contains(
            "ferry.yaml:16:10: tenants[2].url holds credentials (`https://***@studio.example.com/api`): ferry never takes a user or password from a URL"
        ),
        "{stderr}"
    );

    // A token in a remote source's URL: the configuration's problem is reported (not the
    // remote URL), and the token never shown.
    let repo = Repo::new();
    repo.edit(
        "ferry.yaml",
        "repo: .",
        "repo: https://x-access-token:ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/connectors.git",
    );
    let (code, _, stderr) = repo.validate(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("ghp_16C7"), "the token is shown: {stderr}");
    assert!(
        stderr.contains(
            "ferry.yaml:2:9: source.repo holds credentials (`https://***@github.com/acme/connectors.git`)"
        ),
        "{stderr}"
    );
}

#[test]
fn credentials_inside_strings_are_found_with_a_redacted_excerpt() {
    let repo = Repo::new();
    repo.edit(
        "connectors/amazon.yaml",
        "      url: https://github.com/acme/amazon.git",
        "      url: https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/amazon.git\n    application:\n      command: https://hooks.example.com/in?team=ops&token=d41d8cd98f00b204\n      arguments: postgres://loader:hunter2@db.internal:5432/orders\n      health-check: \"rotate xoxb-1234567890-abcdefghijkl monthly\"",
    );
    repo.edit(
        "ferry.yaml",
        "vars: { group: EU Leads }",
        "vars: { group: EU Leads, deployKey: glpat-abcdefghij0123456789 }",
    );
    let errors = repo.errors();
    assert_eq!(
        errors,
        [
            "connectors/amazon.yaml:13:12: `spec.config.vcs.url` holds an API token (`https://***@github.com/acme/amazon.git`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
            "connectors/amazon.yaml:15:16: `spec.config.application.command` holds credentials in a URL (`https://hooks.example.com/in?team=ops&token=***`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
            "connectors/amazon.yaml:16:18: `spec.config.application.arguments` holds credentials in a URL (`postgres://***@db.internal:5432/orders`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
            "connectors/amazon.yaml:17:21: `spec.config.application.health-check` holds an API token (`rotate *** monthly`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
            "ferry.yaml:13:41: tenants[1].vars.deployKey holds an API token (`***`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
        ]
    );
    let all = errors.join("\n");
    for secret in [
        "16C7e42F",
        "d41d8cd9",
        "hunter2",
        "1234567890-abc",
        "abcdefghij0123",
    ] {
        assert!(!all.contains(secret), "{secret} is shown: {all}");
    }
}

#[test]
fn control_characters_and_bidi_overrides_are_refused_where_people_read() {
    let repo = Repo::new();
    repo.edit(
        "connectors/orders.yaml",
        "  name: Orders Sync\n",
        "  name: \"Orders\\e[2K\\u202Eycn\\u202C Sync\"\n",
    );
    repo.edit(
        "connectors/orders.yaml",
        "  liveSql: sql/orders.sql\n",
        "  liveSql: sql/orders.sql\n  sampleFile: samples/orders.csv\n",
    );
    repo.write(
        "connectors/sql/orders.sql",
        "SELECT order_id\nFROM source_rows -- \u{202e} ;DROP\r\n",
    );
    repo.write(
        "connectors/samples/orders.csv",
        "order_id,\u{1b}[8mstatus\n1,open\n",
    );
    let errors = repo.errors();
    assert_eq!(
        errors,
        [
            "connectors/orders.yaml:7:9: spec.name `Orders\\u{1b}[2K\\u{202e}ycn\\u{202c} Sync` contains U+001B (a control character): a terminal, a commit status or a page would interpret it, so what a reviewer reads is not what ferry applies; remove it",
            "connectors/samples/orders.csv:1:10: the CSV header contains U+001B (a control character): column names are shown in plans, test reports and on the platform; remove it (`order_id,\\u{1b}[8mstatus`)",
            "connectors/sql/orders.sql:2:21: the Live SQL contains U+202E (a bidirectional formatting character): it makes the script read differently from how it runs (`FROM source_rows -- \\u{202e} ;DROP`); remove it",
        ]
    );
    let all = errors.join("\n");
    assert!(
        !all.contains('\u{1b}') && !all.contains('\u{202e}'),
        "messages escape what they quote: {all:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_named_with_the_reason() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.yaml");
    std::fs::write(repo.path().join("connectors").join(name), PLUGIN).unwrap();
    let errors = repo.errors();
    assert_eq!(
        errors,
        [
            "connectors/caf\u{fffd}.yaml: cannot read `connectors/caf\u{fffd}.yaml`: its name is not valid UTF-8 (the bytes that are not are shown as \u{fffd}), and ferry reads files by UTF-8 names only; rename it"
        ]
    );
}
