//! The sweeper: finds due timers in the due-minute buckets, claims each with a conditional
//! write, calls its URL, and records the outcome under the claim.
//!
//! Which minutes a sweep reads: every minute from the saved cursor (the oldest minute that may
//! still hold due timers) up to the current one, at most `catchup_minutes` of old ones per run,
//! plus always the last `lookback_minutes`, so recent timers are never starved by a backlog and
//! a timer written just as its minute was swept is found on the next run. The cursor moves past
//! an old minute only once that minute held nothing this sweep could not settle.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::SweepSettings;
use crate::domain::{bucket_for, Minute, Timer, TimerId};
use crate::error::StoreError;
use crate::store::{Claim, DueTimer, Outcome, TimerStore};
use crate::webhook::{CallResult, Webhook, WebhookCall};

/// Bucket queries in flight at once.
const LIST_CONCURRENCY: usize = 16;
/// Time kept between the last try to record an outcome and the end of the claim's lease.
const RECORD_SAFETY: Duration = Duration::from_secs(1);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Where the current time comes from, so tests can set it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's UTC clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Minutes read (each over every shard).
    pub minutes: usize,
    /// Due timers listed by the index.
    pub found: usize,
    /// Timers this sweep claimed and called.
    pub claimed: usize,
    pub fired: usize,
    pub retried: usize,
    pub failed: usize,
    /// Listed but not claimable: fired meanwhile, or held by another sweeper's live lease.
    pub skipped: usize,
    /// Not started because the sweep was told to stop (deadline or store error).
    pub left_for_next_run: usize,
    /// Calls whose claim ran out before the outcome could be recorded.
    pub lost_claims: usize,
    /// Store requests that failed; the sweep stopped claiming at the first.
    pub store_errors: usize,
    /// The oldest minute the next sweep starts from, e.g. `2026-12-03T13:45Z`.
    pub cursor: String,
    /// How late each fired call was, in milliseconds after its due (or retry) time.
    #[serde(skip)]
    pub lateness_ms: Vec<i64>,
}

impl SweepReport {
    /// Adds the counts of `other`, another part of the same run, to this report.
    fn absorb(&mut self, other: SweepReport) {
        self.minutes += other.minutes;
        self.found += other.found;
        self.claimed += other.claimed;
        self.fired += other.fired;
        self.retried += other.retried;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.left_for_next_run += other.left_for_next_run;
        self.lost_claims += other.lost_claims;
        self.store_errors += other.store_errors;
        self.lateness_ms.extend(other.lateness_ms);
    }

    fn count(&mut self, step: Step) {
        let counter = match step {
            Step::Fired(late_ms) => {
                self.lateness_ms.push(late_ms);
                &mut self.fired
            }
            Step::Retried => &mut self.retried,
            Step::Failed => &mut self.failed,
            Step::Skipped => &mut self.skipped,
            Step::LeftForNextRun => &mut self.left_for_next_run,
            Step::LostClaim => &mut self.lost_claims,
            Step::StoreError => &mut self.store_errors,
        };
        *counter += 1;
        if matches!(
            step,
            Step::Fired(_) | Step::Retried | Step::Failed | Step::LostClaim
        ) {
            self.claimed += 1;
        }
    }
}

/// The most values one metric of an embedded-metric-format line may carry.
const EMF_MAX_VALUES: usize = 100;

impl SweepReport {
    /// The report as one CloudWatch embedded-metric-format line (namespace `WebhookTimers`):
    /// counts of fired, retried, failed and left timers, store errors, and lateness samples.
    pub fn metrics(&self, at: DateTime<Utc>) -> serde_json::Value {
        let metric = |name: &str, unit: &str| serde_json::json!({"Name": name, "Unit": unit});
        let lateness: Vec<i64> = self
            .lateness_ms
            .iter()
            .take(EMF_MAX_VALUES)
            .copied()
            .collect();
        let mut line = serde_json::json!({
            "_aws": {
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "WebhookTimers",
                    "Dimensions": [[]],
                    "Metrics": [
                        metric("Fired", "Count"),
                        metric("Retried", "Count"),
                        metric("Failed", "Count"),
                        metric("LeftForNextRun", "Count"),
                        metric("StoreErrors", "Count"),
                        metric("LatenessMs", "Milliseconds"),
                    ],
                }],
            },
            "Fired": self.fired,
            "Retried": self.retried,
            "Failed": self.failed,
            "LeftForNextRun": self.left_for_next_run,
            "StoreErrors": self.store_errors,
            "LatenessMs": lateness,
        });
        if self.lateness_ms.is_empty() {
            // A metric with no value is refused; leave lateness out when nothing fired.
            line.as_object_mut().unwrap().remove("LatenessMs");
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array_mut()
                .unwrap()
                .pop();
        }
        line
    }
}

/// The minutes one sweep reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPlan {
    /// Old minutes being caught up on: `start..end` (end exclusive).
    pub catch_up: std::ops::Range<i64>,
    /// The recent window: `start..=end`, ending at the current minute.
    pub recent: std::ops::RangeInclusive<i64>,
}

impl SweepPlan {
    /// Plans the sweep at `now` from the saved `cursor` (if any).
    pub fn new(cursor: Option<Minute>, now: DateTime<Utc>, settings: &SweepSettings) -> Self {
        let current = Minute::of(now);
        let recent_start = current.plus(-settings.lookback_minutes);
        let start = cursor
            .unwrap_or(recent_start.plus(-settings.first_lookback_minutes))
            .min(recent_start);
        let end = start.plus(settings.catchup_minutes).min(recent_start);
        Self {
            catch_up: start.0..end.0,
            recent: recent_start.0..=current.0,
        }
    }

    /// Every minute read, old ones first.
    pub fn minutes(&self) -> impl Iterator<Item = Minute> + '_ {
        self.catch_up.clone().chain(self.recent.clone()).map(Minute)
    }

    /// Where the cursor goes once the sweep is over: the oldest caught-up minute that still
    /// holds a timer this sweep could not settle, else the end of the caught-up range.
    pub fn next_cursor(&self, unsettled: impl IntoIterator<Item = Minute>) -> Minute {
        unsettled
            .into_iter()
            .filter(|m| self.catch_up.contains(&m.0))
            .min()
            .unwrap_or(Minute(self.catch_up.end))
    }
}

/// Epoch milliseconds of 2001-09-09: a Lambda deadline below this is not a timestamp.
const FIRST_13_DIGIT_MS: u64 = 1_000_000_000_000;

/// When a sweep given `deadline_ms` by the Lambda runtime must stop claiming, keeping `keep_back`
/// to finish the last calls and record them. AWS sends the deadline as epoch milliseconds;
/// `cargo lambda watch` sends the timeout in milliseconds instead, read here from `now`.
pub fn stop_claiming_at(
    deadline_ms: u64,
    now: DateTime<Utc>,
    keep_back: Duration,
) -> DateTime<Utc> {
    let deadline = if deadline_ms < FIRST_13_DIGIT_MS {
        now + Duration::from_millis(deadline_ms)
    } else {
        DateTime::from_timestamp_millis(i64::try_from(deadline_ms).unwrap_or(i64::MAX))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    deadline - keep_back
}

/// How long to wait before attempt `attempt + 1`: exponential from `base`, capped at `max`,
/// with "equal jitter" (half fixed, half scaled by `jitter` in 0..1) so retries spread out.
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    let full = base.saturating_mul(factor).min(max);
    full / 2 + (full / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// Decides what a call's result means for timer `id` after its attempt number `attempt`.
pub fn decide(
    result: &CallResult,
    id: &str,
    attempt: u32,
    at: DateTime<Utc>,
    settings: &SweepSettings,
    shards: u16,
    jitter: f64,
) -> Outcome {
    let at_ms = at.timestamp_millis();
    let (status, retry_after, error, retryable) = match result {
        CallResult::Answered { status, .. } if (200..300).contains(status) => {
            return Outcome::Fired {
                at: at_ms,
                status: *status,
            }
        }
        CallResult::Answered {
            status,
            retry_after,
        } => {
            let retryable = *status >= 500 || matches!(status, 408 | 429);
            let error = match status {
                300..=399 => format!("target answered {status}; redirects are not followed"),
                _ if retryable => format!("target answered {status}"),
                _ => format!("target answered {status}; not retried"),
            };
            let retry_after = if matches!(status, 429 | 503) {
                *retry_after
            } else {
                None
            };
            (Some(*status), retry_after, error, retryable)
        }
        CallResult::NoAnswer { error } => (None, None, error.clone(), true),
        CallResult::Forbidden { error } => (None, None, format!("not called: {error}"), false),
    };
    if !retryable {
        return Outcome::Failed {
            at: at_ms,
            status,
            error,
        };
    }
    if attempt >= settings.max_attempts {
        return Outcome::Failed {
            at: at_ms,
            status,
            error: format!("{error}; gave up after {attempt} attempts"),
        };
    }
    let wait = backoff(attempt, settings.retry_base, settings.retry_max, jitter)
        .max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
    // Rounded up to the millisecond, as `at_ms` is rounded down: never before the time a
    // `Retry-After` date asked for.
    let wait_ms = i64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
    let fire_at = at_ms.saturating_add(wait_ms);
    let bucket = match TimerId::parse(id) {
        Ok(id) => bucket_for(&id, fire_at, shards),
        Err(_) => Minute::containing(fire_at).bucket(0),
    };
    Outcome::Retry {
        at: at_ms,
        status,
        error,
        fire_at,
        bucket,
    }
}

/// What happened to one listed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Fired, this many milliseconds after it was due (or after its retry time).
    Fired(i64),
    Retried,
    Failed,
    Skipped,
    LeftForNextRun,
    LostClaim,
    StoreError,
}

impl Step {
    /// Whether the timer no longer sits unsettled in the minute it was listed under.
    fn settled(self) -> bool {
        matches!(self, Self::Fired(_) | Self::Retried | Self::Failed)
    }
}

/// Fires due timers. Safe to run several at once: every call is preceded by a claim.
#[derive(Clone)]
pub struct Sweeper {
    store: Arc<dyn TimerStore>,
    webhook: Arc<dyn Webhook>,
    clock: Arc<dyn Clock>,
    settings: SweepSettings,
    shards: u16,
    /// When the invocation ends (the Lambda deadline): outcomes are not retried past it.
    finish_by: Option<DateTime<Utc>>,
}

impl Sweeper {
    pub fn new(
        store: Arc<dyn TimerStore>,
        webhook: Arc<dyn Webhook>,
        clock: Arc<dyn Clock>,
        settings: SweepSettings,
        shards: u16,
    ) -> Self {
        Self {
            store,
            webhook,
            clock,
            settings,
            shards,
            finish_by: None,
        }
    }

    /// The same sweeper for an invocation that ends at `deadline`: a failed write of an outcome
    /// is not tried again past it.
    #[must_use]
    pub fn finishing_by(&self, deadline: DateTime<Utc>) -> Self {
        Self {
            finish_by: Some(deadline),
            ..self.clone()
        }
    }

    /// Runs one sweep. It stops claiming at `stop_claiming_at` (if given) and at the first
    /// store error, finishes the calls it started, and leaves the rest for the next run.
    /// An error means the due timers could not even be listed; nothing was claimed then.
    pub async fn sweep(
        &self,
        stop_claiming_at: Option<DateTime<Utc>>,
    ) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let cursor = self.store.sweep_cursor().await?;
        let plan = SweepPlan::new(cursor, now, &self.settings);
        let mut due = self.list(plan.minutes(), now.timestamp_millis()).await?;
        // Recent timers first, so a backlog of old ones never makes them late; then oldest first.
        let recent_start = *plan.recent.start();
        due.sort_by_key(|d| (Minute::containing(d.fire_at).0 < recent_start, d.fire_at));

        let stop = AtomicBool::new(false);
        let stop = &stop;
        let steps: Vec<(Minute, Step)> = stream::iter(due.iter().cloned())
            .map(|d| async move {
                let step = self.fire_one(&d, stop_claiming_at, stop).await;
                (Minute::containing(d.fire_at), step)
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;

        let mut report = SweepReport {
            minutes: plan.minutes().count(),
            found: due.len(),
            ..SweepReport::default()
        };
        for (_, step) in &steps {
            report.count(*step);
        }

        // After a store error, the cursor stays where it was: the next run starts over there.
        let next = cursor.unwrap_or(Minute(plan.catch_up.start));
        let next = if report.store_errors > 0 {
            next
        } else {
            plan.next_cursor(
                steps
                    .iter()
                    .filter(|(_, step)| !step.settled())
                    .map(|(minute, _)| *minute),
            )
        };
        if report.store_errors == 0 && cursor != Some(next) {
            if let Err(e) = self.store.set_sweep_cursor(next).await {
                tracing::error!(error = %e, "could not save the sweep cursor; the next run reads from the old one");
                report.store_errors += 1;
            }
        }
        report.cursor = next.label();
        tracing::info!(
            minutes = report.minutes,
            found = report.found,
            fired = report.fired,
            retried = report.retried,
            failed = report.failed,
            skipped = report.skipped,
            left_for_next_run = report.left_for_next_run,
            lost_claims = report.lost_claims,
            store_errors = report.store_errors,
            cursor = %report.cursor,
            "sweep finished"
        );
        Ok(report)
    }

    /// Lists the timers of every shard of `minutes` whose `fire_at` is at or before `upto_ms`.
    async fn list(
        &self,
        minutes: impl Iterator<Item = Minute>,
        upto_ms: i64,
    ) -> Result<Vec<DueTimer>, StoreError> {
        let buckets: Vec<String> = minutes
            .flat_map(|m| (0..self.shards).map(move |shard| m.bucket(shard)))
            .collect();
        let pages: Vec<Result<Vec<DueTimer>, StoreError>> = stream::iter(buckets)
            .map(|bucket| async move { self.store.due_timers(&bucket, upto_ms).await })
            .buffer_unordered(LIST_CONCURRENCY)
            .collect()
            .await;
        let mut due = Vec::new();
        for page in pages {
            due.extend(page?);
        }
        due.sort_by(|a, b| a.id.cmp(&b.id));
        due.dedup_by(|a, b| a.id == b.id);
        Ok(due)
    }

    /// Works until `until`, firing each timer at its due time rather than when the next trigger
    /// comes. Two parts run side by side: one full sweep (the backlog, the cursor), and every
    /// `poll` a look at the timers due before the next look, each fired by a task that sleeps
    /// until its due time; so a backlog or a slow target never holds up the timers due now.
    /// Runs may overlap (the next trigger comes while this one works): every call is claimed.
    pub async fn run(&self, until: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        let (swept, polled) = tokio::join!(self.sweep(Some(until)), self.poll_until(until));
        let mut report = swept?;
        report.absorb(polled);
        tracing::info!(
            fired = report.fired,
            retried = report.retried,
            failed = report.failed,
            store_errors = report.store_errors,
            "run finished"
        );
        Ok(report)
    }

    /// Until `until`, looks every `poll` for the timers due before the next look and fires
    /// each at its due time.
    async fn poll_until(&self, until: DateTime<Utc>) -> SweepReport {
        let mut report = SweepReport::default();
        let poll = self.settings.poll;
        let stop = Arc::new(AtomicBool::new(false));
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        // Each timer this loop took on, with the due time it was listed at.
        let mut owned: HashSet<(String, i64)> = HashSet::new();
        let mut tasks: JoinSet<(DueTimer, Step)> = JoinSet::new();
        loop {
            let now = self.clock.now();
            if now >= until || stop.load(Ordering::Relaxed) {
                break;
            }
            let horizon = (now + poll * 2).min(until);
            // From a little before now, so a timer created at the turn of a minute is not missed.
            let minutes = (Minute::of(now - poll * 2).0..=Minute::of(horizon).0).map(Minute);
            match self.list(minutes, horizon.timestamp_millis()).await {
                Ok(due) => {
                    for timer in due {
                        if owned.insert((timer.id.clone(), timer.fire_at)) {
                            report.found += 1;
                            tasks.spawn(self.clone().fire_on_time(
                                timer,
                                until,
                                stop.clone(),
                                permits.clone(),
                            ));
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not look for upcoming timers; the run stops");
                    report.store_errors += 1;
                    break;
                }
            }
            let left = (until - now).to_std().unwrap_or_default();
            tokio::time::sleep(poll.min(left)).await;
            while let Some(done) = tasks.try_join_next() {
                Self::settle(&mut report, &mut owned, done);
            }
        }
        while let Some(done) = tasks.join_next().await {
            Self::settle(&mut report, &mut owned, done);
        }
        report
    }

    /// Sleeps until `timer` is due, then claims and fires it.
    async fn fire_on_time(
        self,
        timer: DueTimer,
        until: DateTime<Utc>,
        stop: Arc<AtomicBool>,
        permits: Arc<Semaphore>,
    ) -> (DueTimer, Step) {
        // One millisecond past due, so the claim's `fire_at <= now` holds when we wake.
        let wait_ms = timer.fire_at + 1 - self.clock.now().timestamp_millis();
        if wait_ms > 0 {
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
        }
        let Ok(_permit) = permits.acquire_owned().await else {
            return (timer, Step::LeftForNextRun);
        };
        let step = self.fire_one(&timer, Some(until), &stop).await;
        (timer, step)
    }

    /// Counts a finished task. A timer it could not claim stays taken for this due time: it was
    /// fired meanwhile or another run's live lease holds it, and claiming it again at every look
    /// would only fail again. A retry moves it to a new due time, which is looked at afresh; a
    /// lease that runs out unused is taken back by the next run's sweep.
    fn settle(
        report: &mut SweepReport,
        owned: &mut HashSet<(String, i64)>,
        done: Result<(DueTimer, Step), tokio::task::JoinError>,
    ) {
        match done {
            Ok((timer, step)) => {
                if step != Step::Skipped {
                    owned.remove(&(timer.id, timer.fire_at));
                }
                report.count(step);
            }
            Err(e) => tracing::error!(error = %e, "a firing task failed"),
        }
    }

    async fn fire_one(
        &self,
        due: &DueTimer,
        stop_claiming_at: Option<DateTime<Utc>>,
        stop: &AtomicBool,
    ) -> Step {
        let now = self.clock.now();
        if stop.load(Ordering::Relaxed) || stop_claiming_at.is_some_and(|at| now >= at) {
            return Step::LeftForNextRun;
        }
        let lease = self.settings.lease();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        // The lease as this process's monotonic clock sees it: it starts before the claim is sent.
        let lease_ends = Instant::now() + lease;
        let claim = Claim {
            now: now.timestamp_millis(),
            lease_until: now.timestamp_millis().saturating_add(lease_ms),
            token: uuid::Uuid::new_v4().to_string(),
        };
        let timer = match self.store.claim(&due.id, &claim).await {
            Ok(Some(timer)) => timer,
            Ok(None) => return Step::Skipped,
            Err(e) => return self.store_failed(stop, &due.id, "claim", &e),
        };
        tracing::info!(timer_id = %timer.id, attempt = timer.attempts, "timer claimed");
        // A slow claim write leaves less of the lease: the call must end before it does, or
        // another sweeper could claim the timer while it is still being called.
        let lease_left = lease_ends
            .saturating_duration_since(Instant::now())
            .saturating_sub(RECORD_SAFETY);
        let timeout = (lease_left < self.settings.timeouts.total).then_some(lease_left);
        let result = self.webhook.call(&call_for(&timer, timeout)).await;
        let outcome = decide(
            &result,
            &timer.id,
            timer.attempts,
            self.clock.now(),
            &self.settings,
            self.shards,
            rand::random(),
        );
        match self
            .record(&timer.id, &claim.token, &outcome, lease_ends)
            .await
        {
            Ok(true) => log_outcome(&timer, &outcome),
            Ok(false) => {
                tracing::warn!(timer_id = %timer.id, "claim expired before the outcome was recorded");
                Step::LostClaim
            }
            Err(e) => self.store_failed(stop, &timer.id, "record the outcome of", &e),
        }
    }

    /// Records a call's outcome, trying again while the store is unavailable, until the claim's
    /// lease (`lease_ends`) or the invocation is about to end: giving up early would leave the
    /// timer to be called again.
    async fn record(
        &self,
        id: &str,
        token: &str,
        outcome: &Outcome,
        lease_ends: Instant,
    ) -> Result<bool, StoreError> {
        let mut give_up_at = lease_ends.checked_sub(RECORD_SAFETY).unwrap_or(lease_ends);
        if let Some(finish_by) = self.finish_by {
            let left = (finish_by - self.clock.now()).to_std().unwrap_or_default();
            give_up_at = give_up_at.min(Instant::now() + left.saturating_sub(RECORD_SAFETY));
        }
        let mut pause = Duration::from_millis(100);
        loop {
            match self.store.finish(id, token, outcome).await {
                Err(e) if Instant::now() + pause < give_up_at => {
                    tracing::warn!(timer_id = %id, error = %e, "could not record an outcome; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                result => return result,
            }
        }
    }

    fn store_failed(&self, stop: &AtomicBool, id: &str, what: &str, e: &StoreError) -> Step {
        stop.store(true, Ordering::Relaxed);
        tracing::error!(timer_id = %id, error = %e, source = ?std::error::Error::source(e),
            "could not {what} a timer; the sweep stops claiming");
        Step::StoreError
    }
}

fn call_for(timer: &Timer, timeout: Option<Duration>) -> WebhookCall {
    WebhookCall {
        timeout,
        url: timer.url.clone(),
        timer_id: timer.id.clone(),
        attempt: timer.attempts,
        method: timer.method,
        headers: timer.headers.clone(),
        body: timer.body.clone(),
    }
}

fn log_outcome(timer: &Timer, outcome: &Outcome) -> Step {
    match outcome {
        Outcome::Fired { at, status } => {
            let late_ms = at - timer.fire_at;
            tracing::info!(timer_id = %timer.id, status, late_ms, "timer fired");
            Step::Fired(late_ms)
        }
        Outcome::Retry { error, fire_at, .. } => {
            tracing::info!(timer_id = %timer.id, attempt = timer.attempts, error, next_at = fire_at, "timer will be retried");
            Step::Retried
        }
        Outcome::Failed { error, .. } => {
            tracing::warn!(timer_id = %timer.id, attempt = timer.attempts, error, "timer failed");
            Step::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings() -> SweepSettings {
        Settings::from_lookup(|k| (k == "TABLE_NAME").then(|| "t".to_owned()))
            .unwrap()
            .sweep
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    const ID: &str = "0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10";

    #[test]
    fn a_sweep_reads_from_the_cursor_to_now_plus_the_recent_window() {
        let s = SweepSettings {
            lookback_minutes: 5,
            catchup_minutes: 100,
            ..settings()
        };
        let now = at("2026-12-03T12:00:30Z");
        let current = Minute::of(now).0;
        let plan = SweepPlan::new(Some(Minute(current - 60)), now, &s);
        assert_eq!(plan.catch_up, current - 60..current - 5);
        assert_eq!(plan.recent, current - 5..=current);
        assert_eq!(plan.minutes().count(), 61);
    }

    #[test]
    fn catch_up_is_bounded_per_run_but_the_recent_window_is_always_read() {
        let s = SweepSettings {
            lookback_minutes: 5,
            catchup_minutes: 10,
            ..settings()
        };
        let now = at("2026-12-03T12:00:30Z");
        let current = Minute::of(now).0;
        let plan = SweepPlan::new(Some(Minute(current - 600)), now, &s);
        assert_eq!(plan.catch_up, current - 600..current - 590);
        assert_eq!(plan.recent, current - 5..=current);
        assert_eq!(plan.next_cursor([]), Minute(current - 590));
    }

    #[test]
    fn the_cursor_stops_at_the_oldest_unsettled_minute() {
        let now = at("2026-12-03T12:00:30Z");
        let current = Minute::of(now).0;
        let plan = SweepPlan::new(Some(Minute(current - 30)), now, &settings());
        assert_eq!(
            plan.next_cursor([Minute(current - 20), Minute(current - 25), Minute(current)]),
            Minute(current - 25)
        );
        // Unsettled timers in the recent window do not hold the cursor: it never passes them.
        assert_eq!(plan.next_cursor([Minute(current)]), Minute(current - 5));
    }

    #[test]
    fn a_first_sweep_without_a_cursor_looks_back_the_configured_span() {
        let s = SweepSettings {
            lookback_minutes: 5,
            first_lookback_minutes: 60,
            catchup_minutes: 1000,
            ..settings()
        };
        let now = at("2026-12-03T12:00:30Z");
        let current = Minute::of(now).0;
        assert_eq!(
            SweepPlan::new(None, now, &s).catch_up,
            current - 65..current - 5
        );
    }

    #[test]
    fn claiming_stops_the_call_time_before_the_deadline() {
        let now = at("2026-12-03T12:00:00Z");
        let keep_back = Duration::from_secs(18);
        let aws = (now + Duration::from_secs(60)).timestamp_millis() as u64;
        assert_eq!(
            stop_claiming_at(aws, now, keep_back),
            now + Duration::from_secs(42)
        );
        // cargo lambda watch sends the timeout itself (600 000 ms), not a timestamp.
        assert_eq!(
            stop_claiming_at(600_000, now, keep_back),
            now + Duration::from_secs(582)
        );
    }

    #[test]
    fn the_report_becomes_one_embedded_metric_line() {
        let now = at("2026-12-03T12:00:00Z");
        let report = SweepReport {
            fired: 2,
            failed: 1,
            lateness_ms: vec![12, 40],
            ..SweepReport::default()
        };
        let line = report.metrics(now);
        assert_eq!(line["_aws"]["Timestamp"], now.timestamp_millis());
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "WebhookTimers"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
        assert_eq!(
            (line["Fired"].as_u64(), line["Failed"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(line["LatenessMs"], serde_json::json!([12, 40]));

        let idle = SweepReport::default().metrics(now);
        assert!(idle.get("LatenessMs").is_none());
        assert_eq!(
            idle["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(60);
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(2, base, max, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(3, base, max, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(30, base, max, 1.0), max);
        assert_eq!(backoff(u32::MAX, base, max, 1.0), max);
    }

    #[test]
    fn a_2xx_fires_the_timer() {
        let now = at("2026-12-03T12:00:00Z");
        let got = decide(
            &CallResult::Answered {
                status: 204,
                retry_after: None,
            },
            ID,
            1,
            now,
            &settings(),
            4,
            0.5,
        );
        assert_eq!(
            got,
            Outcome::Fired {
                at: now.timestamp_millis(),
                status: 204
            }
        );
    }

    #[test]
    fn server_errors_and_no_answer_are_retried_until_the_last_attempt() {
        let s = SweepSettings {
            max_attempts: 3,
            ..settings()
        };
        let now = at("2026-12-03T12:00:00Z");
        for result in [
            CallResult::Answered {
                status: 500,
                retry_after: None,
            },
            CallResult::Answered {
                status: 408,
                retry_after: None,
            },
            CallResult::NoAnswer {
                error: "could not connect".into(),
            },
        ] {
            assert!(
                matches!(
                    decide(&result, ID, 2, now, &s, 4, 0.5),
                    Outcome::Retry { .. }
                ),
                "{result:?}"
            );
            assert!(
                matches!(
                    decide(&result, ID, 3, now, &s, 4, 0.5),
                    Outcome::Failed { .. }
                ),
                "{result:?}"
            );
        }
    }

    #[test]
    fn client_errors_and_redirects_fail_at_once() {
        let now = at("2026-12-03T12:00:00Z");
        for status in [400, 404, 410, 302, 301] {
            let got = decide(
                &CallResult::Answered {
                    status,
                    retry_after: None,
                },
                ID,
                1,
                now,
                &settings(),
                4,
                0.5,
            );
            assert!(
                matches!(got, Outcome::Failed { status: Some(s), .. } if s == status),
                "{status}"
            );
        }
    }

    #[test]
    fn a_forbidden_target_fails_at_once_with_the_reason() {
        let forbidden = CallResult::Forbidden {
            error: "localhost is not allowed: 127.0.0.1 is a loopback address".to_owned(),
        };
        let got = decide(
            &forbidden,
            ID,
            1,
            at("2026-12-03T12:00:00Z"),
            &settings(),
            4,
            0.5,
        );
        assert!(
            matches!(&got, Outcome::Failed { status: None, error, .. } if error.contains("not called") && error.contains("loopback")),
            "{got:?}"
        );
    }

    #[test]
    fn a_retry_after_date_is_never_retried_before_it() {
        // The call ended 0.4 ms into the millisecond: a wait cut to whole milliseconds
        // would retry at 12:01:59.999.
        let now = at("2026-12-03T12:00:00.000400Z");
        let busy = CallResult::Answered {
            status: 429,
            retry_after: crate::webhook::parse_retry_after("Thu, 03 Dec 2026 12:02:00 GMT", now),
        };
        match decide(&busy, ID, 1, now, &settings(), 4, 0.0) {
            Outcome::Retry { fire_at, .. } => {
                assert_eq!(fire_at, at("2026-12-03T12:02:00Z").timestamp_millis())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_retry_waits_the_backoff_or_retry_after_whichever_is_longer() {
        let s = SweepSettings {
            retry_base: Duration::from_secs(10),
            ..settings()
        };
        let now = at("2026-12-03T12:00:00Z");
        let ms = now.timestamp_millis();
        let fire_at = |result| match decide(&result, ID, 1, now, &s, 4, 1.0) {
            Outcome::Retry {
                fire_at, bucket, ..
            } => {
                assert_eq!(bucket, bucket_for(&TimerId::parse(ID).unwrap(), fire_at, 4));
                fire_at - ms
            }
            other => panic!("{other:?}"),
        };
        let after = |secs| Some(Duration::from_secs(secs));
        assert_eq!(
            fire_at(CallResult::Answered {
                status: 503,
                retry_after: after(120)
            }),
            120_000
        );
        assert_eq!(
            fire_at(CallResult::Answered {
                status: 429,
                retry_after: after(1)
            }),
            10_000
        );
        // Retry-After is only honoured on 429 and 503.
        assert_eq!(
            fire_at(CallResult::Answered {
                status: 500,
                retry_after: after(120)
            }),
            10_000
        );
    }
}
