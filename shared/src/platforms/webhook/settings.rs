//! the generic webhook settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::check_url;
use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::platforms::config::plain_id_problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// Signs each body: `X-Herald-Signature: sha256=<hex HMAC-SHA256>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Extra headers (values are treated as secrets: they often carry credentials).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
}

impl WebhookSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        check_url("url", &self.url)?;
        for name in self.headers.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Invalid::new(format!("headers.{name}"), "is not a valid header name"));
            }
        }
        for (name, value) in &self.headers {
            if http::HeaderValue::from_str(value.expose()).is_err() {
                return Err(Invalid::new(format!("headers.{name}"), "is not a valid header value"));
            }
        }
        if self.secret.as_ref().is_some_and(Secret::is_empty) {
            return Err(Invalid::new("secret", "must not be empty (leave it out instead)"));
        }
        Ok(())
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: 1-128 of `A-Z a-z 0-9 _ - . : @` (a person's webhook id, or `url` for the channel's own).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    plain_id_problem(id)
}
