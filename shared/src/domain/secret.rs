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

/// Secrets shorter than this are not redacted from free text: they would blank out ordinary
/// words (a one-letter test secret), and a value that short protects nothing anyway.
pub const MIN_REDACTED_LEN: usize = 4;

/// `text` with every occurrence of each of `secrets` replaced by [`MASK`]: the value as it is,
/// percent-encoded (as it appears in a URL a platform echoes) and JSON-escaped. Longer secrets
/// are replaced first, so a secret that contains another is masked whole. Values shorter than
/// [`MIN_REDACTED_LEN`] bytes are left alone. Linear in `text` per secret form.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut forms: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= MIN_REDACTED_LEN) {
        forms.push((*s).to_owned());
        let encoded: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
        forms.push(encoded.replace('+', "%20"));
        forms.push(encoded);
        if let Ok(json) = serde_json::to_string(s) {
            forms.push(json.trim_matches('"').to_owned());
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut out = text.to_owned();
    for f in forms.iter().filter(|f| f.len() >= MIN_REDACTED_LEN) {
        if out.contains(f.as_str()) {
            out = out.replace(f.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_form_of_a_secret_from_text() {
        let token = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
        let text = format!("500: POST /bot{token}/sendMessage failed; retry /bot123456%3AABC-DEF1234ghIkl-zyx57W2v1u123ew11/x");
        let out = redact(&text, &[token]);
        assert!(!out.contains("ABC-DEF1234"), "{out}");
        assert_eq!(out.matches(MASK).count(), 2);
        assert_eq!(redact("a short s", &["s"]), "a short s");
        assert_eq!(redact("key=ab\"cd!", &["ab\"cd"]), format!("key={MASK}!"));
    }

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
