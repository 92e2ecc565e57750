//! The active-toggle guard every create and duplicate ends with.
//!
//! This module owns one rule: after the platform created an object, ferry looks at its
//! `active` flag (in the create's answer when the answer carries it, else in a read-back),
//! and if it is active, turns it off and reports [`Error::ActivatedByPlatform`]. It must
//! never turn a toggle on.

use serde::de::DeserializeOwned;

use super::Provider;
use super::error::{Error, Operation, Result, Scope};
use super::http::Endpoint;
use crate::model::{Created, LiveSummary, Warning};

/// What a create answered (`answer`, whose `active` flag is `active`) when it carries the
/// flag, else the new object `id` read back (`GET {collection}/{id}`).
pub(crate) async fn answered_or_read_back<D: DeserializeOwned>(
    api: &Endpoint,
    collection: &str,
    id: &str,
    active: Option<bool>,
    answer: D,
) -> Result<D> {
    match active {
        Some(_) => Ok(answer),
        None => {
            let scope = api.scope(Operation::ReadBack, Some(id));
            api.get_object(&scope, collection, id).await
        }
    }
}

/// The [`Created`] of a new object whose `summary` is the create's answer or a
/// read-back. Fails with [`Error::ActivatedByPlatform`] (after turning the object off) when
/// the summary says the platform left it active.
pub(crate) async fn created<P: Provider + ?Sized>(
    provider: &P,
    scope: &Scope,
    summary: LiveSummary,
    warnings: Vec<Warning>,
) -> Result<Created> {
    if !summary.active {
        return Ok(Created {
            id: summary.id.clone(),
            summary,
            warnings,
        });
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
