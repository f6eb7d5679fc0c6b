//! The webhook-timer service's library: everything the Lambda functions share.
//!
//! A timer travels: `POST /timers` → [`api::create_timer`] validates it ([`domain::NewTimer`])
//! and [`service::Timers`] stores it in its due-minute bucket ([`store`]); every minute the
//! sweeper runs [`sweep::Sweeper::sweep`], which lists the due buckets, claims each timer with a
//! conditional write, calls its URL ([`webhook`]) and records the outcome.
//! Nothing here knows it runs in Lambda.

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod ping;
pub mod request;
pub mod service;
pub mod signing;
pub mod store;
pub mod sweep;
pub mod target;
pub mod telemetry;
pub mod webhook;
