#!/usr/bin/env bash
# Commissioners' reports at scale, on PostgreSQL.
#
#   scripts/bench-reports.sh [--cases N] [--years Y] [--runs R] [--writes W] [--keep] [--reuse]
#
# Loads N cases (default 1,000,000) spread over the Y calendar years ending 2026-12-31 (default 3),
# with their audit events, into a scratch database (aghub_bench_reports, dropped afterwards unless
# --keep), straight through SQL (generate_series), not through the API. Migration 0003 then
# derives the report tables from those events, and the service brings them to today's figure
# set, as on an existing installation. Prints how long each step took, the report path's timings
# (in process and over HTTP: JSON, CSV and the dashboard page) for a year, a specialty, a practice
# and the longest period, what keeping the figures costs a case (--writes W cases, each rolled
# back), and the query plans.
# Needs PostgreSQL (started, like the tests, by scripts/deps.sh) and a release build (a few minutes
# the first time). Not part of the test suite.
set -euo pipefail
source "$(dirname "$0")/deps.sh"
ensure_build_deps
ensure_postgres
cd "$AGHUB_ROOT"
nice cargo build --release --quiet --example bench_reports
exec "${CARGO_TARGET_DIR:-target}/release/examples/bench_reports" "$@"
