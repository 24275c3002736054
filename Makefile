# One task runner; `make test` is exactly what CI runs (.ci/run).
.PHONY: run test bench

run:
	cargo run --release -p herald-local

test:
	./scripts/test.sh

bench:
	./scripts/bench.sh
