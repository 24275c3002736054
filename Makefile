# One task runner; `make test` is exactly what CI runs (.ci/run).
.PHONY: run test bench props

run:
	cargo run --release -p herald-local

test:
	./scripts/test.sh

bench:
	./scripts/bench.sh

# The property tests, long (the test command runs them with 64 cases).
props:
	PROPTEST_CASES=$${PROPTEST_CASES:-5000} cargo test -p herald-tests --test properties
