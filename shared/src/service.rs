//! The HTTP-side use cases: create and read timers, record and list ping hits.
//! Every decision takes `now`; the store is behind its trait.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{NewTimer, Timer, TimerId};
use crate::error::Error;
use crate::ping::{PingHit, PingId, MAX_HITS_LISTED};
use crate::store::TimerStore;

/// Creates and reads timers.
#[derive(Clone)]
pub struct Timers {
    store: Arc<dyn TimerStore>,
    shards: u16,
}

impl Timers {
    pub fn new(store: Arc<dyn TimerStore>, shards: u16) -> Self {
        Self { store, shards }
    }

    /// Stores a new pending timer, due `request.delay_seconds` after `now`.
    pub async fn create(&self, request: &NewTimer, now: DateTime<Utc>) -> Result<Timer, Error> {
        let timer = Timer::new(request, now, self.shards);
        self.store.insert_timer(&timer).await?;
        tracing::info!(timer_id = %timer.id, due_at = timer.due_at, "timer created");
        Ok(timer)
    }

    /// Reads a timer by id.
    pub async fn get(&self, id: &TimerId) -> Result<Timer, Error> {
        self.store.get_timer(id).await?.ok_or(Error::NotFound {
            what: "timer",
            field: "id",
        })
    }

    /// Keeps one hit of the ping target.
    pub async fn record_hit(&self, hit: &PingHit) -> Result<(), Error> {
        self.store.record_hit(hit).await?;
        tracing::info!(ping_id = %hit.ping_id, timer_id = ?hit.timer_id, "ping hit recorded");
        Ok(())
    }

    /// The hits of a ping target, oldest first, at most [`MAX_HITS_LISTED`].
    pub async fn hits(&self, ping_id: &PingId) -> Result<Vec<PingHit>, Error> {
        Ok(self.store.hits(ping_id.as_str(), MAX_HITS_LISTED).await?)
    }
}
