//! The admin and integration API under `/api/v1/`, authenticated by `Authorization: Bearer
//! API_TOKEN` (or `?token=API_TOKEN`, as MoviePilot does).

mod console;
mod webpush;

use crate::app::App;
use crate::domain::Error;
use crate::domain::command::{CommandInput, HostCommand, MAX_COMMANDS};
use crate::domain::ids::{new_id, random_token};
use crate::domain::notification::{Delivery, DeliveryStatus, Notification, NotifyRequest, Target, Template};
use crate::domain::settings::Settings;
use crate::domain::user::UserInput;
use crate::domain::{Invalid, check_name, parse_json};
use crate::http::{HandlerResult, Request, empty, json, page_params};
use crate::platforms::config::Channel;
use crate::platforms::{self, SendOutcome};
use crate::routing::notify;
use crate::store::StoreError;
use crate::store::repo::BindError;
use crate::text::message::Message;
use futures_util::future::BoxFuture;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

pub const PREFIX: &str = "/api/v1/";

/// Handles one API request (the admin/API function's handler). Every answer is marked not to
/// be cached or sniffed (it may carry settings and users).
pub async fn handle(app: &App, req: Request) -> crate::http::Response {
    let mut r = crate::http::finish(route(app, &req).await);
    let h = r.headers_mut();
    h.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
    r
}

/// The credentials of an `Authorization: Bearer X` header (the scheme in any case, as RFC 9110
/// says: `Bearer`, `bearer`, `BEARER`), trimmed.
pub fn bearer(req: &Request) -> Option<&str> {
    let h = req.header("authorization")?.trim();
    let (scheme, rest) = h.split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn authorized(app: &App, req: &Request) -> bool {
    let Some(token) = &app.config.api_token else { return false };
    let presented = bearer(req).or_else(|| req.query("token"));
    presented.is_some_and(|p| token.matches(p.trim()))
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// The API token.
    Token,
    /// The API token, or the node's own key (a node's heartbeat).
    TokenOrNodeKey,
    /// The API token, or a person's Web Push page link (checked by the handler: [`webpush`]).
    TokenOrPushLink,
}

type Handler = for<'a> fn(&'a App, &'a Request, Vec<String>) -> BoxFuture<'a, HandlerResult>;

/// Every API route: its path under [`PREFIX`] (`{}` is one segment, handed to the handler in
/// order), its method, who may call it, and its handler. A path that matches with another
/// method is answered `405` naming the methods it takes; one that matches nothing, `404`.
const ROUTES: &[(&str, Method, Auth, Handler)] = &[
    ("channels", Method::GET, Auth::Token, |app, req, _| Box::pin(list_channels(app, req))),
    ("channels/{}", Method::GET, Auth::Token, |app, req, p| Box::pin(async move { get_channel(app, &p[0], req).await })),
    ("channels/{}", Method::PUT, Auth::Token, |app, req, p| Box::pin(async move { put_channel(app, &p[0], req).await })),
    ("channels/{}", Method::PATCH, Auth::Token, |app, req, p| Box::pin(async move { put_channel(app, &p[0], req).await })),
    ("channels/{}", Method::DELETE, Auth::Token, |app, _, p| Box::pin(async move { delete_channel(app, &p[0]).await })),
    ("channels/{}/test", Method::POST, Auth::Token, |app, req, p| Box::pin(async move { test_channel(app, &p[0], req).await })),
    ("channels/{}/register", Method::POST, Auth::Token, |app, req, p| Box::pin(async move { register_channel(app, &p[0], req).await })),
    ("settings", Method::GET, Auth::Token, |app, _, _| {
        Box::pin(async move { Ok(json(StatusCode::OK, &public_settings(&app.repo.settings().await?))) })
    }),
    ("settings", Method::PUT, Auth::Token, |app, req, _| Box::pin(put_settings(app, req))),
    ("settings", Method::PATCH, Auth::Token, |app, req, _| Box::pin(put_settings(app, req))),
    ("users", Method::GET, Auth::Token, |app, req, _| Box::pin(console::find_users(app, req))),
    ("users/{}", Method::GET, Auth::Token, |app, _, p| Box::pin(async move { get_user(app, &p[0]).await })),
    ("users/{}", Method::PUT, Auth::Token, |app, req, p| Box::pin(async move { put_user(app, &p[0], req).await })),
    ("users/{}", Method::PATCH, Auth::Token, |app, req, p| Box::pin(async move { put_user(app, &p[0], req).await })),
    ("users/{}", Method::DELETE, Auth::Token, |app, _, p| Box::pin(async move { delete_user(app, &p[0]).await })),
    ("users/{}/bind-code", Method::POST, Auth::Token, |app, _, p| Box::pin(async move { bind_code(app, &p[0]).await })),
    ("users/{}/webpush-link", Method::POST, Auth::Token, |app, req, p| Box::pin(async move { webpush::link(app, &p[0], req).await })),
    ("webpush/me", Method::GET, Auth::TokenOrPushLink, |app, req, _| Box::pin(webpush::me(app, req))),
    ("webpush/subscriptions", Method::GET, Auth::TokenOrPushLink, |app, req, _| Box::pin(webpush::list(app, req))),
    ("webpush/subscriptions", Method::POST, Auth::TokenOrPushLink, |app, req, _| Box::pin(webpush::subscribe(app, req))),
    ("webpush/subscriptions/{}", Method::DELETE, Auth::TokenOrPushLink, |app, req, p| {
        Box::pin(async move { webpush::remove(app, &p[0], req).await })
    }),
    ("notify", Method::POST, Auth::Token, |app, req, _| Box::pin(post_notify(app, req))),
    ("notifications", Method::GET, Auth::Token, |app, req, _| Box::pin(console::list_notifications(app, req))),
    ("stats", Method::GET, Auth::Token, |app, req, _| Box::pin(console::stats(app, req))),
    ("notifications/{}", Method::GET, Auth::Token, |app, req, p| Box::pin(async move { get_notification(app, &p[0], req).await })),
    ("messages", Method::GET, Auth::Token, |app, req, _| Box::pin(list_messages(app, req))),
    ("messages/{}/read", Method::POST, Auth::Token, |app, req, p| Box::pin(async move { read_message(app, &p[0], req).await })),
    ("status", Method::GET, Auth::Token, |app, _, _| Box::pin(async move { Ok(json(StatusCode::OK, &crate::jobs::status(app).await?)) })),
    ("nodes", Method::GET, Auth::Token, |app, _, _| Box::pin(list_nodes(app))),
    ("nodes/{}", Method::GET, Auth::Token, |app, _, p| Box::pin(async move { get_node(app, &p[0]).await })),
    ("nodes/{}", Method::PUT, Auth::Token, |app, req, p| Box::pin(async move { put_node(app, &p[0], req).await })),
    ("nodes/{}", Method::PATCH, Auth::Token, |app, req, p| Box::pin(async move { put_node(app, &p[0], req).await })),
    ("nodes/{}", Method::DELETE, Auth::Token, |app, _, p| Box::pin(async move { delete_node(app, &p[0]).await })),
    ("nodes/{}/heartbeat", Method::POST, Auth::TokenOrNodeKey, |app, req, p| {
        Box::pin(async move { node_heartbeat(app, &p[0], req, authorized(app, req)).await })
    }),
    ("commands", Method::GET, Auth::Token, |app, _, _| Box::pin(list_commands(app))),
    ("commands/{}", Method::GET, Auth::Token, |app, _, p| Box::pin(async move { get_command(app, &p[0]).await })),
    ("commands/{}", Method::PUT, Auth::Token, |app, req, p| Box::pin(async move { put_command(app, &p[0], req).await })),
    ("commands/{}", Method::DELETE, Auth::Token, |app, req, p| Box::pin(async move { delete_command(app, &p[0], req).await })),
    ("interactions/{}/reply", Method::POST, Auth::Token, |app, req, p| {
        Box::pin(async move { Ok(json(StatusCode::OK, &crate::relay::reply_later(app, &p[0], parse_body(req)?).await?)) })
    }),
    ("jobs/{}/run", Method::POST, Auth::Token, |app, req, p| Box::pin(async move { run_job(app, &p[0], req).await })),
    ("deadletters/redrive", Method::POST, Auth::Token, |app, req, _| Box::pin(redrive(app, req))),
];

/// The segments of `path` that fill `pattern`'s `{}`s, if it matches.
fn matches(pattern: &str, path: &[&str]) -> Option<Vec<String>> {
    let want: Vec<&str> = pattern.split('/').collect();
    if want.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (w, got) in want.iter().zip(path) {
        match *w {
            "{}" if !got.is_empty() => params.push((*got).to_owned()),
            w if w == *got => {}
            _ => return None,
        }
    }
    Some(params)
}

async fn route(app: &App, req: &Request) -> HandlerResult {
    let Some(rest) = req.path.strip_prefix(PREFIX) else { return Err(Error::NotFound) };
    let path: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let found: Vec<(&Method, Auth, Handler, Vec<String>)> =
        ROUTES.iter().filter_map(|(pattern, m, auth, h)| matches(pattern, &path).map(|p| (m, *auth, *h, p))).collect();
    let Some((_, auth, handler, params)) = found.iter().find(|(m, ..)| **m == req.method).cloned() else {
        if found.is_empty() {
            return Err(Error::NotFound);
        }
        if !authorized(app, req) {
            return Err(Error::Unauthorized);
        }
        let allow: Vec<&str> = found.iter().map(|(m, ..)| m.as_str()).collect();
        return Ok(crate::http::method_not_allowed(&allow.join(", ")));
    };
    // A node may send its own heartbeat with its own key instead of the API token.
    if auth == Auth::Token && !authorized(app, req) {
        return Err(Error::Unauthorized);
    }
    handler(app, req, params).await
}

async fn register_channel(app: &App, name: &str, req: &Request) -> HandlerResult {
    let c = app.repo.channel(name).await?.ok_or(Error::NotFound)?;
    if !platforms::registers(c.kind()) {
        return Err(Invalid::new("", format!("{} channels have nothing to register", c.kind())).into());
    }
    let r = register(app, &c, req).await;
    Ok(json(if r["ok"] == true { StatusCode::OK } else { StatusCode::BAD_GATEWAY }, &r))
}

async fn list_nodes(app: &App) -> HandlerResult {
    let nodes: Vec<Value> = app.repo.nodes().await?.iter().map(|n| node_json(&n.value)).collect();
    Ok(json(StatusCode::OK, &json!({"nodes": nodes})))
}

async fn get_node(app: &App, id: &str) -> HandlerResult {
    Ok(json(StatusCode::OK, &node_json(&app.repo.node(id).await?.ok_or(Error::NotFound)?.value)))
}

async fn run_job(app: &App, name: &str, req: &Request) -> HandlerResult {
    if !crate::jobs::JOBS.contains(&name) {
        return Err(Error::NotFound);
    }
    Ok(json(StatusCode::OK, &crate::jobs::run(app, name, true, req.deadline).await?))
}

async fn redrive(app: &App, req: &Request) -> HandlerResult {
    let moved = crate::dispatch::redrive(app, 1000, req.deadline).await?;
    let left = app.queue.depth().await?.dead;
    Ok(json(StatusCode::OK, &json!({"moved": moved, "left": left})))
}

fn parse_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, Error> {
    Ok(parse_json(req.json()?)?)
}

// ---- host-app commands ----

async fn list_commands(app: &App) -> HandlerResult {
    let list: Vec<Value> = app.repo.commands().await?.iter().map(HostCommand::public_json).collect();
    Ok(json(StatusCode::OK, &json!({"commands": list})))
}

async fn get_command(app: &App, name: &str) -> HandlerResult {
    Ok(json(StatusCode::OK, &app.repo.command(name).await?.ok_or(Error::NotFound)?.public_json()))
}

/// Declares or replaces a command (`secret` kept when left out), then registers again every
/// channel whose platform lists commands, answering what each registration said.
async fn put_command(app: &App, name: &str, req: &Request) -> HandlerResult {
    let input: CommandInput = parse_body(req)?;
    let previous = app.repo.command(name).await?;
    if previous.is_none() && app.repo.commands().await?.len() >= MAX_COMMANDS {
        return Err(Invalid::new("name", format!("at most {MAX_COMMANDS} commands may be declared")).into());
    }
    let command = input.into_command(name, previous.as_ref(), app.now())?;
    app.repo.put_command(&command).await?;
    app.invalidate();
    let status = if previous.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json(status, &json!({"command": command.public_json(), "registration": register_commands(app, req).await?})))
}

async fn delete_command(app: &App, name: &str, req: &Request) -> HandlerResult {
    if !app.repo.delete_command(name).await? {
        return Err(Error::NotFound);
    }
    app.invalidate();
    Ok(json(StatusCode::OK, &json!({"deleted": name, "registration": register_commands(app, req).await?})))
}

/// Registers again the enabled channels whose platform lists commands (the set changed).
async fn register_commands(app: &App, req: &Request) -> Result<Value, Error> {
    let mut out = serde_json::Map::new();
    for c in app.repo.channels().await? {
        if c.enabled && crate::domain::command::listed_by(c.kind()) && platforms::registers(c.kind()) {
            out.insert(c.name.clone(), register(app, &c, req).await);
        }
    }
    Ok(Value::Object(out))
}

// ---- channels ----

/// A channel as the API shows it ([`Channel::public_json`]), with the `callback_url` to give
/// the platform for a kind that receives.
fn channel_json(app: &App, c: &Channel, req: &Request) -> Value {
    let mut v = c.public_json();
    if let Some(url) = console::callback_url(app, c, req) {
        v["callback_url"] = json!(url);
    }
    v
}

async fn list_channels(app: &App, req: &Request) -> HandlerResult {
    let list: Vec<Value> = app.repo.channels().await?.iter().map(|c| channel_json(app, c, req)).collect();
    Ok(json(StatusCode::OK, &json!({"channels": list})))
}

async fn get_channel(app: &App, name: &str, req: &Request) -> HandlerResult {
    let c = app.repo.channel(name).await?.ok_or(Error::NotFound)?;
    Ok(json(StatusCode::OK, &channel_json(app, &c, req)))
}

/// A channel `PUT`/`PATCH` body over the stored channel (JSON merge patch: what it leaves out
/// keeps its value, `null` removes; a body naming another kind replaces the channel): the
/// stored channel as the API shows it (secrets and credential-bearing URLs masked), with
/// `body` merged over it: whatever the body leaves out reads as masked, so
/// [`Channel::from_json`]'s rule decides whether a stored secret may be kept (only for the same
/// kind and destination), the same for a secret left out as for one sent back masked.
fn merged_channel(previous: Option<&Channel>, body: Value) -> Value {
    let Some(prev) = previous else { return body };
    if body.get("kind").is_some_and(|k| k.as_str() != Some(prev.kind().as_str())) {
        return body;
    }
    let mut doc = prev.public_json();
    if let Some(o) = doc.as_object_mut() {
        o.remove("updated_at");
        o.remove("name");
    }
    crate::domain::merge_patch(&mut doc, body);
    doc
}

async fn put_channel(app: &App, name: &str, req: &Request) -> HandlerResult {
    let previous = app.repo.channel(name).await?;
    let body = merged_channel(previous.as_ref(), req.json()?);
    let channel = Channel::from_json(name, body, previous.as_ref(), app.now())?;
    app.repo.put_channel(&channel).await?;
    app.invalidate();
    let status = if previous.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    let mut body = channel_json(app, &channel, req);
    // Platforms that are told where Herald is (webhook, commands, menus) are told on save.
    if channel.enabled && platforms::registers(channel.kind()) {
        body["registration"] = register(app, &channel, req).await;
        if let Some(saved) = app.repo.channel(name).await? {
            body["settings"] = saved.public_json()["settings"].clone();
        }
    }
    Ok(json(status, &body))
}

/// Registers a channel with its platform ([`crate::platforms::Platform::register`]: Telegram's
/// webhook and commands, WeCom's menu), keeping what the platform makes or tells on the way.
/// Where the platform reaches Herald is [`crate::app::Config::receiver_base`]: the receiver's
/// own URL, else `HERALD_PUBLIC_URL`, else the origin this request came in on (so a stack need
/// not know its own API's URL when it is created). The answer is `{"ok": false, "detail"}` when
/// the platform refuses or cannot be reached, with the `callback_url` the platform is to be
/// given (for a kind that receives), which does not depend on the platform answering.
async fn register(app: &App, channel: &Channel, req: &Request) -> Value {
    match try_register(app, channel, req).await {
        Ok(detail) => detail,
        Err(detail) => {
            let mut v = json!({"ok": false, "detail": detail});
            if let Some(url) = console::callback_url(app, channel, req) {
                v["callback_url"] = json!(url);
            }
            v
        }
    }
}

async fn try_register(app: &App, channel: &Channel, req: &Request) -> Result<Value, String> {
    let p = platforms::sender(channel.kind());
    let mut channel = channel.clone();
    if let Some(settings) = p.before_registering(&channel.settings) {
        // Kept before the platform is told, so no request can arrive with a secret not known.
        channel.settings = settings;
        app.repo.put_channel(&channel).await.map_err(|e| e.to_string())?;
        app.invalidate();
    }
    let admin_chats = app.repo.admins().await.map_err(|e| e.to_string())?.iter().filter_map(|a| a.ids.get(&channel.binding()).cloned()).collect();
    let snap = app.snapshot().await.map_err(|e| e.to_string())?;
    let public_url = app.config.receiver_base(channel.kind(), req.origin());
    let r = platforms::Registering {
        ctx: app.platform_context(),
        public_url: public_url.as_deref(),
        admin_chats,
        locale: snap.settings.locale,
        commands: &snap.commands,
    };
    let done = platforms::register(&r, &channel).await?;
    if let Some(settings) = done.learned {
        channel.settings = settings;
        app.repo.put_channel(&channel).await.map_err(|e| e.to_string())?;
        app.invalidate();
    }
    Ok(done.detail)
}

async fn delete_channel(app: &App, name: &str) -> HandlerResult {
    if !app.repo.delete_channel(name).await? {
        return Err(Error::NotFound);
    }
    app.invalidate();
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    /// Chat id, user id, or leave out for the channel's default chat.
    #[serde(default, deserialize_with = "crate::domain::opt_string_or_number")]
    recipient: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// Longest text of a test message, in characters (one message on every platform).
pub const MAX_TEST_TEXT: usize = 500;

/// Sends a test message now (not through the queue) and reports the platform's answer.
async fn test_channel(app: &App, name: &str, req: &Request) -> HandlerResult {
    let t: TestRequest = if req.body.is_empty() { TestRequest { recipient: None, text: None } } else { parse_body(req)? };
    // A test is one short message, sent inside this request: never a long one split into many
    // calls that bypass the queue's pacing.
    crate::domain::check_len("text", t.text.as_deref().unwrap_or_default(), MAX_TEST_TEXT)?;
    let channel = app.repo.channel(name).await?.ok_or(Error::NotFound)?;
    let recipient = t
        .recipient
        .or_else(|| channel.settings.default_recipient())
        .ok_or_else(|| Invalid::new("recipient", "is required: this channel has no default chat"))?;
    crate::platforms::chat_id::ChatId::parse("recipient", channel.kind(), &recipient)?;
    let settings = app.repo.settings().await?;
    let n = match t.text {
        Some(text) => Notification::text(new_id(app.now()), "system", None, text, Target::Admins, app.now()),
        None => Notification::built_in(
            new_id(app.now()),
            "system",
            Target::Admins,
            Template { key: "test".into(), params: crate::params! {"channel" => name} },
            app.now(),
        ),
    };
    let d = Delivery {
        // Its own id each time: a receiver that drops repeats by `X-Herald-Delivery` keeps it.
        id: format!("test-{}", n.id),
        notification: n.id.clone(),
        channel: name.to_owned(),
        recipient: recipient.clone(),
        user: None,
        locale: settings.locale,
        status: DeliveryStatus::Sending,
        reason: None,
        note: None,
        for_user: None,
        attempts: 1,
        silent: false,
        parts_done: 0,
        hold_until: None,
        claimed_at: None,
        sent_at: None,
        updated_at: app.now(),
    };
    let started = std::time::Instant::now();
    let outcome = platforms::send(&app.platform_context(), &channel, &recipient, &Message::new(&n, &d), 0).await.outcome;
    let ms = started.elapsed().as_millis() as u64;
    let (ok, detail) = match &outcome {
        SendOutcome::Sent => (true, None),
        other => (false, Some(platforms::describe(other))),
    };
    Ok(json(StatusCode::OK, &json!({"ok": ok, "outcome": outcome.label(), "detail": detail, "recipient": recipient, "latency_ms": ms})))
}

// ---- settings ----

/// `PUT`/`PATCH /api/v1/settings`: the body over the stored settings (JSON merge patch: what it
/// leaves out keeps its value, `null` puts a field back to its default).
async fn put_settings(app: &App, req: &Request) -> HandlerResult {
    let stored = app.repo.settings().await?;
    let mut doc = serde_json::to_value(&stored).map_err(|e| Error::Internal(e.to_string()))?;
    crate::domain::merge_patch(&mut doc, req.json()?);
    // The probe URL sent back as GET showed it keeps the stored one.
    if let (Some(p), Some(shown)) = (stored.node.probe_url.as_deref(), doc["node"]["probe_url"].as_str())
        && shown != p
        && shown == crate::domain::settings::masked_probe_url(p)
    {
        doc["node"]["probe_url"] = json!(p);
    }
    let s: Settings = parse_json(doc)?;
    s.validate()?;
    app.repo.put_settings(&s).await?;
    app.invalidate();
    Ok(json(StatusCode::OK, &public_settings(&s)))
}

/// The settings as the API shows them: a probe URL's query and user information (where a
/// checker's token lives) masked, the rest as stored.
fn public_settings(s: &Settings) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Some(p) = s.node.probe_url.as_deref() {
        v["node"]["probe_url"] = json!(crate::domain::settings::masked_probe_url(p));
    }
    v
}

// ---- users ----

async fn get_user(app: &App, id: &str) -> HandlerResult {
    let u = app.repo.user(id).await?.ok_or(Error::NotFound)?;
    Ok(json(StatusCode::OK, &u.value))
}

async fn put_user(app: &App, id: &str, req: &Request) -> HandlerResult {
    check_name("id", id, 128)?;
    let input: UserInput = parse_body(req)?;
    input.validate()?;
    for (on, id) in input.ids.iter().flatten() {
        crate::platforms::chat_id::ChatId::bound(&format!("ids.{on}"), on, id)?;
    }
    input.validate_at(app.now())?;
    // Optimistic concurrency: a bot binding the same user meanwhile makes us read and apply again.
    for _ in 0..3 {
        let existing = app.repo.user(id).await?;
        let user = input.clone().apply(id, existing.as_ref().map(|e| e.value.clone()), app.now());
        match app.repo.save_user(&user, existing.as_ref()).await {
            Ok(()) => return Ok(json(if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED }, &user)),
            Err(BindError::Taken { on, chat }) => {
                return Err(Error::Invalid(Invalid::new(format!("ids.{on}"), format!("{chat} is already bound to another user"))));
            }
            Err(BindError::Store(StoreError::ConditionFailed)) => continue,
            Err(BindError::Store(e)) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the user changed concurrently, try again".into()))
}

async fn delete_user(app: &App, id: &str) -> HandlerResult {
    if !app.repo.delete_user(id).await? {
        return Err(Error::NotFound);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// A one-time code that binds a chat account to this user, and the Telegram deep link.
async fn bind_code(app: &App, id: &str) -> HandlerResult {
    app.repo.user(id).await?.ok_or(Error::NotFound)?;
    let code = random_token::<18>();
    let expires_at = app.repo.create_bind_code(id, &code).await?;
    let snap = app.snapshot().await?;
    let enabled = || snap.channels.iter().filter(|c| c.enabled);
    let links: serde_json::Map<String, Value> =
        enabled().filter_map(|c| Some((c.name.clone(), Value::String(platforms::platform(c.kind()).bind_link(&c.settings, &code)?)))).collect();
    // What a person types to bind, on each channel whose bot they can write to.
    let commands: serde_json::Map<String, Value> = enabled()
        .filter(|c| platforms::receiver(c.kind()).is_some())
        .map(|c| (c.name.clone(), Value::String(platforms::platform(c.kind()).bind_command(&code))))
        .collect();
    Ok(json(
        StatusCode::CREATED,
        &json!({"code": code, "expires_at": expires_at, "command": format!("/bind {code}"), "commands": commands, "links": links}),
    ))
}

// ---- notifications ----

/// Most notifications one `POST /api/v1/notify` may carry as `{"notifications": [...]}`.
pub const MAX_NOTIFY_BATCH: usize = 100;

/// `POST /api/v1/notify`: one notification → `202 {"id", "deliveries", "complete"}`; or
/// `{"notifications": [...]}` (1 to [`MAX_NOTIFY_BATCH`], each with its own idempotency key) →
/// `200 {"results": [...]}`, one per entry in order: `{"status": 202, "id", "deliveries",
/// "complete"}` or `{"status": 400 | 409 | 503, "error", ...}` (fields named within the entry).
/// One bad entry does not fail the others.
async fn post_notify(app: &App, req: &Request) -> HandlerResult {
    let body = req.json()?;
    let Some(list) = body.get("notifications") else {
        return Ok(json(StatusCode::ACCEPTED, &notify::accept(app, notification_of(app, body, new_id(app.now()))?).await?));
    };
    if let Some(other) = body.as_object().and_then(|o| o.keys().find(|k| *k != "notifications")) {
        return Err(Invalid::new(other.as_str(), "not taken beside notifications: give it in each entry").into());
    }
    let list = list.as_array().filter(|l| (1..=MAX_NOTIFY_BATCH).contains(&l.len()));
    let list = list.ok_or_else(|| Invalid::new("notifications", format!("must be a list of 1 to {MAX_NOTIFY_BATCH} notifications")))?;
    // Each entry read on its own (a bad one answers its error), the valid ones accepted
    // together, in order.
    let mut results: Vec<Option<Result<notify::Accepted, Error>>> = Vec::with_capacity(list.len());
    let mut valid = Vec::new();
    // Ids that sort in the batch's order (the console lists newest first).
    let ids = crate::domain::ids::new_ids(app.now(), list.len());
    for (entry, id) in list.iter().zip(ids) {
        match notification_of(app, entry.clone(), id) {
            Ok(n) => {
                valid.push((results.len(), n));
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let (at, ns): (Vec<usize>, Vec<_>) = valid.into_iter().unzip();
    for (i, r) in at.into_iter().zip(notify::accept_all(app, ns).await) {
        results[i] = Some(r);
    }
    let results: Vec<Value> = results
        .into_iter()
        .map(|r| match r.unwrap_or_else(|| Err(Error::Internal("no answer".into()))) {
            Ok(accepted) => {
                let mut v = serde_json::to_value(&accepted).unwrap_or_default();
                v["status"] = json!(StatusCode::ACCEPTED.as_u16());
                v
            }
            Err(e) => {
                use crate::http::IntoResponse;
                let mut v = e.body();
                v["status"] = json!(e.status().as_u16());
                v
            }
        })
        .collect();
    Ok(json(StatusCode::OK, &json!({"results": results})))
}

/// A `POST /api/v1/notify` body (or a batch's entry), checked, as a new notification.
fn notification_of(app: &App, body: Value, id: String) -> Result<Notification, Error> {
    if !body.is_object() {
        return Err(Invalid::new("", r#"must be an object: {"type", "text", "to", ...}"#).into());
    }
    let r: NotifyRequest = parse_json(body)?;
    r.validate()?;
    Ok(r.into_notification(id, app.now()))
}

async fn get_notification(app: &App, id: &str, req: &Request) -> HandlerResult {
    let n = app.repo.notification(id).await?.ok_or(Error::NotFound)?;
    let (cursor, limit) = page_params(req)?;
    let page = app.repo.deliveries_of(&n.value, cursor, limit).await?;
    let deliveries: Vec<Value> = page
        .items
        .iter()
        .map(|d| {
            json!({
                "channel": d.channel,
                "recipient": d.recipient,
                "user": d.user,
                "status": d.status,
                "reason": d.reason,
                "note": d.note,
                "attempts": d.attempts,
                "silent": d.silent,
                "hold_until": d.hold_until,
                "sent_at": d.sent_at,
                "updated_at": d.updated_at,
            })
        })
        .collect();
    let n = n.value;
    Ok(json(
        StatusCode::OK,
        &json!({"id": n.id, "type": n.ty, "created_at": n.created_at, "complete": n.complete, "deliveries": deliveries, "cursor": page.cursor}),
    ))
}

// ---- message center ----

fn owner(req: &Request) -> Result<String, Error> {
    let owner = req.query("admin").unwrap_or("*").to_owned();
    if owner != "*" {
        check_name("admin", &owner, 128)?;
    }
    Ok(owner)
}

async fn list_messages(app: &App, req: &Request) -> HandlerResult {
    let (cursor, limit) = page_params(req)?;
    let page = app.repo.messages(&owner(req)?, cursor, limit).await?;
    Ok(json(StatusCode::OK, &json!({"messages": page.items, "cursor": page.cursor})))
}

async fn read_message(app: &App, id: &str, req: &Request) -> HandlerResult {
    if !app.repo.mark_read(&owner(req)?, id).await? {
        return Err(Error::NotFound);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

// ---- nodes ----

/// A node as the API shows it: its `key` serializes as the mask (it is a `Secret`).
fn node_json(n: &crate::domain::node::Node) -> Value {
    serde_json::to_value(n).unwrap_or(Value::Null)
}

async fn put_node(app: &App, id: &str, req: &Request) -> HandlerResult {
    check_name("id", id, 128)?;
    let input: crate::domain::node::NodeInput = parse_body(req)?;
    for _ in 0..3 {
        let existing = app.repo.node(id).await?;
        input.validate(existing.is_none())?;
        let (node, changed) = input.clone().apply(id, existing.as_ref().map(|e| e.value.clone()), app.now());
        match app.repo.save_node(&node, existing.as_ref().map(|e| e.rev)).await {
            Ok(()) => {
                let notice = match (&existing, changed.is_empty()) {
                    (None, _) => Some(("node.added", crate::params! {"name" => node.name})),
                    (Some(_), false) => Some(("node.updated", crate::params! {"name" => node.name, "changes" => changed.join(", ")})),
                    (Some(_), true) => None,
                };
                if let Some((key, params)) = notice {
                    crate::jobs::node_notice(app, key, params).await?;
                }
                let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
                return Ok(json(status, &json!({"node": node_json(&node), "changed": changed})));
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the node changed concurrently, try again".into()))
}

async fn delete_node(app: &App, id: &str) -> HandlerResult {
    let node = app.repo.delete_node(id).await?.ok_or(Error::NotFound)?;
    crate::jobs::node_notice(app, "node.deleted", crate::params! {"name" => node.name}).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Heartbeat {
    /// Reachability as the host (or a checker it runs) sees it; fed to the blocked debounce.
    #[serde(default)]
    blocked: Option<bool>,
}

/// `POST /api/v1/nodes/{id}/heartbeat`, with the API token or the node's own key
/// (`Authorization: Bearer KEY` or `?key=KEY`).
///
/// With a node key, the key is checked before anything else is read (the body included), and an
/// unknown node, a node without a key and a wrong key cost the same work (one store read, one
/// constant-time comparison) and answer the same 401, so neither the answer nor its timing tells
/// which node ids exist.
async fn node_heartbeat(app: &App, id: &str, req: &Request, api_token: bool) -> HandlerResult {
    if !api_token {
        let presented = bearer(req).or_else(|| req.query("key")).unwrap_or_default();
        let node = if check_name("id", id, 128).is_ok() { app.repo.node(id).await? } else { None };
        let stand_in = crate::domain::secret::Secret::new("\u{0}unknown-node-stand-in-key");
        let key = node.as_ref().and_then(|v| v.value.key.as_ref());
        let matched = key.unwrap_or(&stand_in).matches(presented);
        if !(matched && key.is_some()) {
            return Err(Error::Unauthorized);
        }
    }
    let hb: Heartbeat = if req.body.is_empty() { Heartbeat::default() } else { parse_body(req)? };
    for _ in 0..5 {
        let Some(v) = app.repo.node(id).await? else {
            return Err(if api_token { Error::NotFound } else { Error::Unauthorized });
        };
        if !api_token && !v.value.key.as_ref().is_some_and(|k| k.matches(bearer(req).or_else(|| req.query("key")).unwrap_or_default())) {
            // The key changed since it was checked.
            return Err(Error::Unauthorized);
        }
        let mut n = v.value.clone();
        n.last_heartbeat = Some(app.now());
        if hb.blocked.is_some() {
            n.reported_blocked = hb.blocked;
        }
        match app.repo.save_node(&n, Some(v.rev)).await {
            Ok(()) => return Ok(json(StatusCode::OK, &json!({"status": n.status, "blocked": n.blocked, "last_heartbeat": n.last_heartbeat}))),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the node changed concurrently, try again".into()))
}
