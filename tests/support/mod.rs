//! Shared helpers of the end-to-end tests (`e2e_*`, `crash`): a `ferry emulator` process on
//! a loopback port, a project (a real git repository in a tempdir with a manifests folder,
//! `ferry.yaml` and a state store), manifest builders, and a runner for the real `ferry`
//! binary. Helpers are synchronous: tests drive processes, as a user would.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ferry::emulator::{Seed, SeedCatalog, SeedTenant};
use ferry::model::Platform;
use serde_json::{Value, json};

/// The `ferry` binary under test.
pub fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// The environment variable holding `tenant`'s token in generated configurations.
pub fn token_env(tenant: &str) -> String {
    format!(
        "FERRY_TEST_TOKEN_{}",
        tenant.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The token the emulator accepts for `tenant`.
pub fn token(tenant: &str) -> String {
    format!("{tenant}-token")
}

/// The business every generated tenant belongs to.
pub const BUSINESS: &str = "acme";

/// A seeded tenant in `us-west` of business [`BUSINESS`], with no catalog or objects.
pub fn seed_tenant(name: &str, platform: Platform) -> SeedTenant {
    let mut t = SeedTenant::new(name, platform, token(name));
    t.region = Some("us-west".into());
    t.business = Some(BUSINESS.into());
    t
}

/// A Kizen catalog.
pub fn kizen_catalog(workflows: &[&str], groups: &[&str], fields: &[&str]) -> SeedCatalog {
    SeedCatalog {
        agentic_workflows: workflows.iter().map(|s| s.to_string()).collect(),
        filter_groups: groups.iter().map(|s| s.to_string()).collect(),
        fields: fields.iter().map(|s| s.to_string()).collect(),
        ..SeedCatalog::default()
    }
}

/// A `ferry emulator` process on a free loopback port. Stopped (SIGKILL to its own pid)
/// when dropped.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seed: Seed,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Start an emulator serving `seed`, with extra flags (`--latency-ms 20`).
    pub fn start(seed: Seed, flags: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.yaml");
        std::fs::write(&path, serde_saphyr::to_string(&seed).unwrap()).unwrap();
        let mut child = Command::new(ferry_bin())
            .args(["emulator", "--listen", "127.0.0.1:0", "--seed"])
            .arg(&path)
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry emulator starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("the emulator prints where it listens")
            .unwrap();
        let url = first
            .strip_prefix("ferry emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .trim()
            .to_owned();
        // Keep draining stdout so the emulator never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Emulator {
            child,
            url,
            seed,
            _dir: dir,
        }
    }

    /// The base URL of `tenant`.
    pub fn base_url(&self, tenant: &str) -> String {
        format!("{}/tenants/{tenant}", self.url)
    }

    /// `GET /_emulator/state`.
    pub fn state(&self) -> Value {
        http("GET", &format!("{}/_emulator/state", self.url), None, &[]).1
    }

    /// The objects of `tenant` (CDE: without binned ones).
    pub fn objects(&self, tenant: &str) -> Vec<Value> {
        self.state()["tenants"][tenant]["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o["binned"] != json!(true))
            .collect()
    }

    /// The names of `tenant`'s objects, sorted.
    pub fn names(&self, tenant: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects(tenant)
            .iter()
            .map(|o| o["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names
    }

    /// The object of `tenant` named `name`, if exactly one has it.
    pub fn object(&self, tenant: &str, name: &str) -> Option<Value> {
        let found: Vec<Value> = self
            .objects(tenant)
            .into_iter()
            .filter(|o| o["name"] == json!(name))
            .collect();
        assert!(
            found.len() <= 1,
            "{} objects named {name:?} in {tenant}",
            found.len()
        );
        found.into_iter().next()
    }

    /// The live id of the object of `tenant` named `name`, which must exist.
    pub fn id(&self, tenant: &str, name: &str) -> String {
        let object = self
            .object(tenant, name)
            .unwrap_or_else(|| panic!("no object named {name:?} in {tenant}"));
        object["id"].as_str().unwrap().to_owned()
    }

    /// A person renames the Kizen connector `id` of `tenant` to `name` through the
    /// platform's API.
    pub fn rename_kizen(&self, tenant: &str, id: &str, name: &str) {
        let (status, body) = self.call(
            "PATCH",
            tenant,
            &format!("/api/smart-connectors/{id}"),
            Some(json!({ "name": name })),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// A platform API call to `tenant` with its credentials, as a person's tool would make.
    pub fn call(
        &self,
        method: &str,
        tenant: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let t = self
            .seed
            .tenants
            .iter()
            .find(|t| t.name == tenant)
            .unwrap_or_else(|| panic!("no tenant {tenant} in the seed"));
        let token = t.token.expose().to_owned();
        let headers: Vec<(&str, String)> = match t.platform {
            Platform::Kizen => vec![
                ("X-API-KEY", token),
                ("X-BUSINESS-ID", t.business().to_owned()),
            ],
            _ => vec![("Authorization", format!("Bearer {token}"))],
        };
        http(
            method,
            &format!("{}{path}", self.base_url(tenant)),
            body,
            &headers,
        )
    }

    /// A control call (`/_emulator/...`).
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(method, &format!("{}{path}", self.url), body, &[])
    }

    /// Requests per tenant since the last reset (`GET /_emulator/requests`).
    pub fn requests(&self) -> Value {
        self.control("GET", "/_emulator/requests", None).1
    }

    /// Reset the request counters.
    pub fn reset_requests(&self) {
        let (status, _) = self.control("DELETE", "/_emulator/requests", None);
        assert_eq!(status, 200);
    }

    /// Turn an object's active toggle on, as a person does in the UI.
    pub fn activate(&self, tenant: &str, id: &str) {
        let platform = self.platform(tenant);
        let path = match platform {
            Platform::Kizen => format!("/api/smart-connectors/{id}"),
            Platform::AgentStudio => format!("/api/v1/plugins/{id}"),
            Platform::ProductsupCde => format!("/connectors/{id}"),
        };
        let (status, body) = self.call("PATCH", tenant, &path, Some(json!({"active": true})));
        assert_eq!(status, 200, "{body}");
    }

    fn platform(&self, tenant: &str) -> Platform {
        self.seed
            .tenants
            .iter()
            .find(|t| t.name == tenant)
            .map(|t| t.platform)
            .unwrap()
    }

    /// Assert that no object of any tenant is active (invariant 1).
    pub fn assert_all_inactive(&self) {
        let state = self.state();
        for (tenant, t) in state["tenants"].as_object().unwrap() {
            for o in t["objects"].as_array().unwrap() {
                assert_eq!(
                    o["active"],
                    json!(false),
                    "{tenant}: {} ({}) is active",
                    o["name"],
                    o["id"]
                );
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP call on a throwaway runtime: status and JSON body (`Null` when empty).
pub fn http(
    method: &str,
    url: &str,
    body: Option<Value>,
    headers: &[(&str, String)],
) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut rb = client
            .request(method.parse().unwrap(), url)
            .timeout(Duration::from_secs(20));
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("the emulator answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (status, value)
    })
}

/// A tenant of a generated `ferry.yaml`.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    pub platform: Platform,
    pub url: String,
    pub region: String,
    /// Extra YAML lines for the tenant, indented by four spaces (`onConflict: adopt`).
    pub extra: Vec<String>,
}

impl Tenant {
    /// A tenant served by `emu` (token from the environment, business = its name).
    pub fn on(emu: &Emulator, name: &str, platform: Platform) -> Tenant {
        Tenant {
            name: name.into(),
            platform,
            url: emu.base_url(name),
            region: "us-west".into(),
            extra: Vec::new(),
        }
    }

    /// A tenant of the in-process emulator (`url: emulator`).
    pub fn in_process(name: &str, platform: Platform) -> Tenant {
        Tenant {
            name: name.into(),
            platform,
            url: "emulator".into(),
            region: "us-west".into(),
            extra: Vec::new(),
        }
    }

    /// Add a line of tenant settings (`prune: true`).
    pub fn with(mut self, line: &str) -> Tenant {
        self.extra.push(line.to_owned());
        self
    }

    /// Set the region.
    pub fn region(mut self, region: &str) -> Tenant {
        self.region = region.into();
        self
    }

    fn yaml(&self) -> String {
        let mut s = format!(
            "  - name: {}\n    platform: {}\n    url: {}\n    region: {}\n    business: {}\n",
            self.name,
            self.platform.as_str(),
            self.url,
            self.region,
            BUSINESS
        );
        if self.url != "emulator" {
            s.push_str(&format!(
                "    auth: {{ tokenEnv: {} }}\n",
                token_env(&self.name)
            ));
        }
        for line in &self.extra {
            s.push_str(&format!("    {line}\n"));
        }
        s
    }
}

/// What one `ferry` run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Assert the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A project: a git repository with a `connectors/` folder of manifests, `ferry.yaml`
/// beside it and a state store, all in one tempdir.
pub struct Project {
    dir: tempfile::TempDir,
    /// The repository root.
    pub repo: PathBuf,
    tenants: Vec<Tenant>,
    seed: Option<Seed>,
}

impl Project {
    /// An empty project: `git init` with one commit.
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("connectors")).unwrap();
        std::fs::write(repo.join("connectors/.keep"), "").unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        let project = Project {
            dir,
            repo,
            tenants: Vec::new(),
            seed: None,
        };
        project.commit("start");
        project
    }

    /// The tempdir holding the project.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Set the tenants (and, for `url: emulator` tenants, the in-process emulator's seed)
    /// and write `ferry.yaml`.
    pub fn tenants(&mut self, tenants: Vec<Tenant>, seed: Option<Seed>) {
        self.tenants = tenants;
        self.seed = seed;
        self.write_config("connectors");
    }

    /// Write `ferry.yaml` with `source.path` = `path`.
    pub fn write_config(&self, path: &str) {
        let mut yaml = format!(
            "source:\n  repo: ./repo\n  branch: main\n  path: {path}\nstate: state/state.db\n"
        );
        if let Some(seed) = &self.seed {
            std::fs::write(
                self.dir().join("emulator-seed.yaml"),
                serde_saphyr::to_string(seed).unwrap(),
            )
            .unwrap();
            yaml.push_str("emulator:\n  seed: emulator-seed.yaml\n");
        }
        yaml.push_str("tenants:\n");
        for t in &self.tenants {
            yaml.push_str(&t.yaml());
        }
        std::fs::write(self.config(), yaml).unwrap();
    }

    /// `ferry.yaml`.
    pub fn config(&self) -> PathBuf {
        self.dir().join("ferry.yaml")
    }

    /// The state store file.
    pub fn state_db(&self) -> PathBuf {
        self.dir().join("state/state.db")
    }

    /// The in-process emulator's state file.
    pub fn emulator_state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir().join("state/emulator-state.json"))
            .expect("the in-process emulator saved its state");
        serde_json::from_str(&text).unwrap()
    }

    /// Write a file under `connectors/`.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.repo.join("connectors").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Remove a file under `connectors/`.
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.repo.join("connectors").join(rel)).unwrap();
    }

    /// Commit everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.repo, &["add", "-A"]);
        git(
            &self.repo,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&self.repo)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A `ferry` command with the configuration, tokens in the environment and no terminal.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ferry_bin());
        cmd.args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("FERRY_CONFIG")
            .env_remove("FERRY_STATE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for t in &self.tenants {
            cmd.env(token_env(&t.name), token(&t.name));
        }
        cmd
    }

    /// Run `ferry <args> --config ferry.yaml` to completion.
    pub fn ferry(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("ferry runs"))
    }

    /// `ferry plan -o json` (any exit code).
    pub fn plan_json(&self) -> (i32, Value) {
        let run = self.ferry(&["plan", "-o", "json"]);
        let v = run.json();
        (run.code, v)
    }

    /// `ferry apply --auto-approve -o json`, expecting `code`.
    pub fn apply_json(&self, code: i32) -> Value {
        self.ferry(&["apply", "--auto-approve", "-o", "json"])
            .expect(code)
            .json()
    }

    /// Open journal entries of every tenant in the state store.
    pub fn open_journal(&self) -> Vec<ferry::store::journal::Entry> {
        let store = ferry::store::Store::open(&self.state_db()).unwrap();
        let mut all = Vec::new();
        for t in &self.tenants {
            let name = t.name.clone();
            all.extend(
                store
                    .call_blocking(|c| ferry::store::journal::open(c, &name))
                    .unwrap(),
            );
        }
        all
    }

    /// The inventory rows of `tenant`.
    pub fn inventory(&self, tenant: &str) -> Vec<ferry::store::InventoryRow> {
        let store = ferry::store::Store::open(&self.state_db()).unwrap();
        store
            .call_blocking(|c| ferry::store::inventory::list(c, tenant))
            .unwrap()
    }
}

/// Run `git` in `dir`.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=ferry test",
            "-c",
            "user.email=test@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The actions of `tenant` in a plan or apply JSON document.
pub fn actions<'a>(doc: &'a Value, tenant: &str) -> &'a Vec<Value> {
    doc["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == json!(tenant))
        .unwrap_or_else(|| panic!("no tenant {tenant} in {doc:#}"))["actions"]
        .as_array()
        .unwrap()
}

/// `(action, connector)` pairs of a tenant's actions, noops left out.
pub fn changes(doc: &Value, tenant: &str) -> Vec<(String, String)> {
    actions(doc, tenant)
        .iter()
        .filter(|a| a["action"] != json!("noop"))
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["connector"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The action for `connector` in a tenant of a plan or apply document.
pub fn action<'a>(doc: &'a Value, tenant: &str, connector: &str) -> &'a Value {
    actions(doc, tenant)
        .iter()
        .find(|a| a["connector"] == json!(connector) && a["action"] != json!("adopt"))
        .unwrap_or_else(|| panic!("no action for {connector} in {tenant}: {doc:#}"))
}

// ---------------------------------------------------------------------------------------
// Manifest builders

/// A Kizen SmartConnector manifest with its files.
#[derive(Debug, Clone)]
pub struct SmartConnector {
    pub connector: String,
    pub name: String,
    pub api_name: String,
    pub kind: String,
    pub sql: String,
    pub reference: Option<String>,
    pub sample: Option<String>,
    pub workflows: Vec<String>,
    pub filter_groups: Vec<String>,
    pub fields: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl SmartConnector {
    /// `metadata.name` `connector`, `spec.name` `name`, API name from the connector.
    pub fn new(connector: &str, name: &str) -> SmartConnector {
        SmartConnector {
            connector: connector.into(),
            name: name.into(),
            api_name: connector.replace(['-', '.'], "_"),
            kind: "spreadsheet".into(),
            sql: format!("SELECT id, email FROM {}\n", connector.replace('-', "_")),
            reference: None,
            sample: Some("id,total\n1,9.50\n".into()),
            workflows: Vec::new(),
            filter_groups: Vec::new(),
            fields: vec!["contacts.email".into()],
            labels: BTreeMap::new(),
        }
    }

    pub fn sql(mut self, sql: &str) -> Self {
        self.sql = sql.into();
        self
    }

    pub fn workflows(mut self, w: &[&str]) -> Self {
        self.workflows = w.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn filter_groups(mut self, g: &[&str]) -> Self {
        self.filter_groups = g.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn reference(mut self, csv: &str) -> Self {
        self.reference = Some(csv.into());
        self
    }

    /// The manifest YAML.
    pub fn yaml(&self) -> String {
        let c = &self.connector;
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let mut s = format!("apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: {c}\n");
        if !self.labels.is_empty() {
            s.push_str("  labels:\n");
            for (k, v) in &self.labels {
                s.push_str(&format!("    {k}: {v}\n"));
            }
        }
        s.push_str(&format!(
            "spec:\n  name: {:?}\n  apiName: {}\n  type: {}\n  liveSql: sql/{c}.sql\n",
            self.name, self.api_name, self.kind
        ));
        if self.reference.is_some() {
            s.push_str(&format!("  referenceData: ref/{c}.csv\n"));
        }
        if self.sample.is_some() {
            s.push_str(&format!("  sampleFile: samples/{c}.csv\n"));
        }
        s.push_str(&format!(
            "  references:\n    agenticWorkflows: {}\n    filterGroups: {}\n    fieldMappings: {}\n",
            list(&self.workflows),
            list(&self.filter_groups),
            list(&self.fields)
        ));
        s
    }

    /// Write the manifest and its files into `project`.
    pub fn write(&self, project: &Project) {
        let c = &self.connector;
        project.write(&format!("{c}.yaml"), &self.yaml());
        project.write(&format!("sql/{c}.sql"), &self.sql);
        if let Some(r) = &self.reference {
            project.write(&format!("ref/{c}.csv"), r);
        }
        if let Some(s) = &self.sample {
            project.write(&format!("samples/{c}.csv"), s);
        }
    }

    /// The same connector as a hand-made object in a Kizen seed (platform shape).
    pub fn seed_object(&self) -> Value {
        json!({
            "name": self.name, "api_name": self.api_name, "type": self.kind,
            "live_sql": self.sql, "reference_data": self.reference, "sample_file": self.sample,
            "references": {
                "agentic_workflows": self.workflows, "filter_groups": self.filter_groups,
                "field_mappings": self.fields,
            },
        })
    }
}

/// An Agent Studio plugin manifest with its actions file.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub connector: String,
    pub name: String,
    pub state: String,
    pub trigger: String,
    pub bindings: Vec<String>,
}

impl Plugin {
    pub fn new(connector: &str, name: &str) -> Plugin {
        Plugin {
            connector: connector.into(),
            name: name.into(),
            state: "published".into(),
            trigger: "conversational".into(),
            bindings: vec!["Workday".into()],
        }
    }

    pub fn state(mut self, s: &str) -> Self {
        self.state = s.into();
        self
    }

    pub fn trigger(mut self, t: &str) -> Self {
        self.trigger = t.into();
        self
    }

    pub fn write(&self, project: &Project) {
        let c = &self.connector;
        project.write(
            &format!("{c}.yaml"),
            &format!(
                "apiVersion: ferry/v1\nkind: Plugin\nmetadata:\n  name: {c}\nspec:\n  name: {:?}\n  state: {}\n  trigger: {}\n  connectors: [{}]\n  actions: actions/{c}.json\n",
                self.name,
                self.state,
                self.trigger,
                self.bindings.join(", ")
            ),
        );
        project.write(
            &format!("actions/{c}.json"),
            r#"[{"name": "lookup", "request": {"method": "GET", "url": "https://example.com/api", "headers": {"Authorization": "Bearer {{secret:API_TOKEN}}"}}}]"#,
        );
    }
}

/// A Productsup CDE connector manifest (configuration inline).
#[derive(Debug, Clone)]
pub struct Cde {
    pub connector: String,
    pub name: String,
    pub secrets: Vec<String>,
    pub command: String,
}

impl Cde {
    pub fn new(connector: &str, name: &str) -> Cde {
        Cde {
            connector: connector.into(),
            name: name.into(),
            secrets: vec!["amazon/seller".into()],
            command: "php".into(),
        }
    }

    pub fn secrets(mut self, s: &[&str]) -> Self {
        self.secrets = s.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn command(mut self, c: &str) -> Self {
        self.command = c.into();
        self
    }

    /// The manifest YAML, spelling out platform defaults as people do
    /// (`execution-mode: as-env-variables`, `vcs.authorization: public`).
    pub fn yaml(&self) -> String {
        let mut s = format!(
            "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata:\n  name: {}\nspec:\n  name: {:?}\n  type: datasource\n  flow: default\n  config:\n    execution:\n      execution-mode: as-env-variables\n    authentication-registrations: [20]\n    secret-registrations:\n",
            self.connector, self.name
        );
        for secret in &self.secrets {
            s.push_str(&format!("      - vault_secret: {secret}\n"));
        }
        s.push_str(&format!(
            "    application:\n      command: {}\n      arguments: app.php import\n    vcs:\n      authorization: public\n      url: https://github.com/acme/{}.git\n      branch: main\n",
            self.command, self.connector
        ));
        s
    }

    pub fn write(&self, project: &Project) {
        project.write(&format!("{}.yaml", self.connector), &self.yaml());
    }
}
