//! Secrets: a string whose `Debug` and serialization cannot leak it, compared in constant time.
//! The one place that must keep the value (the store) opts in with [`exposed`], as the
//! `secrecy` crate's `SerializableSecret` makes its callers opt in.

use serde::{Deserialize, Serialize, Serializer};
use std::cell::Cell;

/// What a secret reads as wherever it would otherwise be shown (API output, `Debug`).
pub const MASK: &str = "********";

/// A secret value (token, key, password). Serializes as [`MASK`] (an empty one as `""`), so an
/// API response, a log line or an error built from a record that holds it shows the mask; the
/// value itself is written only inside [`exposed`]. Deserializes from the plain string.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

thread_local! {
    static EXPOSED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a serialization, synchronous) with every [`Secret`] serializing as its value: what
/// the store does when it writes a record, and nothing else.
pub fn exposed<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EXPOSED.with(|e| e.set(self.0));
        }
    }
    let _reset = Reset(EXPOSED.with(|e| e.replace(true)));
    f()
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() || EXPOSED.with(Cell::get) { serializer.serialize_str(&self.0) } else { serializer.serialize_str(MASK) }
    }
}

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
    fn serializes_as_the_mask_unless_the_caller_opts_in() {
        let s = Secret::new("123456:ABC-super-secret");
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{MASK}\""));
        assert_eq!(exposed(|| serde_json::to_string(&s).unwrap()), "\"123456:ABC-super-secret\"");
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{MASK}\""), "opting in ends with the call");
        assert_eq!(serde_json::to_string(&Secret::default()).unwrap(), "\"\"");
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
