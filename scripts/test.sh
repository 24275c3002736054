#!/usr/bin/env bash
# Herald's whole test suite, exactly what CI runs (.ci/run) and what the README names:
# Python tools in .venv (pinned; installed if missing), the DynamoDB/SQS emulator (moto) on a
# free loopback port, formatting, lints, every test (emulator-backed ones must run, not skip),
# the template checks. The emulator is stopped however this ends.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO=5.2.5
CFN_LINT=1.58.0
CHECKOV=3.2.495
VENV=.venv
step() { printf '\n== %s\n' "$*"; }

step "python tools ($VENV)"
if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('moto') == '$MOTO' and m.version('cfn-lint') == '$CFN_LINT'" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "moto[server]==$MOTO" "cfn-lint==$CFN_LINT"
fi
if [ ! -x .venv-checkov/bin/checkov ]; then
  # checkov pins its own dependencies, so it gets a venv of its own.
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet "checkov==$CHECKOV"
fi

step "emulator"
mkdir -p target
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf -X POST "http://127.0.0.1:$port/moto-api/reset" > /dev/null && break
  sleep 0.2
done
curl -sf -X POST "http://127.0.0.1:$port/moto-api/reset" > /dev/null || { cat target/moto.log; echo "the emulator did not start"; exit 1; }
export HERALD_TEST_EMULATOR="http://127.0.0.1:$port" HERALD_REQUIRE_EMULATOR=1
echo "moto $MOTO on $HERALD_TEST_EMULATOR"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "template checks"
"$VENV/bin/cfn-lint" infra/template.yaml
.venv-checkov/bin/checkov -f infra/template.yaml --framework cloudformation --compact --quiet --skip-download

step "all passed"
