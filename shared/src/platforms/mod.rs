//! Platform modules. Each has the same face: render a [`Message`] for the platform and send it,
//! classifying the platform's answer into a [`SendOutcome`]; inbound verification and parsing
//! live in the same module. What differs between platforms stays inside its module.

pub mod chat;
pub mod config;
pub mod telegram;
pub mod webhook;
pub mod wecom;

use crate::domain::message::Message;
use crate::platforms::config::{Channel, ChannelSettings};
use crate::store::repo::Repo;
use std::time::Duration;

/// What became of one send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Sent,
    /// The platform asked us to wait (429 and its kin): try again after `retry_after`.
    RateLimited {
        retry_after: Duration,
        reason: String,
    },
    /// Might work later (5xx, timeout, connection refused).
    Transient {
        reason: String,
    },
    /// Will not work as it stands (bad credentials, unknown chat). `unreachable`: the recipient
    /// cannot be reached on this platform (blocked the bot, left).
    Permanent {
        reason: String,
        unreachable: bool,
    },
    /// The chat moved (a Telegram group upgraded to a supergroup): send there instead.
    Moved {
        to: String,
    },
}

impl SendOutcome {
    pub fn permanent(reason: impl Into<String>) -> Self {
        SendOutcome::Permanent { reason: reason.into(), unreachable: false }
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        SendOutcome::Transient { reason: reason.into() }
    }

    /// A short name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::RateLimited { .. } => "rate_limited",
            SendOutcome::Transient { .. } => "transient",
            SendOutcome::Permanent { .. } => "permanent",
            SendOutcome::Moved { .. } => "moved",
        }
    }
}

/// What a sender may use.
pub struct SendContext<'a> {
    pub http: &'a reqwest::Client,
    pub repo: &'a Repo,
}

/// The outcome of a send, how many parts of a long message are done (sent now or before), and
/// anything the platform said that belongs on the delivery (WeCom's `invaliduser`).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub outcome: SendOutcome,
    pub parts_done: u32,
    pub note: Option<String>,
}

impl From<SendOutcome> for Report {
    fn from(outcome: SendOutcome) -> Self {
        let parts_done = u32::from(outcome == SendOutcome::Sent);
        Report { outcome, parts_done, note: None }
    }
}

/// Whether this version sends on `kind` (the others are stored and validated, and every send
/// on them fails permanently, saying so).
pub fn sends(kind: crate::domain::ChannelKind) -> bool {
    use crate::domain::ChannelKind::*;
    matches!(kind, Telegram | Wecom | Webhook)
}

/// Sends `message` to `recipient` on `channel`, skipping the first `parts_done` parts of a
/// long message (sent by an earlier attempt).
///
/// Whatever the platform answered, the report's reason and note never carry the channel's own
/// secrets ([`redact_report`]): they are stored, logged and shown to admins.
pub async fn send(ctx: &SendContext<'_>, channel: &Channel, recipient: &str, message: &Message, parts_done: u32) -> Report {
    let report = match &channel.settings {
        ChannelSettings::Webhook(s) => webhook::send(ctx.http, s, recipient, message).await.into(),
        ChannelSettings::Telegram(s) => telegram::send(ctx, &channel.name, channel.api_base(), s, recipient, message, parts_done).await,
        ChannelSettings::Wecom(s) => wecom::send(ctx.http, channel.api_base(), ctx.repo, s, recipient, message, parts_done).await,
        other => SendOutcome::permanent(format!("sending on {} is not available in this version", other.kind())).into(),
    };
    redact_report(report, &channel.settings)
}

/// `outcome` with the given secrets masked out of its reason ([`crate::domain::secret::redact`]).
pub fn redact_outcome(outcome: SendOutcome, secrets: &[&str]) -> SendOutcome {
    let r = |s: String| crate::domain::secret::redact(&s, secrets);
    match outcome {
        SendOutcome::RateLimited { retry_after, reason } => SendOutcome::RateLimited { retry_after, reason: r(reason) },
        SendOutcome::Transient { reason } => SendOutcome::Transient { reason: r(reason) },
        SendOutcome::Permanent { reason, unreachable } => SendOutcome::Permanent { reason: r(reason), unreachable },
        other => other,
    }
}

/// A report with every secret of `settings` masked out of its reason and note.
pub fn redact_report(report: Report, settings: &ChannelSettings) -> Report {
    let secrets = settings.secret_values();
    Report {
        outcome: redact_outcome(report.outcome, &secrets),
        parts_done: report.parts_done,
        note: report.note.map(|n| crate::domain::secret::redact(&n, &secrets)),
    }
}

/// Makes one stored platform call (a bot's reply). The outcome's reason is redacted as
/// [`send`]'s is.
pub async fn execute(ctx: &SendContext<'_>, channel: &Channel, method: &str, payload: &serde_json::Value) -> SendOutcome {
    let outcome = execute_raw(ctx, channel, method, payload).await;
    redact_outcome(outcome, &channel.settings.secret_values())
}

async fn execute_raw(ctx: &SendContext<'_>, channel: &Channel, method: &str, payload: &serde_json::Value) -> SendOutcome {
    // A stored call names its chat too (a bot's word to an account's old chat): one chat only.
    let single = match (&channel.settings, payload.get("chat_id").or_else(|| payload.get("touser"))) {
        (ChannelSettings::Wecom(_), Some(serde_json::Value::String(to))) => crate::platforms::chat::wecom_touser(to, false),
        (ChannelSettings::Telegram(_), Some(serde_json::Value::String(chat))) => {
            crate::platforms::chat::ChatId::parse("chat_id", channel.kind(), chat)
                .map(|_| ())
                .map_err(|e| format!("refused recipient: it {}", e.message))
        }
        _ => Ok(()),
    };
    if let Err(why) = single {
        return SendOutcome::permanent(why);
    }
    match &channel.settings {
        ChannelSettings::Telegram(s) => match telegram::Api::new(ctx.http, channel.api_base(), s).call(method, payload).await {
            Ok(_) => SendOutcome::Sent,
            Err(outcome) => outcome,
        },
        ChannelSettings::Wecom(s) => {
            match wecom::Client::new(ctx.http, channel.api_base(), s, ctx.repo).post("/cgi-bin/message/send", &[], payload).await {
                Ok(_) => SendOutcome::Sent,
                Err(outcome) => outcome,
            }
        }
        other => SendOutcome::permanent(format!("{} has no calls", other.kind())),
    }
}

/// A chat moved (Telegram `migrate_to_chat_id`): the channel's default chat and any user bound
/// to the old id now point at the new one.
pub async fn chat_moved(app: &crate::app::App, channel: &str, from: &str, to: &str) -> Result<(), crate::store::StoreError> {
    if let Some(mut c) = app.repo.channel(channel).await? {
        let kind = c.kind();
        if let ChannelSettings::Telegram(t) = &mut c.settings
            && t.chat_id.as_deref() == Some(from)
        {
            t.chat_id = Some(to.to_owned());
            app.repo.put_channel(&c).await?;
            app.invalidate();
        }
        if let Some(u) = app.repo.user_by_chat(kind, from).await? {
            let mut moved = u.value.clone();
            moved.ids.insert(kind, to.to_owned());
            match app.repo.save_user(&moved, Some(&u)).await {
                Ok(()) | Err(crate::store::repo::BindError::Taken { .. }) => {}
                Err(crate::store::repo::BindError::Store(e)) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A transport failure (no HTTP answer): timeouts and connection errors may pass. The text never
/// carries the URL, which for some platforms holds the token.
pub fn transport_error(e: reqwest::Error) -> SendOutcome {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        "unreadable answer"
    } else {
        "request failed"
    };
    SendOutcome::transient(format!("{what}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string())))
}

/// `Retry-After` in seconds (the HTTP-date form is rare on these APIs; it gets the default).
pub fn retry_after(headers: &http::HeaderMap, default: Duration) -> Duration {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(43_200.0)))
        .unwrap_or(default)
}

/// A redirect, as a permanent failure naming where it pointed. Herald follows no redirect
/// (the HTTP client is built with none): a followed 302 turns a POST into a bodiless GET that
/// still carries the channel's secret headers, and would read as sent. The text names only the
/// `Location`'s host (a relative one is on `from`'s host), never its path or query.
pub fn redirected(status: http::StatusCode, headers: &http::HeaderMap, from: Option<&reqwest::Url>) -> Option<SendOutcome> {
    if !status.is_redirection() {
        return None;
    }
    let location = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let target = match (reqwest::Url::parse(location), from) {
        (Ok(u), _) => u.host_str().map(str::to_owned),
        (Err(_), Some(base)) if !location.is_empty() => base.join(location).ok().and_then(|u| u.host_str().map(str::to_owned)),
        _ => None,
    };
    let to = match target {
        Some(host) => format!("redirected to {host}"),
        None => "redirected (no usable Location)".to_owned(),
    };
    Some(SendOutcome::permanent(format!(
        "HTTP {}: {to}; Herald does not follow redirects, set the channel's URL to where it should post",
        status.as_u16()
    )))
}

/// The usual reading of an HTTP status, for platforms that say everything with it (a 3xx reads
/// as [`redirected`] does, without the host: pass through [`redirected`] first to name it).
pub fn by_status(status: http::StatusCode, headers: &http::HeaderMap) -> SendOutcome {
    if let Some(r) = redirected(status, headers, None) {
        return r;
    }
    match status.as_u16() {
        200..=299 => SendOutcome::Sent,
        429 => SendOutcome::RateLimited { retry_after: retry_after(headers, Duration::from_secs(60)), reason: "HTTP 429".into() },
        408 | 425 | 500..=599 => SendOutcome::transient(format!("HTTP {}", status.as_u16())),
        404 | 410 => SendOutcome::Permanent { reason: format!("HTTP {}", status.as_u16()), unreachable: true },
        s => SendOutcome::permanent(format!("HTTP {s}")),
    }
}
