//! A notification's way in: accepted ([`notify::accept`] from the API, [`notify::submit`] for
//! Herald's own), planned into deliveries per channel and recipient ([`plan`]), and queued for
//! the dispatcher.

pub mod notify;
pub mod plan;
