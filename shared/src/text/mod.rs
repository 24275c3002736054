//! Words and markup: the built-in wording in each language ([`templates`]) and the host's text
//! made safe for each platform's markup ([`markup`]).

pub mod markup;
pub mod message;
pub mod templates;
