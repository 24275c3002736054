//! Secrets: a string whose `Debug` cannot leak it, compared in constant time.

use serde::{Deserialize, Serialize};

/// What a secret reads as wherever it would otherwise be shown (API output, `Debug`).
pub const MASK: &str = "********";

/// A secret value (token, key, password). Serialises as itself so it can be stored; everything
/// that shows values to people (API responses, logs) goes through [`MASK`] instead.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with a presented value (header, query parameter, form field).
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

/// Compares two byte strings without a data-dependent early exit. Both sides are hashed first so
/// that neither the content nor the length of the secret shows in the timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    let (da, db) = (digest(&SHA256, a), digest(&SHA256, b));
    #[allow(deprecated)]
    aws_lc_rs::constant_time::verify_slices_are_equal(da.as_ref(), db.as_ref()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("123456:ABC-super-secret");
        assert_eq!(format!("{s:?}"), MASK);
        assert!(!format!("{:?}", Some(&s)).contains("super"));
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("abcdefghijklmnop");
        assert!(s.matches("abcdefghijklmnop"));
        assert!(!s.matches("abcdefghijklmno"));
        assert!(!s.matches("abcdefghijklmnoq"));
        assert!(!s.matches(""));
    }
}
