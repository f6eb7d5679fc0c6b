#!/usr/bin/env bash
# Brings the whole service up on this machine, the way it runs on AWS:
#   - the DynamoDB API (Dynoxide, data kept in local/data/timers.db) with the table created,
#   - the functions under `cargo lambda watch` on http://127.0.0.1:9000, routed like the
#     API Gateway HTTP API (POST /timers, GET /timers/{id}, /timers/ping/{ping_id}),
#   - the scheduler loop that invokes the sweeper every SCHEDULER_PERIOD_SECONDS (60).
# Ctrl-C stops everything. Settings, all optional:
#   TIMERS_API_PORT (9000), TIMERS_STORE_PORT (8000), TIMERS_DATA_DIR (local/data),
#   SCHEDULER_PERIOD_SECONDS (60), TIMERS_WATCH_CONCURRENCY (4), and any function setting
#   (MAX_ATTEMPTS, ...) from the README.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$repo_root"

api_port=${TIMERS_API_PORT:-9000}
store_port=${TIMERS_STORE_PORT:-8000}
data_dir=${TIMERS_DATA_DIR:-local/data}
period=${SCHEDULER_PERIOD_SECONDS:-60}

ensure_tools
# The same build as the tests' (tests/run.sh), so that after them this builds nothing.
cargo build --workspace --all-targets
# `cargo lambda watch` starts each function with `cargo run --bin <function>`, which resolves
# features for that one package, so a workspace build does not serve it. Build each function
# the same way now, so that the first request does not wait minutes for a compile.
profile=()
case " ${TIMERS_WATCH_FLAGS:-} " in *" --release "*) profile=(--release) ;; esac
for main in functions/*/src/main.rs; do
  function=${main#functions/}
  cargo build "${profile[@]}" --bin "${function%%/*}"
done

trap 'trap - EXIT INT TERM; kill 0 2>/dev/null; wait' EXIT INT TERM

mkdir -p "$data_dir"
target/debug/timers-local store --db "$data_dir/timers.db" --port "$store_port" --table timers &
wait_for_port "$store_port" 60

env_file="$data_dir/functions.env"
{
  echo "TABLE_NAME=timers"
  echo "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$store_port"
  echo "AWS_REGION=us-east-1"
  echo "AWS_ACCESS_KEY_ID=local"
  echo "AWS_SECRET_ACCESS_KEY=local"
  echo "RUST_LOG=${RUST_LOG:-info}"
  # The ping target is on 127.0.0.1: allow loopback here, unless PRIVATE_TARGETS is set
  # (empty: public targets only, as in production).
  private_targets=${PRIVATE_TARGETS-127.0.0.1/32,::1/128}
  # Lists go comma-separated: the env file does not take spaces.
  echo "PRIVATE_TARGETS=${private_targets//[[:space:]]/,}"
  # Each sweeper run works a little past the next trigger, as on AWS (60 s period: 70 s).
  echo "SWEEP_RUN_SECONDS=${SWEEP_RUN_SECONDS:-$((period + (period + 5) / 6))}"
  for name in BUCKET_SHARDS RETENTION_DAYS MAX_ATTEMPTS RETRY_BASE_SECONDS RETRY_MAX_SECONDS \
    CALL_CONNECT_TIMEOUT_MS CALL_TIMEOUT_MS FIRE_CONCURRENCY LEASE_MARGIN_MS SWEEP_POLL_MS SWEEP_LOOKBACK_MINUTES \
    SWEEP_CATCHUP_MINUTES SWEEP_FIRST_LOOKBACK_MINUTES; do
    if [ -n "${!name:-}" ]; then echo "$name=${!name}"; fi
  done
  if [ -n "${WEBHOOK_SECRETS:-}" ]; then echo "WEBHOOK_SECRETS=${WEBHOOK_SECRETS//[[:space:]]/,}"; fi
} > "$env_file"

# Up to TIMERS_WATCH_CONCURRENCY (4) instances of each function serve requests side by side,
# as Lambda scales out; one instance handles one request at a time.
cargo lambda watch -A 127.0.0.1 -P "$api_port" --env-file "$env_file" \
  --concurrency "${TIMERS_WATCH_CONCURRENCY:-4}" ${TIMERS_WATCH_FLAGS:-} &
wait_for_port "$api_port" 300

target/debug/timers-local scheduler \
  --invoke-url "http://127.0.0.1:$api_port/2015-03-31/functions/sweeper/invocations" \
  --every "$period" &

echo "timers: API on http://127.0.0.1:$api_port, sweeping every ${period}s. Ctrl-C stops." >&2
wait -n
