//! Herald's shared crate: the domain, its ports (store, queue, clock, senders) with their AWS and
//! embedded adapters, the platform modules, and the handlers every function and the local runner
//! call.

pub mod api;
pub mod app;
pub mod bot;
pub mod channels;
pub mod clock;
pub mod dispatch;
pub mod domain;
pub mod http;
pub mod ids;
pub mod job;
pub mod jobs;
pub mod lambda;
pub mod local;
pub mod markup;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod pacing;
pub mod queue;
pub mod repo;
pub mod routing;
pub mod secret;
pub mod store;
pub mod templates;

/// Locks a mutex, going on after a panic elsewhere poisoned it: what these locks guard (caches,
/// counters, the in-process queue) is whole between statements, and one failed request must not
/// stop every later one.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
