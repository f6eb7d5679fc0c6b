#!/usr/bin/env bash
# Runs the benchmark described in BENCHMARKS.md: builds everything in release mode, starts the
# local stack (release functions under cargo lambda watch) for the through-HTTP create figures,
# runs target/release/bench, and stops the stack. Pass --quick for a smaller, faster run.
# Results: docs/bench/bench-results.json, docs/bench/lateness.svg, docs/bench/backlog.svg.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$repo_root"

ensure_tools
cargo build --release --workspace --bins
cargo build --workspace --bins

out=${BENCH_OUT:-docs/bench}
mkdir -p "$out" target/bench
api_port=$(free_port)
store_port=$(free_port)
data_dir=$(mktemp -d)
TIMERS_API_PORT=$api_port TIMERS_STORE_PORT=$store_port TIMERS_DATA_DIR=$data_dir \
  TIMERS_WATCH_FLAGS="--ignore-changes --release" RUST_LOG=warn \
  setsid local/run.sh > target/bench/local-stack.log 2>&1 &
stack=$!
trap 'kill -- "-$stack" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data_dir"' EXIT
wait_for_port "$api_port" 600

BENCH_OUT=$out TIMERS_BASE_URL="http://127.0.0.1:$api_port" target/release/bench "$@"
