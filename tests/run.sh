#!/usr/bin/env bash
# Runs every test, on a fresh machine too (it installs cargo-lambda, moto, the SAM CLI and the
# OpenAPI checkers from PyPI first):
#   1. cargo fmt --check, cargo clippy -D warnings, cfn-lint and sam validate --lint on
#      template.yaml (offline, with dummy credentials);
#   2. unit and integration tests against Dynoxide (embedded in the tests);
#   3. the same integration tests against moto's server, a second DynamoDB implementation;
#   4. the end-to-end tests through the local stack (local/run.sh: cargo lambda watch, the
#      scheduler loop, the Dynoxide store), using the ping target: a timer fires, and a timer
#      created before the stack is stopped and started again fires after it.
# Everything listens on 127.0.0.1 and stops when this script ends.
set -euo pipefail
source "$(dirname "$0")/../local/tools.sh"
cd "$repo_root"

ensure_tools "moto[dynamodb,server]==$MOTO_VERSION" \
  "aws-sam-cli==$SAM_CLI_VERSION" \
  "openapi-core==$OPENAPI_CORE_VERSION" \
  "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" \
  "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
logs=target/test-logs
mkdir -p "$logs"

# Every step selects tests from the whole workspace: `-p integration-tests` alone resolves
# other features and would build the AWS SDK stack a second time. The tests through the local
# stack are ignored by default (they need it); each runner has its own way of running them by
# name.
if command -v cargo-nextest >/dev/null; then
  run_tests() { cargo nextest run --workspace --no-fail-fast "$@"; }
  run_integration_tests() { run_tests -E 'package(integration-tests)'; }
  run_stack_tests() {
    local filter="" name
    for name in "$@"; do filter="${filter:+$filter | }test(=$name)"; done
    cargo nextest run --workspace --run-ignored only -E "binary(local_stack) & ($filter)"
  }
else
  run_tests() { cargo test --workspace --no-fail-fast "$@"; }
  run_integration_tests() { run_tests --test '*'; }
  run_stack_tests() { cargo test --workspace --test local_stack -- --ignored --exact "$@"; }
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== format and lints" >&2
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cfn-lint template.yaml
AWS_ACCESS_KEY_ID=none AWS_SECRET_ACCESS_KEY=none AWS_DEFAULT_REGION=us-east-1 \
  SAM_CLI_TELEMETRY=0 sam validate --lint --template-file template.yaml

echo "== build" >&2
cargo build --workspace --all-targets

echo "== tests against Dynoxide" >&2
run_tests

echo "== integration tests against moto" >&2
moto_port=$(free_port)
setsid python3 tests/moto_server.py "$moto_port" > "$logs/moto.log" 2>&1 &
pids+=($!)
wait_for_port "$moto_port" 60
TIMERS_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$moto_port" run_integration_tests

echo "== end-to-end tests through the local stack, across a restart of it" >&2
api_port=$(free_port)
store_port=$(free_port)
data_dir=$(mktemp -d)
export TIMERS_BASE_URL="http://127.0.0.1:$api_port" TIMERS_RESTART_FILE="$data_dir/restart.json"
stack_failed() {
  tail -50 "$logs/local-stack.log" >&2
  exit 1
}
start_stack() {
  TIMERS_API_PORT=$api_port TIMERS_STORE_PORT=$store_port TIMERS_DATA_DIR=$data_dir \
    SCHEDULER_PERIOD_SECONDS=2 TIMERS_WATCH_FLAGS=--ignore-changes \
    setsid local/run.sh >> "$logs/local-stack.log" 2>&1 &
  stack=$!
  pids+=("$stack")
  wait_for_port "$api_port" 1500 || stack_failed
}
start_stack
run_stack_tests a_timer_created_over_http_fires_at_the_ping_target \
  a_timer_is_set_to_fire_after_the_stack_restarts || stack_failed
# Stop it as Ctrl-C would (SIGTERM to its processes), then start it again on the same data.
kill -- "-$stack" || true
wait "$stack" || true
wait_for_port "$api_port" 60 closed
wait_for_port "$store_port" 60 closed
TIMERS_STACK_STOPPED_AT=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
export TIMERS_STACK_STOPPED_AT
start_stack
run_stack_tests the_timer_set_before_the_restart_fires_after_it || stack_failed
rm -rf "$data_dir"
