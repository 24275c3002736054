//! Pacing: sends go out no faster than each platform allows, across every Lambda instance.
//!
//! Every limit is a fixed window counted in the store (`Table::add`: one atomic update per limit
//! per send), so it holds however many dispatcher instances run: Telegram's 30 a second per bot,
//! one a second per chat and 20 a minute per group; WeCom's 30 a minute per member; Discord's 50
//! a second per bot. Inside a window of a second the n-th send waits for its own slot, so sends
//! are spread evenly instead of bursting at the window's start; longer windows are a budget.
//! A 429 also pauses that chat in this instance until its `retry_after` (the message itself is
//! rescheduled by the dispatcher).
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

/// The limits a send to `recipient` on `channel` is under.
pub fn limits(channel: &Channel, recipient: &str) -> Vec<SharedLimit> {
    let name = &channel.name;
    let limit = |key: String, count, millis| SharedLimit { key, count, window: Duration::from_millis(millis) };
    match channel.kind() {
        ChannelKind::Telegram => {
            // The chat's own limit first: it is the one that makes a send wait, and a bot slot
            // taken before waiting would go unused.
            let mut v = vec![limit(format!("tgc:{name}:{recipient}"), 1, 1000), limit(format!("tg:{name}"), 30, 1000)];
            // Group and channel chat ids are negative (or @names).
            if recipient.starts_with('-') || recipient.starts_with('@') {
                v.push(limit(format!("tgg:{name}:{recipient}"), 20, 60_000));
            }
            v
        }
        ChannelKind::Wecom => recipient.split('|').map(|member| limit(format!("wc:{name}:{member}"), 30, 60_000)).collect(),
        ChannelKind::Slack => vec![limit(format!("sl:{name}:{recipient}"), 1, 1000)],
        ChannelKind::Discord => vec![limit(format!("dc:{name}"), 50, 1000), limit(format!("dcc:{name}:{recipient}"), 5, 5000)],
        ChannelKind::Synology | ChannelKind::Vocechat => vec![limit(format!("ch:{name}"), 5, 1000)],
        ChannelKind::Webpush | ChannelKind::Webhook => Vec::new(),
    }
}

#[derive(Default)]
pub struct Pacer {
    /// Per (channel, chat): paused until (after a 429). Telegram's and Discord's 429s are mostly
    /// about one chat; a bot-wide limit shows as 429s on every chat, each paused in turn, while
    /// the shared windows keep the bot under its published rate.
    paused: Mutex<HashMap<(String, String), Instant>>,
}

impl Pacer {
    pub fn pause(&self, channel: &str, chat: &str, for_: Duration) {
        let now = Instant::now();
        // `retry_after` comes from the platform: no more than the queue's longest delay.
        let until = now + for_.min(Duration::from_secs(crate::queue::MAX_VISIBILITY_SECS as u64));
        let mut p = crate::lock(&self.paused);
        if p.len() > 1000 {
            p.retain(|_, t| *t > now);
        }
        let e = p.entry((channel.to_owned(), chat.to_owned())).or_insert(until);
        *e = (*e).max(until);
    }

    /// Takes a slot for one send, waiting briefly if the slot is near.
    pub async fn acquire(&self, repo: &Repo, channel: &Channel, recipient: &str) -> StoreResult<Pace> {
        if let Some(until) = crate::lock(&self.paused).get(&(channel.name.clone(), recipient.to_owned())).copied() {
            let now = Instant::now();
            if until > now {
                return Ok(Pace::Later(until - now));
            }
        }
        let shared = limits(channel, recipient);
        if shared.len() <= 3 {
            for limit in &shared {
                if let Pace::Later(d) = take(repo, limit).await? {
                    return Ok(Pace::Later(d));
                }
            }
            return Ok(Pace::Go);
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
