//! Renderings of plans: [`text()`] for terminals (terraform-plan-like, optionally coloured,
//! with unified diffs), [`json()`] for machines and [`markdown()`] for pull-request comments.
//!
//! Renderers only format what the planner decided; they never decide anything, never read
//! the tenant and never print secrets (plans hold none). Sample files are shown as line
//! counts only in every rendering: the platform warns they may hold personal data, and
//! their live side comes from the tenant rather than from git.

mod diff;
mod json;
mod markdown;
mod text;
mod view;

pub(crate) use diff::line_style;
pub use diff::{DiffSection, drift_diff};
pub use json::{json, json_of_changes};
pub use markdown::{PlannedFrom, markdown, markdown_from};
pub use text::text;
