//! Pacing: sends go out no faster than each platform allows, across every Lambda instance.
//!
//! Every limit is a schedule of slots kept in the store (one item per limit, changed only by a
//! conditional write), so it holds however many dispatcher instances run: Telegram's 30 a
//! second per bot, one a second per chat and 20 a minute per group; WeCom's 30 a minute per
//! member (each platform's `Sender::limits` says). Limits of up to a second are a smoothed schedule (GCRA
//! with no burst: one send every `window / count`, 2% wider); longer ones are a budget that may
//! be spent at once, counted over a sliding window. Either way no sliding window ever holds more
//! than the limit, also across the edges of clock-aligned ones ([`next_slot`]).
//! A bot-wide schedule's slots for an instance's sends that come together (a batch's, each to
//! its own chat) are taken in one write ([`Pacer`]'s gathering, [`GATHER`]).
//! A 429 also pauses that chat in this instance until its `retry_after` (the message itself is
//! rescheduled by the dispatcher).
//!
//! A wait of up to [`MAX_INLINE_WAIT`] is taken in place (that is pacing, at the platform's own
//! rate); anything longer is handed back as `Later`, and the dispatcher reschedules the message
//! with a visibility timeout instead of sleeping.

use crate::platforms::config::Channel;
use crate::store::repo::Repo;
use crate::store::{Cond, Item, StoreResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_INLINE_WAIT: Duration = Duration::from_millis(1200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Go,
    Later(Duration),
}

pub use crate::platforms::SharedLimit;

/// Whose limits a send on `channel` is under: `#ACCOUNT` where the platform names the account
/// its limits belong to ([`crate::platforms::Platform::account`]: configs of one bot share its
/// schedules and its 429 pauses), else the config's name (which never holds a `#`).
pub fn scope(channel: &Channel) -> String {
    match crate::platforms::platform(channel.kind()).account(&channel.settings) {
        Some(account) => format!("#{account}"),
        None => channel.name.clone(),
    }
}

/// Where a 429 for `chat` on `channel` is kept: its [`scope`] and the chat's key
/// ([`crate::platforms::Sender::chat_key`]), as its schedules are.
fn pause_key(channel: &Channel, chat: &str) -> (String, String) {
    (scope(channel), crate::platforms::sender(channel.kind()).chat_key(chat))
}

/// The limits a send to `recipient` on `channel` is under: its platform's
/// ([`crate::platforms::Sender::limits`]), kept per [`scope`].
pub fn limits(channel: &Channel, recipient: &str) -> Vec<SharedLimit> {
    crate::platforms::sender(channel.kind()).limits(&scope(channel), recipient)
}

/// How long the first of this instance's sends under a bot-wide schedule waits for others to
/// take their slots with it ([`Pacer::take_gathered`]): about the spread of a batch's store
/// reads, a fraction of one slot of Telegram's 30 a second (34 ms).
pub const GATHER: Duration = Duration::from_millis(5);

/// One send's answer from a take: its slot (microseconds since the epoch, on the store's clock)
/// or `Err(later)`.
type Slot = Result<i64, Duration>;

/// A gathered send: not before when (microseconds), and where its answer goes.
type Answer = (i64, tokio::sync::oneshot::Sender<StoreResult<Slot>>);

#[derive(Default)]
pub struct Pacer {
    /// Per ([`scope`], chat): paused until (after a 429). Telegram's and Discord's 429s are mostly
    /// about one chat; a bot-wide limit shows as 429s on every chat, each paused in turn, while
    /// the shared windows keep the bot under its published rate.
    paused: Mutex<HashMap<(String, String), Instant>>,
    /// Per bot-wide limit key: the sends waiting for the first of them to take all their slots
    /// in one write.
    gathering: Mutex<HashMap<String, Vec<Answer>>>,
}

impl Pacer {
    /// Holds this instance's sends to `chat` under `channel`'s [`scope`] for `for_` (a 429's
    /// `retry_after`, at most the queue's longest delay).
    pub fn pause(&self, channel: &Channel, chat: &str, for_: Duration) {
        let now = Instant::now();
        // `retry_after` comes from the platform: no more than the queue's longest delay.
        let until = now + for_.min(Duration::from_secs(crate::queue::MAX_VISIBILITY_SECS as u64));
        let mut p = crate::lock(&self.paused);
        if p.len() > 1000 {
            p.retain(|_, t| *t > now);
        }
        let e = p.entry(pause_key(channel, chat)).or_insert(until);
        *e = (*e).max(until);
    }

    /// Takes a slot for one send under every limit it is under, waiting briefly if it is near;
    /// one time for all of them, the send's own: the earliest the chat's schedules allow (read
    /// first), then the bot's slot not before it (gathered with the batch's other sends), then
    /// the chat's schedules written with that slot. So a wait for the bot cannot take a chat's
    /// slot early (two sends to one chat closer than its spacing), nor the other way round.
    pub async fn acquire(&self, repo: &Repo, channel: &Channel, recipient: &str) -> StoreResult<Pace> {
        if let Some(until) = crate::lock(&self.paused).get(&pause_key(channel, recipient)).copied() {
            let now = Instant::now();
            if until > now {
                return Ok(Pace::Later(until - now));
            }
        }
        let shared = limits(channel, recipient);
        if shared.is_empty() {
            return Ok(Pace::Go);
        }
        let (wide, own): (Vec<&SharedLimit>, Vec<&SharedLimit>) = shared.iter().partition(|l| gathered(l));
        for _ in 0..8 {
            let now = repo.clock.now().as_microsecond();
            // A WeCom message to many members counts against each member's budget.
            let mut read = Vec::with_capacity(own.len());
            for chunk in own.chunks(64) {
                let found = futures_util::future::join_all(chunk.iter().map(|l| async move { repo.table.get(&slots_key(l), "slots").await })).await;
                for (l, item) in chunk.iter().zip(found) {
                    read.push((*l, item?));
                }
            }
            let mut at = read.iter().map(|(l, item)| next_slot(l, &slots_of(item.as_ref()), now).0).fold(now, i64::max);
            if let Some(later) = too_far(at, now) {
                return Ok(Pace::Later(later));
            }
            for limit in &wide {
                match self.take_gathered(repo, limit, at).await? {
                    Ok(slot) => at = at.max(slot),
                    Err(later) => return Ok(Pace::Later(later)),
                }
            }
            let writes = read.iter().map(|(l, item)| write_slots(repo, l, item.as_ref(), next_slot(l, &slots_of(item.as_ref()), at).1, at, now));
            let mut moved = false;
            for written in futures_util::future::join_all(writes).await {
                match written {
                    Ok(()) => {}
                    // Another send under one of them in between: read again (the bot's slot
                    // taken is left unused).
                    Err(crate::store::StoreError::ConditionFailed) => moved = true,
                    Err(e) => return Err(e),
                }
            }
            if !moved {
                // Until the slot itself (the gathering and the writes took some of the wait).
                // Not a zero sleep: a timer would still wait for its next tick (a millisecond).
                let now = repo.clock.now().as_microsecond();
                if at > now {
                    tokio::time::sleep(Duration::from_micros((at - now) as u64)).await;
                }
                return Ok(Pace::Go);
            }
        }
        Ok(Pace::Later(Duration::from_secs(1)))
    }

    /// A slot of a bot-wide schedule not before `not_before` (microseconds), taken in one write
    /// with those of this instance's other sends under it that come within [`GATHER`] of the
    /// first (the sends of a batch, each to its own chat): one store write and read for them all
    /// instead of one each. The first takes them and hands each its own slot; the schedule is
    /// the same as one send at a time.
    async fn take_gathered(&self, repo: &Repo, limit: &SharedLimit, not_before: i64) -> StoreResult<Slot> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let first = {
            let mut g = crate::lock(&self.gathering);
            let waiting = g.entry(limit.key.clone()).or_default();
            waiting.push((not_before, tx));
            waiting.len() == 1
        };
        if first {
            // Should the first's caller give up while it gathers, the others are let go (their
            // answers dropped), not left waiting, and the next send starts a gathering anew.
            struct Ending<'p>(&'p Mutex<HashMap<String, Vec<Answer>>>, &'p str, bool);
            impl Drop for Ending<'_> {
                fn drop(&mut self) {
                    if self.2 {
                        crate::lock(self.0).remove(self.1);
                    }
                }
            }
            let mut ending = Ending(&self.gathering, &limit.key, true);
            tokio::time::sleep(GATHER).await;
            ending.2 = false;
            let waiting = crate::lock(&self.gathering).remove(&limit.key).unwrap_or_default();
            let not_before: Vec<i64> = waiting.iter().map(|(t, _)| *t).collect();
            match take(repo, limit, &not_before).await {
                Ok(slots) => waiting.into_iter().zip(slots).for_each(|((_, tx), slot)| _ = tx.send(Ok(slot))),
                Err(e) => waiting.into_iter().for_each(|(_, tx)| _ = tx.send(Err(crate::store::StoreError::Backend(e.to_string())))),
            }
        }
        // The first went away before it answered (its caller gave up): taken as a store error,
        // so the message comes back.
        rx.await.unwrap_or_else(|_| Err(crate::store::StoreError::Backend("pacing: the send that took the slots went away".into())))
    }
}

fn slots_key(limit: &SharedLimit) -> String {
    format!("RL#{}", limit.key)
}

fn slots_of(item: Option<&Item>) -> Vec<i64> {
    item.and_then(|i| serde_json::from_str(&i.data).ok()).unwrap_or_default()
}

/// How far off `at` is, if further than a send waits in place ([`MAX_INLINE_WAIT`]).
fn too_far(at: i64, now: i64) -> Option<Duration> {
    let wait = Duration::from_micros((at - now).max(0) as u64);
    (wait > MAX_INLINE_WAIT).then_some(wait)
}

/// Writes `limit`'s slots `log` (the last at `last`) over `current`, only if nobody wrote them
/// since it was read.
async fn write_slots(repo: &Repo, limit: &SharedLimit, current: Option<&Item>, log: Vec<i64>, last: i64, now: i64) -> StoreResult<()> {
    let mut item = Item::new(slots_key(limit), "slots");
    item.data = serde_json::to_string(&log).unwrap_or_default();
    item.exp = Some(last / 1_000_000 + limit.window.as_secs() as i64 + 120);
    let cond = match current {
        Some(c) => {
            item.rev = c.rev + 1;
            Cond::Rev(c.rev)
        }
        None => Cond::AbsentOrExpired(now / 1_000_000),
    };
    repo.table.put(item, cond).await
}

/// Whether sends under `limit` are gathered ([`Pacer::take_gathered`]): a smoothed schedule of
/// more than one send (a bot's or an app's rate), which a batch's sends to many chats share.
/// Per-chat limits are not: a chat's messages come one at a time (one FIFO group).
fn gathered(limit: &SharedLimit) -> bool {
    limit.count > 1 && limit.window <= Duration::from_secs(1)
}

/// Headroom on limits counted per second: sends are spaced 2% wider than `window / count`, so
/// the jitter between reserving a slot and the platform receiving the send cannot put more
/// than `count` sends into any sliding second.
const SPACING_HEADROOM: f64 = 1.02;

/// When the next send under `limit` may go, given the slots already taken (`log`, oldest first,
/// microseconds) and `now`; and the log to keep with it. Limits of up to a second are a
/// smoothed schedule (one send every `window / count`, with [`SPACING_HEADROOM`]: GCRA with no
/// burst); longer ones are a budget that may be spent at once, counted over a sliding window:
/// the `count` most recent slots always span at least `window`.
pub fn next_slot(limit: &SharedLimit, log: &[i64], now: i64) -> (i64, Vec<i64>) {
    let window = limit.window.as_micros().min(i64::MAX as u128) as i64;
    let count = limit.count.max(1) as usize;
    let mut slot = now;
    let keep = if window <= 1_000_000 {
        let spacing = (window as f64 / count as f64 * SPACING_HEADROOM).ceil() as i64;
        if let Some(last) = log.last() {
            slot = slot.max(last.saturating_add(spacing));
        }
        1
    } else {
        if log.len() >= count {
            slot = slot.max(log[log.len() - count].saturating_add(window));
        }
        count
    };
    let mut next: Vec<i64> = log.iter().copied().filter(|t| t.saturating_add(window) > slot).collect();
    next.push(slot);
    let drop = next.len().saturating_sub(keep);
    next.drain(..drop);
    (slot, next)
}

/// Takes slots of a shared limit kept in the store (item `RL#<key>`/`slots`, the slots as
/// JSON, written only if no other instance wrote it since it was read), so the schedule holds
/// across every instance: one for each of `not_before` (microseconds; each slot at or after its
/// own), the earliest first, in one write. Each answer, in the order asked: its slot, or
/// `Err(later)` for one further than [`MAX_INLINE_WAIT`] away, not taken (the caller
/// reschedules), nor any after it.
async fn take(repo: &Repo, limit: &SharedLimit, not_before: &[i64]) -> StoreResult<Vec<Slot>> {
    let mut order: Vec<usize> = (0..not_before.len()).collect();
    order.sort_by_key(|&i| not_before[i]);
    for _ in 0..8 {
        let now = repo.clock.now().as_microsecond();
        let current = repo.table.get(&slots_key(limit), "slots").await?;
        let mut log = slots_of(current.as_ref());
        let (mut out, mut last) = (vec![Err(Duration::ZERO); not_before.len()], None);
        let mut later = None;
        for &i in &order {
            let (slot, next) = next_slot(limit, &log, now.max(not_before[i]));
            if let Some(wait) = later.or_else(|| too_far(slot, now)) {
                later = Some(wait);
                out[i] = Err(wait);
                continue;
            }
            (log, last) = (next, Some(slot));
            out[i] = Ok(slot);
        }
        let Some(last) = last else { return Ok(out) };
        match write_slots(repo, limit, current.as_ref(), log, last, now).await {
            Ok(()) => return Ok(out),
            // Another instance took a slot in between: read again.
            Err(crate::store::StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(vec![Err(limit.window / limit.count.max(1)); not_before.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(count: u32, millis: u64) -> SharedLimit {
        SharedLimit { key: "k".into(), count, window: Duration::from_millis(millis) }
    }

    /// Every sliding window of `window` holds at most `count` of `slots`.
    fn within(slots: &[i64], count: usize, window: i64) -> bool {
        slots.iter().all(|&t| slots.iter().filter(|&&u| u >= t && u < t + window).count() <= count)
    }

    /// The first of a gathering gives up while it gathers (its caller's future dropped): the
    /// others are let go with an error (their messages come back) instead of waiting for ever,
    /// and the next send gathers anew.
    #[tokio::test]
    async fn a_gathering_whose_first_gives_up_lets_the_others_go() {
        let table = std::sync::Arc::new(crate::store::embedded::EmbeddedTable::in_memory().unwrap());
        let clock = std::sync::Arc::new(crate::domain::clock::ManualClock::new("2026-11-23T12:00:00Z".parse().unwrap()));
        let repo = Repo::new(table, clock);
        let (pacer, bot) = (Pacer::default(), limit(30, 1000));
        let first = tokio::time::timeout(Duration::from_millis(1), pacer.take_gathered(&repo, &bot, 0));
        let both = async { tokio::join!(first, pacer.take_gathered(&repo, &bot, 0)) };
        let (first, second) = tokio::time::timeout(Duration::from_secs(5), both).await.expect("the others not left waiting");
        assert!(first.is_err(), "gave up");
        assert!(second.is_err(), "let go: {second:?}");
        let next = tokio::time::timeout(Duration::from_secs(5), pacer.take_gathered(&repo, &bot, 0)).await;
        assert_eq!(next.expect("not left waiting").unwrap(), Ok(repo.clock.now().as_microsecond()));
    }

    #[test]
    fn per_second_limits_are_spaced_evenly_in_every_sliding_second() {
        let l = limit(30, 1000);
        let (mut log, mut slots) = (Vec::new(), Vec::new());
        // 200 sends asked for at once: spaced a thirtieth of a second (and 2%) apart.
        for _ in 0..200 {
            let (slot, next) = next_slot(&l, &log, 5_000_000);
            slots.push(slot);
            log = next;
        }
        assert!(slots.windows(2).all(|w| w[1] - w[0] == 34_000), "{:?}", &slots[..3]);
        assert!(within(&slots, 30, 1_000_000) && !within(&slots, 29, 1_000_000));
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn long_windows_are_a_budget_over_a_sliding_window() {
        let l = limit(20, 60_000);
        let (mut log, mut slots) = (Vec::new(), Vec::new());
        // Sends asked for every second for three minutes: 20 at once is fine, never 21 in a minute.
        for second in 0..180 {
            let (slot, next) = next_slot(&l, &log, second * 1_000_000);
            if slot <= second * 1_000_000 {
                slots.push(slot);
                log = next;
            }
        }
        assert_eq!(&slots[..20], (0..20).map(|s| s * 1_000_000).collect::<Vec<_>>().as_slice());
        assert!(within(&slots, 20, 60_000_000));
        assert_eq!(slots.len(), 60);
        assert!(log.len() <= 20);
        // A full budget: the next slot is when the oldest of the last 20 leaves the window.
        let (slot, _) = next_slot(&l, &log, 179_000_000);
        assert_eq!(slot, log[0] + 60_000_000);
    }
}
