//! WXBizMsgCrypt, WeCom's callback encryption: `msg_signature` is the lowercase hex SHA-1 of
//! the sorted `[token, timestamp, nonce, encrypted]`; the payload is AES-256-CBC (key = the
//! base64 `EncodingAESKey`, IV = its first 16 bytes) over `random(16) ‖ len(u32 BE) ‖ msg ‖
//! receive_id`, padded PKCS#7-style to a multiple of 32 (stripped by hand: 1 ≤ pad ≤ 32).

use aws_lc_rs::cipher::{AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::iv::FixedLength;
use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

const BLOCK: usize = 32;

/// Standard base64 that, like WeCom's own samples, ignores non-zero trailing bits.
const B64: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the EncodingAESKey is not 43 characters of base64")]
    BadKey,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the payload is not valid base64 or not whole blocks")]
    BadPayload,
    #[error("the padding is invalid")]
    BadPadding,
    #[error("the length field does not fit the payload")]
    BadLength,
    #[error("the payload is for another corp or suite")]
    WrongReceiver,
    #[error("the message is not UTF-8")]
    NotUtf8,
}

/// One callback config's crypto.
#[derive(Clone)]
pub struct Crypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto").field("receive_id", &self.receive_id).finish_non_exhaustive()
    }
}

impl Crypto {
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::BadKey);
        }
        let bytes = B64.decode(format!("{encoding_aes_key}=")).map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self { token: token.to_owned(), key, receive_id: receive_id.to_owned() })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// `msg_signature` over a payload.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypted];
        parts.sort_unstable();
        hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, parts.concat().as_bytes()).as_ref())
    }

    /// Checks a presented signature in constant time.
    pub fn verify(&self, signature: &str, timestamp: &str, nonce: &str, encrypted: &str) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypted);
        if crate::domain::secret::constant_time_eq(expected.as_bytes(), signature.to_ascii_lowercase().as_bytes()) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Decrypts a payload and checks its length field and receiver.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CryptoError> {
        let mut buf = B64.decode(encrypted.trim()).map_err(|_| CryptoError::BadPayload)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::BadPayload);
        }
        let key = UnboundCipherKey::new(&AES_256, &self.key).map_err(|_| CryptoError::BadKey)?;
        let dec = DecryptingKey::cbc(key).map_err(|_| CryptoError::BadKey)?;
        let plain = dec.decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(self.iv()))).map_err(|_| CryptoError::BadPayload)?;
        let pad = *plain.last().ok_or(CryptoError::BadPadding)? as usize;
        if !(1..=BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptoError::BadPadding);
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(CryptoError::BadLength);
        }
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(CryptoError::BadLength);
        }
        let (msg, receiver) = rest.split_at(len);
        if receiver != self.receive_id.as_bytes() {
            return Err(CryptoError::WrongReceiver);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    /// Encrypts `msg` with the given 16-byte random prefix (injected, so tests are exact).
    pub fn encrypt_with(&self, msg: &str, random: [u8; 16]) -> Result<String, CryptoError> {
        let mut buf = Vec::with_capacity(msg.len() + self.receive_id.len() + 52);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(self.receive_id.as_bytes());
        let pad = BLOCK - buf.len() % BLOCK;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let key = UnboundCipherKey::new(&AES_256, &self.key).map_err(|_| CryptoError::BadKey)?;
        let enc = EncryptingKey::cbc(key).map_err(|_| CryptoError::BadKey)?;
        enc.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(FixedLength::from(self.iv()))).map_err(|_| CryptoError::BadPayload)?;
        Ok(B64.encode(&buf))
    }

    /// The encrypted passive-reply envelope for `msg`, as WeCom expects it.
    pub fn reply_with(&self, msg: &str, timestamp: &str, nonce: &str, random: [u8; 16]) -> Result<String, CryptoError> {
        let encrypted = self.encrypt_with(msg, random)?;
        let signature = self.signature(timestamp, nonce, &encrypted);
        Ok(format!(
            "<xml>\n<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official WXBizMsgCrypt sample (platforms.md §2.7).
    fn official() -> Crypto {
        Crypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7").unwrap()
    }

    // wechatpy's tests/test_crypto.py (WeCom variant).
    fn wechatpy() -> Crypto {
        Crypto::new("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a").unwrap()
    }

    #[test]
    fn derives_the_aes_key_from_the_encoding_aes_key() {
        assert_eq!(hex::encode(official().key), "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760");
        assert_eq!(Crypto::new("t", "short", "x").unwrap_err(), CryptoError::BadKey);
    }

    #[test]
    fn verifies_and_decrypts_the_official_url_check() {
        let c = official();
        let echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        c.verify("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", echostr).unwrap();
        assert_eq!(c.decrypt(echostr).unwrap(), "1616140317555161061");
    }

    #[test]
    fn verifies_and_decrypts_the_official_message() {
        let c = official();
        let enc = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
        c.verify("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", enc).unwrap();
        let msg = c.decrypt(enc).unwrap();
        assert_eq!(msg.len(), 284);
        assert!(msg.starts_with("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>"));
        assert!(msg.contains("<Content><![CDATA[hello]]></Content>") && msg.contains("<MsgId>4561255354251345929</MsgId>"));
    }

    #[test]
    fn verifies_wechatpys_check_and_refuses_a_changed_nonce() {
        let c = wechatpy();
        let echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        c.verify("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", echostr).unwrap();
        assert_eq!(c.decrypt(echostr).unwrap(), "5927782489442352469");
        assert_eq!(c.verify("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374424", echostr), Err(CryptoError::BadSignature));
    }

    #[test]
    fn decrypts_wechatpys_message() {
        let c = wechatpy();
        let enc = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        c.verify("74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294", enc).unwrap();
        let msg = c.decrypt(enc).unwrap();
        assert!(msg.contains("<Content><![CDATA[test]]></Content>") && msg.contains("messense") && msg.contains("4363689963896700987"));
    }

    #[test]
    fn encrypts_wechatpys_passive_reply_exactly() {
        let c = wechatpy();
        let plain = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let random: [u8; 16] = *b"1234567890123456";
        let enc = c.encrypt_with(plain, random).unwrap();
        assert_eq!(
            enc,
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
        );
        let reply = c.reply_with(plain, "1411525903", "461056294", random).unwrap();
        assert!(reply.contains("<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>"), "{reply}");
        assert!(
            reply.starts_with("<xml>\n<Encrypt><![CDATA[9s4gMv99")
                && reply.ends_with("<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>")
        );
        assert_eq!(c.decrypt(&enc).unwrap(), plain);
    }

    #[test]
    fn refuses_tampered_or_foreign_payloads_without_panicking() {
        let c = official();
        let other = Crypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "another-corp").unwrap();
        let enc = c.encrypt_with("hello", [7; 16]).unwrap();
        assert_eq!(other.decrypt(&enc), Err(CryptoError::WrongReceiver));
        assert_eq!(c.decrypt("not base64!"), Err(CryptoError::BadPayload));
        assert_eq!(c.decrypt("AAAA"), Err(CryptoError::BadPayload));
        // Any flipped byte: CBC alone may still decrypt to something (it has no integrity), so
        // what stops a tampered message is the signature over the ciphertext, which must fail
        // for every one; the decryption itself never panics and never yields the original.
        let (ts, nonce) = ("1409659813", "1372623149");
        let sig = c.signature(ts, nonce, &enc);
        assert_eq!(c.verify(&sig, ts, nonce, &enc), Ok(()));
        let mut raw = B64.decode(&enc).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 0x55;
            let tampered = B64.encode(&raw);
            assert_eq!(c.verify(&sig, ts, nonce, &tampered), Err(CryptoError::BadSignature), "byte {i}");
            assert_ne!(c.decrypt(&tampered).as_deref(), Ok("hello"), "byte {i}");
            raw[i] ^= 0x55;
        }
        assert!(c.decrypt(&B64.encode(vec![0u8; 32])).is_err());
    }
}
