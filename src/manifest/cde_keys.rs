//! The keys of a CDE connector's `config` that the vendor documents, and the check that a
//! manifest uses no other.
//!
//! Productsup's `POST /connectors/copy` reference prints a request and a response body; the
//! keys below are every key of a version's `config` those two bodies show, per object. A
//! key outside them is almost always a typo (`helth-check`) that the platform would ignore
//! or refuse after ferry copied the connector, so it is an error at its line with the
//! closest documented key as a suggestion. Objects the document shows only as `null` or `[]`
//! (`migration`, `export`, `data-service`, `container-api-config`, `buckets`,
//! `feature-flags`) have undocumented contents and are not looked into.
//!
//! This module must not check values: types and secret-bearing values are the loader's.

use serde_json::Value;

use crate::diagnostic::did_you_mean;

/// The documented keys of `config` itself.
const CONFIG: &[&str] = &[
    "execution",
    "authentication-registrations",
    "authentication-registrations-additional-fields",
    "secret-registrations",
    "application",
    "vcs",
    "individuals",
    "update-progress",
    "docker",
    "migration",
    "export",
    "data-service",
    "datasource",
    "buckets",
    "feature-flags",
    "container-api-config",
];

/// The documented keys of each object inside `config` (for lists: of each item).
const NESTED: &[(&str, &[&str])] = &[
    (
        "execution",
        &[
            "execution-mode",
            "container-api-image",
            "docker-host",
            "container-api",
        ],
    ),
    ("execution.container-api", &["image", "version-constraint"]),
    ("application", &["command", "arguments", "health-check"]),
    (
        "vcs",
        &[
            "authorization",
            "url",
            "branch",
            "username",
            "token",
            "deploy-key-public",
            "latest-commit",
        ],
    ),
    ("docker", &["image-name", "image-tag", "registry-url"]),
    ("datasource", &["categories"]),
    (
        "secret-registrations[]",
        &["vault_secret", "ini_header", "fields"],
    ),
    (
        "individuals[]",
        &[
            "command-option",
            "field-type",
            "field-name",
            "field-required",
            "field-placeholder",
            "field-description",
            "field-default-value",
            "field-config",
            "order",
            "created-at",
            "updated-at",
        ],
    ),
];

/// A key the vendor does not document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// Its path under `config` (`vcs.brnch`, `individuals[1].oder`).
    pub(crate) path: String,
    /// The message: the key, where, the documented keys, and a suggestion when one is close.
    pub(crate) message: String,
}

/// Every undocumented key of `config`, in document order of the objects checked.
pub(crate) fn unknown_keys(config: &Value) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    check_object(config, "", "config", CONFIG, &mut out);
    for (shape, known) in NESTED {
        let (parent, list) = match shape.strip_suffix("[]") {
            Some(parent) => (parent, true),
            None => (*shape, false),
        };
        let Some(value) = config.pointer(&format!("/{}", parent.replace('.', "/"))) else {
            continue;
        };
        match (list, value) {
            (false, Value::Object(_)) => check_object(value, parent, parent, known, &mut out),
            (true, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{parent}[{i}]");
                    check_object(item, &at, &format!("{parent}[]"), known, &mut out);
                }
            }
            _ => {}
        }
    }
    out
}

fn check_object(value: &Value, at: &str, shown: &str, known: &[&str], out: &mut Vec<UnknownKey>) {
    let Value::Object(map) = value else {
        return;
    };
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        let hint = match did_you_mean(key, known) {
            Some(close) => format!("; did you mean `{close}`?"),
            None => String::new(),
        };
        out.push(UnknownKey {
            message: format!(
                "unknown key `{}` in a CDE connector's `{shown}`: the vendor documents {}{hint}",
                key.escape_debug(),
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            path,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The vendor's copy request and response, verbatim: every key documented.
    #[test]
    fn the_vendor_bodies_use_only_documented_keys() {
        for text in [
            include_str!("../../tests/fixtures/vendor/cde_copy_request.json"),
            include_str!("../../tests/fixtures/vendor/cde_copy_response.json"),
        ] {
            let body: Value = serde_json::from_str(text).unwrap();
            let versions = body
                .pointer("/versions")
                .or_else(|| body.pointer("/data/versions"))
                .unwrap();
            let config = &versions[0]["config"];
            assert_eq!(unknown_keys(config), vec![], "{config}");
        }
    }

    #[test]
    fn a_typo_is_named_with_the_closest_documented_key() {
        let config = json!({
            "application": {"command": "php", "helth-check": "--help"},
            "vcs": {"url": "https://x/r.git", "brnch": "main"},
            "individuals": [{"command-option": "host"}, {"oder": 2}],
            "exectuion": {},
            "export": {"anything": "goes"},
        });
        let found = unknown_keys(&config);
        let paths: Vec<&str> = found.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "exectuion",
                "application.helth-check",
                "vcs.brnch",
                "individuals[1].oder"
            ]
        );
        assert!(
            found[1].message.starts_with(
                "unknown key `helth-check` in a CDE connector's `application`: the vendor documents `command`, `arguments`, `health-check`; did you mean `health-check`?"
            ),
            "{}",
            found[1].message
        );
        assert!(found[0].message.ends_with("did you mean `execution`?"));
        assert!(found[3].message.contains("`individuals[]`"));
        assert!(found[3].message.ends_with("did you mean `order`?"));
    }

    #[test]
    fn a_key_far_from_every_documented_one_gets_no_guess() {
        let found = unknown_keys(&json!({"zzz": 1}));
        assert_eq!(found.len(), 1);
        assert!(!found[0].message.contains("did you mean"), "{found:?}");
    }
}
