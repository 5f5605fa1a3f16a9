#!/usr/bin/env bash
# WebSub hub benchmark: how long `broadsheet serve`'s hub takes to push one
# edit to many subscribers, what that costs the readers of the feeds, and
# the server's peak memory.
#
#  1. Builds the release binary and `examples/gen_corpus`, and makes a site of
#     ARTICLES articles in FEEDS-1 sections: FEEDS RSS feeds (the site's
#     rss.xml and one per section), with `[websub] allow_private_callbacks =
#     true` (the subscribers are on loopback); every other [websub] key at its
#     default (16 deliveries at once, 2 per host).
#  2. Starts `broadsheet serve --no-watch` on BS_PORT and the subscribers:
#     bench/websub_callbacks.py, one Python asyncio server answering every
#     callback on CB_PORT at HOSTS loopback addresses 127.0.1.1.. (so the hub
#     sees HOSTS hosts, not one), counting pushes per callback.
#  3. "without": wrk (WRK_THREADS threads, WRK_CONNECTIONS connections,
#     WRK_SECONDS s) against /rss.xml, the hub idle: requests per second.
#  4. Subscribes SUBSCRIBERS callbacks spread evenly over the FEEDS feeds
#     (bench/websub_subscribe.py) and waits until /healthz counts them all
#     verified.
#  5. The edit: config.toml's title changes (every feed carries it), then
#     SIGHUP; at the same moment wrk starts again ("during"). The time
#     reported runs from the SIGHUP (so it includes the rebuild) to the
#     arrival of the last subscriber's first push.
#  6. Prints: delivery time, pushes and bytes, req/s without and during and
#     their ratio (and whether wrk's window outlasted the deliveries, which
#     dilutes the "during" figure), and the server's peak RSS (VmHWM) before
#     the edit and at the end.
#
# Needs cargo, python3, wrk and curl (apt-get install wrk curl); installs
# nothing and says what is missing. Makes a release build (target/release);
# run `cargo clean --release` after on a machine short of disk.
#
# Options (environment): SUBSCRIBERS (1000), FEEDS (100), HOSTS (100),
# ARTICLES (2000), BS_PORT (18090), CB_PORT (18091), WRK_THREADS (1),
# WRK_CONNECTIONS (32), WRK_SECONDS (5), TIMEOUT (300 s, for the deliveries).
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-1000}
FEEDS=${FEEDS:-100}
HOSTS=${HOSTS:-100}
ARTICLES=${ARTICLES:-2000}
BS_PORT=${BS_PORT:-18090}
CB_PORT=${CB_PORT:-18091}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_SECONDS=${WRK_SECONDS:-5}
TIMEOUT=${TIMEOUT:-300}

for tool in cargo python3 wrk curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "websub bench: $tool is missing" >&2; exit 1; }
done

cargo build --release --locked --quiet --bin broadsheet --example gen_corpus

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

target/release/examples/gen_corpus "$work/site" --articles "$ARTICLES" --sections "$((FEEDS - 1))" --seed 1 >/dev/null
printf '\n[websub]\nallow_private_callbacks = true\n' >>"$work/site/config.toml"

# Waits (bounded) until the command in "$@" succeeds.
await() {
    local what=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "websub bench: no $what within ${limit} s" >&2
            exit 1
        fi
        sleep 0.1
    done
}

base="http://127.0.0.1:${BS_PORT}/"
target/release/broadsheet serve --root "$work/site" --bind "127.0.0.1:${BS_PORT}" --no-watch \
    >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
await "server" 60 curl -fs "${base}healthz"

python3 bench/websub_callbacks.py "$CB_PORT" "$HOSTS" >"$work/callbacks.log" 2>&1 &
pids+=("$!")
await "callback server" 30 grep -q READY "$work/callbacks.log"

status() { curl -fs "http://127.0.1.1:${CB_PORT}/status"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
rps() { awk '/Requests\/sec/ { print $2 }' "$1"; }

echo "== without deliveries: wrk ${WRK_SECONDS} s on /rss.xml"
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" "${base}rss.xml" >"$work/wrk-idle.txt"
idle=$(rps "$work/wrk-idle.txt")

echo "== subscribing ${SUBSCRIBERS} callbacks on ${HOSTS} hosts to ${FEEDS} feeds"
python3 bench/websub_subscribe.py "$base" "$work/site" "$CB_PORT" "$HOSTS" "$SUBSCRIBERS" "$FEEDS"
all_verified() { [ "$(curl -fs "${base}healthz" | field "['websub']['subscriptions']")" = "$SUBSCRIBERS" ]; }
await "verification of every subscriber" 120 all_verified

peak_before=$(awk '/VmHWM/ { print $2 " " $3 }' "/proc/${server}/status")
echo "== the edit (title), SIGHUP, wrk ${WRK_SECONDS} s during the deliveries"
sed -i 's/^title = .*/title = "The Synthetic Broadsheet, edited"/' "$work/site/config.toml"
start=$(python3 -c 'import time; print(time.time())')
kill -HUP "$server"
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" "${base}rss.xml" >"$work/wrk-busy.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
all_pushed() { [ "$(status | field "['distinct']")" = "$SUBSCRIBERS" ]; }
await "push to every subscriber" "$TIMEOUT" all_pushed
done_at=$(python3 -c 'import time; print(time.time())')
wait "$wrk_pid"
busy=$(rps "$work/wrk-busy.txt")
report=$(status)
last=$(echo "$report" | field "['last']")
pushes=$(echo "$report" | field "['pushes']")
bytes=$(echo "$report" | field "['bytes']")
peak=$(awk '/VmHWM/ { print $2 " " $3 }' "/proc/${server}/status")
pending=$(curl -fs "${base}healthz" | field "['websub']['pending_deliveries']")

python3 - "$start" "$last" "$done_at" "$idle" "$busy" "$WRK_SECONDS" <<'PY'
import sys
start, last, done_at, idle, busy, window = map(float, sys.argv[1:7])
print("delivery: %.2f s from SIGHUP to the last subscriber's first push" % (last - start))
print("serving /rss.xml: %.0f req/s without, %.0f req/s during: ratio %.2f" % (idle, busy, busy / idle))
print("wrk's window: %.1f s, deliveries took %.2f s of it" % (window, min(window, last - start)))
PY
echo "pushes: ${pushes} (${bytes} bytes); pending after: ${pending}"
echo "server peak RSS (VmHWM): ${peak_before} before the edit (built, subscribed), ${peak} at the end"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
