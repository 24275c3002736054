//! Pacing: sends go out no faster than each platform allows, across every Lambda instance.
//!
//! - Limits that must hold across instances (Telegram's 30/s per bot and 20/min per group,
//!   WeCom's 30/min per member) are fixed windows counted in the store (`Table::add`, one
//!   atomic update per send); inside a window the n-th send waits for its slot, so sends are
//!   spread evenly rather than bursting at the window's start.
//! - One-per-second-per-chat limits are kept in the instance: the FIFO queue gives each chat one
//!   message in flight at a time, so one instance at a time sends to a chat.
//! - A 429 pauses the channel in this instance until its `retry_after` (the message itself is
//!   rescheduled by the dispatcher).
//!
//! A wait of up to [`MAX_INLINE_WAIT`] is taken in place (that is pacing, at the platform's own
//! rate); anything longer is handed back as `Later`, and the dispatcher reschedules the message
//! with a visibility timeout instead of sleeping.

use crate::domain::channel::{Channel, ChannelKind};
use crate::repo::Repo;
use crate::store::StoreResult;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_INLINE_WAIT: Duration = Duration::from_millis(1200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Go,
    Later(Duration),
}

/// A limit shared by every instance: `count` sends per `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLimit {
    pub key: String,
    pub count: u32,
    pub window: Duration,
}

/// The limits a send to `recipient` on `channel` is under: shared ones, and the per-chat
/// spacing kept in the instance.
pub fn limits(channel: &Channel, recipient: &str) -> (Vec<SharedLimit>, Option<Duration>) {
    let name = &channel.name;
    let shared = |key: String, count, secs| SharedLimit { key, count, window: Duration::from_secs(secs) };
    match channel.kind() {
        ChannelKind::Telegram => {
            let mut v = vec![shared(format!("tg:{name}"), 30, 1)];
            // Group and channel chat ids are negative.
            if recipient.starts_with('-') || recipient.starts_with('@') {
                v.push(shared(format!("tgg:{name}:{recipient}"), 20, 60));
            }
            (v, Some(Duration::from_secs(1)))
        }
        ChannelKind::Wecom => (recipient.split('|').map(|member| shared(format!("wc:{name}:{member}"), 30, 60)).collect(), None),
        ChannelKind::Slack => (vec![], Some(Duration::from_secs(1))),
        ChannelKind::Discord => (vec![shared(format!("dc:{name}"), 50, 1)], Some(Duration::from_millis(250))),
        ChannelKind::Synology | ChannelKind::Vocechat => (vec![], Some(Duration::from_millis(200))),
        ChannelKind::Webpush | ChannelKind::Webhook => (vec![], None),
    }
}

#[derive(Default)]
pub struct Pacer {
    /// Per chat: when the next send may go.
    next: Mutex<HashMap<String, Instant>>,
    /// Per channel: paused until (after a 429).
    paused: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pacer {
    pub fn pause(&self, channel: &str, for_: Duration) {
        let until = Instant::now() + for_;
        let mut p = lock(&self.paused);
        let e = p.entry(channel.to_owned()).or_insert(until);
        *e = (*e).max(until);
    }

    /// Takes a slot for one send, waiting briefly if the slot is near.
    pub async fn acquire(&self, repo: &Repo, channel: &Channel, recipient: &str) -> StoreResult<Pace> {
        if let Some(until) = lock(&self.paused).get(&channel.name).copied() {
            let now = Instant::now();
            if until > now {
                return Ok(Pace::Later(until - now));
            }
        }
        let (shared, spacing) = limits(channel, recipient);
        let chat_key = format!("{}:{recipient}", channel.name);
        if let Some(gap) = spacing {
            let wait = lock(&self.next).get(&chat_key).map(|t| t.saturating_duration_since(Instant::now())).unwrap_or_default();
            if wait > MAX_INLINE_WAIT {
                return Ok(Pace::Later(wait));
            }
            tokio::time::sleep(wait).await;
            lock(&self.next).insert(chat_key, Instant::now() + gap);
        }
        // A WeCom message to many members counts against each member's budget.
        let mut later = None;
        for chunk in shared.chunks(64) {
            for pace in futures_util::future::join_all(chunk.iter().map(|l| take(repo, l))).await {
                if let Pace::Later(d) = pace? {
                    later = Some(later.map_or(d, |l: Duration| l.max(d)));
                }
            }
        }
        Ok(later.map_or(Pace::Go, Pace::Later))
    }
}

/// Takes the next slot of a shared limit: its window's counter says which slot is ours. In a
/// window of a second, slots are spread evenly and we wait for ours; longer windows are a budget
/// (WeCom's 30 a minute, Telegram's 20 a minute per group) that may be spent at once. A full
/// window means trying the next one (at most twice), or coming back later.
async fn take(repo: &Repo, limit: &SharedLimit) -> StoreResult<Pace> {
    let len = limit.window.as_millis().max(1) as i64;
    for _ in 0..3 {
        let now = repo.clock.now().as_millisecond();
        let index = now / len;
        let start = index * len;
        let n = repo.table.add(&format!("RL#{}", limit.key), &index.to_string(), 1, Some((start + len) / 1000 + 120)).await?;
        if n <= limit.count as i64 {
            let spread = len <= 1000;
            let slot = if spread { start + (n - 1) * len / limit.count as i64 } else { now };
            let wait = Duration::from_millis((slot - now).max(0) as u64);
            if wait > MAX_INLINE_WAIT {
                return Ok(Pace::Later(wait));
            }
            tokio::time::sleep(wait).await;
            return Ok(Pace::Go);
        }
        let to_next = Duration::from_millis((start + len - now).max(1) as u64);
        if to_next > MAX_INLINE_WAIT {
            return Ok(Pace::Later(to_next));
        }
        tokio::time::sleep(to_next).await;
    }
    Ok(Pace::Later(limit.window))
}
