//! The loaders never panic, whatever the bytes: arbitrary bytes, YAML-ish text, and valid
//! manifests with YAML-ish damage spliced in. An in-memory snapshot keeps it fast.

use std::collections::BTreeMap;
use std::path::Path;

use ferry::config;
use ferry::manifest;
use ferry::source::{self, Entry, EntryKind, Snapshot};
use proptest::prelude::*;

/// Files in memory: a snapshot for property tests.
#[derive(Debug, Default)]
struct Memory {
    files: BTreeMap<String, Vec<u8>>,
}

impl Snapshot for Memory {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn list(&self, dir: &str) -> source::Result<Vec<Entry>> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        Ok(self
            .files
            .keys()
            .filter(|p| p.starts_with(&prefix))
            .map(|p| Entry {
                path: p.clone(),
                kind: EntryKind::File,
            })
            .collect())
    }

    fn entry(&self, path: &str) -> source::Result<Option<EntryKind>> {
        if self.files.contains_key(path) {
            return Ok(Some(EntryKind::File));
        }
        let prefix = format!("{path}/");
        Ok(self
            .files
            .keys()
            .any(|p| path.is_empty() || p.starts_with(&prefix))
            .then_some(EntryKind::Dir))
    }

    fn read(&self, path: &str) -> source::Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| source::Error::NotAFile {
                path: path.to_owned(),
            })
    }
}

const VALID: &str = "\
apiVersion: ferry/v1
kind: SmartConnector
metadata: { name: orders-sync, labels: { tier: core } }
spec:
  name: Orders ${suffix}
  apiName: orders_sync
  type: spreadsheet
  liveSql: q.sql
  references: { filterGroups: [\"${group}\", a], fieldMappings: [contacts.email] }
---
apiVersion: ferry/v1
kind: CdeConnector
metadata: { name: feed }
spec:
  name: Feed
  type: datasource
  config: { secret-registrations: [{ vault_secret: a/b }], vcs: { url: x } }
---
apiVersion: ferry/v1
kind: Plugin
metadata: { name: plugin }
spec: { name: P, state: published, trigger: webhook, connectors: [W], actions: a.json }
";

fn check_manifest(bytes: Vec<u8>) {
    let mut snapshot = Memory::default();
    snapshot.files.insert("c/m.yaml".into(), bytes);
    snapshot
        .files
        .insert("c/q.sql".into(), b"SELECT 1".to_vec());
    snapshot.files.insert(
        "c/a.json".into(),
        br#"[{"headers": {"Authorization": "{{secret:T}}"}}]"#.to_vec(),
    );
    let (set, diagnostics) = manifest::load_all(&snapshot, "c");
    for d in &diagnostics {
        assert!(d.location.path.starts_with("c/"), "{d}");
        assert!(!d.to_string().is_empty());
    }
    let cfg = config::parse(
        Path::new("ferry.yaml"),
        b"source: {repo: .}\ntenants:\n  - {name: t, platform: kizen, url: emulator, vars: {group: g}}\n",
    )
    .expect("fixed config parses");
    let _ = ferry::desired::desired_for(&set, &cfg.config.tenants[0]);
}

fn check_config(bytes: &[u8]) {
    if let Ok(loaded) = config::parse(Path::new("ferry.yaml"), bytes) {
        for d in &loaded.validate() {
            assert_eq!(d.location.path, "ferry.yaml");
        }
    }
}

/// Text made of YAML's structural characters, words and line breaks.
fn yamlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\n".to_owned()),
            Just("  ".to_owned()),
            Just("- ".to_owned()),
            Just(": ".to_owned()),
            Just("---\n".to_owned()),
            Just("...\n".to_owned()),
            Just("${x}".to_owned()),
            Just("$${".to_owned()),
            Just("kind: SmartConnector\n".to_owned()),
            Just("spec:\n".to_owned()),
            "[\\[\\]{}\"'&*!|>%@`,#?:\\\\ \t\r-]".prop_map(|s| s.to_owned()),
            "[a-zA-Z0-9_./]{1,8}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_manifest(bytes.clone());
        check_config(&bytes);
    }

    #[test]
    fn yamlish_text_never_panics(text in yamlish()) {
        check_manifest(text.clone().into_bytes());
        check_config(text.as_bytes());
    }

    #[test]
    fn damaged_manifests_never_panic(at in 0..VALID.len(), damage in yamlish()) {
        let mut text = VALID.to_owned();
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.insert_str(at, &damage);
        check_manifest(text.into_bytes());
    }
}

#[test]
fn the_undamaged_manifests_are_valid() {
    let mut snapshot = Memory::default();
    snapshot
        .files
        .insert("c/m.yaml".into(), VALID.as_bytes().to_vec());
    snapshot
        .files
        .insert("c/q.sql".into(), b"SELECT 1".to_vec());
    snapshot.files.insert(
        "c/a.json".into(),
        br#"[{"headers": {"Authorization": "{{secret:T}}"}}]"#.to_vec(),
    );
    let set = manifest::load(&snapshot, "c").expect("valid");
    assert_eq!(set.len(), 3);
}
