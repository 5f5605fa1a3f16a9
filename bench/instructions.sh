#!/usr/bin/env bash
# bench/instructions.sh: user-space instructions per request, broadsheet
# beside nginx, counted by valgrind's callgrind. It prints figures; it asserts
# nothing.
#
#   bash bench/instructions.sh                 # 300 generated articles (the server builds under valgrind)
#   ARTICLES=10000 bash bench/instructions.sh
#
# Unlike wrk's requests per second and the CPU time per request of
# bench/run.sh, an instruction count does not depend on what else the
# machine is doing: it is the figure to compare changes by on a shared,
# loaded machine. It leaves out the kernel's share (the same syscalls for
# both servers: one recvfrom, one writev and a fraction of an epoll_wait per
# keep-alive request, by `strace -c`), which is most of each request's CPU
# time on loopback.
#
# For each case (the 304 of a conditional GET, the ~60 KB feed identity and
# gzip, the ~3 KB feed), each server runs under callgrind (nginx with one
# worker and no master process), takes `wrk -t1 -c8` for DURATION seconds
# (default 8) after its counters are zeroed, and its instructions are divided
# by the requests wrk counted. Needs valgrind (callgrind_control,
# callgrind_annotate), wrk, curl and nginx; it installs nothing.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ARTICLES=${ARTICLES:-300}
DURATION=${DURATION:-8}
for tool in valgrind callgrind_control callgrind_annotate wrk curl nginx; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || { echo "missing: $tool" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
(cd "$REPO" && cargo build --release --quiet --bin broadsheet --example gen_corpus)
TARGET=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BS=$TARGET/release/broadsheet
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$TARGET/release/examples/gen_corpus" "$WORK/site" --articles "$ARTICLES" --sections 10 --seed 1 >/dev/null
"$BS" export --root "$WORK/site" "$WORK/export" >/dev/null
# nginx's gzip_static needs the .gz siblings of the feeds it is asked for.
for f in "$WORK/export/rss.xml" "$WORK/export/briefs/rss.xml"; do [[ -f "$f.gz" ]] || gzip -9 -n -k "$f"; done
BS_PORT=18191 NG_PORT=18192
mkdir -p "$WORK/nginx"
sed -e "s|@PORT@|$NG_PORT|g" -e "s|@ROOT@|$WORK/export|g" "$REPO/bench/nginx-server.conf.in" >"$WORK/nginx/server.conf"
sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@SERVER@|$WORK/nginx/server.conf|g" \
    -e 's/^worker_processes auto;/worker_processes 1;\nmaster_process off;/' \
    "$REPO/bench/nginx.conf.in" >"$WORK/nginx/nginx.conf"

# Starts $1 (bs or ng) under callgrind; sets VG_PID and URL.
start() {
    if [[ $1 == bs ]]; then
        RUST_LOG=info,broadsheet::access=off valgrind --tool=callgrind --dump-instr=no \
            --callgrind-out-file="$WORK/bs.cg.%p" "$BS" serve --root "$WORK/site" \
            --bind "127.0.0.1:$BS_PORT" --no-watch >"$WORK/bs.log" 2>&1 &
        URL=http://127.0.0.1:$BS_PORT
    else
        valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$WORK/ng.cg.%p" \
            "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
            >"$WORK/ng.log" 2>&1 &
        URL=http://127.0.0.1:$NG_PORT
    fi
    VG_PID=$!
    PIDS+=("$VG_PID")
    for _ in $(seq 600); do
        curl -s --max-time 5 -o /dev/null "$URL/rss.xml" && return 0
        sleep 1
    done
    echo "$1 did not start" >&2
    exit 1
}

# Instructions per request of the running server for path $1 with header $2.
count() {
    local before parts n total
    before=$(ls "$WORK"/*.cg.*.* 2>/dev/null | wc -l)
    callgrind_control -z "$VG_PID" >/dev/null
    n=$(wrk -t1 -c8 -d"${DURATION}s" -H "$2" "$URL$1" | awk '/requests in/ {print $1}')
    callgrind_control -d "$VG_PID" >/dev/null
    parts=$(ls -t "$WORK"/*.cg.*.* | head -1)
    (( $(ls "$WORK"/*.cg.*.* | wc -l) > before )) || { echo "no callgrind dump" >&2; exit 1; }
    total=$(callgrind_annotate "$parts" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo $((total / n))
}

declare -A COUNT
for who in bs ng; do
    start "$who"
    etag=$(curl -sI "$URL/rss.xml" | awk -F': ' 'tolower($1) == "etag" { print $2 }' | tr -d '\r')
    COUNT[$who-c]=$(count /rss.xml "If-None-Match: $etag")
    COUNT[$who-a]=$(count /rss.xml "X-Case: a")
    COUNT[$who-b]=$(count /rss.xml "Accept-Encoding: gzip")
    COUNT[$who-d]=$(count /briefs/rss.xml "X-Case: d")
    kill "$VG_PID"; wait "$VG_PID" 2>/dev/null || true
done
echo "user-space instructions per request ($ARTICLES articles; callgrind; wrk -t1 -c8 -d${DURATION}s)"
printf '%-28s %12s %12s %8s\n' case broadsheet nginx ratio
for c in "a ~60 KB feed, identity" "b ~60 KB feed, gzip" "c conditional GET, 304" "d ~3 KB feed, identity"; do
    k=${c%% *}
    printf '%-28s %12s %12s %8s\n' "($k) ${c#* }" "${COUNT[bs-$k]}" "${COUNT[ng-$k]}" \
        "$(awk -v a="${COUNT[bs-$k]}" -v b="${COUNT[ng-$k]}" 'BEGIN { printf "%.2f", a / b }')"
done
