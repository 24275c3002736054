//! Web Push (RFC 8030) to the browsers and phones people turned notifications on in: each of a
//! person's subscriptions is a recipient of its own (`USER:ID`), looked up when it is sent to.
//! A message is a small JSON document the page's service worker shows (`title`, `body`, `link`,
//! `icon`, `tag`), cut to fit one 4096-byte record, encrypted per RFC 8291 (`aes128gcm`) and
//! signed with VAPID (RFC 8292) — [`crypto`]. The push service's answer: 201 sent; 404 / 410 the
//! subscription is gone and is removed; 413 too large; 429 wait `Retry-After`; 5xx retry.

pub mod crypto;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::notification::Format;
use crate::domain::secret::Secret;
use crate::domain::{ChannelKind, Invalid, User, Valid, parse_json};
use crate::text::markup::{Flavor, render_markdown};
use crate::text::message::{Message, strip_tags};
use serde_json::{Value, json};
pub use settings::WebpushSettings;
use std::time::Duration;

/// How long a push service keeps an undelivered message (the `TTL` header, seconds): a day.
pub const TTL_SECS: u64 = 86_400;
/// How long a VAPID token is valid (at most 24 hours, RFC 8292 §2).
const VAPID_SECS: i64 = 12 * 3600;

fn settings(channel: &Channel) -> Option<&WebpushSettings> {
    match &channel.settings {
        ChannelSettings::Webpush(w) => Some(w),
        _ => None,
    }
}

/// The first 16 hex digits of the SHA-256 of `s`.
fn digest16(s: &str) -> String {
    hex::encode(&aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes()).as_ref()[..8])
}

/// A subscription's id: [`digest16`] of its endpoint (the same browser subscribing again keeps
/// its id; the page computes it the same way).
pub fn subscription_id(endpoint: &str) -> String {
    digest16(endpoint)
}

/// Why a subscription's endpoint may not be pushed to, if it may not: public `https://` URLs
/// only (a push service), or under the config's `api_base` (a test or private service); never
/// an address on the local network or the machine itself.
pub fn endpoint_problem(s: &WebpushSettings, endpoint: &str) -> Option<&'static str> {
    if let Some(base) = &s.api_base
        && endpoint.starts_with(&format!("{}/", base.trim_end_matches('/')))
    {
        return None;
    }
    let Ok(u) = reqwest::Url::parse(endpoint) else { return Some("is not a URL") };
    let host = u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    let local = host.is_empty()
        || host.parse::<std::net::IpAddr>().is_ok()
        || host == "localhost"
        || [".localhost", ".internal", ".local"].iter().any(|s| host.ends_with(s));
    if u.scheme() != "https" || local || !u.username().is_empty() || u.password().is_some() || endpoint.len() > 1024 {
        return Some("must be a push service's https:// endpoint");
    }
    None
}

/// The document a message becomes: `title`, `body` (plain text), `link`, `icon`, `tag` (the
/// notification, so a newer copy replaces an older one), cut so that it fits one record.
pub fn document(m: &Message) -> Value {
    let body = match m.format {
        Format::Text => m.text.clone(),
        Format::Markdown => render_markdown(&m.text, Flavor::Plain),
        Format::Html => strip_tags(&m.text),
    };
    let title = m.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| crate::text::templates::phrase("webpush.title", m.locale));
    let link = m.link.clone().or_else(|| m.buttons.first().map(|b| b.url.clone()));
    let mut doc = json!({"title": title.chars().take(200).collect::<String>(), "body": body, "tag": m.notification});
    if let Some(l) = link {
        doc["link"] = json!(l);
    }
    if let Some(i) = &m.image {
        doc["image"] = json!(i);
    }
    // Too long for one record: an image or link that alone takes most of it goes first (the
    // text matters more), then the body is shortened (the rest is on the link).
    for (field, most) in [("image", 1024), ("link", 2048)] {
        if doc.to_string().len() > crypto::MAX_PLAINTEXT
            && doc[field].as_str().is_some_and(|v| v.len() > most)
            && let Some(o) = doc.as_object_mut()
        {
            o.remove(field);
        }
    }
    let mut chars: Vec<char> = body.chars().collect();
    while doc.to_string().len() > crypto::MAX_PLAINTEXT && !chars.is_empty() {
        let over = doc.to_string().len() - crypto::MAX_PLAINTEXT;
        let keep = chars.len().saturating_sub(over.max(1) + 1);
        chars.truncate(keep);
        doc["body"] = json!(format!("{}…", chars.iter().collect::<String>()));
    }
    doc
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local, shared (RFC 6598), documentation, benchmarking, reserved, multicast or
/// unspecified, nor an IPv4-mapped or NAT64 form of one.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
                || (a == 192 && b == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                let o = v6.octets();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15])));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0xdb8))
        }
    }
}

/// A resolver that gives only public addresses ([`is_public`]): a subscription's endpoint comes
/// from a browser (anyone with a page link), so a name that resolves to a private address is
/// never connected to — checked on the very addresses the connection uses, so a name that
/// changes its answer between a check and the connection gains nothing.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{} has no public address", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client pushes go through: no redirects, the public-only resolver, ten seconds.
fn push_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(4))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(PublicOnly))
        .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the push client: {e}"))?;
    Ok(CLIENT.get_or_init(|| c))
}

/// `Urgency` (RFC 8030 §5.3): `high` for system notices and node alerts, `normal` otherwise.
fn urgency(ty: &str) -> &'static str {
    if matches!(ty, "system" | "node") { "high" } else { "normal" }
}

/// The Web Push platform.
pub struct Webpush;

impl Platform for Webpush {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webpush
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: WebpushSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Webpush(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    /// Web Push sends to each subscription's own endpoint, never to a configured host.
    fn destination_fields(&self) -> &'static [&'static str] {
        &["api_base"]
    }

    /// A VAPID key pair left out is kept from the stored config, else made: subscriptions are
    /// made with the public key, so it must not change behind them.
    fn complete(&self, settings: &mut ChannelSettings, previous: Option<&ChannelSettings>) -> Valid {
        let ChannelSettings::Webpush(s) = settings else { return Ok(()) };
        if s.vapid_public_key.is_some() {
            return Ok(());
        }
        if let Some(ChannelSettings::Webpush(p)) = previous
            && let (Some(public), Some(private)) = (&p.vapid_public_key, &p.vapid_private_key)
        {
            s.vapid_public_key = Some(public.clone());
            s.vapid_private_key = Some(private.clone());
            return Ok(());
        }
        let (public, private) = crypto::generate_vapid().map_err(|e| Invalid::new("vapid_public_key", e))?;
        s.vapid_public_key = Some(public);
        s.vapid_private_key = Some(Secret::new(private));
        Ok(())
    }

    fn user_ids(&self) -> bool {
        false
    }

    /// The person's subscriptions made with this channel's key (a subscription is bound to the
    /// `applicationServerKey` it was made with).
    fn recipients(&self, channel: &Channel, user: &User) -> Vec<String> {
        user.push.iter().filter(|s| s.channel == channel.name).map(|s| format!("{}:{}", user.id, s.id)).collect()
    }
}

#[async_trait::async_trait]
impl Sender for Webpush {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webpush
    }

    /// Push services publish no limit but answer 429 past theirs: 20 pushes a second per config.
    fn limits(&self, channel: &str, _recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("wp:{channel}"), 20, 1000)]
    }

    fn render(&self, _channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        // The delivery's own topic: a retry replaces its undelivered copy at the push service.
        let topic = digest16(&message.delivery);
        vec![ApiCall::new(recipient, "push", json!({"document": document(message), "urgency": urgency(&message.ty), "topic": topic}))]
    }

    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(s) = settings(channel) else { return SendOutcome::permanent("not a Web Push channel").into() };
        let (Some(public), Some(private)) = (&s.vapid_public_key, &s.vapid_private_key) else {
            return SendOutcome::permanent("the channel has no VAPID keys").into();
        };
        let Some((user, id)) = call.chat.rsplit_once(':') else { return SendOutcome::permanent("not a Web Push recipient").into() };
        let sub = match ctx.memory.push_subscription(user, id).await {
            Ok(Some(sub)) if sub.channel == channel.name => sub,
            Ok(Some(_)) => return SendOutcome::permanent("the subscription was made with another Web Push channel's key").into(),
            Ok(None) => return SendOutcome::permanent("no such subscription (removed, or never registered)").into(),
            Err(e) => return SendOutcome::transient(format!("could not read the subscription: {e}")).into(),
        };
        if let Some(why) = endpoint_problem(s, sub.endpoint.expose()) {
            return SendOutcome::permanent(format!("refused endpoint: it {why}")).into();
        }
        let (Ok(p256dh), Ok(auth)) = (crypto::b64(&sub.p256dh), crypto::b64(sub.auth.expose())) else {
            return SendOutcome::permanent("the subscription's keys are not base64url").into();
        };
        let body = match crypto::encrypt(&p256dh, &auth, call.payload["document"].to_string().as_bytes()) {
            Ok(b) => b,
            Err(e) => return SendOutcome::permanent(e).into(),
        };
        let expires = jiff::Timestamp::now().as_second() + VAPID_SECS;
        let authorization = match crypto::vapid(public, private.expose(), sub.endpoint.expose(), &s.subject, expires) {
            Ok(h) => h,
            Err(e) => return SendOutcome::permanent(e).into(),
        };
        let client = match push_client() {
            Ok(c) => c,
            Err(e) => return SendOutcome::transient(e).into(),
        };
        let res = client
            .post(sub.endpoint.expose())
            .header("ttl", TTL_SECS.to_string())
            .header("urgency", call.payload["urgency"].as_str().unwrap_or("normal"))
            .header("topic", call.payload["topic"].as_str().unwrap_or_default())
            .header(http::header::CONTENT_ENCODING, "aes128gcm")
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::AUTHORIZATION, authorization)
            .body(body)
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => return transport_error(e).into(),
        };
        let (status, headers) = (res.status(), res.headers().clone());
        let outcome = match status.as_u16() {
            200..=299 => SendOutcome::Sent,
            404 | 410 => {
                if let Err(e) = ctx.memory.drop_push_subscription(user, id).await {
                    tracing::warn!(error = %e, "could not remove an expired push subscription");
                }
                SendOutcome::permanent(format!("push service HTTP {}: the subscription is gone; removed", status.as_u16()))
            }
            413 => SendOutcome::permanent("push service HTTP 413: the message is too large"),
            429 => SendOutcome::RateLimited {
                retry_after: super::retry_after(&headers, Duration::from_secs(60)),
                reason: "push service HTTP 429".into(),
            },
            400 | 401 | 403 => SendOutcome::permanent(format!("push service HTTP {}: refused the request or its VAPID signature", status.as_u16())),
            _ => match super::by_status(status, &headers) {
                SendOutcome::Transient { reason } => SendOutcome::transient(format!("push service {reason}")),
                SendOutcome::Permanent { reason, .. } => SendOutcome::permanent(format!("push service {reason}")),
                other => other,
            },
        };
        outcome.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["142.250.74.10", "2a00:1450:4001:80b::200a", "17.253.144.10"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn endpoints_are_push_services_only() {
        let s = WebpushSettings { subject: "mailto:a@b.c".into(), ..Default::default() };
        assert_eq!(endpoint_problem(&s, "https://fcm.googleapis.com/fcm/send/abc"), None);
        assert_eq!(endpoint_problem(&s, "https://web.push.apple.com/QGb"), None);
        for bad in [
            "http://fcm.googleapis.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://metadata.google.internal/x",
            "https://metadata.google.internal./x",
            "https://localhost./x",
            "https://u:p@push.example/x",
            "nope",
        ] {
            assert!(endpoint_problem(&s, bad).is_some(), "{bad}");
        }
        let t = WebpushSettings { api_base: Some("http://127.0.0.1:9".into()), ..s };
        assert_eq!(endpoint_problem(&t, "http://127.0.0.1:9/push/1"), None);
        assert!(endpoint_problem(&t, "http://127.0.0.1:99/push/1").is_some());
    }

    #[test]
    fn a_long_message_is_cut_to_fit_one_record() {
        let m = Message {
            notification: "n1".into(),
            delivery: "d1".into(),
            ty: "announcement".into(),
            title: Some("Hello".into()),
            text: "字".repeat(3000),
            format: Format::Text,
            link: Some("https://example.com/a".into()),
            image: None,
            buttons: Vec::new(),
            silent: false,
            locale: crate::domain::Locale::En,
            merged: false,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let doc = document(&m);
        assert!(doc.to_string().len() <= crypto::MAX_PLAINTEXT);
        assert!(doc["body"].as_str().unwrap().ends_with('…'));
        assert_eq!((doc["title"].as_str(), doc["link"].as_str(), doc["tag"].as_str()), (Some("Hello"), Some("https://example.com/a"), Some("n1")));
    }
}
