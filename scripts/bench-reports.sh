#!/usr/bin/env bash
# Commissioners' reports at scale, on PostgreSQL.
#
#   scripts/bench-reports.sh [--cases N] [--years Y] [--runs R] [--writes W] [--keep] [--reuse]
#                            [--no-retention] [--from-events]
#
# Loads N cases (default 1,000,000; 10,000,000 for a national deployment, about 40 minutes) spread
# over the Y calendar years ending 2026-12-31 (default 4) into a scratch database
# (aghub_bench_reports, dropped afterwards unless --keep), straight through SQL (generate_series),
# not through the API: each case's facts are written with it and the service's own rebuild makes
# the figures' flags and day tables. (--from-events loads audit events instead and lets migration
# 0003 derive the facts, as on an installation upgraded from before reports: slow at scale.)
# Prints how long each step took, the report path's timings (in process and over HTTP: JSON, CSV
# and the dashboard page) for a year, a specialty, an ICB, a practice and the longest period,
# what keeping the figures costs a case (--writes W cases, each rolled back), the query plans,
# and last the retention run over the first year's cases (which erases them; --no-retention
# skips it). --reuse runs on a database kept by an earlier --keep, upgraded to this code.
# Needs PostgreSQL (started, like the tests, by scripts/deps.sh) and a release build (a few minutes
# the first time). Not part of the test suite.
set -euo pipefail
source "$(dirname "$0")/deps.sh"
ensure_build_deps
ensure_postgres
cd "$AGHUB_ROOT"
nice cargo build --release --quiet --example bench_reports
exec "${CARGO_TARGET_DIR:-target}/release/examples/bench_reports" "$@"
