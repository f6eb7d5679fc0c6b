//! The DynamoDB store: one table, one sparse index.
//!
//! | item        | `pk`              | `sk`                        | other attributes                |
//! |-------------|-------------------|-----------------------------|---------------------------------|
//! | timer       | `timer#<id>`      | `timer`                     | the [`Timer`] fields            |
//! | ping hit    | `ping#<ping_id>`  | `hit#<received ms>#<uuid>`  | the [`PingHit`] fields          |
//! | sweep cursor| `sweeper`         | `cursor`                    | `minute` (epoch minutes)        |
//! | idempotency | `idempotency#<caller hash>#<key>` | `key`       | the [`IdempotencyRecord`] fields|
//!
//! The global secondary index `due` is keyed by `bucket` (due minute plus shard, e.g.
//! `2026-12-03T13:45Z#2`) and `fire_at` (epoch ms). Only timers that still have to fire carry
//! a `bucket`, so a fired or failed timer leaves the index and no sweep sees it again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::{Claim, DueTimer, Outcome, TimerStore};
use crate::config::Settings;
use crate::domain::{Minute, Timer, TimerId, TimerStatus};
use crate::error::StoreError;
use crate::idempotency::{self, IdempotencyRecord};
use crate::ping::PingHit;

/// The name of the due-time index.
pub const DUE_INDEX: &str = "due";

const TIMER_SK: &str = "timer";
const CURSOR_PK: &str = "sweeper";
const CURSOR_SK: &str = "cursor";
const IDEMPOTENCY_SK: &str = "key";
/// The longest one try of a store request may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a store request may take with its retries: under the HTTP functions' 10 s.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(7);
/// Tries of a create with an idempotency key that collides with a concurrent duplicate.
const TRANSACTION_ATTEMPTS: u32 = 5;

type Item = HashMap<String, AttributeValue>;

/// A [`TimerStore`] over one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    page_limit: Option<i32>,
}

/// The attribute DynamoDB's time to live reads (epoch seconds): finished timers and ping hits
/// carry it, so the table deletes them after the retention period.
pub const TTL_ATTRIBUTE: &str = "expires_at";

impl DynamoStore {
    /// A store over `table`, keeping finished timers and ping hits for 30 days.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: Duration::from_secs(30 * 24 * 60 * 60),
            page_limit: None,
        }
    }

    /// Keeps finished timers and ping hits for `retention` before the table's TTL deletes them.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Reads due buckets at most `limit` items a query, so tests can make a sweep follow
    /// `LastEvaluatedKey` over several pages. Production sets no limit: DynamoDB pages by size.
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit);
        self
    }

    /// The TTL value (epoch seconds) for an item finished at `at_ms`.
    fn expires_at(&self, at_ms: i64) -> i64 {
        at_ms / 1000 + i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 2)
    }

    /// A DynamoDB client configured the standard AWS way (region, credentials, and
    /// `AWS_ENDPOINT_URL_DYNAMODB` to point it at a local server).
    /// Each request is bounded ([`ATTEMPT_TIMEOUT`] a try, [`OPERATION_TIMEOUT`] with retries),
    /// so a store that stops answering gives a `503` well within the function's own timeout
    /// instead of a hung request.
    pub async fn client_from_env() -> Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(Self::timeouts())
            .load()
            .await;
        Client::new(&config)
    }

    /// The time limits of every store request on AWS and on the local stack.
    pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build()
    }

    /// A client for a DynamoDB-API server at `endpoint` (Dynoxide or moto on 127.0.0.1),
    /// with throwaway credentials. For the local stack and the tests only.
    pub fn client_for_endpoint(endpoint: &str) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .build();
        Client::from_conf(config)
    }

    /// The store named by `settings`, with a client configured from the environment.
    pub async fn from_settings(settings: &Settings) -> Arc<dyn TimerStore> {
        Arc::new(
            Self::new(Self::client_from_env().await, &settings.table)
                .with_retention(settings.retention),
        )
    }

    fn key(pk: String, sk: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    fn timer_key(id: &str) -> Item {
        Self::key(format!("timer#{id}"), TIMER_SK)
    }

    fn idempotency_key(caller: &str, key: &str) -> Item {
        Self::key(
            format!("idempotency#{}", idempotency::storage_name(caller, key)),
            IDEMPOTENCY_SK,
        )
    }

    fn timer_item(timer: &Timer) -> Result<Item, StoreError> {
        let mut item: Item = to_item(timer)?;
        item.extend(Self::timer_key(&timer.id));
        Ok(item)
    }

    /// A transaction's put of `item` if `condition` (with `values`) holds.
    fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> TransactWriteItem {
        let put = values.iter().fold(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition),
            |put, (name, value)| put.expression_attribute_values(*name, value.clone()),
        );
        TransactWriteItem::builder()
            .put(put.build().expect("table and item are set"))
            .build()
    }

    async fn idempotency_record(
        &self,
        caller: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::idempotency_key(caller, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(out.item.map(from_item).transpose()?)
    }

    /// Applies `update` to a timer if `condition` holds and returns the timer as updated;
    /// `None` when the condition does not hold.
    async fn update_if(
        &self,
        id: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Timer>, StoreError> {
        let request = values.into_iter().fold(
            with_names(self.update_timer(id), &[update, condition])
                .update_expression(update)
                .condition_expression(condition)
                .return_values(ReturnValue::AllNew),
            |request, (name, value)| request.expression_attribute_values(name, value),
        );
        match request.send().await {
            Ok(out) => Ok(out.attributes.map(from_item).transpose()?),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::request("UpdateItem", e)),
        }
    }

    fn update_timer(&self, id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::timer_key(id)))
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn status(v: TimerStatus) -> AttributeValue {
    s(v.as_str())
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Declares every `#name` placeholder used in `expressions` as the attribute `name`.
/// DynamoDB refuses declared names that no expression uses, so only those are declared.
fn with_names(
    mut update: UpdateItemFluentBuilder,
    expressions: &[&str],
) -> UpdateItemFluentBuilder {
    let mut names: Vec<&str> = expressions
        .iter()
        .flat_map(|e| e.split('#').skip(1))
        .map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        update = update.expression_attribute_names(format!("#{name}"), name);
    }
    update
}

#[async_trait]
impl TimerStore for DynamoStore {
    async fn insert_timer(&self, timer: &Timer) -> Result<(), StoreError> {
        let item = Self::timer_item(timer)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }

    async fn insert_timer_once(
        &self,
        timer: &Timer,
        record: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let mut key_item: Item = to_item(record)?;
        key_item.extend(Self::idempotency_key(&record.caller, &record.key));
        let now_seconds = record.created_at.div_euclid(1000);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let written = self
                .client
                .transact_write_items()
                .transact_items(self.put_if(
                    key_item.clone(),
                    &format!("attribute_not_exists(pk) OR {TTL_ATTRIBUTE} < :now"),
                    &[(":now", AttributeValue::N(now_seconds.to_string()))],
                ))
                .transact_items(self.put_if(
                    Self::timer_item(timer)?,
                    "attribute_not_exists(pk)",
                    &[],
                ))
                .send()
                .await;
            let error = match written {
                Ok(_) => return Ok(None),
                Err(e) => e,
            };
            let cancelled = error
                .as_service_error()
                .is_some_and(|e| e.is_transaction_canceled_exception());
            if !cancelled {
                return Err(StoreError::request("TransactWriteItems", error));
            }
            // The key is taken, or a concurrent duplicate holds it mid-transaction.
            if let Some(existing) = self.idempotency_record(&record.caller, &record.key).await? {
                if existing.expires_at >= now_seconds {
                    return Ok(Some(existing));
                }
            }
            if attempt >= TRANSACTION_ATTEMPTS {
                return Err(StoreError::request("TransactWriteItems", error));
            }
            tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
        }
    }

    async fn get_timer(&self, id: &TimerId) -> Result<Option<Timer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::timer_key(&id.to_string())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(out.item.map(from_item).transpose()?)
    }

    async fn due_timers(&self, bucket: &str, now: i64) -> Result<Vec<DueTimer>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(DUE_INDEX)
                .key_condition_expression("#bucket = :bucket AND #fire_at <= :now")
                .expression_attribute_names("#bucket", "bucket")
                .expression_attribute_names("#fire_at", "fire_at")
                .expression_attribute_values(":bucket", s(bucket))
                .expression_attribute_values(":now", n(now))
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::request("Query", e))?;
            found.extend(page.items().iter().filter_map(due_timer));
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }

    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Timer>, StoreError> {
        const UPDATE: &str =
            "SET #status = :firing, #lease_until = :lease, #claim_token = :token ADD #attempts :one";
        const CONDITION: &str =
            "attribute_exists(pk) AND ((#status = :pending AND #fire_at <= :now) \
             OR (#status = :firing AND #lease_until < :now))";
        let values = vec![
            (":firing", status(TimerStatus::Firing)),
            (":pending", status(TimerStatus::Pending)),
            (":lease", n(claim.lease_until)),
            (":token", s(&claim.token)),
            (":now", n(claim.now)),
            (":one", n(1)),
        ];
        self.update_if(id, UPDATE, CONDITION, values).await
    }

    async fn finish(&self, id: &str, token: &str, outcome: &Outcome) -> Result<bool, StoreError> {
        const CONDITION: &str = "#status = :firing AND #claim_token = :token";
        let update = self
            .update_timer(id)
            .condition_expression(CONDITION)
            .expression_attribute_values(":firing", status(TimerStatus::Firing))
            .expression_attribute_values(":token", s(token));
        let (at, last_status) = match outcome {
            Outcome::Fired { at, status } => (*at, Some(*status)),
            Outcome::Retry { at, status, .. } | Outcome::Failed { at, status, .. } => {
                (*at, *status)
            }
        };
        let mut set = vec!["#status = :status", "#last_attempt_at = :at"];
        let mut remove = vec!["#lease_until", "#claim_token"];
        let mut update = update.expression_attribute_values(":at", n(at));
        match last_status {
            Some(code) => {
                set.push("#last_status = :last_status");
                update = update.expression_attribute_values(":last_status", n(code));
            }
            None => remove.push("#last_status"),
        }
        update = match outcome {
            Outcome::Fired { .. } => {
                set.extend(["#fired_at = :at", "#expires_at = :expires_at"]);
                remove.extend(["#bucket", "#last_error"]);
                update
                    .expression_attribute_values(":status", status(TimerStatus::Fired))
                    .expression_attribute_values(":expires_at", n(self.expires_at(at)))
            }
            Outcome::Retry {
                error,
                fire_at,
                bucket,
                ..
            } => {
                set.extend([
                    "#last_error = :error",
                    "#fire_at = :fire_at",
                    "#bucket = :bucket",
                ]);
                update
                    .expression_attribute_values(":status", status(TimerStatus::Pending))
                    .expression_attribute_values(":error", s(error))
                    .expression_attribute_values(":fire_at", n(fire_at))
                    .expression_attribute_values(":bucket", s(bucket))
            }
            Outcome::Failed { error, .. } => {
                set.extend([
                    "#failed_at = :at",
                    "#last_error = :error",
                    "#expires_at = :expires_at",
                ]);
                remove.push("#bucket");
                update
                    .expression_attribute_values(":status", status(TimerStatus::Failed))
                    .expression_attribute_values(":error", s(error))
                    .expression_attribute_values(":expires_at", n(self.expires_at(at)))
            }
        };
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let update = with_names(update, &[&expression, CONDITION]).update_expression(expression);
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(StoreError::request("UpdateItem", e)),
        }
    }

    async fn cancel(&self, id: &TimerId, at: i64) -> Result<Option<Timer>, StoreError> {
        const UPDATE: &str =
            "SET #status = :cancelled, #cancelled_at = :at, #expires_at = :expires_at \
             REMOVE #bucket";
        const CONDITION: &str = "#status = :pending";
        let values = vec![
            (":cancelled", status(TimerStatus::Cancelled)),
            (":pending", status(TimerStatus::Pending)),
            (":at", n(at)),
            (":expires_at", n(self.expires_at(at))),
        ];
        self.update_if(&id.to_string(), UPDATE, CONDITION, values)
            .await
    }

    async fn retry_failed(
        &self,
        id: &TimerId,
        fire_at: i64,
        bucket: &str,
    ) -> Result<Option<Timer>, StoreError> {
        const UPDATE: &str = "SET #status = :pending, #fire_at = :fire_at, #bucket = :bucket, \
             #attempts = :zero REMOVE #failed_at, #expires_at";
        const CONDITION: &str = "#status = :failed";
        let values = vec![
            (":pending", status(TimerStatus::Pending)),
            (":failed", status(TimerStatus::Failed)),
            (":fire_at", n(fire_at)),
            (":bucket", s(bucket)),
            (":zero", n(0)),
        ];
        self.update_if(&id.to_string(), UPDATE, CONDITION, values)
            .await
    }

    async fn sweep_cursor(&self) -> Result<Option<Minute>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(CURSOR_PK.to_owned(), CURSOR_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        let minute = out
            .item
            .as_ref()
            .and_then(|item| item.get("minute"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .map(Minute);
        Ok(minute)
    }

    async fn set_sweep_cursor(&self, minute: Minute) -> Result<(), StoreError> {
        let mut item = Self::key(CURSOR_PK.to_owned(), CURSOR_SK);
        item.insert("minute".to_owned(), n(minute.0));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }

    async fn start_sweep_cursor(&self, minute: Minute) -> Result<(), StoreError> {
        let mut item = Self::key(CURSOR_PK.to_owned(), CURSOR_SK);
        item.insert("minute".to_owned(), n(minute.0));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::request("PutItem", e)),
        }
    }

    async fn record_hit(&self, hit: &PingHit) -> Result<(), StoreError> {
        let mut item: Item = to_item(hit)?;
        let sk = format!("hit#{:016}#{}", hit.received_at, uuid::Uuid::new_v4());
        item.extend(Self::key(format!("ping#{}", hit.ping_id), &sk));
        item.insert(
            TTL_ATTRIBUTE.to_owned(),
            n(self.expires_at(hit.received_at)),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }

    async fn hits(&self, ping_id: &str, limit: usize) -> Result<Vec<PingHit>, StoreError> {
        let mut hits = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("ping#{ping_id}")))
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::request("Query", e))?;
            for item in page.items() {
                if hits.len() == limit {
                    break;
                }
                hits.push(from_item(item.clone())?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() && hits.len() < limit => start = Some(key),
                _ => {
                    hits.reverse();
                    return Ok(hits);
                }
            }
        }
    }
}

fn due_timer(item: &Item) -> Option<DueTimer> {
    let id = item.get("pk")?.as_s().ok()?.strip_prefix("timer#")?;
    let fire_at = item.get("fire_at")?.as_n().ok()?.parse().ok()?;
    Some(DueTimer {
        id: id.to_owned(),
        fire_at,
    })
}

/// Turns on the table's time to live over [`TTL_ATTRIBUTE`], unless it is on already.
async fn enable_ttl(client: &Client, table: &str) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| StoreError::request("DescribeTimeToLive", e))?;
    let enabled = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status())
        .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
    if enabled {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .expect("name and switch are set");
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| StoreError::request("UpdateTimeToLive", e))?;
    Ok(())
}

/// Creates the table and its index if they do not exist yet, and waits until it is active.
/// Used by the local stack and the tests; on AWS, `template.yaml` creates the same table.
pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
    let exists = match client.describe_table().table_name(table).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(StoreError::request("DescribeTable", e)),
    };
    if !exists {
        create_table(client, table).await?;
    }
    wait_until_active(client, table).await?;
    enable_ttl(client, table).await
}

async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attribute = |name: &str, kind| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .expect("name and type are set")
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("name and type are set")
    };
    let due_index = GlobalSecondaryIndex::builder()
        .index_name(DUE_INDEX)
        .key_schema(key("bucket", KeyType::Hash))
        .key_schema(key("fire_at", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .expect("name, keys and projection are set");
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("bucket", ScalarAttributeType::S))
        .attribute_definitions(attribute("fire_at", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(due_index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        // Another process created it meanwhile.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(StoreError::request("CreateTable", e)),
        Ok(_) => Ok(()),
    }
}

async fn wait_until_active(client: &Client, table: &str) -> Result<(), StoreError> {
    for _ in 0..600 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| StoreError::request("DescribeTable", e))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StoreError::request(
        "DescribeTable",
        std::io::Error::other(format!("table {table} did not become active within 60 s")),
    ))
}
