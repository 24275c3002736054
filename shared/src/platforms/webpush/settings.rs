//! Web Push settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::platforms::config::check_api_base;
use serde::{Deserialize, Serialize};

/// The application server's VAPID identity (RFC 8292): the key pair browsers subscribe with
/// (`applicationServerKey`) and every push is signed with, and the contact push services may
/// write to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WebpushSettings {
    /// Uncompressed P-256 public key (65 bytes), base64url. Made with the private key when
    /// both are left out, and kept from the stored config after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vapid_public_key: Option<String>,
    /// P-256 private key (32 bytes), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vapid_private_key: Option<Secret>,
    /// `mailto:` or `https:` contact for the push services (the JWT's `sub`).
    pub subject: String,
    /// Only for tests and private push services: endpoints under this base are accepted besides
    /// public `https://` ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl WebpushSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        let public = self.vapid_public_key.as_deref().map(super::crypto::b64);
        if public.as_ref().is_some_and(|k| !matches!(k, Ok(k) if k.len() == 65 && k[0] == 4)) {
            return Err(Invalid::new("vapid_public_key", "must be an uncompressed P-256 public key, base64url (65 bytes)"));
        }
        let private = self.vapid_private_key.as_ref().map(|k| super::crypto::b64(k.expose()));
        if private.as_ref().is_some_and(|k| !matches!(k, Ok(k) if k.len() == 32)) {
            return Err(Invalid::new("vapid_private_key", "must be a P-256 private key, base64url (32 bytes)"));
        }
        match (public, private) {
            (Some(Ok(public)), Some(Ok(private))) => {
                let alg = &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                if aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(alg, &private, &public).is_err() {
                    return Err(Invalid::new("vapid_private_key", "does not match vapid_public_key"));
                }
            }
            (None, None) => {}
            _ => return Err(Invalid::new("vapid_private_key", "give both VAPID keys, or neither to have a pair made")),
        }
        if !(self.subject.starts_with("mailto:") || self.subject.starts_with("https:")) || self.subject.len() > 256 {
            return Err(Invalid::new("subject", "must be a mailto: or https: contact"));
        }
        check_api_base(&self.api_base)
    }
}

/// Why `id` is not one recipient here, if it is not. Accepted: `USER:SUBSCRIPTION` (a person's user id, and one of their subscriptions: 16 hex digits).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = id.rsplit_once(':').is_some_and(|(user, sub)| {
        crate::domain::check_name("", user, 128).is_ok() && sub.len() == 16 && sub.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    });
    (!ok).then_some("must be USER:SUBSCRIPTION (a person's Web Push subscription; they register it from their browser)")
}
