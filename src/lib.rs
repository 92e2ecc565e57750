//! ferry: a GitOps reconciler for SaaS connectors.
//!
//! Platform teams keep Kizen SmartConnectors, Agent Studio plugins and Productsup CDE
//! connectors as YAML manifests in git. ferry reads them at a revision, compares them with
//! what each tenant holds, and applies the difference through the platform's own import,
//! copy and duplicate operations, always leaving the connector's active toggle off.
//!
//! Data flow: trigger ([`daemon`], [`http`], the CLI) → [`source`] snapshot → [`manifest`]
//! load and validate → [`desired`] state per tenant → live state from a [`provider`] →
//! [`plan`] → [`apply`] → [`store`] → [`report`] and [`notify`]. [`engine`] runs one tenant's pass for
//! every command. `docs/architecture.md` maps every concept to its file.

pub mod apply;
pub mod backoff;
pub mod capability;
pub mod cli;
pub(crate) mod client;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod desired;
pub mod diagnostic;
pub mod drift;
pub mod emulator;
pub mod encode;
pub mod engine;
pub mod export;
pub mod gate;
pub mod http;
pub mod lock;
pub mod log;
pub mod manifest;
pub mod metrics;
pub mod model;
pub(crate) mod names;
pub mod notify;
pub mod plan;
pub mod printable;
pub mod provider;
pub mod recovery;
pub mod render;
pub mod report;
pub mod review;
pub mod sensitive;
pub mod source;
pub(crate) mod sql;
pub mod sqltest;
pub mod store;
pub mod yaml;
