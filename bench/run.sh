#!/usr/bin/env bash
# bench/run.sh: the benchmark of issue 4. It prints figures; it asserts nothing.
#
#   bash bench/run.sh                  # everything (about 15-25 minutes on 2 cores)
#   SIZES="1000 10000" bash bench/run.sh
#   PARTS="build" bash bench/run.sh    # only the build benchmark
#
# What it does, in order (each part says so and is skipped when a tool it
# needs is missing; this script installs nothing):
#
#  1. `cargo build --release` of broadsheet and of the corpus generator
#     (examples/gen_corpus.rs).
#  2. A work directory on a tmpfs: it mounts one when it can (root), or else
#     uses /dev/shm when that is a tmpfs, or else a temporary directory on disk,
#     and says which. (The root disk here is mounted with `discard`: writing
#     100,000 files after deleting the previous run's gets slower run after
#     run, which would make the figures drift.)
#  3. Corpora of SIZES articles (default 1000 10000 100000) in 10 sections,
#     seed 1 (deterministic).
#  4. build: `broadsheet export` of each corpus, and `hugo` building the same
#     corpus (bench/hugo: home, section, tag and author pages, paged, with
#     their RSS (full content), `/tags/` and `/authors/`, article pages,
#     sitemap and robots.txt), RUNS times each (default 3), under
#     `/usr/bin/time -v`: median wall time and median peak RSS; then what
#     each wrote, by kind (files under tags/ and authors/, later list pages,
#     archive pages), so that the two are seen to publish the same kinds.
#     When `broadsheet export` accepts `precompress = "all"` (top level or in
#     `[export]`), that variant is measured too, for the sizes in
#     ALL_SIZES (default "1000 10000"; ALL_SIZES="" for none: at 100,000
#     articles it compresses every archive page, gigabytes); the default is
#     the broadsheet default (`feeds`).
#  4b. reexport: on each corpus, a full export into an empty directory
#     (RUNS times, median) against a re-export into the previous export
#     after appending a sentence to one article (RUNS edits, median), whose
#     unchanged files are hard links to the previous export's; and a
#     `broadsheet deploy file://DIR` after each edit (only changed objects
#     written). Prints both times and their ratio (target: under 0.2), the
#     files kept and, of those, the ones not even rendered (taken by the
#     export's cache, `.out-re.broadsheet-cache` beside the export). The
#     first re-export after a full export has no spare tree yet (it makes
#     its tree anew); the later ones make it out of the spare tree.
#  5. serve: `wrk` (2 threads, 64 connections, 10 s; WRK_RUNS rounds,
#     default 3, median) against `broadsheet serve` and nginx serving the
#     export of the SERVE_SIZE corpus (default 10000) with
#     bench/nginx-server.conf.in (the README's block: sendfile, tcp_nopush,
#     open_file_cache, keepalive_requests 1000000, reuseport, gzip_static;
#     worker_processes auto), on two loopback ports: (a) a ~60 KB feed,
#     identity; (b) the same with `Accept-Encoding: gzip`; (c) a conditional
#     GET answered 304; (d) a ~3 KB feed; (e) `Accept-Encoding: br`
#     (broadsheet only). When the export has no `.gz` siblings, this script
#     writes them with `gzip -9 -n` (and says so) so that nginx's gzip_static
#     has something to send.
#     Before measuring, it checks that both servers return the same identity
#     bytes for each benchmarked path.
#     Access logs, LOGS (default "off on"): "off" runs both servers without
#     one (nginx `access_log off`; broadsheet
#     RUST_LOG=info,broadsheet::access=off); "on" runs both with their access
#     log written to a file on the work directory's tmpfs (nginx: `access_log
#     FILE combined buffer=64k flush=1s`; broadsheet: its default, RUST_LOG
#     unset, stderr appended to a file). Both files are emptied after each
#     wrk run. Each server is started afresh for each LOGS value.
#     Two passes per LOGS value: "saturated" (the issue's method: each
#     connection asks again as soon as it is answered; requests per second)
#     and "paced" (each connection waits PACE_MS, default 1, between an
#     answer and its next request, through wrk's Lua `delay`: both servers
#     get about the same load, below what either can answer, so p99 is the
#     servers' and not the load generator's; PACE_MS=0 skips it). The two
#     servers alternate within each round, case by case.
#     Each run also records: wrk's CPU share (200% = 2 CPUs) from
#     /usr/bin/time, which shows when wrk itself was the bottleneck; and
#     the server's CPU time per request: utime+stime from /proc/PID/stat
#     (all threads; for nginx, the sum over its worker processes) over the
#     run, divided by the requests wrk counted, in microseconds.
#  5b. tls: the serving cases (c) (a conditional GET answered 304) and (d)
#     (the ~3 KB feed) over HTTPS, `broadsheet serve` with `[server.tls]`
#     against nginx with the same certificate and key (ECDSA P-256, made by
#     openssl for this run), the README's block with `listen ... ssl` and
#     `ssl_protocols TLSv1.3`; wrk keeps its connections alive, so this
#     measures requests over established TLS sessions, not handshakes. The
#     protocol and cipher each server negotiates with OpenSSL's client are
#     printed. Saturated pass only; WRK_RUNS rounds, the servers
#     alternating, median.
#  6. reload: with the SERVE_SIZE corpus being served, append a sentence to
#     one article and poll its section feed until the ETag changes
#     (RELOAD_ROUNDS times, default 3, median), including the server's
#     debounce (RELOAD_DEBOUNCE_MS, when set, is written into the corpus's
#     `[server] reload_debounce_ms`, to compare binaries at one debounce).
#  7. memory: resident memory (ps -o rss) of `broadsheet serve` with the
#     largest corpus loaded, and the time it took to start listening; with
#     /proc's split of it (RssAnon: the heap; RssFile and RssShmem: pages of
#     the spill files mapped at that moment, which the kernel may take back)
#     and the size of the spill files; then the same after every archive
#     page of the site feed was fetched once (what reading them costs).
#  8. stats: audience counting's cost: two `broadsheet serve` of the
#     SERVE_SIZE corpus side by side, one with counting on (the default),
#     one with `[stats] enabled = false`, both without the access log; wrk
#     on (c) the conditional GET answered 304 (serve's case c), and (f) the
#     same with each request carrying one of 1,000 user agents (the
#     recorded ones of tests/fixtures/audience/ and made-up ones, through
#     wrk's Lua); WRK_RUNS rounds, the two servers alternating; req/s, p99
#     and the server's CPU per request, with the on/off ratios.
#
# All traffic goes to 127.0.0.1; every wait is bounded. Results are printed
# and written to RESULTS (default: results.txt in the work directory, which is
# kept when it is not a tmpfs mounted here; set RESULTS=path to keep them).
#
# Environment: SIZES, SERVE_SIZE, RUNS, ALL_SIZES, WRK_RUNS, WRK_DURATION (10s), RELOAD_DEBOUNCE_MS, RELOAD_ROUNDS (3),
# WRK_THREADS (2), WRK_CONNECTIONS (64), PACE_MS (1), BS_PORT (18080), NGINX_PORT (18081),
# TLS_PORT (18443), TLS_NGINX_PORT (18444),
# PARTS (any of: build reexport serve tls reload memory stats; default all), REEXPORT_SIZES
# (default SIZES), TMPFS_SIZE (16g),
# RESULTS, KEEP=1 (keep the work directory), LOGS (off on),
# FLOOR=1 (the serving benchmark with examples/serve_floor, the least a tokio
# server can do per request, in broadsheet's place: what bounds issue 12),
# BROADSHEET_BIN (a broadsheet binary built already: skips step 1 when the
# corpus generator is built too), BS_RUST_LOG
# (RUST_LOG of `broadsheet serve` outside the serve part; default
# info,broadsheet::access=off).
#
# Peers, when missing: `apt-get install hugo wrk nginx time curl`.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$REPO/bench"
SIZES=${SIZES:-"1000 10000 100000"}
SERVE_SIZE=${SERVE_SIZE:-10000}
RUNS=${RUNS:-3}
ALL_SIZES=${ALL_SIZES-"1000 10000"}
WRK_RUNS=${WRK_RUNS:-3}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-64}
BS_PORT=${BS_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
PACE_MS=${PACE_MS:-1}
LOGS=${LOGS:-"off on"}
[[ "$PACE_MS" =~ ^[0-9]+$ ]] || { printf 'PACE_MS must be a whole number of milliseconds (0: no paced pass)\n' >&2; exit 2; }
PARTS=${PARTS:-"build reexport serve tls reload memory stats"}
TLS_PORT=${TLS_PORT:-18443}
TLS_NGINX_PORT=${TLS_NGINX_PORT:-18444}
TMPFS_SIZE=${TMPFS_SIZE:-16g}
SECTIONS=10
SEED=1

say() { printf '%s\n' "$*" >&2; }
part() { [[ " $PARTS " == *" $1 "* ]]; }
have() { command -v "$1" >/dev/null 2>&1; }
missing() { say "SKIPPED: $1 is not installed (Debian: apt-get install $2); $3"; }

# ---------------------------------------------------------------- work area
WORK=$(mktemp -d "${TMPDIR:-/tmp}/broadsheet-bench.XXXXXX")
MOUNTED=""
STARTED_PIDS=()
cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ -n "${RESULTS_KEEP:-}" && -f "$WORK/results.txt" ]]; then
        cp "$WORK/results.txt" "$RESULTS_KEEP"
    fi
    if [[ -z "${KEEP:-}" ]]; then
        if [[ -n "$MOUNTED" ]]; then umount "$WORK" 2>/dev/null || true; fi
        rm -rf "$WORK" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if mount -t tmpfs -o "size=$TMPFS_SIZE,mode=0755" broadsheet-bench "$WORK" 2>/dev/null; then
    MOUNTED=1
    STORAGE="a tmpfs mounted at $WORK (size $TMPFS_SIZE)"
elif [[ "$(stat -f -c %T /dev/shm 2>/dev/null)" == tmpfs && -w /dev/shm ]]; then
    rmdir "$WORK"
    WORK=$(mktemp -d /dev/shm/broadsheet-bench.XXXXXX)
    STORAGE="/dev/shm (a tmpfs; mounting one failed)"
else
    STORAGE="$WORK ON DISK: no tmpfs could be mounted and /dev/shm is not one; figures for large N may drift"
fi
# nginx's workers run as another user: they must be able to read the export.
chmod 755 "$WORK"
export HUGO_CACHEDIR="$WORK/hugo-cache"
RESULTS_KEEP=${RESULTS:-}
OUT="$WORK/results.txt"
: >"$OUT"
# `report` lines are the results: printed and kept in $OUT.
report() { printf '%s\n' "$*" | tee -a "$OUT"; }

report "# broadsheet benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
report "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (with uncommitted changes in src/)')"
report "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
report "storage: $STORAGE"
# The machine is shared: other work running during the benchmark shows here.
report "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- build
TARGET=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
TARGET=${TARGET:-$REPO/target}
GEN="$TARGET/release/examples/gen_corpus"
if [[ -n "${BROADSHEET_BIN:-}" && -x "$GEN" ]]; then
    # A binary built already (a shared machine: no second release build).
    BS=$(cd "$(dirname "$BROADSHEET_BIN")" && pwd)/$(basename "$BROADSHEET_BIN")
    report "binary: $BS (BROADSHEET_BIN; not built by this run)"
else
    say "building broadsheet (release)..."
    (cd "$REPO" && cargo build --release --quiet --bin broadsheet --example gen_corpus)
    BS="$TARGET/release/broadsheet"
fi
report "broadsheet: $("$BS" --version 2>/dev/null || echo '?')"
if [[ -n "${FLOOR:-}" ]]; then
    (cd "$REPO" && cargo build --release --quiet --example serve_floor)
    FLOOR_BIN="$TARGET/release/examples/serve_floor"
    report "FLOOR=1: in the serving benchmark, the broadsheet columns are examples/serve_floor (the least a tokio server can do per request), not broadsheet"
fi

# ---------------------------------------------------------------- helpers
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# Runs a command under /usr/bin/time -v; prints "seconds kilobytes".
timed() {
    local log="$WORK/time.log"
    if ! /usr/bin/time -v "$@" >"$WORK/cmd.out" 2>"$log"; then
        say "command failed: $*"
        tail -20 "$log" >&2
        return 1
    fi
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
        /Maximum resident set size/ { kb = $2 }
        END { printf "%.3f %d\n", s, kb }' "$log"
}

# Runs "$@" RUNS times after `rm -rf $OUTDIR`; prints "median_seconds
# median_MB". The last run's output is left in OUTDIR.
measure_build() {
    local outdir=$1; shift
    local secs=() kbs=() r line
    for r in $(seq "$RUNS"); do
        # Each run a first export: without the cache and spare tree an
        # earlier run of broadsheet leaves beside its output.
        rm -rf "$outdir" "$(dirname "$outdir")/.$(basename "$outdir").broadsheet-"{cache,spare}
        line=$(timed "$@") || return 1
        secs+=("${line% *}"); kbs+=("${line#* }")
        say "    run $r: ${line% *} s, $(( ${line#* } / 1024 )) MB"
    done
    printf '%s %s\n' "$(printf '%s\n' "${secs[@]}" | median)" \
        "$(printf '%s\n' "${kbs[@]}" | median | awk '{printf "%.0f", $1/1024}')"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# What an output directory holds, by kind: "files N (tags T, authors A,
# later list pages P, archive pages R, sitemap files S)"; precompressed
# siblings are not counted.
kinds() {
    local dir=$1
    find "$dir" -type f ! -name '*.gz' ! -name '*.br' ! -name '.broadsheet-export' -printf '%P\n' | awk '
        { n++ }
        /^tags\// { t++ } /^authors\// { a++ }
        /(^|\/)page\/[0-9]+\// { p++ }
        /(^|\/)archive\/[0-9]+\// { r++ }
        /^sitemap/ { s++ }
        END { printf "files %d (tags %d, authors %d, later list pages %d, archive pages %d, sitemap files %d)\n", n, t, a, p, r, s }'
}

corpus() {
    local n=$1 dir="$WORK/corpus-$1"
    if [[ ! -d "$dir" ]]; then
        say "generating $n articles..."
        "$GEN" "$dir" --articles "$n" --sections "$SECTIONS" --seed "$SEED" >&2
    fi
    printf '%s\n' "$dir"
}

# Waits (bounded) for "listening on http://ADDR" (or https) in a log; prints ADDR.
wait_listening() {
    local log=$1 pid=$2 limit=$3 i addr
    for i in $(seq $((limit * 10))); do
        addr=$(sed -n 's|.*listening on https\{0,1\}://\([^/ ]*\).*|\1|p' "$log" | sed -n 1p)
        if [[ -n "$addr" ]]; then printf '%s\n' "$addr"; return 0; fi
        kill -0 "$pid" 2>/dev/null || { say "server exited:"; tail -20 "$log" >&2; return 1; }
        sleep 0.1
    done
    say "server did not listen within $limit s"
    return 1
}

start_serve() { # root port log [RUST_LOG] -> sets SERVE_PID
    # By default without the access log (one line per request on stderr),
    # keeping the server's own messages. stderr is appended to (O_APPEND),
    # so that the file can be emptied while the server runs.
    # The export's links are under config.toml's base_url; a loopback one
    # would follow serve's port: the same base URL, so the bytes compare.
    local base
    base=$(sed -n 's/^base_url *= *"\(.*\)".*/\1/p' "$1/config.toml" | sed -n 1p)
    RUST_LOG=${4:-${BS_RUST_LOG:-info,broadsheet::access=off}} \
        "$BS" serve --root "$1" --bind "127.0.0.1:$2" ${base:+--base-url "$base"} >"$3" 2>>"$3.err" &
    SERVE_PID=$!
    STARTED_PIDS+=("$SERVE_PID")
}

stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

etag_of() { # url -> the ETag header's value
    curl -s --max-time 5 -o /dev/null -D - "$1" | tr -d '\r' |
        sed -n 's/^[Ee][Tt][Aa][Gg]: //p' | sed -n 1p
}

# ---------------------------------------------------------------- 4. build benchmark
if part build; then
    report ""
    report "## Build / export (median of $RUNS; wall s, peak RSS MB)"
    HUGO=""
    if ! have /usr/bin/time && [[ ! -x /usr/bin/time ]]; then
        missing /usr/bin/time time "the build benchmark needs it"
    else
        if have hugo; then HUGO=$(command -v hugo); report "hugo: $(hugo version | sed -n 1p)"
        else missing hugo hugo "broadsheet is measured alone"; fi
        # Does this broadsheet know `precompress = "all"` (a top-level key, or
        # in an `[export]` table)? Then measure that variant too.
        PRECOMPRESS_ALL=""
        probe="$WORK/probe"
        "$GEN" "$probe" --articles 3 --sections 2 >/dev/null
        cp "$probe/config.toml" "$WORK/probe.toml"
        { echo 'precompress = "all"'; cat "$WORK/probe.toml"; } >"$probe/config.toml"
        if "$BS" check --root "$probe" >/dev/null 2>&1; then
            PRECOMPRESS_ALL=top
        else
            { cat "$WORK/probe.toml"; printf '\n[export]\nprecompress = "all"\n'; } >"$probe/config.toml"
            if "$BS" check --root "$probe" >/dev/null 2>&1; then PRECOMPRESS_ALL=table; fi
        fi
        rm -rf "$probe" "$WORK/probe.toml"

        declare -A KINDS
        report "| articles | broadsheet s | broadsheet MB | hugo s | hugo MB | time ratio | memory ratio | broadsheet files |"
        report "|---:|---:|---:|---:|---:|---:|---:|---:|"
        for n in $SIZES; do
            dir=$(corpus "$n")
            say "broadsheet export, $n articles:"
            read -r bs_s bs_mb < <(measure_build "$WORK/out-bs" "$BS" export --root "$dir" "$WORK/out-bs")
            files=$(find "$WORK/out-bs" -type f | wc -l)
            KINDS[$n]="broadsheet $(kinds "$WORK/out-bs")"
            rm -rf "$WORK/out-bs"
            hg_s="-"; hg_mb="-"
            if [[ -n "$HUGO" ]]; then
                say "hugo, $n articles:"
                read -r hg_s hg_mb < <(measure_build "$WORK/out-hugo" \
                    "$HUGO" --quiet --source "$dir" --config "$BENCH/hugo/hugo.toml" \
                    --themesDir "$BENCH/hugo/themes" --destination "$WORK/out-hugo")
                KINDS[$n]+="; hugo $(kinds "$WORK/out-hugo")"
                rm -rf "$WORK/out-hugo"
            fi
            report "| $n | $bs_s | $bs_mb | $hg_s | $hg_mb | $(ratio "$bs_s" "$hg_s") | $(ratio "$bs_mb" "$hg_mb") | $files |"
            if [[ -n "$PRECOMPRESS_ALL" && " $ALL_SIZES " == *" $n "* ]]; then
                cp -r "$dir" "$WORK/corpus-all"
                if [[ "$PRECOMPRESS_ALL" == top ]]; then
                    sed -i '1i precompress = "all"' "$WORK/corpus-all/config.toml"
                else
                    printf '\n[export]\nprecompress = "all"\n' >>"$WORK/corpus-all/config.toml"
                fi
                say "broadsheet export with precompress = \"all\", $n articles:"
                read -r all_s all_mb < <(measure_build "$WORK/out-bs" "$BS" export --root "$WORK/corpus-all" "$WORK/out-bs")
                rm -rf "$WORK/corpus-all" "$WORK/out-bs"
                report "| $n (precompress all) | $all_s | $all_mb | | | $(ratio "$all_s" "$hg_s") | $(ratio "$all_mb" "$hg_mb") | |"
            fi
        done
        [[ -n "$PRECOMPRESS_ALL" ]] || report "(this broadsheet has no \`precompress\` setting: the \"all\" variant was not measured)"
        for n in $SIZES; do report "what was written, $n articles: ${KINDS[$n]}"; done
    fi
fi

# ---------------------------------------------------------------- 4b. re-export
# A full export into an empty directory against a re-export after one edited
# article into the previous export (unchanged files hard-linked from it),
# side by side on each corpus; and a deploy to file:// after the same edit.
# Wall and CPU (user + system) time: on a shared machine the CPU time is the
# steadier of the two.
cpu_of_last() { # the CPU seconds of the last `timed` command
    awk -F': ' '/User time \(seconds\)/ { u = $2 } /System time \(seconds\)/ { s = $2 }
        END { printf "%.2f\n", u + s }' "$WORK/time.log"
}
if part reexport; then
    report ""
    report "## Re-export after one edit (median of $RUNS; wall s and CPU s)"
    if ! have /usr/bin/time && [[ ! -x /usr/bin/time ]]; then
        missing /usr/bin/time time "the re-export benchmark needs it"
    else
        report "| articles | full export wall s | CPU s | re-export wall s | CPU s | wall ratio | CPU ratio | files kept | of them not rendered | deploy (file://) after one edit wall s |"
        report "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for n in ${REEXPORT_SIZES:-$SIZES}; do
            src=$(corpus "$n")
            dir="$WORK/reexport-$n"
            rm -rf "$dir"; cp -r "$src" "$dir"
            say "full export, $n articles:"
            fwall=(); fcpu=()
            for r in $(seq "$RUNS"); do
                rm -rf "$WORK/out-re" "$WORK/.out-re.broadsheet-"{cache,spare}
                line=$(timed "$BS" export --root "$dir" "$WORK/out-re") || break
                fwall+=("${line% *}"); fcpu+=("$(cpu_of_last)")
                say "    run $r: ${line% *} s wall, ${fcpu[-1]} s CPU"
            done
            "$BS" deploy --root "$dir" "file://$WORK/deploy-re" >/dev/null 2>&1
            article=$(find "$dir/content" -name '*.md' ! -name '_index.md' | sort | sed -n 1p)
            rwall=(); rcpu=(); dwall=(); kept=0; unrendered=""
            for r in $(seq "$RUNS"); do
                printf '\nEdited by the benchmark, run %s.\n' "$r" >>"$article"
                line=$(timed "$BS" export --root "$dir" "$WORK/out-re") || break
                rwall+=("${line% *}"); rcpu+=("$(cpu_of_last)")
                kept=$(sed -n 's/.* precompressed, \([0-9]*\) unchanged.*/\1/p' "$WORK/cmd.out")
                # (Releases before the export's cache do not print it.)
                unrendered=$(sed -n 's/.* unchanged, \([0-9]*\) of them not rendered.*/\1/p' "$WORK/cmd.out")
                dline=$(timed "$BS" deploy --root "$dir" "file://$WORK/deploy-re") || break
                dwall+=("${dline% *}")
                say "    run $r: re-export ${line% *} s wall, ${rcpu[-1]} s CPU ($kept files kept, ${unrendered:-?} not rendered); deploy ${dline% *} s"
            done
            fw=$(printf '%s\n' "${fwall[@]}" | median); fc=$(printf '%s\n' "${fcpu[@]}" | median)
            rw=$(printf '%s\n' "${rwall[@]}" | median); rc=$(printf '%s\n' "${rcpu[@]}" | median)
            dw=$(printf '%s\n' "${dwall[@]}" | median)
            report "| $n | $fw | $fc | $rw | $rc | $(ratio "$rw" "$fw") | $(ratio "$rc" "$fc") | $kept | ${unrendered:--} | $dw |"
            rm -rf "$dir" "$WORK/out-re" "$WORK/.out-re.broadsheet-cache" "$WORK/.out-re.broadsheet-spare" "$WORK/deploy-re"
        done
    fi
fi

# ---------------------------------------------------------------- 5. serving
# Parses wrk's output into "requests_per_s p99_ms non2xx3xx errors requests".
wrk_parse() {
    awk '
        /requests in / { n = $1 }
        /Requests\/sec:/ { rps = $2 }
        /^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                   ms = (u == "us") ? v / 1000 : (u == "ms") ? v : (u == "s") ? v * 1000 : (u == "m") ? v * 60000 : v }
        /Non-2xx or 3xx/ { bad = $NF }
        /Socket errors/ { err = $0; sub(/.*Socket errors: /, "", err); gsub(/ /, "", err) }
        END { printf "%s %s %s %s %s\n", (rps == "" ? "-" : rps), (ms == "" ? "-" : ms), (bad == "" ? 0 : bad), (err == "" ? "none" : err), (n == "" ? 0 : n) }'
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# CPU time (utime + stime, in clock ticks) of processes: /proc/PID/stat's
# fields 14 and 15, which count every thread of the process. The command
# name (field 2) may hold spaces: fields are counted after its ")".
cpu_ticks() { # pid...
    local pid sum=0 t
    for pid in "$@"; do
        t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
        sum=$((sum + ${t:-0}))
    done
    printf '%s\n' "$sum"
}
# The processes that serve: for nginx, its workers (the master only accepts
# signals), for broadsheet, the process itself.
server_pids() { # pid
    local kids
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' | tr '\n' ' ')
    printf '%s\n' "${kids:-$1}"
}

# Runs wrk against url (with one header, or none) and prints
# "requests_per_s p99_ms non2xx3xx errors requests wrk_cpu_percent". With PACE set to
# a Lua script, each connection waits between requests (see PACE_MS).
# wrk's own CPU share (from /usr/bin/time, "-" without it) shows whether the
# load generator was saturated: 200% is both CPUs of this machine.
run_wrk() { # url [header] [pace-script]
    local url=$1 header=${2:-} pace=${3:-} log="$WORK/wrk.log" cpu="-"
    local args=(-t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency)
    [[ -z "$header" ]] || args+=(-H "$header")
    [[ -z "$pace" ]] || args+=(-s "$pace")
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f 'wrk-cpu %P' -o "$WORK/wrk.time" wrk "${args[@]}" "$url" >"$log" 2>&1
        cpu=$(sed -n 's/^wrk-cpu \([0-9]*\)%.*/\1/p' "$WORK/wrk.time")
    else
        wrk "${args[@]}" "$url" >"$log" 2>&1
    fi
    printf '%s %s\n' "$(wrk_parse <"$log")" "${cpu:--}"
}

if part serve; then
    report ""
    report "## Serving ($WRK_THREADS threads, $WRK_CONNECTIONS connections, $WRK_DURATION, median of $WRK_RUNS rounds; corpus of $SERVE_SIZE articles; access logs: $LOGS)"
    if ! have wrk; then missing wrk wrk "no serving benchmark"
    elif ! have curl; then missing curl curl "no serving benchmark"
    else
        dir=$(corpus "$SERVE_SIZE")
        site="$WORK/site-$SERVE_SIZE"
        rm -rf "$site"
        "$BS" export --root "$dir" "$site" >&2
        if [[ ! -f "$site/rss.xml.gz" ]]; then
            report "note: the export has no .gz siblings; this script wrote them with \`gzip -9 -n -k\` for nginx's gzip_static"
            find "$site" -type f \( -name '*.xml' -o -name '*.json' -o -name '*.opml' -o -name '*.html' \) \
                -print0 | xargs -0 -r -n 500 gzip -9 -n -k -f
        fi
        NGINX=""
        if have nginx || [[ -x /usr/sbin/nginx ]]; then
            NGINX=$(command -v nginx || echo /usr/sbin/nginx)
            mkdir -p "$WORK/nginx"
            report "nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'), worker_processes auto, config bench/nginx-server.conf.in"
        else
            missing nginx nginx "broadsheet is measured alone"
        fi
        BS_ACCESS="$WORK/serve.log.err"
        NG_ACCESS="$WORK/nginx/access.log"
        # Starts both servers, with their access logs off or on ($1); sets
        # bs_pid, BSU, NGINX_PID, NGU.
        start_both() {
            local logs=$1 rust_log=info,broadsheet::access=off access="access_log off;"
            if [[ "$logs" == on ]]; then
                # broadsheet's default: RUST_LOG unset is `info`, access log included.
                rust_log=info
                access="access_log $NG_ACCESS combined buffer=64k flush=1s;"
            fi
            : >"$BS_ACCESS"
            if [[ -n "${FLOOR:-}" ]]; then
                "$FLOOR_BIN" --site "$site" --bind "127.0.0.1:$BS_PORT" >"$WORK/serve.log" 2>>"$BS_ACCESS" &
                SERVE_PID=$!
                STARTED_PIDS+=("$SERVE_PID")
            else
                start_serve "$dir" "$BS_PORT" "$WORK/serve.log" "$rust_log"
            fi
            bs_pid=$SERVE_PID
            bs_addr=$(wait_listening "$WORK/serve.log" "$bs_pid" 600)
            BSU="http://$bs_addr"
            NGINX_PID=""
            NGU="http://127.0.0.1:$NGINX_PORT"
            [[ -n "$NGINX" ]] || return 0
            sed -e "s|@PORT@|$NGINX_PORT|g" -e "s|@ROOT@|$site|g" -e "s|access_log off;|$access|" \
                "$BENCH/nginx-server.conf.in" >"$WORK/nginx/server.conf"
            grep -qF "$access" "$WORK/nginx/server.conf" || { say "the nginx template has no 'access_log off;' line to replace"; return 1; }
            sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@SERVER@|$WORK/nginx/server.conf|g" "$BENCH/nginx.conf.in" >"$WORK/nginx/nginx.conf"
            : >"$NG_ACCESS"
            "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" >"$WORK/nginx/out.log" 2>&1 &
            NGINX_PID=$!
            STARTED_PIDS+=("$NGINX_PID")
            for _ in $(seq 100); do
                curl -s --max-time 1 -o /dev/null "$NGU/" && break
                sleep 0.1
            done
            report "access logs $logs: broadsheet RUST_LOG=$rust_log (stderr to a file on the tmpfs); nginx \`$access\`"
        }
        # One wrk run against a server, with its CPU time; prints
        # "requests_per_s p99_ms non2xx3xx errors wrk_cpu_percent cpu_us_per_request".
        measure_one() { # pid url header pace
            local pids before after rps p99 bad err n cpu
            pids=$(server_pids "$1")
            # shellcheck disable=SC2086
            before=$(cpu_ticks $pids)
            read -r rps p99 bad err n cpu < <(run_wrk "$2" "$3" "$4")
            # shellcheck disable=SC2086
            after=$(cpu_ticks $pids)
            printf '%s %s %s %s %s %s\n' "$rps" "$p99" "$bad" "$err" "$cpu" \
                "$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')"
            # The access logs grow by a line a request: emptied between runs.
            : >"$BS_ACCESS"
            [[ ! -f "$NG_ACCESS" ]] || : >"$NG_ACCESS"
        }
        big=/rss.xml
        small=/briefs/rss.xml
        # Two passes over the cases. "saturated" is the issue's method: every
        # connection sends its next request as soon as the answer arrives, so
        # this measures the most requests per second each server answers. Its
        # p99 is the load generator's as much as the server's: when a server
        # answers faster than wrk can ask (wrk's CPU share near 100% of the
        # 200%), wrk's threads never sleep, share the two CPUs with the
        # server's and are descheduled for whole 4 ms scheduler ticks, and
        # the answers wait in their sockets meanwhile. "paced" offers both
        # servers about the same load, below what either can answer: each
        # connection waits PACE_MS between an answer and its next request
        # (wrk's Lua `delay`), so wrk sleeps between requests and p99 is the
        # servers' latency.
        passes=(saturated)
        if (( PACE_MS > 0 )); then
            printf 'function delay()\n    return %d\nend\n' "$PACE_MS" >"$WORK/pace.lua"
            passes+=(paced)
        fi
        declare -A RPS P99 CPU USR LOAD
        checked=""
        for logs in $LOGS; do
            start_both "$logs"
            if [[ -z "$checked" ]]; then
                checked=1
                for p in $big $small; do
                    size=$(curl -s --max-time 5 "$BSU$p" | wc -c)
                    report "path $p: $size bytes identity, $(curl -s --max-time 5 -H 'Accept-Encoding: gzip' "$BSU$p" | wc -c) gzip, $(curl -s --max-time 5 -H 'Accept-Encoding: br' "$BSU$p" | wc -c) br (from broadsheet)"
                    if [[ -n "$NGINX_PID" ]]; then
                        if cmp -s <(curl -s --max-time 5 "$BSU$p") <(curl -s --max-time 5 "$NGU$p") &&
                            cmp -s <(curl -s --max-time 5 -H 'Accept-Encoding: gzip' "$BSU$p" | gzip -dc) \
                                   <(curl -s --max-time 5 -H 'Accept-Encoding: gzip' "$NGU$p" | gzip -dc); then
                            report "  broadsheet and nginx send the same bytes for $p (identity, and gzip once decoded)"
                        else
                            report "  WARNING: broadsheet and nginx send different bytes for $p"
                        fi
                    fi
                done
            fi
            bs_etag=$(etag_of "$BSU$big")
            ng_etag=""
            [[ -z "$NGINX_PID" ]] || ng_etag=$(etag_of "$NGU$big")
            report "304 check: broadsheet $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $bs_etag" "$BSU$big"), nginx $([[ -z "$NGINX_PID" ]] && echo - || curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $ng_etag" "$NGU$big")"
            # name|path|header for broadsheet|header for nginx
            cases=(
                "a: ~60 KB feed, identity|$big||"
                "b: ~60 KB feed, gzip|$big|Accept-Encoding: gzip|Accept-Encoding: gzip"
                "c: conditional GET, 304|$big|If-None-Match: $bs_etag|If-None-Match: $ng_etag"
                "d: ~3 KB feed, identity|$small||"
                "e: ~60 KB feed, br|$big|Accept-Encoding: br|"
            )
            for pass in "${passes[@]}"; do
                pace=""
                [[ "$pass" == saturated ]] || pace="$WORK/pace.lua"
                LOAD[$logs-$pass]="$(cut -d' ' -f1-3 /proc/loadavg)"
                for round in $(seq "$WRK_RUNS"); do
                    for c in "${cases[@]}"; do
                        IFS='|' read -r name path hb hn <<<"$c"
                        key=${name%%:*}
                        # The servers alternate: broadsheet first in odd rounds, nginx first in even ones.
                        order=(bs ng)
                        (( round % 2 )) || order=(ng bs)
                        for who in "${order[@]}"; do
                            if [[ "$who" == bs ]]; then
                                pid=$bs_pid; url="$BSU$path"; header=$hb; label=broadsheet
                            else
                                [[ -n "$NGINX_PID" && "$key" != e ]] || continue
                                pid=$NGINX_PID; url="$NGU$path"; header=$hn; label=nginx
                            fi
                            say "logs $logs, $pass, round $round, case $name: $label..."
                            read -r rps p99 bad err cpu us < <(measure_one "$pid" "$url" "$header" "$pace")
                            k="$logs-$pass-$who$key"
                            RPS[$k]+="$rps "; P99[$k]+="$p99 "; CPU[$k]+="$cpu "; USR[$k]+="$us "
                            [[ "$bad" == 0 && "$err" == none ]] || report "  WARNING: logs $logs, $pass, round $round, case $key, $label: $bad responses not 2xx/3xx, socket errors $err"
                        done
                    done
                done
            done
            if [[ "$logs" == on ]]; then
                report "broadsheet /healthz after the runs with logs on: $(curl -s --max-time 5 "$BSU/healthz" | tr -d '\n ' | sed -n 's/.*\("access_log":{[^}]*}\).*/\1/p')"
            fi
            [[ -z "$NGINX_PID" ]] || stop_pid "$NGINX_PID"
            report "broadsheet serve RSS with $SERVE_SIZE articles after the runs: $(( $(ps -o rss= -p "$bs_pid") / 1024 )) MB"
            stop_pid "$bs_pid"
        done
        med() { tr ' ' '\n' <<<"${1:-}" | { grep . || true; } | median; }
        for logs in $LOGS; do
            for pass in "${passes[@]}"; do
                report ""
                if [[ "$pass" == saturated ]]; then
                    report "### access logs $logs, saturated: each connection asks again as soon as it is answered (the issue's method); load average before: ${LOAD[$logs-$pass]}"
                else
                    report "### access logs $logs, paced: each connection waits $PACE_MS ms between an answer and its next request (about the same offered load for both: $WRK_CONNECTIONS / ($PACE_MS ms + latency) per second); load average before: ${LOAD[$logs-$pass]}"
                fi
                report "| case | broadsheet req/s | p99 ms | CPU µs/req | wrk CPU % | nginx req/s | p99 ms | CPU µs/req | wrk CPU % | req/s ratio | p99 ratio | CPU/req ratio |"
                report "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                for c in "${cases[@]}"; do
                    IFS='|' read -r name _ <<<"$c"
                    key=${name%%:*}
                    b="$logs-$pass-bs$key"; n="$logs-$pass-ng$key"
                    b_r=$(med "${RPS[$b]}"); b_p=$(med "${P99[$b]}"); b_c=$(med "${CPU[$b]}"); b_u=$(med "${USR[$b]}")
                    n_r="-"; n_p="-"; n_c="-"; n_u="-"
                    if [[ -n "${RPS[$n]:-}" ]]; then
                        n_r=$(med "${RPS[$n]}"); n_p=$(med "${P99[$n]}"); n_c=$(med "${CPU[$n]}"); n_u=$(med "${USR[$n]}")
                    fi
                    report "| $name | $b_r | $b_p | $b_u | ${b_c:--} | $n_r | $n_p | $n_u | ${n_c:--} | $(ratio "$b_r" "$n_r") | $(ratio "$b_p" "$n_p") | $(ratio "$b_u" "$n_u") |"
                    report "|   rounds | ${RPS[$b]} | ${P99[$b]} | ${USR[$b]} | ${CPU[$b]} | ${RPS[$n]:-} | ${P99[$n]:-} | ${USR[$n]:-} | ${CPU[$n]:-} | | | |"
                done
            done
        done
    fi
fi

# ---------------------------------------------------------------- 5b. HTTPS
if part tls; then
    report ""
    report "## Serving over HTTPS ($WRK_THREADS threads, $WRK_CONNECTIONS keep-alive connections, $WRK_DURATION, median of $WRK_RUNS rounds, saturated; corpus of $SERVE_SIZE articles; access logs off)"
    NGINX=""
    if have nginx || [[ -x /usr/sbin/nginx ]]; then NGINX=$(command -v nginx || echo /usr/sbin/nginx); fi
    if ! have wrk; then missing wrk wrk "no HTTPS benchmark"
    elif ! have curl; then missing curl curl "no HTTPS benchmark"
    elif ! have openssl; then missing openssl openssl "no certificate for the HTTPS benchmark"
    else
        dir=$(corpus "$SERVE_SIZE")
        tls="$WORK/tls"
        rm -rf "$tls"; mkdir -p "$tls/nginx"
        # One certificate for both servers: ECDSA P-256, as ACME gives ours.
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
        chmod 644 "$tls/key.pem"
        # broadsheet: the corpus with [server.tls] naming them.
        cp -r "$dir" "$tls/site"
        printf '\n[server.tls]\ncert = "%s"\nkey = "%s"\n' "$tls/cert.pem" "$tls/key.pem" >>"$tls/site/config.toml"
        start_serve "$tls/site" "$TLS_PORT" "$tls/serve.log"
        tls_bs_pid=$SERVE_PID
        tls_bs=$(wait_listening "$tls/serve.log" "$tls_bs_pid" 600)
        TBU="https://$tls_bs"
        # nginx: the README's block on the export, with TLS on its listener.
        TNU="https://127.0.0.1:$TLS_NGINX_PORT"
        tls_ng_pid=""
        if [[ -n "$NGINX" ]]; then
            site="$WORK/site-$SERVE_SIZE"
            [[ -d "$site" ]] || "$BS" export --root "$dir" "$site" >&2
            [[ -f "$site/rss.xml.gz" ]] || find "$site" -type f \( -name '*.xml' -o -name '*.json' -o -name '*.opml' -o -name '*.html' \) \
                -print0 | xargs -0 -r -n 500 gzip -9 -n -k -f
            sed -e "s|@PORT@ reuseport;|@PORT@ ssl reuseport;\n    ssl_certificate $tls/cert.pem;\n    ssl_certificate_key $tls/key.pem;\n    ssl_protocols TLSv1.3;|" \
                -e "s|@PORT@|$TLS_NGINX_PORT|g" -e "s|@ROOT@|$site|g" \
                "$BENCH/nginx-server.conf.in" >"$tls/nginx/server.conf"
            grep -q "ssl_protocols TLSv1.3" "$tls/nginx/server.conf" || { say "the nginx template's listen line changed"; exit 1; }
            sed -e "s|@PREFIX@|$tls/nginx|g" -e "s|@SERVER@|$tls/nginx/server.conf|g" "$BENCH/nginx.conf.in" >"$tls/nginx/nginx.conf"
            "$NGINX" -p "$tls/nginx" -c "$tls/nginx/nginx.conf" -e "$tls/nginx/error.log" >"$tls/nginx/out.log" 2>&1 &
            tls_ng_pid=$!
            STARTED_PIDS+=("$tls_ng_pid")
            for _ in $(seq 100); do
                curl -sk --max-time 1 -o /dev/null "$TNU/" && break
                sleep 0.1
            done
        else
            missing nginx nginx "broadsheet is measured alone"
        fi
        negotiated() { # host:port
            openssl s_client -connect "$1" -servername localhost -alpn http/1.1 </dev/null 2>/dev/null |
                sed -n 's/^New, \(.*\)$/\1/p' | sed -n 1p
        }
        report "broadsheet: $(negotiated "$tls_bs")"
        [[ -z "$tls_ng_pid" ]] || report "nginx: $(negotiated "127.0.0.1:$TLS_NGINX_PORT")"
        small=/briefs/rss.xml
        if [[ -n "$tls_ng_pid" ]] && ! cmp -s <(curl -sk --max-time 5 "$TBU$small") <(curl -sk --max-time 5 "$TNU$small"); then
            report "  WARNING: broadsheet and nginx send different bytes for $small over HTTPS"
        fi
        tbs_etag=$(curl -sk --max-time 5 -o /dev/null -D - "$TBU$small" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
        tng_etag=""
        [[ -z "$tls_ng_pid" ]] || tng_etag=$(curl -sk --max-time 5 -o /dev/null -D - "$TNU$small" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
        report "304 check over HTTPS: broadsheet $(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $tbs_etag" "$TBU$small"), nginx $([[ -z "$tls_ng_pid" ]] && echo - || curl -sk --max-time 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $tng_etag" "$TNU$small")"
        declare -A TRPS TP99 TUS
        tls_cases=(
            "c: conditional GET, 304|$small|If-None-Match: $tbs_etag|If-None-Match: $tng_etag"
            "d: ~3 KB feed, identity|$small||"
        )
        for round in $(seq "$WRK_RUNS"); do
            for c in "${tls_cases[@]}"; do
                IFS='|' read -r name path hb hn <<<"$c"
                key=${name%%:*}
                order=(bs ng)
                (( round % 2 )) || order=(ng bs)
                for who in "${order[@]}"; do
                    if [[ "$who" == bs ]]; then pid=$tls_bs_pid; url="$TBU$path"; header=$hb; label=broadsheet
                    else [[ -n "$tls_ng_pid" ]] || continue; pid=$tls_ng_pid; url="$TNU$path"; header=$hn; label=nginx; fi
                    say "tls, round $round, case $name: $label..."
                    pids=$(server_pids "$pid")
                    # shellcheck disable=SC2086
                    before=$(cpu_ticks $pids)
                    read -r rps p99 bad err n _ < <(run_wrk "$url" "$header")
                    # shellcheck disable=SC2086
                    after=$(cpu_ticks $pids)
                    us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')
                    TRPS[$who$key]+="$rps "; TP99[$who$key]+="$p99 "; TUS[$who$key]+="$us "
                    [[ "$bad" == 0 && "$err" == none ]] || report "  WARNING: tls, round $round, case $key, $label: $bad responses not 2xx/3xx, socket errors $err"
                done
            done
        done
        tmed() { tr ' ' '\n' <<<"${1:-}" | { grep . || true; } | median; }
        report "| case | broadsheet req/s | p99 ms | CPU µs/req | nginx req/s | p99 ms | CPU µs/req | req/s ratio | p99 ratio | CPU/req ratio |"
        report "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for c in "${tls_cases[@]}"; do
            IFS='|' read -r name _ <<<"$c"
            key=${name%%:*}
            b_r=$(tmed "${TRPS[bs$key]:-}"); b_p=$(tmed "${TP99[bs$key]:-}"); b_u=$(tmed "${TUS[bs$key]:-}")
            n_r=$(tmed "${TRPS[ng$key]:-}"); n_p=$(tmed "${TP99[ng$key]:-}"); n_u=$(tmed "${TUS[ng$key]:-}")
            report "| $name | $b_r | $b_p | $b_u | ${n_r:--} | ${n_p:--} | ${n_u:--} | $(ratio "$b_r" "${n_r:-0}") | $(ratio "$b_p" "${n_p:-0}") | $(ratio "$b_u" "${n_u:-0}") |"
            report "|   rounds | ${TRPS[bs$key]:-} | ${TP99[bs$key]:-} | ${TUS[bs$key]:-} | ${TRPS[ng$key]:-} | ${TP99[ng$key]:-} | ${TUS[ng$key]:-} | | | |"
        done
        [[ -z "$tls_ng_pid" ]] || stop_pid "$tls_ng_pid"
        stop_pid "$tls_bs_pid"
    fi
fi

# ---------------------------------------------------------------- 6. hot reload
if part reload; then
    report ""
    report "## Hot reload ($SERVE_SIZE articles; edit one article, poll its section feed's ETag)"
    if ! have curl; then missing curl curl "no reload benchmark"
    else
        dir=$(corpus "$SERVE_SIZE")
        if [[ -n "${RELOAD_DEBOUNCE_MS:-}" ]]; then
            [[ "$RELOAD_DEBOUNCE_MS" =~ ^[0-9]+$ ]] || { say "RELOAD_DEBOUNCE_MS must be a whole number"; exit 2; }
            sed -i '/^reload_debounce_ms = /d' "$dir/config.toml"
            sed -i "/^\[server\]/a reload_debounce_ms = $RELOAD_DEBOUNCE_MS" "$dir/config.toml"
            report "reload_debounce_ms = $RELOAD_DEBOUNCE_MS (RELOAD_DEBOUNCE_MS)"
        fi
        start_serve "$dir" "$BS_PORT" "$WORK/reload.log"
        bs_pid=$SERVE_PID
        bs_addr=$(wait_listening "$WORK/reload.log" "$bs_pid" 600)
        # The newest article of the first section: it is in that section's feed.
        section=world
        article=$(ls "$dir/content/$section" | grep -v '^_index' | sort -t- -k3 -n | sed -n 1p)
        feed="http://$bs_addr/$section/rss.xml"
        times=()
        for round in $(seq "${RELOAD_ROUNDS:-3}"); do
            before=$(etag_of "$feed")
            sleep 1   # let the watcher settle after the previous round
            t0=$(date +%s%N)
            printf '\nEdited for the reload benchmark, round %s.\n' "$round" >>"$dir/content/$section/$article"
            changed=""
            for _ in $(seq 6000); do  # at most ~60 s
                now=$(etag_of "$feed")
                if [[ -n "$now" && "$now" != "$before" ]]; then changed=1; break; fi
                sleep 0.005
            done
            t1=$(date +%s%N)
            if [[ -n "$changed" ]]; then
                ms=$(( (t1 - t0) / 1000000 ))
                times+=("$ms")
                say "  round $round: new ETag after $ms ms"
            else
                report "  round $round: the ETag did not change within 60 s"
            fi
        done
        if ((${#times[@]})); then
            report "reload: median $(printf '%s\n' "${times[@]}" | median) ms (rounds: ${times[*]} ms), file: content/$section/$article, debounce included"
        fi
        grep -i 'rebuil\|reload' "$WORK/reload.log.err" | tail -3 | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/  server log: /' | tee -a "$OUT" >&2 || true
        stop_pid "$bs_pid"
    fi
fi

# ---------------------------------------------------------------- 7. memory while serving
if part memory; then
    largest=$(tr ' ' '\n' <<<"$SIZES" | grep . | sort -n | tail -1)
    report ""
    report "## Memory while serving ($largest articles)"
    dir=$(corpus "$largest")
    t0=$(date +%s%N)
    start_serve "$dir" "$BS_PORT" "$WORK/memory.log"
    bs_pid=$SERVE_PID
    if bs_addr=$(wait_listening "$WORK/memory.log" "$bs_pid" 900); then
        t1=$(date +%s%N)
        curl -s --max-time 5 -o /dev/null "http://$bs_addr/rss.xml"
        sleep 2
        rss_kb=$(ps -o rss= -p "$bs_pid" | tr -d ' ')
        hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$bs_pid/status")
        split() { awk '/^Rss(Anon|File|Shmem):/ { printf "%s%s %d MB", sep, $1, $2 / 1024; sep = ", " }' "/proc/$bs_pid/status"; }
        report "serve: listening after $(( (t1 - t0) / 1000000 )) ms; resident $(( rss_kb / 1024 )) MB (ps -o rss; $(split)), peak $(( hwm_kb / 1024 )) MB (VmHWM)"
        grep -i 'built' "$WORK/memory.log.err" | tail -1 | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/  server log: /' | tee -a "$OUT" >&2 || true
        # Every archive page of the site feed, once (the chain from the
        # subscription document: /archive/1/ to the newest), eight at a time.
        newest=$(curl -s --max-time 10 "http://$bs_addr/rss.xml" | sed -n 's|.*/archive/\([0-9]*\)/rss.xml.*rel="prev-archive".*|\1|p; s|.*rel="prev-archive".*/archive/\([0-9]*\)/rss.xml.*|\1|p' | sed -n 1p)
        if [[ -n "$newest" ]]; then
            t2=$(date +%s%N)
            seq "$newest" | sed "s|.*|http://$bs_addr/archive/&/rss.xml|" |
                xargs -P 8 -I{} curl -s --max-time 30 -o /dev/null {}
            t3=$(date +%s%N)
            rss_kb=$(ps -o rss= -p "$bs_pid" | tr -d ' ')
            report "serve: after fetching the site feed's $newest RSS archive pages once ($(( (t3 - t2) / 1000000 )) ms): resident $(( rss_kb / 1024 )) MB ($(split))"
        fi
    fi
    stop_pid "$bs_pid"
fi

# ---------------------------------------------------------------- 8. audience counting
if part stats; then
    report ""
    report "## Audience counting on and off ($WRK_THREADS threads, $WRK_CONNECTIONS connections, $WRK_DURATION, median of $WRK_RUNS rounds; corpus of $SERVE_SIZE articles; access log off)"
    if ! have wrk; then missing wrk wrk "no counting benchmark"
    elif ! have curl; then missing curl curl "no counting benchmark"
    else
        dir=$(corpus "$SERVE_SIZE")
        # Two copies of the site: counting on (the default) and off.
        for mode in on off; do
            rm -rf "$WORK/stats-$mode"
            cp -r "$dir" "$WORK/stats-$mode"
        done
        printf '\n[stats]\nenabled = false\n' >>"$WORK/stats-off/config.toml"
        start_serve "$WORK/stats-on" "$BS_PORT" "$WORK/stats-on.log"
        on_pid=$SERVE_PID
        on_addr=$(wait_listening "$WORK/stats-on.log" "$on_pid" 600)
        start_serve "$WORK/stats-off" "$((BS_PORT + 2))" "$WORK/stats-off.log"
        off_pid=$SERVE_PID
        off_addr=$(wait_listening "$WORK/stats-off.log" "$off_pid" 600)
        big=/rss.xml
        etag=$(etag_of "http://$on_addr$big")
        [[ "$etag" == "$(etag_of "http://$off_addr$big")" ]] || report "WARNING: the two servers send different ETags for $big"
        report "304 check: counting on $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://$on_addr$big"), off $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://$off_addr$big"); /stats: on $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$on_addr/stats"), off $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$off_addr/stats")"
        # A second case: each request with one of 1,000 user agents (the
        # recorded aggregators' and readers', and made-up ones), so the
        # family memo and the poller sketches do real work; wrk's Lua picks
        # them, at the same cost to both servers.
        {
            printf 'local agents = {}\n'
            sed -n 's/^user_agent = "\(.*\)"$/\1/p' "$REPO/tests/fixtures/audience/user-agents.toml" |
                sed 's/\\"/"/g; s/\\/\\\\/g; s/"/\\"/g; s/^/agents[#agents + 1] = "/; s/$/"/'
            printf 'for i = #agents + 1, 1000 do agents[i] = "Reader" .. i .. "/1.0 (+https://reader" .. i .. ".example/)" end\n'
            printf 'local n = 0\n'
            printf 'request = function()\n  n = n %% 1000 + 1\n  return wrk.format(nil, nil, { ["User-Agent"] = agents[n], ["If-None-Match"] = %s })\nend\n' "'$etag'"
        } >"$WORK/agents.lua"
        declare -A S_RPS S_P99 S_USR
        cases=("c: conditional GET, 304, no User-Agent|If-None-Match: $etag|" "f: conditional GET, 304, 1,000 user agents||$WORK/agents.lua")
        for round in $(seq "$WRK_RUNS"); do
            for c in "${cases[@]}"; do
                IFS='|' read -r name header script <<<"$c"
                key=${name%%:*}
                order=(on off)
                (( round % 2 )) || order=(off on)
                for mode in "${order[@]}"; do
                    if [[ "$mode" == on ]]; then pid=$on_pid; addr=$on_addr; else pid=$off_pid; addr=$off_addr; fi
                    say "counting $mode, round $round, case $name..."
                    pids=$(server_pids "$pid")
                    # shellcheck disable=SC2086
                    before=$(cpu_ticks $pids)
                    read -r rps p99 bad err n _ < <(run_wrk "http://$addr$big" "$header" "$script")
                    # shellcheck disable=SC2086
                    after=$(cpu_ticks $pids)
                    us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')
                    [[ "$bad" == 0 && "$err" == none ]] || report "  WARNING: counting $mode, round $round, case $key: $bad responses not 2xx/3xx, socket errors $err"
                    S_RPS[$mode$key]+="$rps "; S_P99[$mode$key]+="$p99 "; S_USR[$mode$key]+="$us "
                done
            done
        done
        report "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
        report "/stats.json after the runs: $(curl -s --max-time 10 "http://$on_addr/stats.json" | tr -d '\n ' | sed -n 's/.*"counting":\({[^}]*}\).*/\1/p')"
        stop_pid "$on_pid"
        stop_pid "$off_pid"
        smed() { tr ' ' '\n' <<<"${1:-}" | { grep . || true; } | median; }
        report "| case | counting on req/s | p99 ms | CPU µs/req | counting off req/s | p99 ms | CPU µs/req | req/s on/off | CPU/req on/off |"
        report "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for c in "${cases[@]}"; do
            IFS='|' read -r name _ <<<"$c"
            key=${name%%:*}
            a_r=$(smed "${S_RPS[on$key]}"); a_p=$(smed "${S_P99[on$key]}"); a_u=$(smed "${S_USR[on$key]}")
            b_r=$(smed "${S_RPS[off$key]}"); b_p=$(smed "${S_P99[off$key]}"); b_u=$(smed "${S_USR[off$key]}")
            report "| $name | $a_r | $a_p | $a_u | $b_r | $b_p | $b_u | $(ratio "$a_r" "$b_r") | $(ratio "$a_u" "$b_u") |"
            report "|   rounds | ${S_RPS[on$key]} | ${S_P99[on$key]} | ${S_USR[on$key]} | ${S_RPS[off$key]} | ${S_P99[off$key]} | ${S_USR[off$key]} | | |"
        done
    fi
fi

report ""
report "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
report "results: ${RESULTS_KEEP:-$OUT}"
