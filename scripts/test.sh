#!/usr/bin/env bash
# THE test command: fetches the test data if it is not cached yet, then runs
# every test of the workspace (unit tests, the fhir-server REST tests and the
# black-box conformance tests on SQLite and PostgreSQL).
#
#   bash scripts/test.sh [extra cargo test arguments]
#
# The PostgreSQL tests use postgres://postgres@127.0.0.1:5432/test (trust
# auth) unless FHIR_TEST_POSTGRES_URL says otherwise, and fail when it cannot
# be reached; FHIR_TEST_SKIP_POSTGRES=1 skips them. Exits non-zero when any
# test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/fetch-test-data.sh
# --no-fail-fast: report every failing test binary, not only the first.
cargo test --workspace --no-fail-fast "$@"
