//! A notification's way in: accepted ([`notify::submit`]), planned into deliveries per
//! channel and recipient ([`plan`]), and queued for the dispatcher.

pub mod notify;
pub mod plan;
