#!/usr/bin/env bash
# soak.sh runs the token endpoint under sustained load with purges running (issue 15, point 5):
# 64 clients for MINUTES minutes (30) while expired tokens are purged, and prints per minute
# the throughput, p99 and max latency, errors, database size and the server's RSS.
#
#   scripts/soak.sh sqlite|postgres [MINUTES]   (BIN=path uses that binary instead of building ./cmd/conexor)
#
# It starts `serve` on a fresh database with a 1-minute access-token TTL, a purge every
# PURGE_INTERVAL (5s; 0 turns purging off, for the baseline run) and no retention of expired
# rows (RETENTION, 0), so that the database should stop growing after a minute or two and many
# purges run under the load. SQLite: a new file in a temporary directory. Postgres: a new schema
# soak_PID in the database of CONEXOR_TEST_POSTGRES_DSN (default
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable), dropped at the end. The demo
# client's ID and secret are read from the first-start banner, then `conexor bench soak` drives
# the load (CONCURRENCY 64, WINDOW 1m) and samples the server's VmRSS (Linux, /proc) and the
# database size after each window. At the end it prints the server's log size and lines by level
# (and its first warnings and errors) and, on Postgres, the live and dead rows and autovacuum runs of the oauth_ tables. The exit
# status is bench soak's: non-zero if any request failed. PG_PARAMS=k=v&... adds parameters to
# the server's database URL only (e.g. pool_max_conn_lifetime=2m, which psql would refuse). KEEP_LOG=FILE keeps the server's log
# (its "purged expired tokens and sessions" lines say how long each purge took).
set -euo pipefail

kind=${1:-}
MINUTES=${2:-30}
PURGE_INTERVAL=${PURGE_INTERVAL:-5s}
RETENTION=${RETENTION:-0}
CONCURRENCY=${CONCURRENCY:-64}
WINDOW=${WINDOW:-1m}
PORT=${PORT:-18490}

case "$kind" in
sqlite | postgres) ;;
*)
	echo "usage: $0 sqlite|postgres [MINUTES]" >&2
	exit 2
	;;
esac

work=$(mktemp -d)
pid=""
schema=""
pg_dsn=${CONEXOR_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "$schema" ]; then
		psql -q "$pg_dsn" -c "SET client_min_messages = warning" -c "DROP SCHEMA $schema CASCADE" >/dev/null || true
	fi
	if [ -n "${KEEP_LOG:-}" ] && [ -f "$work/serve.log" ]; then cp "$work/serve.log" "$KEEP_LOG"; fi
	rm -rf "$work"
}
trap cleanup EXIT

BIN=${BIN:-}
if [ -z "$BIN" ]; then
	go build -o "$work/conexor" ./cmd/conexor
	BIN="$work/conexor"
fi

serve_env=(CONEXOR_ACCESS_TOKEN_TTL=1m CONEXOR_PURGE_INTERVAL="$PURGE_INTERVAL"
	CONEXOR_EXPIRED_RETENTION="$RETENTION" CONEXOR_ADMIN_PASSWORD=soak-demo-password)
if [ "$kind" = sqlite ]; then
	db_url="sqlite://$work/conexor.db"
else
	schema="soak_$$"
	psql -q "$pg_dsn" -c "CREATE SCHEMA $schema" >/dev/null
	# The purge leaves dead tuples for autovacuum to reclaim; with it off (some test servers
	# turn it off) the tables grow by every purged row and the run measures that instead.
	if [ "$(psql -Atq "$pg_dsn" -c "SHOW autovacuum")" != on ]; then
		echo "warning: autovacuum is off on this server: purged rows are never reclaimed and the database grows" >&2
	fi
	case "$pg_dsn" in
	*\?*) db_url="$pg_dsn&search_path=$schema" ;;
	*) db_url="$pg_dsn?search_path=$schema" ;;
	esac
	# Postgres needs the system secret (a SQLite server keeps one beside its file).
	serve_env+=(CONEXOR_SECRET=soak-benchmark-secret-0123456789abcdef)
fi

log="$work/serve.log"
env "${serve_env[@]}" "$BIN" serve --addr "127.0.0.1:$PORT" --database-url "$db_url${PG_PARAMS:+&$PG_PARAMS}" >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do
	if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$pid" 2>/dev/null; then break; fi
	sleep 0.1
done
if ! curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
	echo "serve did not start:" >&2
	cat "$log" >&2
	exit 1
fi
id=$(awk '/client_id:/ {print $2; exit}' "$log")
secret=$(awk '/client_secret:/ {print $2; exit}' "$log")

echo "== $kind, $MINUTES x $WINDOW, $CONCURRENCY clients, access_token_ttl 1m, purge_interval $PURGE_INTERVAL, expired_retention $RETENTION"
rc=0
CONEXOR_CLIENT_SECRET="$secret" "$BIN" bench soak --url "http://127.0.0.1:$PORT" --client-id "$id" \
	--concurrency "$CONCURRENCY" --minutes "$MINUTES" --window "$WINDOW" \
	--pid "$pid" --database-url "$db_url" | tee "$work/soak.out" || rc=$?

tokens=$(awk '/ windows: / {print $3; exit}' "$work/soak.out")
bytes=$(wc -c <"$log")
echo
echo "server log: $bytes bytes, $(wc -l <"$log") lines" \
	"($(awk -v b="$bytes" -v t="${tokens:-0}" 'BEGIN {if (t > 0) printf "%.0f bytes per 1,000 tokens", 1000 * b / t; else print "no tokens"}'))"
for level in DEBUG INFO WARN ERROR; do
	echo "  level=$level: $(grep -c "level=$level" "$log" || true) lines"
done
if grep -qE 'level=(WARN|ERROR)' "$log"; then
	echo "  first warnings and errors:"
	grep -E 'level=(WARN|ERROR)' "$log" | head -5 | cut -c1-300 | sed 's/^/    /'
fi
if [ -n "$schema" ]; then
	echo
	psql "$pg_dsn" -c "SELECT relname, n_live_tup, n_dead_tup, last_autovacuum, autovacuum_count
		FROM pg_stat_user_tables WHERE schemaname = '$schema' AND relname LIKE 'oauth\_%' ORDER BY relname"
fi
exit "$rc"
