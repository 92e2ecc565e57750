//! Capabilities: which platform operations the vendors document and which ferry models.
//!
//! The vendor documents (Kizen's SmartConnector export/import/duplication page, Agent
//! Studio's plugin promotion guide, Productsup's CDE `POST /connectors/copy` reference)
//! describe most operations as UI flows and print only a few API bodies. So every HTTP call
//! a provider makes is either **documented** (the vendor names the endpoint or prints its
//! body) or **modelled** (ferry's assumption where the vendor is silent). [`OPERATIONS`]
//! declares each one, per platform.
//!
//! A modelled operation ferry can do without is a named [`Capability`]. A tenant switches
//! one off in `ferry.yaml` (`capabilities: {rename: false}`); the planner then takes the
//! documented flow or blocks with a manual step that says what a person must do, providers
//! never make a call whose capability is off, and `ferry plan` marks every action that
//! relies on one. Modelled operations without a capability are ones ferry cannot work
//! without (listing a tenant, reading an object, deleting one).
//!
//! This module holds data and pure helpers only.

use serde::{Deserialize, Serialize};

use crate::model::Platform;
use crate::names::names;

/// A modelled platform operation a tenant can switch off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Capability {
    /// Renaming an object through a `PATCH` of its name (every platform): the CDE copy's
    /// rename from `<name> - Copy`, moving an object aside while it is replaced, and plain
    /// renames.
    Rename,
    /// Kizen: moving an API name aside through a `PATCH` of `api_name`, so a replacement
    /// can be imported under the same API name before the old connector is deleted.
    ApiName,
    /// Kizen: re-running pre-activation checks (`POST /api/smart-connectors/{id}/checks`).
    Checks,
    /// Agent Studio: turning a plugin kept in git into an installation link issued by the
    /// tenant itself (`POST /api/v1/templates`), to create a plugin without a promotion
    /// source.
    Templates,
    /// Productsup CDE: the secret store look-up (`GET /secrets`) that lets a plan block a
    /// copy whose secret registrations do not exist before calling the platform.
    Secrets,
    /// Paging parameters on list calls (`page`/`page_size`, `cursor`/`limit`,
    /// `from`/`limit`). Off: one list request without parameters, which must hold the
    /// whole list.
    Paging,
}

names! {
    all;
    /// The key under a tenant's `capabilities:`.
    Capability {
        Rename => "rename",
        ApiName => "apiName",
        Checks => "checks",
        Templates => "templates",
        Secrets => "secrets",
        Paging => "paging",
    }
}

impl Capability {
    /// Whether the capability exists on `platform`.
    pub fn applies_to(self, platform: Platform) -> bool {
        match self {
            Capability::Rename | Capability::Paging => true,
            Capability::ApiName | Capability::Checks => platform == Platform::Kizen,
            Capability::Templates => platform == Platform::AgentStudio,
            Capability::Secrets => platform == Platform::ProductsupCde,
        }
    }

    /// The modelled call behind the capability on `platform`, for messages.
    pub fn call(self, platform: Platform) -> &'static str {
        match (self, platform) {
            (Capability::Rename, Platform::Kizen) => "PATCH /api/smart-connectors/{id} {name}",
            (Capability::Rename, Platform::AgentStudio) => "PATCH /api/v1/plugins/{id} {name}",
            (Capability::Rename, Platform::ProductsupCde) => "PATCH /connectors/{publicId} {name}",
            (Capability::ApiName, _) => "PATCH /api/smart-connectors/{id} {api_name}",
            (Capability::Checks, _) => "POST /api/smart-connectors/{id}/checks",
            (Capability::Templates, _) => "POST /api/v1/templates",
            (Capability::Secrets, _) => "GET /secrets",
            (Capability::Paging, Platform::Kizen) => "GET /api/smart-connectors?page=…&page_size=…",
            (Capability::Paging, Platform::AgentStudio) => "GET /api/v1/plugins?cursor=…&limit=…",
            (Capability::Paging, Platform::ProductsupCde) => "GET /connectors?from=…&limit=…",
        }
    }
}

/// The capabilities a tenant may use: every one on unless the configuration switches it
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CapabilitySet {
    off: u8,
}

impl Default for CapabilitySet {
    fn default() -> Self {
        CapabilitySet::all()
    }
}

impl CapabilitySet {
    /// Every capability on.
    pub const fn all() -> Self {
        CapabilitySet { off: 0 }
    }

    fn bit(c: Capability) -> u8 {
        1 << (c as u8)
    }

    /// Whether `c` may be used.
    pub fn enabled(self, c: Capability) -> bool {
        self.off & Self::bit(c) == 0
    }

    /// This set with `c` switched off.
    #[must_use]
    pub fn without(self, c: Capability) -> Self {
        CapabilitySet {
            off: self.off | Self::bit(c),
        }
    }

    /// The capabilities switched off, in [`Capability::ALL`] order.
    pub fn switched_off(self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| !self.enabled(*c))
            .collect()
    }
}

/// Whether the vendor documents an operation or ferry models it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The vendor names the endpoint or prints its body.
    Documented,
    /// ferry's assumption where the vendor is silent.
    Modelled,
}

/// One HTTP call a provider makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OperationContract {
    /// The platform.
    pub platform: Platform,
    /// Method and path (`POST /connectors/copy`).
    pub call: &'static str,
    /// Documented or modelled.
    pub basis: Basis,
    /// The capability that switches it off, if it can be.
    pub capability: Option<Capability>,
    /// What ferry uses it for.
    pub purpose: &'static str,
}

const fn op(
    platform: Platform,
    call: &'static str,
    basis: Basis,
    capability: Option<Capability>,
    purpose: &'static str,
) -> OperationContract {
    OperationContract {
        platform,
        call,
        basis,
        capability,
        purpose,
    }
}

use Basis::{Documented, Modelled};
use Platform::{AgentStudio, Kizen, ProductsupCde};

/// Every call the providers make, per platform: documented or modelled, and the capability
/// that switches it off. Kizen documents no management API at all (its export, import and
/// duplication are UI actions), so every Kizen call is modelled; Agent Studio documents the
/// promotion flow as UI steps, so its calls are modelled too; Productsup documents
/// `GET /connectors/{publicId}` and prints `POST /connectors/copy`.
pub const OPERATIONS: &[OperationContract] = &[
    op(
        Kizen,
        "GET /api/smart-connectors",
        Modelled,
        None,
        "list the tenant",
    ),
    op(
        Kizen,
        "GET /api/smart-connectors?page=…&page_size=…",
        Modelled,
        Some(Capability::Paging),
        "list the tenant page by page",
    ),
    op(
        Kizen,
        "GET /api/smart-connectors/{id}",
        Modelled,
        None,
        "export: read one connector",
    ),
    op(
        Kizen,
        "POST /api/smart-connectors/import",
        Modelled,
        None,
        "create: import a package (the documented import, as an API call)",
    ),
    op(
        Kizen,
        "POST /api/smart-connectors/{id}/duplicate",
        Modelled,
        None,
        "duplicateOf: the documented duplication, as an API call",
    ),
    op(
        Kizen,
        "PATCH /api/smart-connectors/{id} {name}",
        Modelled,
        Some(Capability::Rename),
        "rename; move a connector aside while it is replaced",
    ),
    op(
        Kizen,
        "PATCH /api/smart-connectors/{id} {api_name}",
        Modelled,
        Some(Capability::ApiName),
        "move an API name aside while a connector is replaced",
    ),
    op(
        Kizen,
        "PATCH /api/smart-connectors/{id} {active: false}",
        Modelled,
        None,
        "turn off a connector the platform left active",
    ),
    op(
        Kizen,
        "DELETE /api/smart-connectors/{id}",
        Modelled,
        None,
        "prune; the last step of a replace",
    ),
    op(
        Kizen,
        "POST /api/smart-connectors/{id}/checks",
        Modelled,
        Some(Capability::Checks),
        "re-run pre-activation checks",
    ),
    op(
        Kizen,
        "GET /api/catalog",
        Modelled,
        None,
        "resolve references to predict warnings",
    ),
    op(
        AgentStudio,
        "GET /api/v1/plugins",
        Modelled,
        None,
        "list the tenant",
    ),
    op(
        AgentStudio,
        "GET /api/v1/plugins?cursor=…&limit=…",
        Modelled,
        Some(Capability::Paging),
        "list the tenant page by page",
    ),
    op(
        AgentStudio,
        "GET /api/v1/plugins/{id}",
        Modelled,
        None,
        "export: read one plugin",
    ),
    op(
        AgentStudio,
        "POST /api/v1/plugins/{id}/export",
        Modelled,
        None,
        "promotion: the documented export (an installation link), as an API call",
    ),
    op(
        AgentStudio,
        "POST /api/v1/templates",
        Modelled,
        Some(Capability::Templates),
        "create a plugin from git without a promotion source",
    ),
    op(
        AgentStudio,
        "POST /api/v1/install",
        Modelled,
        None,
        "the documented installation wizard, as an API call",
    ),
    op(
        AgentStudio,
        "PATCH /api/v1/plugins/{id} {name}",
        Modelled,
        Some(Capability::Rename),
        "rename",
    ),
    op(
        AgentStudio,
        "PATCH /api/v1/plugins/{id} {active: false}",
        Modelled,
        None,
        "turn off a plugin the platform left active",
    ),
    op(
        AgentStudio,
        "DELETE /api/v1/plugins/{id}",
        Modelled,
        None,
        "prune; the documented update is delete and redeploy",
    ),
    op(
        AgentStudio,
        "GET /api/v1/connectors",
        Modelled,
        None,
        "check connector bindings before installing",
    ),
    op(
        ProductsupCde,
        "GET /connectors/{publicId}",
        Documented,
        None,
        "export: read one connector",
    ),
    op(
        ProductsupCde,
        "POST /connectors/copy",
        Documented,
        None,
        "create: copy a connector body",
    ),
    op(
        ProductsupCde,
        "GET /connectors",
        Modelled,
        None,
        "list the tenant; read back a copy",
    ),
    op(
        ProductsupCde,
        "GET /connectors?from=…&limit=…",
        Modelled,
        Some(Capability::Paging),
        "list the tenant page by page",
    ),
    op(
        ProductsupCde,
        "PATCH /connectors/{publicId} {name}",
        Modelled,
        Some(Capability::Rename),
        "rename the `<name> - Copy` a copy creates; rename",
    ),
    op(
        ProductsupCde,
        "PATCH /connectors/{publicId} {active: false}",
        Modelled,
        None,
        "turn off a connector the platform left active (the documents show no toggle)",
    ),
    op(
        ProductsupCde,
        "DELETE /connectors/{publicId}",
        Modelled,
        None,
        "prune and replace: move a connector to the bin",
    ),
    op(
        ProductsupCde,
        "GET /secrets",
        Modelled,
        Some(Capability::Secrets),
        "block a copy whose secrets are missing before calling the platform",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_switches_capabilities_off_one_by_one() {
        let all = CapabilitySet::all();
        assert!(Capability::ALL.iter().all(|c| all.enabled(*c)));
        let set = all.without(Capability::Rename).without(Capability::Paging);
        assert!(!set.enabled(Capability::Rename));
        assert!(!set.enabled(Capability::Paging));
        assert!(set.enabled(Capability::ApiName));
        assert_eq!(
            set.switched_off(),
            vec![Capability::Rename, Capability::Paging]
        );
    }

    #[test]
    fn every_capability_names_one_modelled_call_per_platform_it_applies_to() {
        for c in Capability::ALL {
            for platform in [Kizen, AgentStudio, ProductsupCde] {
                let declared: Vec<_> = OPERATIONS
                    .iter()
                    .filter(|o| o.platform == platform && o.capability == Some(c))
                    .collect();
                if c.applies_to(platform) {
                    assert_eq!(declared.len(), 1, "{c} on {platform}: {declared:?}");
                    assert_eq!(declared[0].basis, Modelled, "{c} on {platform}");
                    assert_eq!(declared[0].call, c.call(platform), "{c} on {platform}");
                } else {
                    assert!(declared.is_empty(), "{c} on {platform}: {declared:?}");
                }
            }
        }
    }

    /// `docs/platform-api.md` lists every call, so the page and the code cannot drift apart.
    #[test]
    fn the_platform_api_page_lists_every_call() {
        let page = include_str!("../docs/platform-api.md");
        for op in OPERATIONS {
            let basis = match op.basis {
                Documented => "**documented**",
                Modelled => "modelled",
            };
            let capability = op
                .capability
                .map_or_else(|| " ".to_owned(), |c| format!(" `{c}` "));
            let row = format!("| {} | `{}` | {basis} |{capability}|", op.platform, op.call);
            assert!(
                page.contains(&row),
                "docs/platform-api.md lacks the row {row}"
            );
        }
    }

    #[test]
    fn the_key_round_trips_through_serde() {
        for c in Capability::ALL {
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(text, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Capability>(&text).unwrap(), c);
        }
    }
}
