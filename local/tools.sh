# Sourced by local/run.sh and tests/run.sh: installs what the project needs beyond Rust,
# from PyPI only, into .venv (cargo-lambda ships its own zig; moto serves the second
# DynamoDB implementation the tests are cross-checked against; the SAM CLI (with its cfn-lint) checks
# template.yaml; openapi-core and openapi-spec-validator check docs/openapi.yaml and real answers
# against it; standardwebhooks is the reference check of the calls' signatures),
# and puts it first on PATH.

CARGO_LAMBDA_VERSION=1.9.2
MOTO_VERSION=5.2.5
SAM_CLI_VERSION=1.170.0
STANDARDWEBHOOKS_VERSION=1.1.0
# openapi-core 0.23.1 requires openapi-spec-validator < 0.9.
OPENAPI_CORE_VERSION=0.23.1
OPENAPI_SPEC_VALIDATOR_VERSION=0.8.5

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"

ensure_tools() {
  if [ ! -x "$venv/bin/python3" ]; then
    python3 -m venv "$venv"
  fi
  local wanted=("cargo-lambda==$CARGO_LAMBDA_VERSION" "$@")
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "${wanted[@]}"; then
    echo "could not install ${wanted[*]} from PyPI" >&2
    return 1
  fi
  export PATH="$venv/bin:$PATH"
}

# Waits until something listens on 127.0.0.1:$1 (with a third argument `closed`: until nothing
# does any more), for at most $2 seconds.
wait_for_port() {
  local port=$1 deadline=$((SECONDS + $2)) wanted=${3:-open}
  until [ "$(port_state "$port")" = "$wanted" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "127.0.0.1:$port is not $wanted after $2 s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Prints `open` if something listens on 127.0.0.1:$1, else `closed`.
port_state() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then echo open; else echo closed; fi
}

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
