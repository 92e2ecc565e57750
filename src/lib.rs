//! ferry: a GitOps reconciler for SaaS connectors.
//!
//! Platform teams keep Kizen SmartConnectors, Agent Studio plugins and Productsup CDE
//! connectors as YAML manifests in git. ferry reads them at a revision, compares them with
//! what each tenant holds, and applies the difference through the platform's own import,
//! copy and duplicate operations, always leaving the connector's active toggle off.
//!
//! Data flow: trigger → [`source`] snapshot → [`manifest`] load and validate → desired
//! state per tenant → live state from a provider → plan → apply → state store → report.

pub mod api;
pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod controller;
pub mod emulator;
pub mod engine;
pub mod lifecycle;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod page;
pub mod plan;
pub mod provider;
pub mod reconciler;
pub mod render;
pub mod report;
pub mod scheduler;
pub mod sensitive;
pub mod server;
pub mod shard;
pub mod source;
pub(crate) mod sql;
pub mod sqltest;
pub mod store;
pub mod webhook;
pub mod window;
