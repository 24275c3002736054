//! Web Push settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::platforms::config::plain_id_problem;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WebpushSettings {
    pub vapid_public_key: String,
    pub vapid_private_key: Secret,
    pub subject: String,
}

impl WebpushSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        if b64.decode(self.vapid_public_key.trim_end_matches('=')).map(|k| k.len() == 65 && k[0] == 4) != Ok(true) {
            return Err(Invalid::new("vapid_public_key", "must be an uncompressed P-256 public key, base64url (65 bytes)"));
        }
        if b64.decode(self.vapid_private_key.expose().trim_end_matches('=')).map(|k| k.len() == 32) != Ok(true) {
            return Err(Invalid::new("vapid_private_key", "must be a P-256 private key, base64url (32 bytes)"));
        }
        if !(self.subject.starts_with("mailto:") || self.subject.starts_with("https:")) {
            return Err(Invalid::new("subject", "must be a mailto: or https: contact"));
        }
        Ok(())
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: 1-128 of `A-Z a-z 0-9 _ - . : @` (a subscription owner).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    plain_id_problem(id)
}
