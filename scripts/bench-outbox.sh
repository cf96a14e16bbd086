#!/usr/bin/env bash
# The outbox under a burst: 10,000 events (each one email and one webhook call) on PostgreSQL,
# delivered by 2 workers to a real SMTP server; prints latency p50/p99 and throughput.
# Usage: scripts/bench-outbox.sh [EVENTS] [WORKERS]
set -euo pipefail
source "$(dirname "$0")/deps.sh"
ensure_build_deps
ensure_postgres
ensure_smtp_sink
cd "$AGHUB_ROOT"
events=${1:-10000}
workers=${2:-2}
db="aghub_bench_outbox_$$"
PGPASSWORD=aghub psql -q -h 127.0.0.1 -U aghub -d postgres -c "CREATE DATABASE $db"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scripts/smtp-sink --port "$port" --dir "$work/mail" > /dev/null &
sink=$!
trap 'kill $sink 2>/dev/null; PGPASSWORD=aghub psql -q -h 127.0.0.1 -U aghub -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; rm -rf "$work"' EXIT
sleep 1
cargo run --locked --quiet --example bench_outbox -- \
    --events "$events" --workers "$workers" --sink-dir "$work/mail" \
    --database-url "postgres://aghub:aghub@127.0.0.1:5432/$db" --data-dir "$work/data" \
    --storage-url "file://$work/blobs" --smtp-url "smtp://127.0.0.1:$port" \
    --webhook-allow-http true --public-url https://aghub.example.nhs.uk
