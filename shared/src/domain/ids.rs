//! Identifiers and random tokens.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Random bytes from the system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system RNG only fails when the OS cannot provide entropy at all; there is no safe
    // way to continue then.
    aws_lc_rs::rand::fill(&mut buf).expect("system random number generator failed");
    buf
}

/// A 26-character id that sorts by creation time (48-bit milliseconds, then 80 random bits,
/// Crockford base32, the ULID layout), so newest-first listings need no extra index.
pub fn new_id(now: Timestamp) -> String {
    encode_ulid(ulid_value(now))
}

/// `n` ids made at `now` that sort in the order given (the ULID spec's monotonic ids: the
/// random part of the first, then one more each), for a batch whose entries share a millisecond.
pub fn new_ids(now: Timestamp, n: usize) -> Vec<String> {
    let first = ulid_value(now);
    (0..n as u128).map(|i| encode_ulid(first.wrapping_add(i))).collect()
}

/// The milliseconds since the Unix epoch a ULID was made at (its first 48 bits), or `None` if
/// `id` is not a 26-character Crockford base32 ULID such as [`new_id`] makes (upper case, as
/// Herald writes them; the ULID spec's layout).
pub fn ulid_millis(id: &str) -> Option<i64> {
    let b = id.as_bytes();
    if b.len() != 26 || b[0] > b'7' {
        return None;
    }
    let mut ms: i64 = 0;
    for (i, c) in b.iter().enumerate() {
        let v = CROCKFORD.iter().position(|x| x == c)? as i64;
        if i < 10 {
            ms = (ms << 5) | v;
        }
    }
    Some(ms)
}

fn ulid_value(now: Timestamp) -> u128 {
    let ms = now.as_millisecond().max(0) as u128 & ((1 << 48) - 1);
    let rnd = random_bytes::<10>();
    let mut value: u128 = ms << 80;
    for (i, b) in rnd.iter().enumerate() {
        value |= (*b as u128) << (8 * (9 - i));
    }
    value
}

fn encode_ulid(value: u128) -> String {
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (25 - i);
        *slot = CROCKFORD[((value >> shift) & 0x1f) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A URL-safe random token of `N` bytes of entropy (base64url, no padding).
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// A short stable id derived from its parts: the same parts always give the same id.
pub fn stable_id(parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    hex::encode(&digest(&SHA256, joined.as_bytes()).as_ref()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-256 of "n", "c", "r" joined by U+001F, first 12 bytes, as computed by `sha256sum`.
    const PINNED_STABLE_ID: &str = "f3212b87c7d096edfbea1d0d";

    #[test]
    fn ids_sort_by_time() {
        let a = new_id(Timestamp::from_millisecond(1_700_000_000_000).unwrap());
        let b = new_id(Timestamp::from_millisecond(1_700_000_000_001).unwrap());
        assert_eq!(a.len(), 26);
        assert!(a < b);
        let batch = new_ids(Timestamp::from_millisecond(1_700_000_000_000).unwrap(), 100);
        assert!(batch.windows(2).all(|w| w[0] < w[1]) && batch[0][..10] == a[..10], "{batch:?}");
    }

    #[test]
    fn a_ulid_gives_back_its_millisecond() {
        for ms in [0, 1, 1_700_000_000_123, 253_402_000_000_000] {
            assert_eq!(ulid_millis(&new_id(Timestamp::from_millisecond(ms).unwrap())), Some(ms));
        }
        // The ULID spec's example: 01ARZ3NDEKTSV4RRFFQ69G5FAV was made at 1469922850259.
        assert_eq!(ulid_millis("01ARZ3NDEKTSV4RRFFQ69G5FAV"), Some(1_469_922_850_259));
        for not in ["", "R0123456789abcdef01234567", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "01arz3ndektsv4rrffq69g5fav"] {
            assert_eq!(ulid_millis(not), None, "{not}");
        }
    }

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        // Derived, not drawn: two separate derivations from equal parts agree, and the value is
        // pinned, so a change of the derivation (which would re-key stored deliveries) fails here.
        let (parts, same) = (["n", "c", "r"], vec!["n".to_owned(), "c".to_owned(), "r".to_owned()]);
        let same: Vec<&str> = same.iter().map(String::as_str).collect();
        assert_eq!(stable_id(&parts), stable_id(&same));
        assert_eq!(stable_id(&parts), PINNED_STABLE_ID);
        assert_ne!(stable_id(&["n", "c", "r"]), stable_id(&["n", "cr", ""]));
        assert_eq!(random_token::<24>().len(), 32);
    }
}
