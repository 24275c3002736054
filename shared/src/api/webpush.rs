//! Web Push subscriptions: the host app asks for a short-lived link for one person
//! (`POST /api/v1/users/{id}/webpush-link`); the page at that link (`/push/#t=TOKEN`, served by
//! Herald) subscribes the person's browser and registers the subscription with the link's token
//! (`POST /api/v1/webpush/subscriptions`), which may do nothing but read and change that person's
//! own subscriptions. The host app lists and removes them with the API token.

use super::{authorized, bearer};
use crate::app::App;
use crate::domain::ids::random_token;
use crate::domain::secret::Secret;
use crate::domain::user::PushSubscription;
use crate::domain::{Error, Invalid, check_len, check_name};
use crate::http::{HandlerResult, Request, empty, json};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::webpush::{endpoint_problem, subscription_id};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long a page link works, in seconds.
pub const LINK_TTL_SECS: i64 = 3600;

/// Who calls: the operator (API token), or one person through their page link.
enum Caller {
    Operator,
    Person { user: String, channel: String },
}

async fn caller(app: &App, req: &Request) -> Result<Caller, Error> {
    if authorized(app, req) {
        return Ok(Caller::Operator);
    }
    let token = bearer(req).filter(|t| (16..=64).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let Some(token) = token else { return Err(Error::Unauthorized) };
    match app.repo.push_link(token).await? {
        Some((user, channel)) => Ok(Caller::Person { user, channel }),
        None => Err(Error::Unauthorized),
    }
}

/// The user a call is about: the person's own, or the operator's `?user=`.
fn subject(caller: &Caller, req: &Request) -> Result<String, Error> {
    match caller {
        Caller::Person { user, .. } => Ok(user.clone()),
        Caller::Operator => {
            let user = req.query("user").ok_or_else(|| Invalid::new("user", "is required (the user whose subscriptions these are)"))?;
            check_name("user", user, 128)?;
            Ok(user.to_owned())
        }
    }
}

/// The Web Push channel `name`, or the first enabled one.
async fn webpush_channel(app: &App, name: Option<&str>) -> Result<Channel, Error> {
    let snap = app.snapshot().await?;
    let found = snap.channels.iter().filter(|c| matches!(c.settings, ChannelSettings::Webpush(_))).find(|c| match name {
        Some(n) => c.name == n,
        None => c.enabled,
    });
    found.cloned().ok_or_else(|| Invalid::new("channel", "there is no such Web Push channel: create one (kind webpush) first").into())
}

/// A subscription as shown: its id, label, when it was made, and where it goes (the push
/// service's host; the endpoint is a capability and the keys are secrets, so neither is shown).
fn shown(s: &PushSubscription) -> Value {
    let host = reqwest::Url::parse(s.endpoint.expose()).ok().and_then(|u| u.host_str().map(str::to_owned));
    json!({"id": s.id, "channel": s.channel, "label": s.label, "push_service": host, "created_at": s.created_at})
}

/// `POST /api/v1/users/{id}/webpush-link[?channel=NAME]` → `201 {"url", "token", "expires_at"}`:
/// the page where the person turns notifications on, good for [`LINK_TTL_SECS`].
pub async fn link(app: &App, user: &str, req: &Request) -> HandlerResult {
    let u = app.repo.user(user).await?.ok_or(Error::NotFound)?.value;
    let channel = webpush_channel(app, req.query("channel")).await?;
    let token = random_token::<24>();
    let expires_at = app.repo.create_push_link(&u, &channel.name, &token, LINK_TTL_SECS).await?;
    let base = app.config.public_url.clone().or_else(|| req.origin()).unwrap_or_default();
    // The token rides in the fragment, which browsers never send to a server or a log.
    Ok(json(
        StatusCode::CREATED,
        &json!({"url": format!("{base}/push/index.html#t={token}"), "token": token, "expires_at": expires_at, "channel": channel.name}),
    ))
}

/// `GET /api/v1/webpush/me` (the page): the person's name, the channel's VAPID public key
/// (`applicationServerKey`) and their subscriptions.
pub async fn me(app: &App, req: &Request) -> HandlerResult {
    let Caller::Person { user, channel } = caller(app, req).await? else {
        return Err(Invalid::new("", "this is the page's own call: use a webpush-link token").into());
    };
    let c = webpush_channel(app, Some(&channel)).await?;
    let ChannelSettings::Webpush(s) = &c.settings else { return Err(Error::NotFound) };
    let u = app.repo.user(&user).await?.ok_or(Error::NotFound)?.value;
    let subs: Vec<Value> = u.push.iter().filter(|s| s.channel == c.name).map(shown).collect();
    Ok(json(
        StatusCode::OK,
        &json!({"user": u.id, "name": u.name, "locale": u.locale, "public_key": s.vapid_public_key, "channel": c.name, "subscriptions": subs}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    p256dh: String,
    auth: String,
}

/// A browser's `PushSubscription.toJSON()`, and a label.
#[derive(Deserialize)]
struct SubscriptionInput {
    endpoint: String,
    #[serde(default, rename = "expirationTime")]
    _expiration_time: Option<Value>,
    keys: Keys,
    #[serde(default)]
    label: Option<String>,
}

/// `POST /api/v1/webpush/subscriptions` (`?user=` with the API token) with a
/// `PushSubscription.toJSON()` (`{"endpoint", "keys": {"p256dh", "auth"}}`) and an optional
/// `label` → `201 {"id", ...}`. The keys must be a P-256 point and a 16-byte secret; the endpoint
/// a push service's `https://` URL.
pub async fn subscribe(app: &App, req: &Request) -> HandlerResult {
    let who = caller(app, req).await?;
    let user = subject(&who, req)?;
    let channel = match &who {
        Caller::Person { channel, .. } => webpush_channel(app, Some(channel)).await?,
        Caller::Operator => webpush_channel(app, req.query("channel")).await?,
    };
    let ChannelSettings::Webpush(s) = &channel.settings else { return Err(Error::NotFound) };
    let input: SubscriptionInput = crate::domain::parse_json(req.json()?)?;
    if let Some(why) = endpoint_problem(s, &input.endpoint) {
        return Err(Invalid::new("endpoint", why).into());
    }
    let p256dh = crate::platforms::webpush::crypto::b64(&input.keys.p256dh).unwrap_or_default();
    if !crate::platforms::webpush::crypto::is_p256_public_key(&p256dh) {
        return Err(Invalid::new("keys.p256dh", "must be the browser's P-256 public key, base64url (65 bytes)").into());
    }
    if crate::platforms::webpush::crypto::b64(&input.keys.auth).map(|a| a.len()) != Ok(16) {
        return Err(Invalid::new("keys.auth", "must be the subscription's 16-byte auth secret, base64url").into());
    }
    let label = input.label.map(|l| l.trim().chars().take(80).collect::<String>()).filter(|l| !l.is_empty());
    check_len("label", label.as_deref().unwrap_or_default(), 80)?;
    let sub = PushSubscription {
        id: subscription_id(&input.endpoint),
        channel: channel.name.clone(),
        endpoint: Secret::new(input.endpoint),
        p256dh: input.keys.p256dh,
        auth: Secret::new(input.keys.auth),
        label,
        created_at: app.now(),
    };
    let view = shown(&sub);
    app.repo.add_push_subscription(&user, sub).await?.ok_or(Error::NotFound)?;
    Ok(json(StatusCode::CREATED, &view))
}

/// `GET /api/v1/webpush/subscriptions?user=ID` (API token, or the person's own with their link).
pub async fn list(app: &App, req: &Request) -> HandlerResult {
    let who = caller(app, req).await?;
    let user = subject(&who, req)?;
    let u = app.repo.user(&user).await?.ok_or(Error::NotFound)?.value;
    Ok(json(StatusCode::OK, &json!({"user": user, "subscriptions": u.push.iter().map(shown).collect::<Vec<_>>()})))
}

/// `DELETE /api/v1/webpush/subscriptions/{id}` (`?user=` with the API token): `204`, or `404`.
/// A person's link removes only subscriptions made through its own channel.
pub async fn remove(app: &App, id: &str, req: &Request) -> HandlerResult {
    let who = caller(app, req).await?;
    let user = subject(&who, req)?;
    if let Caller::Person { channel, .. } = &who {
        let u = app.repo.user(&user).await?.ok_or(Error::NotFound)?.value;
        if !u.push.iter().any(|s| s.id == id && &s.channel == channel) {
            return Err(Error::NotFound);
        }
    }
    if app.repo.remove_push_subscription(&user, id).await? { Ok(empty(StatusCode::NO_CONTENT)) } else { Err(Error::NotFound) }
}
