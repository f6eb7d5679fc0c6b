//! Typed settings, read from the environment once at start-up. A bad value stops the
//! function at once with a message naming the variable, rather than misbehaving later.

use std::time::Duration;

use crate::signing::SigningKeys;
use crate::target::TargetPolicy;
use crate::webhook::CallTimeouts;

/// Every environment variable the settings are read from.
pub const VARIABLES: &[&str] = &[
    "TABLE_NAME",
    "BUCKET_SHARDS",
    "RETENTION_DAYS",
    "MAX_ATTEMPTS",
    "RETRY_BASE_SECONDS",
    "RETRY_MAX_SECONDS",
    "CALL_CONNECT_TIMEOUT_MS",
    "CALL_TIMEOUT_MS",
    "FIRE_CONCURRENCY",
    "LEASE_MARGIN_MS",
    "SWEEP_RUN_SECONDS",
    "SWEEP_POLL_MS",
    "SWEEP_LOOKBACK_MINUTES",
    "SWEEP_CATCHUP_MINUTES",
    "SWEEP_FIRST_LOOKBACK_MINUTES",
    "PRIVATE_TARGETS",
    "WEBHOOK_SECRETS",
];

/// Everything an operator can tune. Only `TABLE_NAME` is required.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `TABLE_NAME`: the DynamoDB table.
    pub table: String,
    /// `BUCKET_SHARDS` (default 4, 1 to 100): shards per due minute, so one busy minute is
    /// spread over several index partitions. Raise it only: lowering it strands timers in
    /// the shards that are no longer queried.
    pub shards: u16,
    /// `RETENTION_DAYS` (default 30, 1 to 3650): how long fired and failed timers and ping
    /// hits are kept before the table's time to live deletes them.
    pub retention: Duration,
    /// `PRIVATE_TARGETS` (default none): private networks timers may call anyway, such as
    /// `127.0.0.1/32` for the local ping target. Every other loopback, private, link-local or
    /// special-purpose address is refused. Leave it empty in production.
    pub targets: TargetPolicy,
    /// `WEBHOOK_SECRETS` (default none): the Standard Webhooks secrets (`whsec_...`) every call
    /// is signed with, separated by commas; list the new one beside the old while rotating.
    pub signing: SigningKeys,
    pub sweep: SweepSettings,
}

/// How the sweeper fires and retries.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    /// `MAX_ATTEMPTS` (default 5, 1 to 100): calls before a timer is failed.
    pub max_attempts: u32,
    /// `RETRY_BASE_SECONDS` (default 30): the wait before the 2nd attempt; it doubles after.
    pub retry_base: Duration,
    /// `RETRY_MAX_SECONDS` (default 3600): the longest wait between attempts.
    pub retry_max: Duration,
    /// `CALL_CONNECT_TIMEOUT_MS` (default 5000) and `CALL_TIMEOUT_MS` (default 15000).
    pub timeouts: CallTimeouts,
    /// `FIRE_CONCURRENCY` (default 64): calls in flight at once in each of a run's two parts,
    /// its sweep and its on-time loop, so a backlog never takes the slots of timers due now.
    pub concurrency: usize,
    /// `LEASE_MARGIN_MS` (default 30000): how much longer than `CALL_TIMEOUT_MS` a claim lasts.
    /// A sweeper that dies leaves its claims to be taken back once they run out. A call never
    /// outlives its claim: when the claim's write was slow, the call gets less time.
    pub lease_margin: Duration,
    /// `SWEEP_RUN_SECONDS` (default 70, 0 to 900): how long one invocation keeps working,
    /// firing each timer at its due time; 0 sweeps once and returns. A little longer than the
    /// one-minute trigger, so runs overlap and a late trigger leaves no gap.
    pub run_for: Duration,
    /// `SWEEP_POLL_MS` (default 1000, 50 to 60000): while running, how often to look for timers
    /// due before the next look. Timers created with a shorter delay fire up to this late.
    pub poll: Duration,
    /// `SWEEP_LOOKBACK_MINUTES` (default 5): recent minutes every sweep looks at again,
    /// so a timer written just as its minute was swept is still found.
    pub lookback_minutes: i64,
    /// `SWEEP_CATCHUP_MINUTES` (default 1440): older minutes one sweep catches up on at most;
    /// the rest waits for the next run. Each minute costs one query per shard.
    pub catchup_minutes: i64,
    /// `SWEEP_FIRST_LOOKBACK_MINUTES` (default 60): how far back the very first sweep of a
    /// table starts, before any cursor was saved (the schedule starts with the deployment).
    pub first_lookback_minutes: i64,
}

impl SweepSettings {
    /// How long a claim lasts: longer than the longest call plus a margin, so a call still
    /// in flight is never claimed again.
    pub fn lease(&self) -> Duration {
        self.timeouts.total + self.lease_margin
    }

    /// How long before its deadline an invocation stops claiming: time for the longest call
    /// and the two store writes around it (the claim and the outcome, each taking at most
    /// `store_write`), with a second to spare.
    pub fn wind_down(&self, store_write: Duration) -> Duration {
        self.timeouts.total + store_write * 2 + Duration::from_secs(1)
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings from any name-to-value lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number =
            |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                let Some(raw) = get(name).filter(|v| !v.trim().is_empty()) else {
                    return Ok(default);
                };
                match raw.trim().parse::<u64>() {
                    Ok(v) if (min..=max).contains(&v) => Ok(v),
                    _ => Err(ConfigError {
                        name,
                        problem: format!("'{raw}' is not a whole number from {min} to {max}"),
                    }),
                }
            };
        let table = get("TABLE_NAME")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError {
                name: "TABLE_NAME",
                problem: "is required".to_owned(),
            })?;
        const DAY_MINUTES: u64 = 24 * 60;
        Ok(Self {
            table,
            shards: number("BUCKET_SHARDS", 4, 1, 100)? as u16,
            retention: Duration::from_secs(number("RETENTION_DAYS", 30, 1, 3650)? * 24 * 60 * 60),
            targets: TargetPolicy::parse(&get("PRIVATE_TARGETS").unwrap_or_default()).map_err(
                |problem| ConfigError {
                    name: "PRIVATE_TARGETS",
                    problem,
                },
            )?,
            signing: SigningKeys::parse(&get("WEBHOOK_SECRETS").unwrap_or_default()).map_err(
                |problem| ConfigError {
                    name: "WEBHOOK_SECRETS",
                    problem,
                },
            )?,
            sweep: SweepSettings {
                max_attempts: number("MAX_ATTEMPTS", 5, 1, 100)? as u32,
                retry_base: Duration::from_secs(number("RETRY_BASE_SECONDS", 30, 0, 86_400)?),
                retry_max: Duration::from_secs(number("RETRY_MAX_SECONDS", 3600, 0, 86_400)?),
                timeouts: CallTimeouts {
                    connect: Duration::from_millis(number(
                        "CALL_CONNECT_TIMEOUT_MS",
                        5000,
                        1,
                        60_000,
                    )?),
                    total: Duration::from_millis(number("CALL_TIMEOUT_MS", 15_000, 1, 300_000)?),
                },
                concurrency: number("FIRE_CONCURRENCY", 64, 1, 1024)? as usize,
                lease_margin: Duration::from_millis(number(
                    "LEASE_MARGIN_MS",
                    30_000,
                    1000,
                    600_000,
                )?),
                run_for: Duration::from_secs(number("SWEEP_RUN_SECONDS", 70, 0, 900)?),
                poll: Duration::from_millis(number("SWEEP_POLL_MS", 1000, 50, 60_000)?),
                lookback_minutes: number("SWEEP_LOOKBACK_MINUTES", 5, 1, 60)? as i64,
                catchup_minutes: number("SWEEP_CATCHUP_MINUTES", DAY_MINUTES, 1, 7 * DAY_MINUTES)?
                    as i64,
                first_lookback_minutes: number(
                    "SWEEP_FIRST_LOOKBACK_MINUTES",
                    60,
                    0,
                    366 * DAY_MINUTES,
                )? as i64,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_need_only_the_table() {
        let s = settings(&[("TABLE_NAME", "timers")]).unwrap();
        assert_eq!(
            (s.table.as_str(), s.shards, s.sweep.max_attempts),
            ("timers", 4, 5)
        );
        assert!(s.sweep.lease() > s.sweep.timeouts.total);
        assert_eq!(s.targets, TargetPolicy::public_only());
        assert!(s.signing.is_empty());
    }

    #[test]
    fn every_variable_read_is_listed() {
        let asked = std::sync::Mutex::new(Vec::new());
        Settings::from_lookup(|name| {
            asked.lock().unwrap().push(name.to_owned());
            (name == "TABLE_NAME").then(|| "t".to_owned())
        })
        .unwrap();
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.to_string()).collect();
        listed.sort();
        assert_eq!(asked, listed);
    }

    #[test]
    fn a_missing_table_or_bad_number_names_the_variable() {
        assert_eq!(settings(&[]).unwrap_err().name, "TABLE_NAME");
        let e = settings(&[("TABLE_NAME", "t"), ("BUCKET_SHARDS", "0")]).unwrap_err();
        assert_eq!(e.name, "BUCKET_SHARDS");
        let e = settings(&[("TABLE_NAME", "t"), ("MAX_ATTEMPTS", "many")]).unwrap_err();
        assert_eq!(e.name, "MAX_ATTEMPTS");
        let e = settings(&[("TABLE_NAME", "t"), ("PRIVATE_TARGETS", "localhost")]).unwrap_err();
        assert_eq!(e.name, "PRIVATE_TARGETS");
        let e = settings(&[("TABLE_NAME", "t"), ("WEBHOOK_SECRETS", "hunter2")]).unwrap_err();
        assert_eq!(e.name, "WEBHOOK_SECRETS");
        assert!(!e.problem.contains("hunter2"), "{}", e.problem);
    }
}
