//! The active-toggle guard every create and duplicate ends with.
//!
//! This module owns one rule: after the platform created an object, ferry looks at its
//! `active` flag (in the create's answer when the answer carries it, else in a read-back),
//! and if it is active, turns it off and reports [`Error::ActivatedByPlatform`]. It must
//! never turn a toggle on.

use super::Provider;
use super::error::{Error, Result, Scope};
use crate::model::LiveSummary;

/// Fail with [`Error::ActivatedByPlatform`] (after turning the object off) when `summary`
/// (the create's answer or a read-back) says the platform left it active.
pub(crate) async fn ensure_inactive<P: Provider + ?Sized>(
    provider: &P,
    scope: &Scope,
    summary: &LiveSummary,
) -> Result<()> {
    if !summary.active {
        return Ok(());
    }
    tracing::warn!(
        tenant = %scope.tenant,
        platform = %scope.platform,
        id = %summary.id,
        "the platform created an object with its active toggle on; turning it off"
    );
    let deactivation_error = provider
        .deactivate(&summary.id)
        .await
        .err()
        .map(|err| err.to_string());
    Err(Error::ActivatedByPlatform {
        scope: Box::new(scope.clone()),
        id: summary.id.clone(),
        deactivation_error,
    })
}
