//! `ferry test` end to end: the real binary on connectors written in a tempdir, run on real
//! chDB. The engine is the interpreter in `FERRY_PYTHON` (scripts/test.sh installs chDB and
//! sets it) or, when unset, the one scripts/sqlengine.sh leaves under target/. Without
//! either these tests fail: they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The interpreter with chDB.
fn engine_python() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_PYTHON") {
        return PathBuf::from(p);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sqlengine/venv/bin/python");
    assert!(
        local.exists(),
        "no chDB for the SQL tests: run scripts/sqlengine.sh (scripts/test.sh does) or set FERRY_PYTHON to a Python with chdb-core"
    );
    local
}

const CONFIG: &str = "\
source:
  repo: .
  path: connectors
tenants:
  - name: sandbox
    platform: kizen
    url: emulator
    vars: { region: EU }
  - name: feeds
    platform: productsup-cde
    url: emulator
";

const ORDERS_SQL: &str = "\
-- Orders: normalise and attach a status label.
SELECT
    toUInt64(o.order_id)          AS order_id,
    upperUTF8(o.currency)         AS currency,
    coalesce(s.label, 'Unknown')  AS status
FROM source_rows AS o
LEFT JOIN reference_data AS s ON s.code = o.status_code
";

const SAMPLE: &str = "order_id,currency,status_code\n1,eur,P\n2,usd,X\n";
const REFERENCE: &str = "code,label\nP,Paid\nN,New\n";
const EXPECTED: &str = "order_id,currency,status\n1,EUR,Paid\n2,USD,Unknown\n";

fn manifest(extra: &str) -> String {
    format!(
        "\
apiVersion: ferry/v1
kind: SmartConnector
metadata:
  name: orders-sync
spec:
  name: Orders Sync
  apiName: orders_sync
  type: spreadsheet
  liveSql: sql/orders.sql
  referenceData: ref/status.csv
  sampleFile: samples/orders.csv
{extra}"
    )
}

struct Repo {
    dir: TempDir,
}

impl Repo {
    fn new(manifest: &str, sql: &str) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.write("ferry.yaml", CONFIG);
        repo.write("connectors/orders.yaml", manifest);
        repo.write("connectors/sql/orders.sql", sql);
        repo.write("connectors/samples/orders.csv", SAMPLE);
        repo.write("connectors/ref/status.csv", REFERENCE);
        repo.write("connectors/tests/expected.csv", EXPECTED);
        repo
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn ferry(&self, args: &[&str]) -> Output {
        ferry_in(self.dir.path(), args, Some(&engine_python()))
    }
}

fn ferry_in(dir: &Path, args: &[&str], python: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("FERRY_PYTHON")
        .env_remove("FERRY_SQL_ENGINE")
        .env_remove("FERRY_CONFIG");
    if let Some(p) = python {
        cmd.env("FERRY_PYTHON", p);
    }
    cmd.output().expect("run ferry")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_quickstart_connectors_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = ferry_in(
        root,
        &["test", "--config", "examples/quickstart/ferry.yaml"],
        Some(&engine_python()),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(
            "orders-sync: passed\n  ok    every sample order gets a readable status\nlead-intake: passed\n  ok    keeps the latest submission per email\nferry test: 2 connectors: 2 passed, 0 failed, 0 skipped on chDB "
        ),
        "{stdout}"
    );
}

#[test]
fn a_passing_case_compares_rows_whatever_their_order() {
    let repo = Repo::new(
        &manifest(
            "  tests:\n    - name: labels every order\n      expect: { output: tests/expected.csv }\n",
        ),
        ORDERS_SQL,
    );
    repo.write(
        "connectors/tests/expected.csv",
        "order_id,currency,status\n2,USD,Unknown\n1,EUR,Paid\n",
    );
    let out = repo.ferry(&["test", "--output", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outcomes"][0]["status"], "passed");
    assert_eq!(report["outcomes"][0]["cases"][0]["result"], "passed");
    assert_eq!(report["engine"]["name"], "chdb");

    // `-o yaml`: the same report.
    let out = repo.ferry(&["test", "--output", "yaml"]);
    let (yaml, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{yaml}{stderr}");
    let mut as_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    let mut report = report;
    // How long the engine took to start differs from run to run.
    for r in [&mut as_yaml, &mut report] {
        assert!(r["engine"]["startSeconds"].is_number(), "{r}");
        r["engine"]["startSeconds"] = serde_json::json!(0);
    }
    assert_eq!(as_yaml, report);
}

#[test]
fn a_failing_expectation_shows_the_row_diff() {
    let repo = Repo::new(
        &manifest(
            "  tests:\n    - name: labels every order\n      expect: { output: tests/expected.csv }\n",
        ),
        ORDERS_SQL,
    );
    repo.write(
        "connectors/tests/expected.csv",
        "order_id,currency,status,region\n1,EUR,Paid,EU\n2,USD,Unmapped,EU\n3,GBP,New,EU\n",
    );
    let out = repo.ferry(&["test"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "  FAIL  labels every order\n        connectors/orders.yaml:14:25: `output` differs from connectors/tests/expected.csv: missing column region, 1 missing row, 1 changed row (rows matched by order_id)\n          changed order_id=\"2\": status expected \"Unmapped\", got \"Unknown\"\n          missing order_id=\"3\", currency=\"GBP\", status=\"New\"\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ferry test: 1 connector: 0 passed, 1 failed, 0 skipped"),
        "{stdout}"
    );
}

#[test]
fn a_syntax_error_points_at_the_sql_file_line_and_column() {
    // The error is in the second statement, on line 5, after a comment and a first
    // statement, so the position must be mapped through the statement split.
    let sql = "-- two statements\nCREATE TABLE staged ENGINE = Memory AS SELECT * FROM source_rows;\n\nSELECT order_id,\n       currency AS AS cur\nFROM staged\n";
    let repo = Repo::new(&manifest(""), sql);
    let out = repo.ferry(&["test"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("  FAIL  runs on the sample file\n        connectors/sql/orders.sql:5:23: Syntax error: failed at `cur`. Expected one of: token, Comma, FROM"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_column_points_at_its_first_use() {
    let sql = "SELECT order_id,\n  misspelt_currency\nFROM source_rows\n";
    let repo = Repo::new(&manifest(""), sql);
    let out = repo.ferry(&["test"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "connectors/sql/orders.sql:2:3: Unknown expression identifier `misspelt_currency`"
        ),
        "{stdout}"
    );
}

#[test]
fn a_network_table_function_is_refused_unless_a_stand_in_is_given() {
    let sql = "SELECT o.order_id, c.segment\nFROM source_rows AS o\nJOIN postgresql(crm_secret, table = 'customers') AS c ON c.order_id = o.order_id\n";
    let repo = Repo::new(
        &manifest("  tests:\n    - name: joins the crm segment\n"),
        sql,
    );
    let out = repo.ferry(&["test"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "        connectors/sql/orders.sql:3:6: `postgresql()` reaches the network, so a test does not run it: give the case a local stand-in, for example `standIns: {\"postgresql(crm_secret, table = 'customers')\": tests/postgresql.csv}`\n"
        ),
        "{stdout}"
    );

    // With a stand-in the call reads the local file instead, and an engine error after the
    // replacement still points at the original text.
    repo.write(
        "connectors/tests/customers.csv",
        "order_id,segment\n1,gold\n2,silver\n",
    );
    repo.write(
        "connectors/tests/segments.csv",
        "order_id,segment\n1,gold\n2,silver\n",
    );
    repo.write(
        "connectors/orders.yaml",
        &manifest(
            "  tests:\n    - name: joins the crm segment\n      standIns:\n        \"postgresql(crm_secret, table='customers')\": tests/customers.csv\n      expect: { output: tests/segments.csv }\n",
        ),
    );
    let out = repo.ferry(&["test"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");

    repo.write(
        "connectors/sql/orders.sql",
        "SELECT o.order_id, c.segment\nFROM source_rows AS o\nJOIN postgresql(crm_secret, table = 'customers') AS c ON c.order_id = o.order_id\nWHERE c.nope = 1\n",
    );
    let out = repo.ferry(&["test"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("connectors/sql/orders.sql:4:9: Identifier 'c.nope' cannot be resolved from table with name c (an alias of the stand-in connectors/tests/customers.csv)"),
        "{stdout}"
    );
}

#[test]
fn literal_credentials_in_sql_are_a_validation_error() {
    let sql = "SELECT *\nFROM mysql('db:3306', 'shop', 'orders', 'reader', 'hunter2')\n";
    let repo = Repo::new(&manifest(""), sql);
    for command in ["validate", "test"] {
        let out = repo.ferry(&[command]);
        let (stdout, stderr) = text(&out);
        assert_ne!(out.status.code(), Some(0), "{command}: {stdout}{stderr}");
        assert!(
            stderr.contains(
                "connectors/sql/orders.sql:2:51: `mysql()` holds a password or secret key written as a literal: store the credentials as a named integration secret in the tenant and reference it by name (for example `mysql(my_secret, …)`); keep secret values out of SQL"
            ),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    }
}

#[test]
fn a_missing_engine_says_how_to_install_it() {
    let repo = Repo::new(&manifest(""), ORDERS_SQL);
    // No interpreter at all.
    let out = ferry_in(
        repo.dir.path(),
        &["test", "--python", "/nonexistent/python3"],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(64), "{stdout}{stderr}");
    assert!(
        stderr.starts_with("ferry: no SQL engine to run the tests on: the Python interpreter `/nonexistent/python3` cannot be started"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/nonexistent/python3 -m pip install chdb-core==26.9.0"),
        "{stderr}"
    );

    // A real interpreter without chDB: a fresh virtual environment.
    let venv = repo.dir.path().join("bare");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("python3 makes a virtual environment");
    assert!(made.success());
    let bare = venv.join("bin/python");
    let out = ferry_in(
        repo.dir.path(),
        &["test", "--python", bare.to_str().unwrap()],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(64), "{stdout}{stderr}");
    assert!(
        stderr.starts_with(
            "ferry: no SQL engine to run the tests on: the Python module `chdb` cannot be imported (No module named 'chdb')"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("-m pip install chdb-core==26.9.0"),
        "{stderr}"
    );
}

#[test]
fn connectors_without_sql_or_input_are_skipped_with_the_reason() {
    let repo = Repo::new(&manifest(""), ORDERS_SQL);
    repo.write(
        "connectors/copy.yaml",
        "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: orders-copy\nspec:\n  name: Orders Copy\n  apiName: orders_copy\n  type: spreadsheet\n  duplicateOf: Orders Template\n",
    );
    let out = repo.ferry(&["test", "--output", "junit"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("<testcase name=\"orders-copy\" classname=\"orders-copy\"><skipped message=\"no Live SQL in git: the connector is created by duplicating `Orders Template` in the tenant\"/></testcase>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<testcase name=\"runs on the sample file\" classname=\"orders-sync\" file=\"connectors/orders.yaml\" line=\"1\"/>"),
        "{stdout}"
    );
}

#[test]
fn a_tenant_renders_its_vars_and_the_engine_version_can_be_required() {
    let repo = Repo::new(
        &manifest(
            "  chdbVersion: \"25.1\"\n  tests:\n    - name: orders for ${region}\n      expect: { output: tests/expected.csv }\n",
        ),
        ORDERS_SQL,
    );
    let out = repo.ferry(&["test", "--tenant", "sandbox"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("orders-sync [sandbox]: passed\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  note: spec.chdbVersion is 25.1 but the tests ran on chDB 26.9.0"),
        "{stdout}"
    );
    assert!(stdout.contains("  ok    orders for EU\n"), "{stdout}");

    let out = repo.ferry(&["test", "--require-engine-version"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("  connectors/orders.yaml:1:1: spec.chdbVersion is 25.1 but the tests ran on chDB 26.9.0"),
        "{stdout}"
    );

    for (args, message) in [
        (
            &["test", "--tenant", "nope"][..],
            "ferry: no tenant named `nope` in the configuration; configured tenants: sandbox, feeds",
        ),
        (
            &["test", "--tenant", "feeds"][..],
            "ferry: tenant `feeds` is on productsup-cde: only Kizen SmartConnectors have SQL to test; name a kizen tenant",
        ),
        (
            &["test", "--connector", "nope"][..],
            "ferry: no SmartConnector named `nope`; SmartConnectors: orders-sync",
        ),
    ] {
        let out = repo.ferry(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert_eq!(stderr.trim_end(), message);
    }
}

#[test]
fn an_expected_table_the_script_does_not_create_is_named() {
    let repo = Repo::new(
        &manifest(
            "  tests:\n    - name: writes contacts\n      expect: { contacts: tests/expected.csv }\n",
        ),
        ORDERS_SQL,
    );
    let out = repo.ferry(&["test"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("connectors/orders.yaml:13:7: the SQL produced no table `contacts`"),
        "{stdout}"
    );
}

/// `--engine clickhouse-local` drives the `clickhouse local` command line. No ClickHouse
/// server package is installed here, so the binary is a small script that answers that
/// command line (`local --path P --output-format F --query Q`) with the same ClickHouse
/// engine chDB embeds, keeping tables in `--path` between calls as `clickhouse local`
/// does. It checks ferry's side of the command line; a real `clickhouse` is not run.
#[test]
fn clickhouse_local_runs_the_same_cases_through_its_command_line() {
    let repo = Repo::new(
        &manifest(
            "  tests:\n    - name: labels every order\n      expect: { output: tests/expected.csv }\n",
        ),
        "CREATE TABLE staged ENGINE = Log AS SELECT * FROM source_rows;\nSELECT toUInt64(o.order_id) AS order_id, upperUTF8(o.currency) AS currency, coalesce(s.label, 'Unknown') AS status\nFROM staged AS o LEFT JOIN reference_data AS s ON s.code = o.status_code\n",
    );
    let shim = repo.dir.path().join("bin/clickhouse");
    repo.write(
        "bin/clickhouse",
        &format!(
            "#!{}\nimport sys, chdb\nargs = sys.argv[1:]\nassert args[0] == 'local', args\nopts = dict(zip(args[1::2], args[2::2]))\nconn = chdb.connect(opts.get('--path', ':memory:'))\ntry:\n    sys.stdout.write(conn.query(opts['--query'], opts.get('--output-format', 'TSV')).bytes().decode())\nexcept Exception as e:\n    sys.stderr.write('Code: 0. DB::Exception: ' + str(e).split('DB::Exception: ', 1)[-1] + '\\n')\n    sys.exit(1)\n",
            engine_python().display()
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let shim = shim.to_str().unwrap();
    let out = repo.ferry(&["test", "--engine", "clickhouse-local", "--clickhouse", shim]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(" on clickhouse local 26."), "{stdout}");

    repo.write(
        "connectors/sql/orders.sql",
        "SELECT order_id,\n  FROM FROM source_rows\n",
    );
    let out = repo.ferry(&["test", "--engine", "clickhouse-local", "--clickhouse", shim]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("connectors/sql/orders.sql:2:"), "{stdout}");

    let out = repo.ferry(&[
        "test",
        "--engine",
        "clickhouse-local",
        "--clickhouse",
        "/nonexistent/clickhouse",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.starts_with("ferry: no SQL engine to run the tests on: `/nonexistent/clickhouse local` cannot be started"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Install ClickHouse so that `/nonexistent/clickhouse local` runs"),
        "{stderr}"
    );
}

/// `orders-sync` (its tests `orders_case`) and `refunds-sync`, the same SQL with a test
/// whose expected rows are wrong, under `tests: required`.
fn gated(orders_case: &str) -> Repo {
    let repo = Repo::new(&manifest(orders_case), ORDERS_SQL);
    repo.write(
        "connectors/refunds.yaml",
        &manifest("  tests:\n    - name: labels every refund\n      expect: { output: tests/refunds.csv }\n")
            .replace("name: orders-sync", "name: refunds-sync")
            .replace("Orders Sync", "Refunds Sync")
            .replace("orders_sync", "refunds_sync"),
    );
    repo.write(
        "connectors/tests/refunds.csv",
        "order_id,currency,status\n1,EUR,Paid\n2,USD,Unmapped\n",
    );
    repo.write("ferry.yaml", &format!("{CONFIG}tests: required\n"));
    repo
}

/// `connector action` for each action of a JSON `plan --tenant sandbox`.
fn sandbox_actions(repo: &Repo) -> Vec<String> {
    let out = repo.ferry(&["plan", "--tenant", "sandbox", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["tenants"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["connector"].as_str().unwrap(),
                a["action"].as_str().unwrap()
            )
        })
        .collect()
}

/// `tests: required` runs the SQL tests of every connector a plan creates and blocks the
/// ones that fail: `plan` shows the outcome (text, Markdown, JSON), `apply` applies only
/// the passing connector, and a tenant's own `tests: advisory` applies it anyway.
#[test]
fn required_tests_block_a_failing_connector_and_advisory_only_reports_it() {
    let case =
        "  tests:\n    - name: labels every order\n      expect: { output: tests/expected.csv }\n";
    let repo = gated(case);

    let out = repo.ferry(&["plan", "--tenant", "sandbox", "-o", "markdown"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "changes pending: {stdout}{stderr}"
    );
    assert!(
        stdout.contains(
            "**SQL tests: 1 failed (refunds-sync), 1 passed** (tests: required, on chDB "
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("- `refunds-sync` failed: labels every refund: connectors/refunds.yaml:14:25: `output` differs from connectors/tests/refunds.csv: 1 changed row"),
        "{stdout}"
    );

    let out = repo.ferry(&["plan", "--tenant", "sandbox", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tenant = &plan["tenants"][0];
    assert_eq!(tenant["tests"]["mode"], "required");
    let action = |connector: &str| {
        tenant["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["connector"] == connector)
            .unwrap()
            .clone()
    };
    assert_eq!(action("orders-sync")["action"], "create");
    assert_eq!(action("refunds-sync")["action"], "blocked");
    let block = &action("refunds-sync")["block"];
    assert_eq!(block["kind"], "tests-failed", "{block}");
    assert!(
        block["message"]
            .as_str()
            .unwrap()
            .starts_with("refunds-sync: labels every refund: connectors/refunds.yaml:14:25: "),
        "{block}"
    );

    let out = repo.ferry(&["apply", "--tenant", "sandbox", "--auto-approve"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "blocked is not failed, as for every block: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("SQL tests: 1 failed (refunds-sync), 1 passed"),
        "{stdout}{stderr}"
    );
    assert_eq!(
        sandbox_actions(&repo),
        ["orders-sync noop", "refunds-sync blocked"],
        "only the passing connector was applied"
    );

    // The tenant's own setting wins: advisory reports the failure and applies anyway.
    repo.write(
        "ferry.yaml",
        &format!("{CONFIG}tests: required\n").replace(
            "    vars: { region: EU }\n",
            "    vars: { region: EU }\n    tests: advisory\n",
        ),
    );
    let out = repo.ferry(&["apply", "--tenant", "sandbox", "--auto-approve"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("SQL tests: 1 failed (refunds-sync) (tests: advisory"),
        "{stdout}"
    );
    let out = repo.ferry(&["plan", "--tenant", "sandbox", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tenants"][0]["changes"], 0, "{plan}");
    assert!(
        plan["tenants"][0].get("tests").is_none(),
        "nothing to create, nothing tested"
    );
}

/// `ferry serve` gates as `apply` does: with `tests: required`, the failing connector is
/// blocked, the passing one applied, and the tenant's commit status names the failure.
#[test]
fn serve_blocks_a_connector_whose_required_tests_fail_and_says_so_on_the_commit() {
    let repo = gated("");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=ferry",
                "-c",
                "user.email=ferry@example.com",
            ])
            .args(args)
            .current_dir(repo.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&[
        "commit",
        "-qm",
        "two connectors, one with wrong expected rows",
    ]);

    let out = repo.ferry(&["serve", "--once", "--listen", "127.0.0.1:0"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a blocked tenant did not reconcile: {stdout}{stderr}"
    );
    let note: serde_json::Value =
        serde_json::from_str(&git(&["notes", "--ref=ferry", "show", "HEAD"])).unwrap();
    let sandbox = &note["ferry/sandbox"];
    assert_eq!(sandbox["state"], "failure", "{sandbox}");
    assert!(
        sandbox["description"].as_str().unwrap().starts_with(
            "blocked: SQL tests fail (`tests: required`): refunds-sync: labels every refund: "
        ),
        "{sandbox}"
    );
    assert_eq!(
        sandbox_actions(&repo),
        ["orders-sync noop", "refunds-sync blocked"]
    );
}

/// A relative `--python` means the path below the folder ferry was started in, as a user
/// types it (`--python .venv/bin/python`), although the engine runs in a scratch folder.
#[test]
fn a_relative_python_path_is_taken_from_where_ferry_runs() {
    let repo = Repo::new(&manifest(""), ORDERS_SQL);
    // The interpreter's environment (a venv's `bin/..`) linked in as `.venv`, so the
    // interpreter still finds its packages, called by its own file name.
    let python = engine_python();
    let (bin, file) = (python.parent().unwrap(), python.file_name().unwrap());
    std::os::unix::fs::symlink(bin.parent().unwrap(), repo.dir.path().join(".venv")).unwrap();
    let relative = Path::new(".venv").join(bin.file_name().unwrap()).join(file);
    let out = ferry_in(
        repo.dir.path(),
        &["test", "--python", relative.to_str().unwrap()],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
