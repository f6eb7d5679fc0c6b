//! The HTTP-side use cases: create and read timers, record and list ping hits.
//! Every decision takes `now`; the store is behind its trait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::{bucket_for, Minute, NewTimer, Timer, TimerId, TimerStatus};
use crate::error::{Error, InputError};
use crate::idempotency::{IdempotencyRecord, KeyOf, KEY_LIFETIME};
use crate::ping::{PingHit, PingId, MAX_HITS_LISTED, MAX_LISTED_BODY_BYTES};
use crate::store::TimerStore;
use crate::target::TargetPolicy;

/// A timer created under an idempotency key, or the first answer for that key.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub timer_id: String,
    pub answer: Value,
    /// Whether this is a repeat of an earlier create.
    pub replayed: bool,
}

/// Creates and reads timers.
#[derive(Clone)]
pub struct Timers {
    store: Arc<dyn TimerStore>,
    shards: u16,
    targets: TargetPolicy,
    /// Whether this process already made sure the sweep cursor exists.
    cursor_started: Arc<AtomicBool>,
}

impl Timers {
    /// Timers that may call public addresses only.
    pub fn new(store: Arc<dyn TimerStore>, shards: u16) -> Self {
        Self {
            store,
            shards,
            targets: TargetPolicy::public_only(),
            cursor_started: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The same, allowed to call the private networks `targets` lists.
    pub fn with_targets(self, targets: TargetPolicy) -> Self {
        Self { targets, ..self }
    }

    /// Stores a new pending timer, created at `now`, once its target is known to be allowed.
    pub async fn create(&self, request: &NewTimer, now: DateTime<Utc>) -> Result<Timer, Error> {
        let timer = self.prepare(request, now).await?;
        self.store.insert_timer(&timer).await?;
        tracing::info!(timer_id = %timer.id, due_at = timer.due_at, "timer created");
        Ok(timer)
    }

    /// The same under a caller's idempotency key: the first request with `key` creates the timer and
    /// its answer, `answer(&timer)`; the same request again within [`KEY_LIFETIME`] gets that
    /// answer back and creates nothing; a different request with the key is a conflict.
    pub async fn create_once(
        &self,
        request: &NewTimer,
        key: KeyOf<'_>,
        fingerprint: String,
        now: DateTime<Utc>,
        answer: impl FnOnce(&Timer) -> Value,
    ) -> Result<Created, Error> {
        let timer = self.prepare(request, now).await?;
        let view = answer(&timer);
        let lifetime = i64::try_from(KEY_LIFETIME.as_secs()).expect("a day fits");
        let record = IdempotencyRecord {
            caller: key.caller.to_owned(),
            key: key.key.to_owned(),
            fingerprint,
            timer_id: timer.id.clone(),
            answer: view.to_string(),
            created_at: now.timestamp_millis(),
            expires_at: now.timestamp() + lifetime,
        };
        match self.store.insert_timer_once(&timer, &record).await? {
            None => {
                tracing::info!(timer_id = %timer.id, due_at = timer.due_at, "timer created");
                Ok(Created {
                    timer_id: timer.id,
                    answer: view,
                    replayed: false,
                })
            }
            Some(first) if first.fingerprint == record.fingerprint => {
                tracing::info!(timer_id = %first.timer_id, "idempotent create replayed");
                Ok(Created {
                    answer: serde_json::from_str(&first.answer).unwrap_or(Value::Null),
                    timer_id: first.timer_id,
                    replayed: true,
                })
            }
            Some(_) => Err(Error::Conflict {
                code: "idempotency_key_reused",
                field: "Idempotency-Key",
                message: "this Idempotency-Key was used in the last 24 hours with a different request; send a new key for a new timer".to_owned(),
            }),
        }
    }

    /// A timer for `request`, not yet stored, after the create-time check of its target; the
    /// first one of this process makes sure the table has a sweep cursor.
    async fn prepare(&self, request: &NewTimer, now: DateTime<Utc>) -> Result<Timer, Error> {
        self.targets.check_url(&request.url).await.map_err(|e| {
            InputError::new(
                "forbidden_target",
                "url",
                format!("url must not lead to a loopback, private, link-local or other internal address: {e}"),
            )
        })?;
        if !self.cursor_started.load(Ordering::Relaxed) {
            self.store.start_sweep_cursor(Minute::of(now)).await?;
            self.cursor_started.store(true, Ordering::Relaxed);
        }
        Ok(Timer::new(request, now, self.shards))
    }

    /// Reads a timer by id.
    pub async fn get(&self, id: &TimerId) -> Result<Timer, Error> {
        self.store.get_timer(id).await?.ok_or(Error::NotFound {
            what: "timer",
            field: "id",
        })
    }

    /// Cancels a pending timer. Cancelling a cancelled timer answers the same again; one that
    /// is being fired, has fired or has failed cannot be cancelled.
    pub async fn cancel(&self, id: &TimerId, now: DateTime<Utc>) -> Result<Timer, Error> {
        if let Some(timer) = self.store.cancel(id, now.timestamp_millis()).await? {
            tracing::info!(timer_id = %timer.id, "timer cancelled");
            return Ok(timer);
        }
        let current = self.get(id).await?;
        if current.status == TimerStatus::Cancelled {
            return Ok(current);
        }
        Err(Error::Conflict {
            code: "not_cancellable",
            field: "id",
            message: format!(
                "only a pending timer can be cancelled; this one is {}",
                current.status.as_str()
            ),
        })
    }

    /// Sends a failed timer again, due at `now`, with a fresh count of attempts.
    pub async fn retry(&self, id: &TimerId, now: DateTime<Utc>) -> Result<Timer, Error> {
        let fire_at = now.timestamp_millis();
        let bucket = bucket_for(id, fire_at, self.shards);
        if let Some(timer) = self.store.retry_failed(id, fire_at, &bucket).await? {
            tracing::info!(timer_id = %timer.id, "failed timer sent again");
            return Ok(timer);
        }
        let current = self.get(id).await?;
        Err(Error::Conflict {
            code: "not_failed",
            field: "id",
            message: format!(
                "only a failed timer can be sent again; this one is {}",
                current.status.as_str()
            ),
        })
    }

    /// Keeps one hit of the ping target.
    pub async fn record_hit(&self, hit: &PingHit) -> Result<(), Error> {
        self.store.record_hit(hit).await?;
        tracing::info!(ping_id = %hit.ping_id, timer_id = hit.timer_id.as_deref(), "ping hit recorded");
        Ok(())
    }

    /// The newest hits of a ping target, oldest of them first: at most [`MAX_HITS_LISTED`],
    /// with at most [`MAX_LISTED_BODY_BYTES`] of bodies. `true` when older hits were left out.
    pub async fn hits(&self, ping_id: &PingId) -> Result<(Vec<PingHit>, bool), Error> {
        let mut hits = self
            .store
            .hits(ping_id.as_str(), MAX_HITS_LISTED + 1)
            .await?;
        let mut truncated = hits.len() > MAX_HITS_LISTED;
        let mut bytes = 0;
        let keep_from = hits
            .iter()
            .rposition(|h| {
                bytes += h.body.len();
                bytes > MAX_LISTED_BODY_BYTES
            })
            .map_or(0, |i| i + 1);
        truncated |= keep_from > 0;
        let first = keep_from.max(hits.len().saturating_sub(MAX_HITS_LISTED));
        hits.drain(..first);
        Ok((hits, truncated))
    }
}
