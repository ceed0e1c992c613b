#!/usr/bin/env bash
# memory.sh measures what `conexor serve` holds in memory (issue 14, point 4): idle after a
# start on an existing SQLite database, then idle 10 s after a token load.
#
#   scripts/memory.sh [BINARY...]   (default: builds ./cmd/conexor into a temporary directory)
#
# For each binary it seeds a fresh database with a first start (which prints the demo
# client's secret), stops it, starts it again on that database, waits WAIT seconds (8) and
# reads VmRSS, RssAnon and RssFile from /proc/PID/status; then it drives the token endpoint
# (`conexor bench token`, CONCURRENCY 64 clients for DURATION 15s), waits 10 s and reads
# them again. Several binaries are measured one after the other in the same run, so that
# their numbers can be compared (the machine's noise is not). PPROF=1 also saves the heap
# profile of each phase next to the database, or in PPROF_DIR (go tool pprof -sample_index=inuse_space
# FILE; PPROF=1 sets GODEBUG=memprofilerate=4096 for a finer profile, which itself costs a little memory).
#
# RssFile is mostly the binary's own pages, and how many are mapped depends on the page cache more
# than on the server: a binary the Go linker has just written (go build writes its output through
# mmap) sits in the page cache in large folios, which Linux 6.x maps whole on a fault, so nearly
# all of it shows as resident: about 37 MB of RssFile instead of 27. A copy written with write(2)
# (cp, cat, an image layer) or a binary read back from disk does not. So that every binary starts
# from the same state, the script first drops the binary's cached pages (dd iflag=nocache), as
# after a reboot; EVICT=0 keeps the cache as it is. Linux only (/proc).
set -euo pipefail

WAIT=${WAIT:-8}
DURATION=${DURATION:-15s}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-18480}
PPROF_PORT=$((PORT + 1))

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=""

bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
	go build -o "$work/conexor" ./cmd/conexor
	bins=("$work/conexor")
fi

# status prints the three memory lines of /proc/PID/status in MB.
status() {
	awk -v what="$2" '/^(VmRSS|RssAnon|RssFile):/ {v[$1]=$2/1024}
		END {printf "%-22s VmRSS %5.1f MB  RssAnon %5.1f MB  RssFile %5.1f MB\n", what, v["VmRSS:"], v["RssAnon:"], v["RssFile:"]}' "/proc/$1/status"
}

# start runs serve on database $1 in the background and waits for /healthz.
start() {
	local bin=$1 db=$2 log=$3
	if [ "${EVICT:-1}" = 1 ]; then dd if="$bin" iflag=nocache count=0 status=none; fi
	env ${PPROF:+GODEBUG=memprofilerate=4096} CONEXOR_ADMIN_PASSWORD=memory-demo-password "$bin" serve --addr "127.0.0.1:$PORT" --database-url "sqlite://$db" \
		--pprof-addr "127.0.0.1:$PPROF_PORT" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "serve did not start:" >&2
	cat "$log" >&2
	exit 1
}

stop() {
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
}

heap() {
	if [ -n "${PPROF:-}" ]; then
		curl -fsS "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap" -o "$1"
		echo "  heap profile: $1"
	fi
}

for bin in "${bins[@]}"; do
	dir=$(mktemp -d "$work/db.XXXX")
	db="$dir/conexor.db"
	echo "== $bin"
	start "$bin" "$db" "$dir/first.log"
	id=$(awk '/client_id:/ {print $2; exit}' "$dir/first.log")
	secret=$(awk '/client_secret:/ {print $2; exit}' "$dir/first.log")
	stop
	start "$bin" "$db" "$dir/serve.log"
	sleep "$WAIT"
	status "$pid" "idle after start"
	heap "${PPROF_DIR:-$dir}/$(basename "$bin").start.heap"
	"$bin" bench token --url "http://127.0.0.1:$PORT" --client-id "$id" --client-secret "$secret" \
		--concurrency "$CONCURRENCY" --duration "$DURATION" | sed -n '3,4p' | sed 's/^/  /'
	status "$pid" "right after the load"
	sleep 10
	status "$pid" "idle 10 s after load"
	heap "${PPROF_DIR:-$dir}/$(basename "$bin").load.heap"
	stop
done
