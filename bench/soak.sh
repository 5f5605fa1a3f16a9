#!/usr/bin/env bash
# bench/soak.sh: the soak test of issue 5. Not part of `cargo test`.
#
#   bash bench/soak.sh                      # 5 minutes, the bundled site
#   SOAK_SECONDS=120 bash bench/soak.sh     # shorter
#   SOAK_ARTICLES=2000 bash bench/soak.sh   # a generated corpus (examples/gen_corpus.rs)
#
# What it does:
#  1. `cargo build --release` of broadsheet (and of the corpus generator when
#     SOAK_ARTICLES is set); a copy of the site in a temporary directory.
#  2. `broadsheet serve` on 127.0.0.1, a free port, hot reload on, access log
#     off; it reads the address and every feed's URL from what serve prints.
#  3. For SOAK_SECONDS (default 300): `wrk` with SOAK_CONNECTIONS (64)
#     connections over SOAK_THREADS (2) threads, a Lua script going round
#     every feed and the OPML list, half the requests conditional
#     (`If-None-Match` with the ETag the path had at the start, so polls end
#     in `304` until an edit changes that feed), a third asking for gzip and a
#     third for brotli; it counts responses other than 2xx and 304.
#  4. Meanwhile, once a second, an edit to one of the articles (in turn):
#     the original text plus one changed line, saved by writing a temporary
#     file and renaming it over the article, or by truncating and rewriting
#     it in place, alternately; every edit makes the server reload.
#  5. Meanwhile, every SAMPLE_EVERY seconds (5), every feed is fetched and
#     parsed (feedparser when installed, else xml.dom.minidom for RSS, Atom
#     and OPML, and json for JSON Feed, with its version and items checked):
#     malformed bodies are counted.
#  5b. Meanwhile, a half-closing client: a connection sends 1 to 4 requests
#     (pipelined), then ends its side (`shutdown(SHUT_WR)`), and must still
#     get every response whole (status 2xx/304, the body its Content-Length
#     says) before the server closes; missing or short responses are counted.
#  5c. Meanwhile, an HTTP/2 client: `curl --http2-prior-knowledge` fetching
#     every path (a connection each), again and again; a status other than
#     200 or a response not over HTTP/2 is counted.
#  6. The server's resident memory (VmRSS) after a 10-second warm-up under
#     load and at the end of the run; the check is end within 10% of start.
#  7. /healthz at the end: status and the number of reloads.
#
# It prints the figures and exits non-zero when a check fails (a non-2xx/304
# response, a socket error, a malformed body, a half-closed request not
# answered whole, an HTTP/2 request not answered 200 over HTTP/2, memory
# growing by more than 10%, or a reload error left at the end). Everything goes to 127.0.0.1;
# every loop is bounded by SOAK_SECONDS.
#
# Needs: wrk, curl, python3 (`apt-get install wrk curl python3`).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-64}
SOAK_THREADS=${SOAK_THREADS:-2}
SOAK_ARTICLES=${SOAK_ARTICLES:-0}
SAMPLE_EVERY=${SAMPLE_EVERY:-5}
WARMUP=10

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
if (( SOAK_SECONDS < WARMUP + 5 )); then
    echo "soak: SOAK_SECONDS must be at least $((WARMUP + 5))" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/broadsheet-soak.XXXXXX")
SERVER_PID=""
EDITOR_PID=""
SAMPLER_PID=""
HALF_CLOSE_PID=""
H2_PID=""
cleanup() {
    for pid in "$EDITOR_PID" "$SAMPLER_PID" "$HALF_CLOSE_PID" "$H2_PID" "$SERVER_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building (release)"
(cd "$REPO" && cargo build --release --quiet --bin broadsheet)
TARGET=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BS="$TARGET/release/broadsheet"

SITE="$WORK/site"
if (( SOAK_ARTICLES > 0 )); then
    (cd "$REPO" && cargo build --release --quiet --example gen_corpus)
    "$TARGET/release/examples/gen_corpus" "$SITE" --articles "$SOAK_ARTICLES" --sections 10 --seed 1 >/dev/null
    echo "== site: $SOAK_ARTICLES generated articles in 10 sections"
else
    mkdir -p "$SITE"
    cp "$REPO/config.toml" "$SITE/"
    cp -r "$REPO/content" "$SITE/"
    echo "== site: the bundled content"
fi
mapfile -t ARTICLES < <(cd "$SITE" && find content -name '*.md' ! -name '_index.md' | sort | head -20)
mkdir -p "$WORK/originals"
for i in "${!ARTICLES[@]}"; do
    cp "$SITE/${ARTICLES[$i]}" "$WORK/originals/$i.md"
done

echo "== serving"
RUST_LOG=warn,broadsheet::access=off "$BS" serve --root "$SITE" --bind 127.0.0.1:0 \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 600); do
    ADDR=$(sed -n 's|^listening on http://\([^/ ]*\)$|\1|p' "$WORK/serve.out" | head -1)
    [[ -n "$ADDR" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "soak: the server did not start" >&2; exit 1; }
sleep 0.5
{ sed -n "s|^  http://$ADDR||p" "$WORK/serve.out"; echo /feeds.opml; } | sort -u >"$WORK/paths"
echo "   http://$ADDR, $(wc -l <"$WORK/paths") feeds and lists, pid $SERVER_PID"

# The ETag of every path in each coding the Lua script asks for.
while read -r path; do
    for coding in 0 1 2; do
        case $coding in 0) accept=identity ;; 1) accept=gzip ;; 2) accept="br, gzip" ;; esac
        etag=$(curl -s -o /dev/null -D - -H "Accept-Encoding: $accept" "http://$ADDR$path" |
            sed -n 's/^etag: *\(.*\)\r$/\1/Ip')
        [[ -n "$etag" ]] && printf '%s\t%s\t%s\n' "$path" "$coding" "$etag"
    done
done <"$WORK/paths" >"$WORK/etags"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
RSS_IDLE=$(rss_kb)

cat >"$WORK/soak.lua" <<'LUA'
-- Goes round every path; a third of the requests ask for gzip, a third for
-- brotli; half carry the ETag the path had (in that coding) when the run
-- began, which gives 304 until an edit changes that feed. (wrk's threads
-- serve many connections each, so a response cannot be matched to its
-- request here to follow the ETags as they change.) Counts statuses.
local threads = {}

function setup(thread)
    thread:set("seed", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    paths = {}
    for line in io.lines(os.getenv("SOAK_PATHS")) do
        table.insert(paths, line)
    end
    etags = {}
    for line in io.lines(os.getenv("SOAK_ETAGS")) do
        local path, coding, etag = string.match(line, "^(%S+)\t(%d)\t(.+)$")
        if path then etags[path .. "/" .. coding] = etag end
    end
    n = seed * 7
    current = 1
    good, bad, not_modified = 0, 0, 0
end

function request()
    n = n + 1
    current = n % #paths + 1
    local headers = {}
    local coding = n % 3
    if coding == 1 then headers["Accept-Encoding"] = "gzip" end
    if coding == 2 then headers["Accept-Encoding"] = "br, gzip" end
    local etag = etags[paths[current] .. "/" .. coding]
    if n % 2 == 0 and etag then headers["If-None-Match"] = etag end
    return wrk.format("GET", paths[current], headers)
end

function response(status, headers, body)
    if status == 304 then
        not_modified = not_modified + 1
        good = good + 1
    elseif status >= 200 and status < 300 then
        good = good + 1
    else
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    local g, b, nm = 0, 0, 0
    for _, thread in ipairs(threads) do
        g = g + thread:get("good")
        b = b + thread:get("bad")
        nm = nm + thread:get("not_modified")
    end
    local e = summary.errors
    io.write(string.format("SOAK requests=%d good=%d not_modified=%d bad=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rps=%.0f\n",
        summary.requests, g, nm, b, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
        summary.requests / (summary.duration / 1e6)))
end
LUA

cat >"$WORK/sample.py" <<'PY'
# Fetches every path every SAMPLE_EVERY seconds until the deadline and parses
# each body as what it claims to be; prints counts.
import gzip, json, os, sys, time, urllib.request
from xml.dom import minidom
try:
    import feedparser
except ImportError:
    feedparser = None

base, paths_file, deadline, every = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
paths = [p.strip() for p in open(paths_file) if p.strip()]
samples = malformed = 0
rounds = 0
while time.time() < deadline:
    for i, path in enumerate(paths):
        coding = ["identity", "gzip"][(rounds + i) % 2]
        request = urllib.request.Request(base + path, headers={"Accept-Encoding": coding})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
            if path.endswith(".json"):
                feed = json.loads(body)
                assert feed["version"] == "https://jsonfeed.org/version/1.1", "version"
                assert isinstance(feed["items"], list), "items"
            elif feedparser is not None and not path.endswith(".opml"):
                parsed = feedparser.parse(body)
                assert not parsed.bozo, parsed.get("bozo_exception")
            else:
                document = minidom.parseString(body)
                assert document.documentElement.tagName in ("rss", "feed", "opml"), "root"
        except Exception as error:  # counted, and the first few shown
            malformed += 1
            if malformed <= 5:
                print(f"malformed: {path} ({coding}): {error}", file=sys.stderr)
        samples += 1
    rounds += 1
    time.sleep(max(0.0, min(every, deadline - time.time())))
print(f"SAMPLES samples={samples} malformed={malformed} rounds={rounds} parser={'feedparser' if feedparser else 'minidom+json'}")
PY

cat >"$WORK/half_close.py" <<'PY'
# Until the deadline: a connection sends 1 to 4 pipelined requests, ends its
# side (shutdown(SHUT_WR)), and reads until the server closes; every request
# must get its whole response. Prints counts.
import socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
paths = [p.strip() for p in open(sys.argv[2]) if p.strip()]
deadline = float(sys.argv[3])
connections = requests = failed = 0

def responses(data):
    """The (status, whole) of each response in data, in order."""
    found = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            found.append((0, False))
            break
        head = data[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if status == 304:
            length = 0
        body_end = end + 4 + length
        found.append((status, len(data) >= body_end))
        data = data[body_end:]
    return found

i = 0
while time.time() < deadline:
    count = i % 4 + 1
    wanted = [paths[(i + k) % len(paths)] for k in range(count)]
    i += 1
    try:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            for path in wanted:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n".encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        got = responses(data)
        ok = len(got) == count and all(whole and (200 <= st < 300 or st == 304) for st, whole in got)
    except Exception as error:
        ok = False
        got = [str(error)]
    connections += 1
    requests += count
    if not ok:
        failed += 1
        if failed <= 5:
            print(f"half-close: {count} requests, got {got}", file=sys.stderr)
    time.sleep(0.01)
print(f"HALFCLOSE connections={connections} requests={requests} failed={failed}")
PY

h2_loop() {
    # Every path over HTTP/2 (prior knowledge), again and again until the
    # deadline; one line per response: status and version. One connection
    # per request: curl 7.88 fails its second request on a reused
    # prior-knowledge connection (error 16, before sending it; nginx gets
    # the same), so streams are not multiplexed here.
    local path
    while (( $(date +%s) < DEADLINE )); do
        while read -r path; do
            curl -s --http2-prior-knowledge --max-time 10 -H 'Accept-Encoding: br' \
                -w '%{http_code} %{http_version}\n' -o /dev/null "http://$ADDR$path" 2>/dev/null ||
                echo "curl-failed $?"
        done <"$WORK/paths"
    done >"$WORK/h2.out"
}

edit_loop() {
    # One edit a second, bounded by the run's length.
    local i path n=${#ARTICLES[@]}
    for (( step = 1; step <= SOAK_SECONDS; step++ )); do
        i=$(( step % n ))
        path="$SITE/${ARTICLES[$i]}"
        if (( step % 2 )); then
            { cat "$WORK/originals/$i.md"; printf '\nSoak edit %d.\n' "$step"; } >"$path.tmp-soak"
            mv -f "$path.tmp-soak" "$path"
        else
            { cat "$WORK/originals/$i.md"; printf '\nSoak edit %d.\n' "$step"; } >"$path"
        fi
        sleep 1
    done
}

echo "== soak: ${SOAK_SECONDS}s of wrk (${SOAK_CONNECTIONS} connections, ${SOAK_THREADS} threads), an edit a second, samples every ${SAMPLE_EVERY}s"
START=$(date +%s)
DEADLINE=$(( START + SOAK_SECONDS ))
edit_loop &
EDITOR_PID=$!
python3 "$WORK/sample.py" "http://$ADDR" "$WORK/paths" "$DEADLINE" "$SAMPLE_EVERY" \
    >"$WORK/sample.out" 2>"$WORK/sample.err" &
SAMPLER_PID=$!
python3 "$WORK/half_close.py" "$ADDR" "$WORK/paths" "$DEADLINE" \
    >"$WORK/half_close.out" 2>"$WORK/half_close.err" &
HALF_CLOSE_PID=$!
h2_loop &
H2_PID=$!
SOAK_PATHS="$WORK/paths" SOAK_ETAGS="$WORK/etags" wrk -t "$SOAK_THREADS" -c "$SOAK_CONNECTIONS" -d "${SOAK_SECONDS}s" \
    --timeout 5s -s "$WORK/soak.lua" "http://$ADDR" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
sleep "$WARMUP"
RSS_START=$(rss_kb)
wait "$WRK_PID" || true
RSS_END=$(rss_kb)
wait "$SAMPLER_PID" || true
SAMPLER_PID=""
wait "$HALF_CLOSE_PID" || true
HALF_CLOSE_PID=""
wait "$H2_PID" || true
H2_PID=""
kill "$EDITOR_PID" 2>/dev/null || true
wait "$EDITOR_PID" 2>/dev/null || true
EDITOR_PID=""
sleep 1
HEALTH=$(curl -s "http://$ADDR/healthz")

echo
sed -n '1,12p' "$WORK/wrk.out" | grep -v '^SOAK' || true
SOAK=$(grep '^SOAK ' "$WORK/wrk.out" || true)
SAMPLES=$(grep '^SAMPLES ' "$WORK/sample.out" || true)
cat "$WORK/sample.err" >&2 || true
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
REQUESTS=$(field requests "$SOAK"); BAD=$(field bad "$SOAK"); NOT_MODIFIED=$(field not_modified "$SOAK")
SOCKET_ERRORS=$(( $(field connect "$SOAK") + $(field read "$SOAK") + $(field write "$SOAK") + $(field timeout "$SOAK") ))
MALFORMED=$(field malformed "$SAMPLES"); SAMPLED=$(field samples "$SAMPLES")
HALF=$(grep '^HALFCLOSE ' "$WORK/half_close.out" || true)
cat "$WORK/half_close.err" >&2 || true
HALF_REQUESTS=$(field requests "$HALF"); HALF_FAILED=$(field failed "$HALF")
H2_REQUESTS=$(grep -c . "$WORK/h2.out" || true)
H2_FAILED=$(grep -vc '^200 2$' "$WORK/h2.out" || true)
STATUS=$(python3 -c 'import json,sys; h=json.loads(sys.argv[1]); print(h["status"], h["reloads"])' "$HEALTH")
GROWTH=$(python3 -c "print(f'{($RSS_END - $RSS_START) * 100 / $RSS_START:+.1f}')")

echo "== results (${SOAK_SECONDS}s, $(wc -l <"$WORK/paths") paths, $(date -u +%Y-%m-%dT%H:%MZ))"
echo "requests:               $REQUESTS ($(field rps "$SOAK") per second; latency p50 $(field p50_ms "$SOAK") ms, p99 $(field p99_ms "$SOAK") ms, max $(field max_ms "$SOAK") ms)"
echo "  of which 304:         $NOT_MODIFIED"
echo "non-2xx/304 responses:  $BAD"
echo "socket errors:          $SOCKET_ERRORS"
echo "bodies sampled:         $SAMPLED, malformed: $MALFORMED ($(field parser "$SAMPLES"))"
echo "half-closed requests:   ${HALF_REQUESTS:-0} on $(field connections "$HALF") connections, not answered whole: ${HALF_FAILED:-?}"
echo "HTTP/2 requests:        $H2_REQUESTS, not 200 over HTTP/2: $H2_FAILED"
echo "edits:                  about $SOAK_SECONDS; /healthz: status ${STATUS% *}, reloads ${STATUS#* }"
echo "RSS:                    idle $((RSS_IDLE / 1024)) MB; after ${WARMUP}s of load $((RSS_START / 1024)) MB; at the end $((RSS_END / 1024)) MB ($GROWTH%)"

FAILED=0
[[ "$BAD" == 0 ]] || { echo "FAIL: $BAD responses other than 2xx/304"; FAILED=1; }
[[ "$SOCKET_ERRORS" == 0 ]] || { echo "FAIL: $SOCKET_ERRORS socket errors"; FAILED=1; }
[[ "$MALFORMED" == 0 && "${SAMPLED:-0}" -gt 0 ]] || { echo "FAIL: $MALFORMED malformed of ${SAMPLED:-0} sampled bodies"; FAILED=1; }
[[ "$HALF_FAILED" == 0 && "${HALF_REQUESTS:-0}" -gt 0 ]] || { echo "FAIL: ${HALF_FAILED:-?} half-closing connections not answered whole"; FAILED=1; }
[[ "$H2_FAILED" == 0 && "$H2_REQUESTS" -gt 0 ]] || { echo "FAIL: $H2_FAILED of $H2_REQUESTS HTTP/2 requests not 200 over HTTP/2"; FAILED=1; }
python3 -c "import sys; sys.exit(0 if abs($RSS_END - $RSS_START) <= 0.10 * $RSS_START else 1)" ||
    { echo "FAIL: resident memory changed by $GROWTH%"; FAILED=1; }
[[ "${STATUS% *}" == ok ]] || { echo "FAIL: /healthz status ${STATUS% *}"; FAILED=1; }
(( FAILED == 0 )) && echo "PASS"
exit "$FAILED"
