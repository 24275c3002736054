//! Herald's shared crate. The folders follow the two paths through Herald, each importing only
//! what lies below it:
//!
//! - a notification: [`api`] → [`routing`] (accept, plan deliveries) → [`queue`] → [`dispatch`]
//!   → [`platforms`] (render, call, read the answer);
//! - a message to the bot: [`receive`] (verify, parse, deduplicate) → [`bot`] (→ [`relay`] for a
//!   host-app command) → the passive reply, or [`queue`] → [`dispatch`] → [`platforms`].
//!
//! Under both: [`domain`] (the records and their validation), [`text`] (wording and markup),
//! [`store`] and [`queue`] (ports with AWS and embedded adapters), [`app`] (the dependencies a
//! handler gets). [`jobs`] are the scheduled ones; [`edge`] is where requests and events come in
//! (the HTTP router, Lambda, the local runner).

pub mod api;
pub mod app;
pub mod bot;
pub mod dispatch;
pub mod domain;
pub mod edge;
pub mod http;
pub mod jobs;
pub mod platforms;
pub mod queue;
pub mod receive;
pub mod relay;
pub mod routing;
pub mod store;
pub mod text;

/// Locks a mutex, going on after a panic elsewhere poisoned it: what these locks guard (caches,
/// counters, the in-process queue) is whole between statements, and one failed request must not
/// stop every later one.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
