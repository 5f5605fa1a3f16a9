//! WebSub (W3C Recommendation, 2018): discovery links are made by the
//! renderers and the built set (`crate::build::FeedLinks`); this module is
//! the hub `serve` runs and the pings `export` sends.
//!
//! - `intent.rs`: pure: a subscription request parsed and checked, and the
//!   verification URL.
//! - `address.rs`: pure: the addresses a hub never contacts.
//! - `client.rs`: outbound HTTP and HTTPS, bounded in time and bytes.
//! - `store.rs`: SQLite: subscriptions and pending deliveries.
//! - `retry.rs`: pure: when a failed delivery is tried again.
//! - `signature.rs`: `X-Hub-Signature`.
//! - `hub.rs`: the running hub: its thread, verification, distribution.
//! - `ping.rs`: `hub.mode=publish` pings to external hubs after an export.

mod address;
pub(crate) mod client;
mod hub;
mod intent;
pub(crate) mod ping;
mod retry;
mod signature;
mod store;

pub use client::trust_root_for_tests;
pub(crate) use hub::{FeedBytes, Feeds, Hub};
