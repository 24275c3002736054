//! Where requests and events come in: the HTTP types and router shared by every HTTP function
//! and the local runner ([`http`]), the Lambda glue ([`lambda`]) and the local runner ([`local`]).

pub mod lambda;
pub mod local;
pub mod router;
