#!/usr/bin/env bash
# Herald's whole test suite, exactly what CI runs (.ci/run) and what the README names: pinned
# Python tools in .venv* (installed if missing), Debian's Chromium for the page tests (installed if
# missing), the DynamoDB/SQS emulator (moto) on a free
# loopback port, formatting, lints, every test (emulator-backed ones must run, not skip), the
# template checks, the Lambda build and a smoke run of the benchmarks. The emulator is stopped
# however this ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

step "python tools"
python_tools

step "emulator"
start_emulator

step "browser (Debian's Chromium)"
mkdir -p target
browser

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (the binaries the smoke tests run)"
cargo build --workspace --locked

step "cargo test"
cargo test --workspace --locked
cargo test -p herald-tests --benches --locked

step "template checks"
template_checks

step "benchmark harness (smoke)"
cargo run -p herald-tests --bin herald-bench --locked -- --smoke > target/bench-smoke.md
tail -n 5 target/bench-smoke.md

step "cargo lambda build --release"
lambda_build

step "all passed"
