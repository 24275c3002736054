//! The cryptography of Web Push, on aws-lc-rs: message encryption (RFC 8291, "Message
//! Encryption for Web Push", with the `aes128gcm` content coding of RFC 8188) and the VAPID
//! `Authorization` header (RFC 8292: an ES256 JWT and the application server's public key).
//! Keys travel as base64url without padding, as browsers give them (`p256dh`, `auth`) and take
//! them (`applicationServerKey`).

use aws_lc_rs::{aead, agreement, hkdf, signature};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

/// The record size written in the header (RFC 8188 §2.1): one record of at most this many bytes.
pub const RECORD_SIZE: u32 = 4096;
/// The header: salt (16), record size (4), key id length (1), the server's public key (65).
pub const HEADER_LEN: usize = 86;
/// The largest plaintext that fits one 4096-byte record: minus the header, the 16-byte tag and
/// the padding delimiter (RFC 8291 §4).
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - 16 - 1;

/// Decodes base64url, with or without padding.
pub fn b64(s: &str) -> Result<Vec<u8>, String> {
    B64.decode(s.trim_end_matches('=')).map_err(|_| "not base64url".to_owned())
}

/// Whether `key` is an uncompressed P-256 public key (65 bytes) of a point on the curve, as a
/// browser's `p256dh` must be.
pub fn is_p256_public_key(key: &[u8]) -> bool {
    key.len() == 65 && key[0] == 4 && agreement::ParsedPublicKey::try_from(agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, key)).is_ok()
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): `len` bytes from `ikm` under `salt` and `info`.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Result<Vec<u8>, String> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let okm = prk.expand(info, Len(len)).map_err(|_| "HKDF expand failed")?;
    let mut out = vec![0; len];
    okm.fill(&mut out).map_err(|_| "HKDF fill failed")?;
    Ok(out)
}

/// Encrypts `plaintext` for a subscription (`ua_public`: its `p256dh`, 65 bytes; `auth`: its
/// auth secret, 16 bytes) with a fresh ephemeral key and salt: the request body, one
/// `aes128gcm` record. Errors: a malformed subscription key, or a plaintext past [`MAX_PLAINTEXT`].
pub fn encrypt(ua_public: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let key = agreement::PrivateKey::generate(&agreement::ECDH_P256).map_err(|_| "could not make a key")?;
    encrypt_with(ua_public, auth, plaintext, &key, crate::domain::ids::random_bytes::<16>())
}

/// [`encrypt`] with the application server's ephemeral key and the salt given (RFC 8291 §3.3,
/// §3.4; tests inject the Appendix A values).
pub fn encrypt_with(ua_public: &[u8], auth: &[u8], plaintext: &[u8], as_key: &agreement::PrivateKey, salt: [u8; 16]) -> Result<Vec<u8>, String> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(format!("the message is {} bytes; Web Push carries at most {MAX_PLAINTEXT}", plaintext.len()));
    }
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err("the subscription's p256dh is not an uncompressed P-256 key".into());
    }
    if auth.len() != 16 {
        return Err("the subscription's auth secret is not 16 bytes".into());
    }
    let as_public = as_key.compute_public_key().map_err(|_| "could not derive the public key")?;
    let as_public = as_public.as_ref();
    let ecdh = agreement::agree(
        as_key,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public),
        "the subscription's p256dh is not a valid P-256 point",
        |s| Ok(s.to_vec()),
    )?;
    // IKM = HKDF(salt = auth, ikm = ecdh, info = "WebPush: info" 0x00 ua_public as_public, 32).
    let ikm = hkdf(auth, &ecdh, &[b"WebPush: info\0", ua_public, as_public], 32)?;
    let cek = hkdf(&salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], 16)?;
    let nonce = hkdf(&salt, &ikm, &[b"Content-Encoding: nonce\0"], 12)?;
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| "AES key")?);
    let nonce = aead::Nonce::try_assume_unique_for_key(&nonce).map_err(|_| "nonce")?;
    // One record, the last: the plaintext and its 0x02 delimiter, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    record.push(2);
    key.seal_in_place_append_tag(nonce, aead::Aad::empty(), &mut record).map_err(|_| "AES-GCM failed")?;
    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// A new VAPID key pair: (public key, 65 bytes uncompressed; private key, 32 bytes), base64url.
pub fn generate_vapid() -> Result<(String, String), String> {
    use aws_lc_rs::encoding::AsBigEndian;
    use signature::KeyPair;
    let pair = signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| "could not make a VAPID key")?;
    let private = pair.private_key().as_be_bytes().map_err(|_| "could not read the VAPID key")?;
    Ok((B64.encode(pair.public_key().as_ref()), B64.encode(private.as_ref())))
}

/// The origin of `endpoint` (`scheme://host[:port]`), the JWT's `aud` (RFC 8292 §2).
pub fn audience(endpoint: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(endpoint).map_err(|_| "the endpoint is not a URL")?;
    let origin = u.origin();
    if !origin.is_tuple() {
        return Err("the endpoint has no origin".into());
    }
    Ok(origin.ascii_serialization())
}

/// The `Authorization` header for a push to `endpoint` (RFC 8292 §3): `vapid t=<JWT>, k=<key>`,
/// the JWT ES256-signed (the JOSE form, `r ‖ s`) with claims `aud` (the endpoint's origin),
/// `exp` (`expires`, Unix seconds; at most 24 hours ahead) and `sub` (the contact).
pub fn vapid(public_key: &str, private_key: &str, endpoint: &str, subject: &str, expires: i64) -> Result<String, String> {
    let pair =
        signature::EcdsaKeyPair::from_private_key_and_public_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &b64(private_key)?, &b64(public_key)?)
            .map_err(|_| "the VAPID keys do not form a P-256 key pair")?;
    let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
    let claims = B64.encode(json!({"aud": audience(endpoint)?, "exp": expires, "sub": subject}).to_string());
    let input = format!("{header}.{claims}");
    let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).map_err(|_| "ES256 signing failed")?;
    Ok(format!("vapid t={input}.{}, k={public_key}", B64.encode(sig.as_ref())))
}

/// Checks a JWT's ES256 signature under `public_key` (base64url, 65 bytes) and returns its
/// claims: what a push service does with the VAPID header (RFC 8292 §4.2).
pub fn verify_jwt(jwt: &str, public_key: &str) -> Result<serde_json::Value, String> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return Err("not a JWT".into()) };
    let key = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, b64(public_key)?);
    key.verify(format!("{h}.{c}").as_bytes(), &b64(s)?).map_err(|_| "the signature does not verify")?;
    serde_json::from_slice(&b64(c)?).map_err(|_| "the claims are not JSON".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Vec<u8> {
        b64(s).unwrap()
    }

    #[test]
    fn rfc_8291_appendix_a_byte_for_byte() {
        let as_key = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &d("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let salt: [u8; 16] = d("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            &d("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
            &d("BTBZMqHH6r4Tts7J_aSIgg"),
            b"When I grow up, I want to be a watermelon",
            &as_key,
            salt,
        )
        .unwrap();
        assert_eq!(
            B64.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn rfc_8292_example_token_verifies() {
        let t = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
        let k = "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
        let claims = verify_jwt(t, k).unwrap();
        assert_eq!(claims, json!({"aud": "https://push.example.net", "exp": 1453523768, "sub": "mailto:push@example.com"}));
        let mut forged = t.to_owned();
        forged.replace_range(t.len() - 3.., "AAA");
        assert!(verify_jwt(&forged, k).is_err());
    }

    #[test]
    fn a_generated_key_signs_a_header_that_verifies() {
        let (public, private) = generate_vapid().unwrap();
        assert_eq!((d(&public).len(), d(&private).len()), (65, 32));
        let h = vapid(&public, &private, "https://push.example.net:8443/p/abc?x=1", "mailto:ops@example.com", 1_800_000_000).unwrap();
        let (t, k) = h.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, public);
        let claims = verify_jwt(t, k).unwrap();
        assert_eq!(claims, json!({"aud": "https://push.example.net:8443", "exp": 1_800_000_000, "sub": "mailto:ops@example.com"}));
        assert!(t.starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9."), "the header as RFC 8292 writes it");
    }

    #[test]
    fn bad_subscriptions_and_big_messages_are_refused() {
        let auth = [7u8; 16];
        let (public, _) = generate_vapid().unwrap();
        assert!(encrypt(&d(&public), &auth, &vec![b'x'; MAX_PLAINTEXT]).is_ok());
        assert!(encrypt(&d(&public), &auth, &vec![b'x'; MAX_PLAINTEXT + 1]).is_err());
        assert!(encrypt(&[4; 65], &auth, b"hi").is_err(), "not a point on the curve");
        assert!(!is_p256_public_key(&[4; 65]) && is_p256_public_key(&d(&public)));
        assert!(encrypt(&d(&public), &auth[..15], b"hi").is_err());
    }
}
