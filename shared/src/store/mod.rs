//! Where timers live. The [`TimerStore`] trait is all the use cases know; [`dynamo`] is the
//! DynamoDB implementation used everywhere (on AWS, locally against Dynoxide, in tests).

pub mod dynamo;

use async_trait::async_trait;

use crate::domain::{Minute, Timer, TimerId};
use crate::error::StoreError;
use crate::idempotency::IdempotencyRecord;
use crate::ping::PingHit;

/// A timer found in a due bucket: just enough to claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub id: String,
    pub fire_at: i64,
}

/// A sweeper's claim on a timer: it may call the URL until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claim succeeds only for a pending timer whose `fire_at` is at or before this,
    /// or a firing one whose lease ended before this.
    pub now: i64,
    pub lease_until: i64,
    pub token: String,
}

/// What happened to a claimed timer's call, to be recorded under the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The URL answered 2xx.
    Fired { at: i64, status: u16 },
    /// The call failed and will be tried again at `fire_at`, indexed under `bucket`.
    Retry {
        at: i64,
        status: Option<u16>,
        error: String,
        fire_at: i64,
        bucket: String,
    },
    /// The call failed for good.
    Failed {
        at: i64,
        status: Option<u16>,
        error: String,
    },
}

/// The store operations the service needs, and nothing more.
#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Saves a new timer; the id must be new.
    async fn insert_timer(&self, timer: &Timer) -> Result<(), StoreError>;

    /// Saves a new timer and its idempotency key together, or neither: `Some` with the key's
    /// record when the key is already in use (and not expired at `record.created_at`), in which
    /// case nothing was written.
    async fn insert_timer_once(
        &self,
        timer: &Timer,
        record: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Reads one timer, as of the latest write.
    async fn get_timer(&self, id: &TimerId) -> Result<Option<Timer>, StoreError>;

    /// Every timer indexed under `bucket` whose `fire_at` is at or before `now`,
    /// following pagination to the end. The index may lag: callers must claim before acting.
    async fn due_timers(&self, bucket: &str, now: i64) -> Result<Vec<DueTimer>, StoreError>;

    /// Claims a timer for firing with one conditional write. `None` when it is not
    /// claimable (already fired, claimed by a live lease, not due, or gone).
    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Timer>, StoreError>;

    /// Records the outcome of a claimed call. `false` when the claim no longer holds
    /// (its lease ran out and another sweeper took the timer), so nothing was written.
    async fn finish(&self, id: &str, token: &str, outcome: &Outcome) -> Result<bool, StoreError>;

    /// Cancels a pending timer at `at` (epoch ms): it leaves the index and will not be claimed.
    /// `None` when the timer is not pending (or gone).
    async fn cancel(&self, id: &TimerId, at: i64) -> Result<Option<Timer>, StoreError>;

    /// Sends a failed timer again: back to pending, due at `fire_at`, indexed under `bucket`,
    /// with a fresh count of attempts. `None` when the timer is not failed (or gone).
    async fn retry_failed(
        &self,
        id: &TimerId,
        fire_at: i64,
        bucket: &str,
    ) -> Result<Option<Timer>, StoreError>;

    /// The oldest minute that may still hold due timers, as last saved by a sweep.
    async fn sweep_cursor(&self) -> Result<Option<Minute>, StoreError>;

    /// Saves the sweep cursor.
    async fn set_sweep_cursor(&self, minute: Minute) -> Result<(), StoreError>;

    /// Saves the sweep cursor at `minute` unless one was saved already, in one conditional
    /// write. Done before a table's first timer, so that the first sweep starts no later than
    /// the oldest timer, however long after it that sweep runs.
    async fn start_sweep_cursor(&self, minute: Minute) -> Result<(), StoreError>;

    /// Keeps one hit of the ping target.
    async fn record_hit(&self, hit: &PingHit) -> Result<(), StoreError>;

    /// The newest `limit` hits of a ping target, oldest of them first.
    async fn hits(&self, ping_id: &str, limit: usize) -> Result<Vec<PingHit>, StoreError>;
}
