#!/usr/bin/env bash
# `make bench`: release builds, the criterion benchmarks and herald-bench in full; the report
# goes to target/bench.md and between the markers of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

step "tools"
python_tools
apprise_tools
# wrk (Debian's package) drives the receivers under load.
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
start_emulator

step "release builds"
lambda_build
lambda_build_arm64
cargo build --release --target x86_64-unknown-linux-gnu -p herald-tests --bins -p herald-local --locked

step "webhook handling cost (criterion)"
cargo bench --target x86_64-unknown-linux-gnu -p herald-tests --bench webhook --locked 2>&1 | tee target/criterion.txt

step "herald-bench"
HERALD_BENCH_JSON=target/bench.json target/x86_64-unknown-linux-gnu/release/herald-bench --apprise-python .venv-bench/bin/python "$@" | tee target/bench.md

.venv/bin/python - <<'PY'
import re, pathlib
doc = pathlib.Path("docs/benchmarks.md")
text = doc.read_text()
crit = pathlib.Path("target/criterion.txt").read_text()
rows = re.findall(r"^(?:webhook|send)/(.+?)\n\s+time:\s+\[([^\]]+)\]", crit, re.M)
table = "| request or send | wall-clock time each, one thread: criterion's estimate of the mean with its 95% interval [low estimate high] |\n|---|---|\n" + "".join(f"| {n} | {t} |\n" for n, t in rows)
gen = "<!-- generated -->\n### Webhook handling cost\n\n" + table + "\n" + pathlib.Path("target/bench.md").read_text().strip() + "\n<!-- /generated -->"
text = re.sub(r"<!-- generated -->.*<!-- /generated -->", gen, text, flags=re.S)
doc.write_text(text)
PY
step "docs/benchmarks.md updated"
