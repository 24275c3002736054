//! Herald's shared crate: the domain, its ports (store, queue, clock, senders) with their AWS and
//! embedded adapters, the platform modules, and the handlers every function and the local runner
//! call.

pub mod clock;
pub mod ids;
pub mod queue;
pub mod secret;
pub mod store;
pub mod domain;
pub mod repo;
pub mod routing;
pub mod templates;
pub mod api;
pub mod app;
pub mod channels;
pub mod dispatch;
pub mod http;
pub mod job;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod pacing;
pub mod lambda;
pub mod local;
