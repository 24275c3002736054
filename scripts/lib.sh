# Shared by scripts/test.sh and scripts/bench.sh: the pinned Python tools, and the emulator.
MOTO=5.2.5
CFN_LINT=1.58.0
SAM_TRANSLATOR=1.115.0
CHECKOV=3.2.495
CARGO_LAMBDA=1.9.2
APPRISE=2.2.0

step() { printf '\n== %s\n' "$*"; }

# .venv: moto's server, cfn-lint, SAM's translator (what CloudFormation runs on the template) and
# cargo-lambda; .venv-checkov: checkov (it pins its own
# dependencies); .venv-bench: Apprise, only for the benchmarks.
python_tools() {
  if ! .venv/bin/python -c "import importlib.metadata as m; assert (m.version('moto'), m.version('cfn-lint'), m.version('aws-sam-translator'), m.version('cargo-lambda')) == ('$MOTO', '$CFN_LINT', '$SAM_TRANSLATOR', '$CARGO_LAMBDA')" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet "moto[server]==$MOTO" "cfn-lint==$CFN_LINT" "aws-sam-translator==$SAM_TRANSLATOR" "cargo-lambda==$CARGO_LAMBDA"
  fi
  if [ ! -x .venv-checkov/bin/checkov ]; then
    python3 -m venv .venv-checkov
    .venv-checkov/bin/pip install --quiet "checkov==$CHECKOV"
  fi
}

# Debian's Chromium, for the pages' browser tests (tests/push_page.rs), when it is not there.
browser() {
  if ! command -v chromium > /dev/null; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get install -y -q chromium > target/apt.log 2>&1 || { $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q chromium > target/apt.log 2>&1; } || { cat target/apt.log; echo "could not install chromium"; exit 1; }
  fi
  export HERALD_CHROMIUM="$(command -v chromium)" HERALD_REQUIRE_BROWSER=1
  chromium --version
}

apprise_tools() {
  if ! .venv-bench/bin/python -c "import importlib.metadata as m; assert m.version('apprise') == '$APPRISE'" 2>/dev/null; then
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install --quiet "apprise==$APPRISE"
  fi
}

# Starts moto's server on a free loopback port, stopped when the calling script exits.
start_emulator() {
  mkdir -p target
  local port
  port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -sf -X POST "http://127.0.0.1:$port/moto-api/reset" > /dev/null && break
    sleep 0.2
  done
  curl -sf -X POST "http://127.0.0.1:$port/moto-api/reset" > /dev/null || { cat target/moto.log; echo "the emulator did not start"; exit 1; }
  export HERALD_TEST_EMULATOR="http://127.0.0.1:$port" HERALD_REQUIRE_EMULATOR=1
  echo "moto $MOTO on $HERALD_TEST_EMULATOR"
}

# Every function for Lambda, with cargo-lambda, as zips in target/lambda/ (x86_64, the build
# machine's own target, which needs no download; `lambda_build_arm64` below builds what Lambda runs).
lambda_build() {
  .venv/bin/cargo-lambda lambda build --release --compiler cargo --disable-optimizations --output-format zip
  for zip in target/lambda/*/bootstrap.zip; do
    name=$(basename "$(dirname "$zip")")
    printf '%-20s binary %9d bytes   zip %9d bytes\n' "$name" "$(stat -c %s "target/x86_64-unknown-linux-gnu/release/$name")" "$(stat -c %s "$zip")"
  done
}

# The same for arm64 (what Lambda runs), when the aarch64 target can be had (rustup downloads
# it; CI does not depend on this). Zig, from the cargo-lambda wheel, is the cross-linker.
lambda_build_arm64() {
  if ! rustup target list --installed | grep -q aarch64-unknown-linux-gnu && ! rustup target add aarch64-unknown-linux-gnu; then
    echo "no aarch64 target: arm64 sizes not measured"
    return 0
  fi
  PATH="$PWD/.venv/bin:$PATH" .venv/bin/cargo-lambda lambda build --release --arm64 --disable-optimizations --output-format zip --lambda-dir target/lambda-arm64
}

# The template as written (cfn-lint, checkov), then as CloudFormation receives it: translated by
# SAM's own translator, checked for dependency cycles (cfn-lint's cycle rule skips serverless
# resources, so only the translated template shows one) and linted again.
template_checks() {
  .venv/bin/cfn-lint infra/template.yaml
  .venv-checkov/bin/checkov -f infra/template.yaml --framework cloudformation --compact --quiet --skip-download
  .venv/bin/python scripts/check_template.py infra/template.yaml target/template.translated.json
  .venv/bin/cfn-lint target/template.translated.json
}
