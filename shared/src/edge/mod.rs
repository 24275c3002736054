//! Where requests and events come in: the one HTTP router of every route ([`router`]), the
//! Lambda glue ([`lambda`]) and the local runner ([`local`]).

pub mod lambda;
pub mod local;
pub mod pages;
pub mod router;
