//! The planner: a pure function from (desired, live, inventory, policy) to a [`Plan`].
//!
//! `plan` is data. The CLI's `plan` renders it (see `render`); `apply` and the daemon
//! execute the very same value. No other code path decides what to change in a tenant.
//!
//! This module owns the plan's types ([`Plan`], [`Action`], [`Op`], [`BlockReason`], …), the
//! inputs the planner needs besides the manifests ([`InventoryEntry`], [`LiveView`],
//! [`Policy`]), and the two functions callers use, in this order:
//!
//! 1. [`needs_export`]: given the tenant's one list call, which objects must be exported
//!    before planning. A reconcile where nothing changed needs none (invariant 7).
//! 2. [`plan()`]: the actions, in a deterministic order, and the drift found.
//!
//! It does no I/O, reads no clock and calls no provider: windows are decided by the caller
//! ([`crate::plan::window::decide`]) and passed in the [`Policy`], catalogs are looked up
//! beforehand, and exports arrive in the [`LiveView`].
//!
//! # Rules
//!
//! - Identity is `metadata.name` ([`crate::model::Desired::connector`]) ↔ live id, through
//!   the inventory. `spec.name` is the platform-side conflict key.
//! - Content is compared by hash of the fields ferry owns; server-owned fields (ids,
//!   timestamps, owner, status, active, draft) are not in [`crate::model::Body`] at all, so
//!   turning the active toggle on is never drift.
//! - Only the name changed → [`Op::Rename`]. Content changed → [`Op::Replace`] (the
//!   platforms have no in-place update). Object deleted by a person → [`Op::Create`] again.
//!   Live content differs from what ferry last applied → a [`DriftItem`], and a replace
//!   only when the tenant heals drift.
//! - A name taken by an object ferry does not manage follows `onConflict`: fail (blocked),
//!   adopt ([`Op::Adopt`], followed by a replace when the content differs), replace.
//! - Prune touches only objects ferry created whose connector left git, and only when the
//!   tenant prunes.
//! - A tenant that already holds git's content gets a noop that records it, however it got
//!   there (a person renamed a CDE copy, or made git's change by hand).
//! - Gates, checked in this order, turn a change into [`Op::Blocked`]: a modelled
//!   capability the tenant switched off with no documented alternative (a manual step),
//!   what the platform cannot take (draft or webhook plugin, cross-region promotion,
//!   missing binding or secret, sensitive sample data for another business), promotion
//!   (content not yet applied cleanly in the source tenant), then the sync window. Noops
//!   stay noops.
//! - Capabilities ([`crate::capability`]): every action lists the modelled capabilities it
//!   relies on ([`Action::modelled`]). With one switched off the planner takes the
//!   documented flow where there is one: a Kizen replace deletes before it imports, a CDE
//!   copy keeps its `<name> - Copy` until a person renames it, a CDE secret check is left
//!   to the copy's own error. Agent Studio replaces always delete and redeploy, as
//!   documented.
//!
//! # Caveats
//!
//! - A Kizen `duplicateOf` connector is created by duplicating the named connector, so its
//!   first content is the source's. ferry records the manifest's hash as applied; from then
//!   on the connector is reconciled like any other (a later change to the manifest replaces
//!   it by import).
//! - A drifted object that is not healed is exported on every reconcile, so that the drift
//!   stays reported until someone resolves it.

mod planner;
pub mod saved;
#[doc(hidden)]
pub mod testing;
mod types;
pub mod window;

#[cfg(test)]
mod tests;

pub use planner::{needs_export, plan};
pub use types::{
    Action, BlockReason, CreateVia, DriftItem, InventoryEntry, LiveView, Op, OpKind, Plan, Policy,
    Promotion, ReplaceCause, ReplaceStrategy, SensitiveFile, Summary,
};
