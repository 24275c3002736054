//! The dispatcher: takes queue messages, sends each delivery once, and answers which messages
//! failed (to be received again). Runs as the SQS-triggered function and in the local runner.
//!
//! Send once: a delivery moves queued → sending → sent / failed by conditional writes on its
//! revision. A redelivered message whose delivery is final is acknowledged without sending; one
//! whose delivery is `sending` under a live lease is left to its owner. The remaining window for
//! a duplicate is a crash after the platform answered and before `sent` was written: the lease
//! runs out and the delivery is sent again.

pub mod metrics;
pub mod pacing;

use crate::app::App;
use crate::dispatch::pacing::{Pace, Pacer};
use crate::domain::notification::{Delivery, DeliveryStatus, Notification};
use crate::platforms::{self, ApiCall, SendOutcome};
use crate::queue::Received;
use crate::queue::job::Job;
use crate::routing::notify;
use crate::store::StoreError;
use crate::store::repo::Versioned;
use crate::text::message::Message;
use futures_util::future::join_all;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// While another sender's claim is alive: how long it has left. A claim made before `sole_since`
/// ([`App::sole_since`]) is over.
fn lease_left(
    lease: Duration,
    status: DeliveryStatus,
    claimed_at: Option<Timestamp>,
    now: Timestamp,
    sole_since: Option<Timestamp>,
) -> Option<Duration> {
    let claimed_at = claimed_at?;
    if sole_since.is_some_and(|s| claimed_at < s) {
        return None;
    }
    let age = now.duration_since(claimed_at).unsigned_abs();
    (status == DeliveryStatus::Sending && age < lease).then(|| lease - age)
}

/// What to do with one queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Acknowledge (delete).
    Done,
    /// Leave it to come back after this long.
    Retry(Duration),
    /// Move it to the dead-letter queue and acknowledge it.
    Dead,
}

/// What a send's outcome means for the record.
enum Verdict {
    Sent,
    /// Back to `queued`, to be tried again after `after`; `counted`: whether that try counts
    /// towards the attempts (a 429 does not).
    Again {
        after: Duration,
        reason: String,
        counted: bool,
    },
    Fail {
        reason: String,
        unreachable: bool,
    },
    Moved(String),
}

/// The dispatcher's state kept for the life of the process.
#[derive(Default)]
pub struct Dispatcher {
    pub pacer: Pacer,
    /// Sends whose outcome is not written yet: a crash now is the one way to send twice.
    pub in_flight: std::sync::atomic::AtomicUsize,
    /// Counters for the daily report and the console, added up over a batch and written once
    /// per batch; with each channel's last outcome.
    tally: std::sync::Mutex<Tally>,
    /// Each channel's last outcome as this process last wrote it, and when: a `sent` after a
    /// `sent` this process wrote less than [`LAST_OUTCOME_EVERY`] ago is not written again
    /// (every other outcome is, each batch).
    last_written: std::sync::Mutex<BTreeMap<String, (String, Instant)>>,
    /// Set by [`Self::stop`]: no message is started any more.
    stopping: std::sync::atomic::AtomicBool,
}

/// How often a channel's unchanged last outcome is written again (its time, for the console).
pub const LAST_OUTCOME_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tally {
    counts: BTreeMap<(String, String), i64>,
    last: BTreeMap<String, crate::store::repo::LastOutcome>,
}

/// Receives a message waits through for the records it names: a notification taken through
/// [`crate::routing::notify::accept`] is queued before it is stored, so its messages can arrive
/// first. Between them 1, 2, 4, 8 and 16 seconds ([`orphan_wait`]): 31 s, longer than an API
/// request may take. After that (or on the queue's last receive) a message naming nothing is an
/// orphan of a request that answered an error, and is dropped, not dead-lettered: it must not
/// hold the messages behind it in its FIFO group until they are dead-lettered too. Counted in
/// receives, not by the clock, so no two machines' clocks are compared.
pub const ORPHAN_RECEIVES: u32 = 6;

/// How long a message whose records are not there (yet) waits before it is looked at again, or
/// `None` once it has waited [`ORPHAN_RECEIVES`] receives.
pub fn orphan_wait(receive_count: u32, last_chance: bool) -> Option<Duration> {
    (receive_count < ORPHAN_RECEIVES && !last_chance).then(|| Duration::from_secs(1 << receive_count.saturating_sub(1).min(4)))
}

/// `read` again a few times over ~60 ms until it finds its record: a notification's write is
/// usually a moment behind its messages.
pub async fn read_again<T, F, Fut>(read: F) -> Result<Option<T>, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
{
    for ms in [1, 2, 4, 8, 16, 32] {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if let Some(found) = read().await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn secs(d: Duration) -> u32 {
    d.as_secs_f64().ceil().clamp(0.0, crate::queue::MAX_VISIBILITY_SECS as f64) as u32
}

/// Exponential backoff with ±25% jitter: `base`, 2×, 4× ... at most 15 minutes.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let base = base.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(10) as i32);
    let jitter = (crate::domain::ids::random_bytes::<1>()[0] as f64 / 255.0 - 0.5) * 0.5;
    Duration::from_secs_f64((base * (1.0 + jitter)).min(900.0))
}

impl Dispatcher {
    /// Handles a batch; returns the ids of the messages that must come back (their visibility is
    /// already set). Messages of one FIFO group are handled in order; once one of them is
    /// rescheduled, the rest of its group waits with it, so order holds.
    pub async fn process(&self, app: &App, batch: Vec<Received>) -> Vec<String> {
        self.process_until(app, batch, None).await
    }

    /// Starts no message any more (a stopping process): the sends under way finish and are
    /// recorded; the messages after them come back at once, as past [`Self::process_until`]'s
    /// `stop_by`.
    pub fn stop(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// [`Self::process`], deleting each group's handled messages from `app.queue` as soon as
    /// that group is done (the local runner): a chat whose endpoint hangs does not hold back the
    /// next messages of the other chats received in the same batch. On SQS the event source
    /// deletes the batch when the function returns ([`Self::process_until`]).
    pub async fn process_acking(&self, app: &App, batch: Vec<Received>) -> Vec<String> {
        self.process_batch(app, batch, None, true).await
    }

    /// [`Self::process`], starting no message at or after `stop_by` (the Lambda deadline less
    /// the time one message may take): those, and the rest of their groups, come back at once
    /// (visibility 0) as batch item failures instead of being cut off by the function's timeout.
    pub async fn process_until(&self, app: &App, batch: Vec<Received>, stop_by: Option<Timestamp>) -> Vec<String> {
        self.process_batch(app, batch, stop_by, false).await
    }

    async fn process_batch(&self, app: &App, batch: Vec<Received>, stop_by: Option<Timestamp>, ack: bool) -> Vec<String> {
        let mut groups: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
        for m in &batch {
            groups.entry(m.group.as_str()).or_default().push(m);
        }
        let results = join_all(groups.into_values().map(|msgs| async move {
            let failed = self.process_group(app, msgs.clone(), stop_by).await;
            if ack {
                let done = msgs.iter().filter(|m| !failed.contains(&m.id)).map(|m| app.queue.delete(&m.receipt));
                for r in join_all(done).await {
                    if let Err(e) = r {
                        warn!(error = %e, "acknowledge failed");
                    }
                }
            }
            failed
        }))
        .await;
        let tally = std::mem::take(&mut *crate::lock(&self.tally));
        let mut last = tally.last;
        {
            let written = crate::lock(&self.last_written);
            last.retain(|channel, o| {
                o.status != "sent" || written.get(channel).is_none_or(|(status, at)| status != "sent" || at.elapsed() >= LAST_OUTCOME_EVERY)
            });
        }
        // Written together (one commit on the embedded store).
        let counters = join_all(tally.counts.iter().map(|((day, name), n)| app.repo.bump(day, name, *n)));
        let outcomes = async { if last.is_empty() { Ok(()) } else { app.repo.set_last_outcomes(&last).await } };
        let (counted, outcomes) = futures_util::future::join(counters, outcomes).await;
        if let Some(e) = counted.into_iter().find_map(Result::err) {
            warn!(error = %e, "daily counters not written");
        }
        match outcomes {
            Ok(()) => crate::lock(&self.last_written).extend(last.into_iter().map(|(c, o)| (c, (o.status, Instant::now())))),
            Err(e) => warn!(error = %e, "last outcomes not written"),
        }
        results.into_iter().flatten().collect()
    }

    fn count(&self, app: &App, day_suffix: &str, name: &str) {
        let day = format!("{}{day_suffix}", app.repo.local_day(app.now()));
        *crate::lock(&self.tally).counts.entry((day, name.to_owned())).or_default() += 1;
    }

    /// Counts a delivery's final state by kind, channel and status, and keeps it as its
    /// channel's last outcome.
    fn count_final(&self, app: &App, d: &Delivery, kind: &str) {
        let status = d.status.as_str();
        self.count(app, "", &crate::store::repo::delivery_counter(kind, &d.channel, status));
        let last = crate::store::repo::LastOutcome { status: status.to_owned(), at: d.updated_at, reason: d.reason.clone() };
        crate::lock(&self.tally).last.insert(d.channel.clone(), last);
    }

    /// The kind of the channel named `channel` now (`none` when it is gone).
    async fn kind_of(app: &App, channel: &str) -> String {
        let snap = app.snapshot().await.ok();
        snap.and_then(|s| s.channel(channel).map(|c| c.kind().as_str().to_owned())).unwrap_or_else(|| "none".into())
    }

    /// A group's messages one after another. A delivery's `sent` state is carried to the next
    /// message's claim and written with it (one commit on the embedded store, [`Table::put_each`]):
    /// it is on disk before that next send starts, so a crash repeats at most the one send in
    /// flight, and before its message is acknowledged; if it cannot be written, the message
    /// comes back. When the next message claims nothing, it is written alone.
    ///
    /// [`Table::put_each`]: crate::store::Table::put_each
    async fn process_group<'a>(&'a self, app: &'a App, msgs: Vec<&'a Received>, stop_by: Option<Timestamp>) -> Vec<String> {
        let mut failed = Vec::new();
        let mut held: Option<Duration> = None;
        let mut carry: Option<Carry<'a>> = None;
        for m in msgs {
            let mut turn = Turn { carry: carry.take(), carried: None, sent: None };
            let step = match held {
                Some(d) => Step::Retry(d),
                None if self.stopping.load(std::sync::atomic::Ordering::Relaxed) || stop_by.is_some_and(|t| app.now() >= t) => {
                    Step::Retry(Duration::ZERO)
                }
                None => self.handle(app, m, &mut turn).await,
            };
            if !self.settle(app, turn.carry, turn.carried, &mut failed).await && held.is_none() {
                // The send before is not recorded: nothing more of its group is sent until it is.
                held = Some(backoff(app.config.retry_base, m.receive_count));
            }
            carry = turn.sent.map(|(d, rev, window)| Carry { m, d, rev, _window: window });
            match step {
                Step::Done => {}
                Step::Retry(d) => {
                    held = Some(d);
                    if let Err(e) = app.queue.set_visibility(&m.receipt, secs(d)).await {
                        warn!(message = %m.id, error = %e, "could not reschedule; the queue's visibility timeout applies");
                    }
                    failed.push(m.id.clone());
                }
                Step::Dead => {
                    if let Err(e) = app.queue.dead_letter(m).await {
                        warn!(message = %m.id, error = %e, "could not dead-letter; it will be received again");
                        failed.push(m.id.clone());
                    }
                }
            }
        }
        self.settle(app, carry, None, &mut failed).await;
        failed
    }

    /// After a message: writes the carried `sent` state if its claim did not take it, and
    /// has a message whose state could not be written come back (not acknowledged). False if
    /// that happened.
    async fn settle(
        &self,
        app: &App,
        carry: Option<Carry<'_>>,
        carried: Option<(&Received, Result<bool, StoreError>)>,
        failed: &mut Vec<String>,
    ) -> bool {
        let carried = match carry {
            Some(c) => Some((c.m, c.write_alone(app).await)),
            None => carried,
        };
        let Some((m, Err(e))) = carried else { return true };
        warn!(message = %m.id, error = %e, "sent, but its state was not written; the message comes back");
        let wait = backoff(app.config.retry_base, m.receive_count);
        if let Err(e) = app.queue.set_visibility(&m.receipt, secs(wait)).await {
            warn!(message = %m.id, error = %e, "could not reschedule; the queue's visibility timeout applies");
        }
        failed.push(m.id.clone());
        false
    }

    /// Writes the carried `sent` state alone, before a job that sends without a claim of
    /// [`Self::claim`] (a bot's reply); false if it could not be written.
    async fn write_carried(&self, app: &App, turn: &mut Turn<'_>) -> bool {
        let Some(c) = turn.carry.take() else { return true };
        let written = c.write_alone(app).await;
        let ok = written.is_ok();
        turn.carried = Some((c.m, written));
        ok
    }

    /// Claims `d` (to `sending`, over `rev`), writing the carried `sent` state of the message
    /// before in the same round. Answers the claim's new revision, and leaves the carried
    /// write's outcome in `turn.carried` (true: written; false: someone else wrote a newer
    /// state, which stands). If the carried state could not be written, the claim answers an
    /// error even when it was written itself: nothing is sent before the send before it is
    /// recorded (the claim's lease then runs out before the delivery is taken again).
    async fn claim<'a>(&self, app: &App, d: &Delivery, rev: u64, turn: &mut Turn<'a>) -> Result<u64, StoreError> {
        let Some(c) = turn.carry.take() else { return app.repo.save_delivery(d, rev).await };
        let (claimed, before) = match app.repo.save_deliveries(&[(d, rev), (&c.d, c.rev)]).await {
            Ok(mut out) => {
                let before = out.pop().unwrap_or(Err(StoreError::Backend("no answer".into())));
                (out.pop().unwrap_or(Err(StoreError::Backend("no answer".into()))), before)
            }
            Err(e) => (Err(StoreError::Backend(e.to_string())), Err(e)),
        };
        let before = match before {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            // Tried again alone, as a state written after a send always is.
            Err(_) => c.write_alone(app).await,
        };
        let recorded = before.is_ok();
        turn.carried = Some((c.m, before));
        match claimed {
            Ok(_) if !recorded => Err(StoreError::Backend("the state of the send before this one could not be written".into())),
            claimed => claimed,
        }
    }

    #[tracing::instrument(skip_all, fields(message = %m.id, receive = m.receive_count))]
    async fn handle<'a>(&'a self, app: &'a App, m: &Received, turn: &mut Turn<'a>) -> Step {
        match Job::parse(&m.body) {
            None => {
                warn!("unreadable queue message; dead-lettered");
                Step::Dead
            }
            Some(Job::Expand { notification, resume }) => match notify::expand(app, &notification, resume).await {
                Ok(true) => Step::Done,
                Ok(false) => match orphan_wait(m.receive_count, m.receive_count >= app.config.max_receives) {
                    Some(wait) => Step::Retry(wait),
                    None => {
                        warn!(notification, "fan-out step for a notification never stored; acknowledged");
                        Step::Done
                    }
                },
                // Still being planned by the request that stored it: soon done.
                Err(crate::domain::Error::Conflict(_)) => Step::Retry(Duration::from_secs(1)),
                Err(e) => {
                    warn!(notification, error = %e, "fan-out step failed; will retry");
                    Step::Retry(backoff(app.config.retry_base, m.receive_count))
                }
            },
            Some(Job::Call { call }) => {
                // It sends: the send before it in its group must be recorded first.
                if !self.write_carried(app, turn).await {
                    return Step::Retry(backoff(app.config.retry_base, m.receive_count));
                }
                let last_chance = m.receive_count >= app.config.max_receives;
                match self.run_call(app, &call, last_chance).await {
                    Ok(step) => step,
                    Err(e) => {
                        warn!(call, error = %e, "store unavailable; will retry");
                        Step::Retry(backoff(app.config.retry_base, m.receive_count))
                    }
                }
            }
            Some(Job::Deliver { notification, delivery }) => {
                let last_chance = m.receive_count >= app.config.max_receives;
                match self.deliver(app, &notification, &delivery, (m.receive_count, last_chance), turn).await {
                    Ok(step) => step,
                    Err(e) => {
                        warn!(notification, delivery, error = %e, "store unavailable; will retry");
                        Step::Retry(backoff(app.config.retry_base, m.receive_count))
                    }
                }
            }
        }
    }

    /// Sends one delivery. Its claim takes the `sent` state carried from the message before;
    /// its own `sent` state is left in `turn.sent` for the next (see [`Self::process_group`]);
    /// every other state is written here.
    /// `receive`: the message's receive count, and whether this is its last.
    async fn deliver<'a>(
        &'a self,
        app: &'a App,
        nid: &str,
        did: &str,
        (receive_count, last_chance): (u32, bool),
        turn: &mut Turn<'a>,
    ) -> Result<Step, StoreError> {
        // Its own record if its state was written, else as planned in its notification; else
        // its record may be a moment away (written apart from the notification: a fan-out's
        // page, a notification Herald raised).
        let mut head = None;
        let found = match app.repo.delivery(nid, did).await? {
            None => {
                head = app.repo.notification(nid).await?;
                match head.as_ref().and_then(|n| n.value.planned_delivery(did)) {
                    Some(d) => Some(Versioned { value: d.clone(), rev: 0 }),
                    None => read_again(|| app.repo.delivery(nid, did)).await?,
                }
            }
            found => found,
        };
        let Some(Versioned { value: mut d, rev }) = found else {
            if let Some(wait) = orphan_wait(receive_count, last_chance) {
                return Ok(Step::Retry(wait));
            }
            warn!(notification = nid, delivery = did, "no such delivery; acknowledged");
            return Ok(Step::Done);
        };
        let now = app.now();
        if d.status.is_final() {
            return Ok(Step::Done);
        }
        if let Some(wait) = lease_left(app.config.lease, d.status, d.claimed_at, now, app.sole_since) {
            return Ok(Step::Retry(wait));
        }
        if d.hold_until.is_some_and(|h| h > now) {
            // Held for quiet hours: the sweeper enqueues it again when they end.
            return Ok(Step::Done);
        }
        let snap = app.snapshot().await?;
        let head = match head {
            Some(n) => Some(n),
            None => app.repo.notification(nid).await?,
        };
        let Some(n) = head else {
            // Its deliveries are written before it: it may be a moment away, or its request
            // failed between the two (and said so): then nothing is sent, and it is not a failure.
            if let Some(wait) = orphan_wait(receive_count, last_chance) {
                return Ok(Step::Retry(wait));
            }
            d.status = DeliveryStatus::Skipped;
            d.reason = Some("its notification was never stored (the request that made it failed) or is gone".into());
            d.updated_at = app.now();
            self.save_final(app, &d, rev).await?;
            return Ok(Step::Done);
        };
        // What planning decided is asked again now: the delivery may have been held for hours.
        let person = match &d.user {
            Some(id) => app.repo.user(id).await?.map(|v| v.value),
            None => None,
        };
        let skip = match snap.channel(&d.channel) {
            None => Some(crate::routing::plan::Skip::channel(format!("channel {} no longer exists", d.channel))),
            Some(c) => crate::routing::plan::recheck(&snap.settings, c, &n.value, &d, person.as_ref()),
        };
        if let Some(skip) = skip {
            return self.skip(app, d, rev, &n.value, skip).await;
        }
        let Some(channel) = snap.channel(&d.channel) else { return Ok(Step::Done) };
        // Quiet hours that began since planning: held (deferrable types) or sent silently.
        if let Some(end) = person.as_ref().and_then(|u| u.preferences.quiet_hours.as_ref()).and_then(|q| q.ends_after(now)) {
            if snap.settings.is_deferrable(&n.value.ty) {
                d.hold_until = Some(end);
                d.updated_at = now;
                return match app.repo.save_delivery(&d, rev).await {
                    Ok(_) | Err(StoreError::ConditionFailed) => Ok(Step::Done),
                    Err(e) => Err(e),
                };
            }
            d.silent = true;
        }
        // A platform that drops what passes its limit without a word (WeCom) has every part
        // of a long message paced; the others answer 429 and the send resumes after the wait.
        let p = platforms::sender(channel.kind());
        let slots = if p.drops_past_limits() {
            let rendered = p.render(channel, &d.recipient, &Message::new(&n.value, &d)).len() as u32;
            rendered.saturating_sub(d.parts_done).max(1)
        } else {
            1
        };
        for _ in 0..slots {
            if !last_chance && let Pace::Later(wait) = self.pacer.acquire(&app.repo, channel, &d.recipient).await? {
                return Ok(Step::Retry(wait));
            }
        }

        d.status = DeliveryStatus::Sending;
        d.attempts += 1;
        d.claimed_at = Some(now);
        // Claimed: off the held index, whether or not the sweeper got to clear it.
        d.hold_until = None;
        d.updated_at = now;
        let rev = match self.claim(app, &d, rev, turn).await {
            Ok(r) => r,
            // Someone else moved it on: look again later.
            Err(StoreError::ConditionFailed) => return Ok(Step::Retry(Duration::from_secs(1))),
            Err(e) => return Err(e),
        };

        let message = Message::new(&n.value, &d);
        let started = Instant::now();
        let _window = InFlight::enter(&self.in_flight);
        let report = platforms::send(&app.platform_context(), channel, &d.recipient, &message, d.parts_done).await;
        let (outcome, note) = (report.outcome, report.note);
        d.parts_done = report.parts_done;
        let latency_ms = started.elapsed().as_millis() as u64;
        info!(delivery = %d.id, notification = %d.notification, channel = %d.channel, kind = %channel.kind(), outcome = outcome.label(), attempt = d.attempts, latency_ms, "send");
        crate::dispatch::metrics::emit(channel.kind().as_str(), outcome.label(), latency_ms);

        let now = app.now();
        d.updated_at = now;
        match self.judge(app, (channel, &d.recipient), channel.kind().as_str(), outcome, d.attempts, last_chance) {
            Verdict::Sent => {
                d.status = DeliveryStatus::Sent;
                d.sent_at = Some(now);
                d.reason = note;
                self.count_final(app, &d, channel.kind().as_str());
                turn.sent = Some((d, rev, InFlight::enter(&self.in_flight)));
                Ok(Step::Done)
            }
            Verdict::Again { after, reason, counted } => {
                d.status = DeliveryStatus::Queued;
                d.attempts -= u32::from(!counted);
                d.reason = Some(reason);
                // After a send (parts may have gone out): retried like a final state.
                persist(|| app.repo.save_delivery(&d, rev)).await?;
                Ok(Step::Retry(after))
            }
            Verdict::Fail { reason, unreachable } => self.fail(app, d, rev, Some(&n.value), &reason, unreachable).await,
            Verdict::Moved(to) => {
                self.moved(app, &mut d, rev, &to).await?;
                Ok(Step::Done)
            }
        }
    }

    /// What a send's outcome means for its record, the same for deliveries and calls.
    fn judge(
        &self,
        app: &App,
        (channel, chat): (&crate::platforms::config::Channel, &str),
        kind: &str,
        outcome: SendOutcome,
        attempts: u32,
        last_chance: bool,
    ) -> Verdict {
        match outcome {
            SendOutcome::Sent => Verdict::Sent,
            // On the queue's last receive a wait would end in the dead-letter queue unrecorded:
            // a failure, recorded and told, instead (a redrive sends it again).
            SendOutcome::RateLimited { retry_after, reason } if last_chance => {
                self.pacer.pause(channel, chat, retry_after);
                Verdict::Fail { reason: format!("still rate limited on the queue's last receive: {reason}"), unreachable: false }
            }
            SendOutcome::RateLimited { retry_after, reason } => {
                self.pacer.pause(channel, chat, retry_after);
                crate::dispatch::metrics::emit(kind, "rescheduled", 0);
                // The platform asked us to wait: not a failed try.
                Verdict::Again { after: retry_after.max(Duration::from_secs(1)), reason: format!("rate limited: {reason}"), counted: false }
            }
            SendOutcome::Transient { reason } if attempts < app.config.max_attempts && !last_chance => {
                crate::dispatch::metrics::emit(kind, "retried", 0);
                Verdict::Again { after: backoff(app.config.retry_base, attempts), reason, counted: true }
            }
            SendOutcome::Transient { reason } => Verdict::Fail { reason: format!("gave up after {attempts} attempts: {reason}"), unreachable: false },
            SendOutcome::Permanent { reason, unreachable } => Verdict::Fail { reason, unreachable },
            SendOutcome::Moved { to } => Verdict::Moved(to),
        }
    }

    /// Makes one stored platform call (a bot's reply), once, like a delivery.
    async fn run_call(&self, app: &App, id: &str, last_chance: bool) -> Result<Step, StoreError> {
        let Some(Versioned { value: mut c, rev }) = app.repo.call(id).await? else { return Ok(Step::Done) };
        let now = app.now();
        if c.status.is_final() {
            return Ok(Step::Done);
        }
        if let Some(wait) = lease_left(app.config.lease, c.status, c.claimed_at, now, app.sole_since) {
            return Ok(Step::Retry(wait));
        }
        let snap = app.snapshot().await?;
        let Some(channel) = snap.channel(&c.channel).filter(|ch| ch.enabled) else {
            c.status = DeliveryStatus::Failed;
            c.reason = Some(format!("channel {} is gone or disabled", c.channel));
            app.repo.save_call(&c, rev).await?;
            return Ok(Step::Dead);
        };
        if !last_chance && let Pace::Later(wait) = self.pacer.acquire(&app.repo, channel, &c.chat).await? {
            return Ok(Step::Retry(wait));
        }
        c.status = DeliveryStatus::Sending;
        c.attempts += 1;
        c.claimed_at = Some(now);
        c.updated_at = now;
        let rev = match app.repo.save_call(&c, rev).await {
            Ok(r) => r,
            Err(StoreError::ConditionFailed) => return Ok(Step::Retry(Duration::from_secs(1))),
            Err(e) => return Err(e),
        };
        let started = Instant::now();
        let call = ApiCall::new(c.chat.clone(), c.method.clone(), c.payload.clone());
        let outcome = platforms::execute(&app.platform_context(), channel, &call).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        info!(call = %c.id, method = %c.method, channel = %c.channel, outcome = outcome.label(), attempt = c.attempts, latency_ms, "call");
        crate::dispatch::metrics::emit(channel.kind().as_str(), outcome.label(), latency_ms);
        c.updated_at = app.now();
        let step = match self.judge(app, (channel, &c.chat), channel.kind().as_str(), outcome, c.attempts, last_chance) {
            Verdict::Sent => {
                c.status = DeliveryStatus::Sent;
                c.reason = None;
                Step::Done
            }
            Verdict::Again { after, reason, counted } => {
                c.status = DeliveryStatus::Queued;
                c.attempts -= u32::from(!counted);
                c.reason = Some(reason);
                Step::Retry(after)
            }
            Verdict::Fail { reason, .. } => {
                warn!(call = %c.id, method = %c.method, reason, "call failed");
                c.status = DeliveryStatus::Failed;
                c.reason = Some(reason);
                Step::Dead
            }
            Verdict::Moved(to) => {
                c.status = DeliveryStatus::Failed;
                c.reason = Some(format!("the chat moved to {to}"));
                Step::Done
            }
        };
        persist(|| app.repo.save_call(&c, rev)).await?;
        Ok(step)
    }

    /// A delivery that is no longer wanted (see [`crate::routing::plan::recheck`]): recorded `skipped`
    /// with the reason, nothing sent. When its channel is what went away (disabled, gone, no
    /// longer carrying the type), a user's copy goes to another channel they are bound on.
    async fn skip(&self, app: &App, mut d: Delivery, rev: u64, n: &Notification, skip: crate::routing::plan::Skip) -> Result<Step, StoreError> {
        d.status = DeliveryStatus::Skipped;
        d.reason = Some(skip.reason.clone());
        d.hold_until = None;
        d.updated_at = app.now();
        if skip.channel_gone
            && let Some(user) = d.user.clone()
        {
            self.fall_back(app, n, &d, &user, format!("fallback: {}", skip.reason)).await?;
        }
        if self.save_final(app, &d, rev).await? {
            self.count_final(app, &d, &Self::kind_of(app, &d.channel).await);
        }
        info!(delivery = %d.id, channel = %d.channel, reason = skip.reason, "delivery skipped");
        Ok(Step::Done)
    }

    /// Writes a delivery's final state; false if someone else wrote a newer one first.
    async fn save_final(&self, app: &App, d: &Delivery, rev: u64) -> Result<bool, StoreError> {
        persist(|| app.repo.save_delivery(d, rev)).await
    }

    /// A delivery that will not be sent: `failed` with the reason, counted, the recipient
    /// marked unreachable if the platform said so, another channel tried for a user; unless that
    /// reached them, filed in the message center, the admins told (not of a user who blocked the
    /// bot) and the message goes to the dead-letter queue (a redrive sends it again). What must
    /// follow the failure (unreachable, fallback) is done before the final state is written,
    /// and each is safe to repeat: if a step fails, the message comes back and does it again.
    async fn fail(
        &self,
        app: &App,
        mut d: Delivery,
        rev: u64,
        n: Option<&Notification>,
        reason: &str,
        unreachable: bool,
    ) -> Result<Step, StoreError> {
        d.status = DeliveryStatus::Failed;
        d.reason = Some(reason.to_owned());
        d.updated_at = app.now();
        let mut reached_elsewhere = false;
        if let (Some(n), Some(user)) = (n, &d.user) {
            if unreachable {
                mark_unreachable(app, user, &d.channel, reason).await?;
            }
            reached_elsewhere = self.fall_back(app, n, &d, user, format!("fallback after {} failed", d.channel)).await?;
        }
        if !self.save_final(app, &d, rev).await? {
            return Ok(Step::Done);
        }
        self.count_final(app, &d, &Self::kind_of(app, &d.channel).await);
        let short = short_reason(reason);
        self.count(app, "#reasons", &short);
        warn!(delivery = %d.id, channel = %d.channel, reason, unreachable, "delivery failed");
        crate::dispatch::metrics::emit("-", "failed", 0);

        let Some(n) = n else { return Ok(Step::Dead) };
        if reached_elsewhere {
            // Reached on another channel: nothing is lost, nothing to dead-letter (a redrive
            // would send it again where it cannot go, and the dead-letter alarm is for losses).
            return Ok(Step::Done);
        }
        // One entry in the message center per channel and reason an hour, and a notice to the
        // admins; none for notices about notices. A user who cannot be reached there (blocked
        // the bot: marked, not the admins' to fix) gets the entry but no notice. A fixed target
        // that is gone (a webhook URL answering 404) is the channel's setting: told.
        let is_notice = n.template.as_ref().is_some_and(|t| t.key == "delivery.failed");
        let users_own = unreachable && d.user.is_some();
        if !is_notice && app.repo.first_time("failnotice", &crate::domain::ids::stable_id(&[&d.channel, &short]), 3600).await? {
            let t = crate::domain::notification::Template {
                key: "delivery.failed".into(),
                params: crate::params! {"type" => n.ty, "recipient" => d.recipient, "channel" => d.channel, "reason" => reason},
            };
            if let Err(e) = notify::file(app, "failure", t.clone(), Some(&n.id)).await {
                warn!(error = %e, "could not file the failure in the message center");
            }
            // And tell the admins wherever else they are reached.
            if !users_own && let Err(e) = notify::raise(app, "system", crate::domain::notification::Target::Admins, t, &[&d.channel]).await {
                warn!(error = %e, "could not notify the admins of the failure");
            }
        }
        Ok(Step::Dead)
    }

    /// Sends a user's failed delivery on another channel they are bound on, if there is one not
    /// tried yet for this notification. True if it did, or if this notification's own delivery
    /// on another channel was already sent to them (they are reached; nothing is lost).
    async fn fall_back(&self, app: &App, n: &Notification, failed: &Delivery, user: &str, note: String) -> Result<bool, StoreError> {
        let Some(u) = app.repo.user(user).await? else { return Ok(false) };
        let snap = app.snapshot().await?;
        for c in snap.channels.iter().filter(|c| c.carries(&n.ty) && c.name != failed.channel) {
            let Some(chat) = crate::platforms::reachable(c, &u.value).into_iter().next() else { continue };
            let d = requeued(failed, &c.name, &chat, note.clone(), app.now());
            let other = match app.repo.delivery(&n.id, &d.id).await? {
                Some(v) => Some(v.value),
                None => n.planned_delivery(&d.id).cloned(),
            };
            match other {
                // The same fallback, from an earlier try that stopped short: queued again.
                Some(e) if e.note == d.note => {}
                // The notification's own delivery there already reached them.
                Some(e) if e.status == DeliveryStatus::Sent => return Ok(true),
                // Planned there too, not sent yet (it may fail as well): no fallback, and not
                // counted as reached, so a failure is never left untold.
                Some(_) => continue,
                None => {}
            }
            add_and_enqueue(app, &d).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The chat moved (Telegram group → supergroup): update where it is stored and send the
    /// delivery there as a new one, then close this one (in that order, as in [`Self::fail`]).
    async fn moved(&self, app: &App, d: &mut Delivery, rev: u64, to: &str) -> Result<(), StoreError> {
        app.repo.move_chat(&d.channel, &d.recipient, to).await?;
        app.invalidate();
        add_and_enqueue(app, &requeued(d, &d.channel, to, format!("chat {} moved", d.recipient), app.now())).await?;
        d.status = DeliveryStatus::Failed;
        d.reason = Some(format!("the chat moved to {to}; sent there instead"));
        self.save_final(app, d, rev).await?;
        Ok(())
    }
}

/// A new delivery of `old`'s notification to another chat (a fallback, a moved chat): its own
/// id, nothing of it sent yet.
fn requeued(old: &Delivery, channel: &str, recipient: &str, note: String, now: jiff::Timestamp) -> Delivery {
    Delivery {
        id: Delivery::id_for(&old.notification, channel, recipient),
        channel: channel.to_owned(),
        recipient: recipient.to_owned(),
        status: DeliveryStatus::Queued,
        reason: None,
        note: Some(note),
        attempts: 0,
        parts_done: 0,
        hold_until: None,
        claimed_at: None,
        sent_at: None,
        updated_at: now,
        ..old.clone()
    }
}

/// Stores `d` unless it is there already, and queues it. Safe to repeat: the store keeps the
/// first copy, and the dispatcher sends a delivery once however often it is queued.
async fn add_and_enqueue(app: &App, d: &Delivery) -> Result<(), StoreError> {
    app.repo.add_deliveries(std::slice::from_ref(d), false).await?;
    app.queue.send(vec![Job::deliver(d)]).await.map_err(|e| StoreError::Backend(e.to_string()))
}

/// Counts a send from its start until its outcome is written (the guard drops at the end of
/// `deliver`).
struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(n: &'a std::sync::atomic::AtomicUsize) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A delivery's `sent` state not yet written, carried to the next message's claim
/// ([`Dispatcher::process_group`]); counted in flight until written.
struct Carry<'a> {
    m: &'a Received,
    d: Delivery,
    rev: u64,
    _window: InFlight<'a>,
}

impl Carry<'_> {
    /// Writes the carried state by itself (retried briefly, as every state after a send).
    async fn write_alone(&self, app: &App) -> Result<bool, StoreError> {
        persist(|| app.repo.save_delivery(&self.d, self.rev)).await
    }
}

/// What one message's handling takes and leaves: the `sent` state carried to it (taken by its
/// claim, whose outcome is then in `carried`), and its own `sent` state to carry on.
struct Turn<'a> {
    carry: Option<Carry<'a>>,
    carried: Option<(&'a Received, Result<bool, StoreError>)>,
    sent: Option<(Delivery, u64, InFlight<'a>)>,
}

/// Writes a state after a send, retrying a failed store write briefly: the platform call
/// already happened, so giving up here is the one way to make it twice. A condition failure
/// means someone else wrote a newer state, which stands (false).
async fn persist<T, F: std::future::Future<Output = Result<T, StoreError>>>(write: impl Fn() -> F) -> Result<bool, StoreError> {
    let mut last = StoreError::ConditionFailed;
    for attempt in 0..4 {
        match write().await {
            Ok(_) => return Ok(true),
            Err(StoreError::ConditionFailed) => return Ok(false),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
    }
    Err(last)
}

async fn mark_unreachable(app: &App, user: &str, channel: &str, reason: &str) -> Result<(), StoreError> {
    let Some(on) = app.snapshot().await?.channel(channel).map(|c| c.binding()) else { return Ok(()) };
    for _ in 0..3 {
        let Some(u) = app.repo.user(user).await? else { return Ok(()) };
        let mut updated = u.value.clone();
        updated.unreachable.insert(on.clone(), reason.chars().take(200).collect());
        match app.repo.save_user(&updated, Some(&u)).await {
            Ok(()) => return Ok(()),
            Err(crate::store::repo::BindError::Store(StoreError::ConditionFailed)) => continue,
            Err(crate::store::repo::BindError::Store(e)) => return Err(e),
            Err(crate::store::repo::BindError::Taken { .. }) => return Ok(()),
        }
    }
    Ok(())
}

/// Releases held deliveries whose time has come and re-plans notifications whose planning never
/// finished. Run by the scheduler every few minutes and by the local runner.
pub async fn sweep(app: &App) -> Result<(u32, u32), crate::domain::Error> {
    let now = app.now();
    let mut released = 0;
    let due = app.repo.due_held(now, 500).await?;
    // Queued first, then taken off the held index: a failure in between loses nothing (they
    // stay held and due) and sends nothing twice (the dispatcher sends a delivery once, and its
    // claim takes the delivery off the index too).
    // Deduplicated per hold: a delivery queued once already (then held at send time because
    // quiet hours had begun) is queued again however soon its hold ends.
    let messages = due
        .iter()
        .map(|h| {
            let mut m = Job::deliver(&h.value);
            m.dedup = format!("{}-h{}", h.value.id, h.value.hold_until.map(|t| t.as_second()).unwrap_or(0));
            m
        })
        .collect();
    app.queue.send(messages).await?;
    for held in due {
        let mut d = held.value;
        d.hold_until = None;
        d.updated_at = now;
        match app.repo.save_delivery(&d, held.rev).await {
            Ok(_) => released += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let dead = app.queue.depth().await?.dead;
    let day = app.repo.local_day(now).to_string();
    if dead > 0 && app.repo.first_time("deadletters", &day, 86_400).await? {
        let t = crate::domain::notification::Template { key: "queue.dead_letters".into(), params: crate::params! {"count" => dead} };
        notify::file(app, "failure", t, None).await?;
    }
    let mut replanned = 0;
    let stale = now.checked_sub(SignedDuration::from_secs(120)).unwrap_or(Timestamp::UNIX_EPOCH);
    for n in app.repo.unplanned(stale, 100).await? {
        notify::replan(app, &n).await?;
        replanned += 1;
    }
    Ok((released, replanned))
}

/// Takes a redriven delivery's failure back off the counters of the day it failed (`failed` for
/// its channel, and its reason), as it is counted again by how it ends: the day's counters count
/// deliveries, not attempts. Only where that day's counter holds it: the settings' time zone may
/// have changed since it was counted (moving which day it falls on), and no counter goes below 0.
/// The channel's counter of that day is found whatever its kind (the channel may be gone).
async fn uncount_failure(app: &App, d: &Delivery) -> Result<(), StoreError> {
    app.repo.ensure_tz().await?;
    let day = app.repo.local_day(d.updated_at).to_string();
    let held = app.repo.delivery_stats(&day).await?.into_iter().find(|(_, c, s, n)| *c == d.channel && s == "failed" && *n > 0);
    if let Some((kind, ..)) = held {
        app.repo.bump(&day, &crate::store::repo::delivery_counter(&kind, &d.channel, "failed"), -1).await?;
    }
    let reasons = format!("{day}#reasons");
    let short = short_reason(d.reason.as_deref().unwrap_or_default());
    if app.repo.stats(&reasons).await?.get(&short).is_some_and(|n| *n > 0) {
        app.repo.bump(&reasons, &short, -1).await?;
    }
    Ok(())
}

/// A failure's reason as the daily report counts it: its first 60 characters.
fn short_reason(reason: &str) -> String {
    reason.chars().take(60).collect()
}

/// Sends dead-lettered messages again: each delivery that failed goes back to `queued` with its
/// attempts reset, and its message onto the queue. Moves at most `max`, and stops early when
/// `deadline` draws near ([`crate::jobs::out_of_time`]); the rest stay for the next call.
/// Returns how many messages moved. Each job moves once a call: one sent again that fails
/// again at once and is dead-lettered anew is left for the next call (it comes back after the
/// queue's visibility timeout), rather than going round within this one.
pub async fn redrive(app: &App, max: usize, deadline: Option<Timestamp>) -> Result<usize, crate::domain::Error> {
    let mut moved = 0;
    let mut seen = std::collections::HashSet::new();
    while moved < max && !crate::jobs::out_of_time(app, deadline) {
        let batch = app.queue.dead_letters((max - moved).min(crate::queue::MAX_BATCH)).await?;
        let fresh: Vec<Received> = batch.into_iter().filter(|m| seen.insert(m.body.clone())).collect();
        if fresh.is_empty() {
            break;
        }
        for m in fresh {
            let mut out = crate::queue::OutMessage { body: m.body.clone(), group: m.group.clone(), dedup: String::new() };
            match Job::parse(&m.body) {
                Some(Job::Deliver { notification, delivery }) => {
                    if let Some(v) = app.repo.delivery(&notification, &delivery).await?
                        && v.value.status == DeliveryStatus::Failed
                    {
                        let failed = v.value.clone();
                        let mut d = v.value;
                        d.status = DeliveryStatus::Queued;
                        d.attempts = 0;
                        d.reason = Some(format!("redriven after: {}", d.reason.unwrap_or_default()));
                        d.updated_at = app.now();
                        app.repo.save_delivery(&d, v.rev).await?;
                        if let Err(e) = uncount_failure(app, &failed).await {
                            warn!(delivery = %d.id, error = %e, "failure not taken off the day's counters");
                        }
                    }
                }
                Some(Job::Call { call }) => {
                    if let Some(v) = app.repo.call(&call).await?
                        && v.value.status == DeliveryStatus::Failed
                    {
                        let mut c = v.value;
                        c.status = DeliveryStatus::Queued;
                        c.attempts = 0;
                        c.updated_at = app.now();
                        app.repo.save_call(&c, v.rev).await?;
                    }
                }
                _ => {}
            }
            // A fresh deduplication id: the original may still be inside SQS's five-minute window.
            out.dedup = format!("{}-r{}", m.id, app.now().as_millisecond());
            app.queue.send(vec![out]).await?;
            app.queue.delete_dead(&m.receipt).await?;
            moved += 1;
        }
    }
    Ok(moved)
}
