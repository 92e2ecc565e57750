//! The seed file: which tenants the emulator serves, their credentials, their catalog
//! (what references, bindings and secrets resolve to), the objects they already hold and
//! their start-up faults.
//!
//! This module owns the seed's serde types, reading them from YAML with `path:line:column`
//! errors, and the validation pass that reports every problem at once. It does not build
//! the emulator's state (see `state`).

use std::fmt;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::error::{Error, Result};
use super::faults::Faults;
use super::state;
use crate::model::{Catalog, Platform};

/// The seed: every tenant the emulator serves.
///
/// ```yaml
/// tenants:
///   - name: sandbox
///     platform: kizen
///     region: us-west
///     business: acme
///     token: sandbox-token
///     catalog: { agenticWorkflows: [Lead Router], filterGroups: [EU Leads] }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The tenants, served at `/tenants/<name>`.
    pub tenants: Vec<SeedTenant>,
}

/// One emulated tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedTenant {
    /// Unique name; the tenant's base URL is `http://ADDR/tenants/<name>`. Letters, digits,
    /// `.`, `_` and `-`.
    pub name: String,
    /// The platform whose API the tenant speaks.
    pub platform: Platform,
    /// Data center. Agent Studio refuses installation links from another region.
    /// Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Owning business (Kizen's `X-BUSINESS-ID`). Default: the tenant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
    /// The credential the tenant accepts (`X-API-KEY` or bearer token).
    pub token: Token,
    /// What references, connector bindings and secrets can resolve to.
    #[serde(default)]
    pub catalog: SeedCatalog,
    /// Objects the tenant already holds, in the platform's own JSON shape (a Kizen
    /// connector detail, an Agent Studio plugin detail, a CDE `GET /connectors/{id}`
    /// `data`). Server fields (id, timestamps, version, owner) are filled in when absent.
    #[serde(default)]
    pub objects: Vec<serde_json::Value>,
    /// Faults from the start.
    #[serde(default, skip_serializing_if = "Faults::is_none")]
    pub faults: Faults,
}

impl SeedTenant {
    /// A tenant with no region, business, catalog, objects or faults.
    pub fn new(name: impl Into<String>, platform: Platform, token: impl Into<Token>) -> Self {
        SeedTenant {
            name: name.into(),
            platform,
            region: None,
            business: None,
            token: token.into(),
            catalog: SeedCatalog::default(),
            objects: Vec::new(),
            faults: Faults::default(),
        }
    }

    /// The region, `default` when none is set.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or("default")
    }

    /// The business, the tenant name when none is set.
    pub fn business(&self) -> &str {
        self.business.as_deref().unwrap_or(&self.name)
    }
}

/// What a tenant's references, bindings and secrets can resolve to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedCatalog {
    /// Kizen: Agentic Workflow names.
    #[serde(default)]
    pub agentic_workflows: Vec<String>,
    /// Kizen: filter group names (seeding).
    #[serde(default)]
    pub filter_groups: Vec<String>,
    /// Kizen: `object.field` names for matching and mapping.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Agent Studio: connector names available for binding.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// Productsup CDE: secret paths in the store (`vault_secret`).
    #[serde(default)]
    pub secrets: Vec<String>,
}

impl From<SeedCatalog> for Catalog {
    fn from(c: SeedCatalog) -> Self {
        Catalog {
            agentic_workflows: c.agentic_workflows,
            filter_groups: c.filter_groups,
            fields: c.fields,
            connectors: c.connectors,
            secrets: c.secrets,
        }
    }
}

impl From<Catalog> for SeedCatalog {
    fn from(c: Catalog) -> Self {
        SeedCatalog {
            agentic_workflows: c.agentic_workflows,
            filter_groups: c.filter_groups,
            fields: c.fields,
            connectors: c.connectors,
            secrets: c.secrets,
        }
    }
}

/// A tenant credential. Its `Debug` prints `***`; read it with [`Token::expose`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// The credential itself, for building requests.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Self {
        Token(s.to_owned())
    }
}

impl From<String> for Token {
    fn from(s: String) -> Self {
        Token(s)
    }
}

impl Seed {
    /// A seed with one tenant (for running an emulated tenant in-process).
    pub fn single(tenant: SeedTenant) -> Self {
        Seed {
            tenants: vec![tenant],
        }
    }

    /// Read and validate a seed file.
    ///
    /// # Errors
    /// [`Error::SeedRead`] when the file cannot be read, [`Error::SeedParse`] with
    /// `path:line:column` when it is not a seed, [`Error::SeedInvalid`] listing every
    /// problem (each with its location) when it describes impossible tenants.
    pub fn load(path: impl AsRef<Path>) -> Result<Seed> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::SeedRead {
            path: path.to_owned(),
            source,
        })?;
        Seed::from_yaml(&text, path)
    }

    /// Parse and validate seed YAML; `path` names the source in errors.
    ///
    /// # Errors
    /// As [`Seed::load`], without the read error.
    pub fn from_yaml(text: &str, path: impl AsRef<Path>) -> Result<Seed> {
        let path = path.as_ref();
        let seed: Seed = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = e.without_snippet().to_string();
            let suffix = format!(" at line {line}, column {column}");
            let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
            Error::SeedParse {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        })?;
        let problems = seed.problems();
        if problems.is_empty() {
            return Ok(seed);
        }
        // Locate each problem: parse again keeping only the spans.
        let spans: Option<SpanSeed> = serde_saphyr::from_str(text).ok();
        let problems = problems
            .into_iter()
            .map(|p| {
                let loc = spans.as_ref().and_then(|s| s.locate(p.tenant, p.object));
                match loc {
                    Some((line, column)) => {
                        format!("{}:{line}:{column}: {}", path.display(), p.message)
                    }
                    None => format!("{}: {}", path.display(), p.message),
                }
            })
            .collect();
        Err(Error::SeedInvalid { problems })
    }

    /// Check the seed as a whole.
    ///
    /// # Errors
    /// [`Error::SeedInvalid`] listing every problem.
    pub fn validate(&self) -> Result<()> {
        let problems: Vec<String> = self.problems().into_iter().map(|p| p.message).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::SeedInvalid { problems })
        }
    }

    fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.tenants.is_empty() {
            out.push(Problem {
                tenant: None,
                object: None,
                message: "the seed has no tenants; add at least one under `tenants:`".to_owned(),
            });
        }
        for (i, t) in self.tenants.iter().enumerate() {
            let mut push = |object: Option<usize>, message: String| {
                out.push(Problem {
                    tenant: Some(i),
                    object,
                    message,
                })
            };
            let who = format!("tenant '{}' (tenants[{i}])", t.name);
            if t.name.is_empty() {
                push(None, format!("tenants[{i}]: the name is empty"));
            } else if !t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                push(
                    None,
                    format!(
                        "{who}: the name may only hold letters, digits, '.', '_' and '-' (it is part of the URL)"
                    ),
                );
            }
            if let Some(first) = self.tenants[..i].iter().position(|o| o.name == t.name) {
                push(
                    None,
                    format!(
                        "{who}: the name is already used by tenants[{first}]; tenant names must be unique"
                    ),
                );
            }
            if t.token.expose().trim().is_empty() {
                push(None, format!("{who}: the token is empty"));
            }
            for p in t.faults.problems() {
                push(None, format!("{who}: faults: {p}"));
            }
            for (index, message) in state::seed_object_problems(t.platform, &t.objects) {
                push(Some(index), format!("{who} objects[{index}]: {message}"));
            }
        }
        out
    }
}

struct Problem {
    tenant: Option<usize>,
    object: Option<usize>,
    message: String,
}

/// The seed's shape with only the locations kept, to point problems at their line.
#[derive(Deserialize)]
struct SpanSeed {
    #[serde(default)]
    tenants: Vec<Spanned<SpanTenant>>,
}

#[derive(Deserialize)]
struct SpanTenant {
    #[serde(default)]
    objects: Vec<Spanned<IgnoredAny>>,
}

impl SpanSeed {
    fn locate(&self, tenant: Option<usize>, object: Option<usize>) -> Option<(u64, u64)> {
        let t = self.tenants.get(tenant?)?;
        let loc = match object.and_then(|o| t.value.objects.get(o)) {
            Some(o) => o.referenced,
            None => t.referenced,
        };
        (loc.line() > 0).then(|| (loc.line(), loc.column()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"tenants:
  - name: sandbox
    platform: kizen            # kizen | agent-studio | productsup-cde
    region: us-west
    business: acme
    token: sandbox-token
    catalog:
      agenticWorkflows: [Lead Router]
      filterGroups: [EU Leads]
      fields: [contacts.email, contacts.phone]
      connectors: [Workday]
      secrets: [amazon/seller]
    objects: []
    faults: {}
"#;

    #[test]
    fn parses_the_documented_format() {
        let seed = Seed::from_yaml(SEED, "seed.yaml").unwrap();
        let t = &seed.tenants[0];
        assert_eq!(t.name, "sandbox");
        assert_eq!(t.platform, Platform::Kizen);
        assert_eq!(t.region(), "us-west");
        assert_eq!(t.business(), "acme");
        assert_eq!(t.token.expose(), "sandbox-token");
        assert_eq!(t.catalog.filter_groups, vec!["EU Leads"]);
        assert_eq!(t.catalog.secrets, vec!["amazon/seller"]);
        assert!(t.faults.is_none());
    }

    #[test]
    fn unknown_fields_are_errors_with_a_location() {
        let text = SEED.replace("    region: us-west\n", "    regoin: us-west\n");
        let err = Seed::from_yaml(&text, "seed.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("seed.yaml:4:5: unknown field `regoin`, expected one of"),
            "{msg}"
        );
        assert!(!msg.contains("at line"), "the location is said once: {msg}");
    }

    #[test]
    fn wrong_platform_names_the_place() {
        let text = SEED.replace("platform: kizen ", "platform: kizn ");
        let msg = Seed::from_yaml(&text, "seed.yaml").unwrap_err().to_string();
        assert!(msg.starts_with("seed.yaml:3:15: "), "{msg}");
        assert!(msg.contains("kizn"), "{msg}");
    }

    #[test]
    fn every_problem_is_listed_with_its_line() {
        let text = r#"tenants:
  - name: a
    platform: kizen
    token: ""
  - name: a
    platform: productsup-cde
    token: t
    faults: { errorRate: 2 }
    objects:
      - { name: "no type" }
"#;
        let msg = Seed::from_yaml(text, "s.yaml").unwrap_err().to_string();
        assert!(
            msg.contains("s.yaml:2:5: tenant 'a' (tenants[0]): the token is empty"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "s.yaml:5:5: tenant 'a' (tenants[1]): the name is already used by tenants[0]"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("faults: errorRate must be between 0.0 and 1.0 (got 2)"),
            "{msg}"
        );
        assert!(
            msg.contains("s.yaml:10:9: tenant 'a' (tenants[1]) objects[0]: "),
            "{msg}"
        );
        assert!(msg.contains("type"), "{msg}");
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = SeedTenant::new("x", Platform::Kizen, "very-secret");
        assert!(!format!("{t:?}").contains("very-secret"));
        assert!(format!("{t:?}").contains("***"));
    }

    #[test]
    fn catalog_converts_to_the_model() {
        let c = SeedCatalog {
            connectors: vec!["Workday".into()],
            ..SeedCatalog::default()
        };
        let m: Catalog = c.clone().into();
        assert_eq!(m.connectors, vec!["Workday"]);
        assert_eq!(SeedCatalog::from(m), c);
    }
}
