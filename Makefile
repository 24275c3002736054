# One task runner; `make test` is exactly what CI runs (.ci/run).
.PHONY: run test bench props screenshots

run:
	cargo run --release -p herald-local

test:
	./scripts/test.sh

bench:
	./scripts/bench.sh

# The property tests, long (the test command runs them with 64 cases).
props:
	PROPTEST_CASES=$${PROPTEST_CASES:-5000} cargo test -p herald-tests --test properties

# The console's screenshots in docs/ (README), taken by its browser test in Debian's Chromium.
screenshots:
	HERALD_REQUIRE_BROWSER=1 HERALD_SCREENSHOTS=$(CURDIR)/docs cargo test -p herald-tests --test console
