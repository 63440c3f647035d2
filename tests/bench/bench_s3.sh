#!/usr/bin/env bash
# bench_s3.sh: the S3 part of `make bench` (issue 15, "Measure it"), run after bench.sh; 4 to 6 minutes at the default
# sizes on the 2-core build machine.
#
# Starts a real S3 server on loopback (OpenStack Swift with its s3api middleware, tests/s3/start-s3.sh, ports
# SK_S3_PORT..SK_S3_PORT+4) and stops it at the end, pass or fail. On a generated data-dir (mkdatadir) it measures,
# side by side in one run:
#   1. full upload: `slotkeeper repo init s3://bench/sk` + `slotkeeper snapshot` of the data-dir (read, hash,
#      compress, upload), against `rclone copy` and `s3cmd sync` of the same objects (the chunks/ and snapshots/ of a
#      local repository made from the same data-dir: same names, same bytes) into other prefixes of the same bucket;
#   2. a follower's `slotkeeper sync --from s3://bench/sk --repo LOCAL` of an incremental (LOCAL holds the previous
#      snapshot), against `rclone copy` and `s3cmd sync` of the same prefix down into a folder that already holds the
#      previous objects (so they fetch only the new ones: rclone --ignore-existing, s3cmd --skip-existing; their
#      times include a final `sync -f`, slotkeeper fsyncs what it writes);
#   3. the follower's delay: a `slotkeeper daemon` whose [repository] upstream is the bucket (sync_interval
#      BENCH_S3_POLL) runs while snapshots are published (BENCH_S3_DELAY_RUNS of them, at random moments); from the
#      manifest's PUT (its end, in the server's access log) until the manifest is in the follower's local
#      repository, split into the wait for the poll and the copy;
#   4. requests and bytes per cycle, from the server's access log (the proxy's, every S3 request once), by method
#      (LIST = GET on the bucket), and in AWS S3 pricing terms (PUT/COPY/POST/LIST, GET/HEAD/other, DELETE free).
# The same parallelism for everyone: rclone --transfers N --checkers N, slotkeeper --threads N and
# SLOTKEEPER_S3_TRANSFERS=N (N = BENCH_S3_TRANSFERS); s3cmd has none (one request at a time).
# Summary targets:
#   upload         slotkeeper snapshot (full) / rclone copy          <= 1.00  (also shown: / s3cmd sync)
#   follower sync  slotkeeper sync (incremental) / rclone copy       <= 1.00  (also shown: / s3cmd sync)
#   delay          follower delay <= poll interval + its copy time
#   peak RSS       every slotkeeper command                          <= 128 MiB
# A missed target is reported as MISS and still exits 0; a failed slotkeeper command exits 1. Without Swift it prints
# a SKIP line and exits 0 (`make bench` installs it as root, as `make deps-test` does).
#
# rclone 1.60 (Debian 12) fails against any S3 endpoint with "LoadCustomCABundleError: unable to load custom CA
# bundle, HTTPClient's transport unsupported type / unsupported transport, *fshttp.Transport" when AWS_CA_BUNDLE is
# set in the environment: the AWS SDK for Go adds that bundle to the HTTP client's transport and only knows Go's own
# *http.Transport, while rclone gives it its own wrapper. The endpoint here is plain http, so rclone runs without
# AWS_CA_BUNDLE and works with Swift.
#
# Environment (the Makefile sets the first three):
#   SLOTKEEPER, MKDATADIR, RUNSTAT   paths of the binaries (default: ./slotkeeper, build/tools/{mkdatadir,runstat})
#   BENCH_S3_DIR         work folder on a real disk (default /var/tmp/slotkeeper-bench-s3); removed at the end
#   BENCH_KEEP=1         keep BENCH_S3_DIR (the server is stopped anyway)
#   BENCH_S3_BLOCKS      blocks.log size (default 512M)
#   BENCH_S3_STATE_SIZE  shared_memory.bin apparent size (default 1G)
#   BENCH_S3_STATE_DATA  bytes of data in shared_memory.bin (default 128M)
#   BENCH_S3_TRANSFERS   parallel transfers of everyone but s3cmd (default 16)
#   BENCH_S3_POLL        the follower daemon's sync_interval (default 5s)
#   BENCH_S3_REPEAT      runs of each upload and download comparison, in alternating order; the ratios take each
#                        tool's best (default 2)
#   BENCH_S3_DELAY_RUNS  snapshots published while the follower runs, each at a random moment (default 3)
#   BENCH_LEVEL          zstd level (default 3)
#   BENCH_S3_RCLONE_FLAGS  extra rclone flags (default none: rclone's defaults, e.g. --fast-list or --s3-no-head
#                        make fewer requests)
#   SK_S3_PORT           first of the server's five loopback ports (default 28080, below the ephemeral ports)
#   BENCH_S3=0           skip this part
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLOTKEEPER=${SLOTKEEPER:-$root/slotkeeper}
MKDATADIR=${MKDATADIR:-$root/build/tools/mkdatadir}
RUNSTAT=${RUNSTAT:-$root/build/tools/runstat}
BENCH_S3_DIR=${BENCH_S3_DIR:-/var/tmp/slotkeeper-bench-s3}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_S3_BLOCKS=${BENCH_S3_BLOCKS:-512M}
BENCH_S3_STATE_SIZE=${BENCH_S3_STATE_SIZE:-1G}
BENCH_S3_STATE_DATA=${BENCH_S3_STATE_DATA:-128M}
BENCH_S3_TRANSFERS=${BENCH_S3_TRANSFERS:-16}
BENCH_S3_POLL=${BENCH_S3_POLL:-5s}
BENCH_S3_DELAY_RUNS=${BENCH_S3_DELAY_RUNS:-3}
BENCH_S3_REPEAT=${BENCH_S3_REPEAT:-2}
BENCH_LEVEL=${BENCH_LEVEL:-3}
S3_PORT=${SK_S3_PORT:-28080}

if [[ ${BENCH_S3:-1} == 0 ]]; then
    echo "== S3 benchmark: SKIP (BENCH_S3=0)"
    exit 0
fi

die() {
    echo "bench-s3: $*" >&2
    exit 1
}
failures=()
fail() {
    echo "bench-s3: FAILED: $*" >&2
    failures+=("$*")
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
apparent() { du -s -B1 --apparent-size "$@" | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

[[ $BENCH_S3_TRANSFERS =~ ^[1-9][0-9]*$ ]] || die "BENCH_S3_TRANSFERS must be a positive number"
[[ $BENCH_S3_REPEAT =~ ^[1-9]$ ]] || die "BENCH_S3_REPEAT must be 1..9"
[[ $BENCH_S3_DELAY_RUNS =~ ^[1-9][0-9]?$ ]] || die "BENCH_S3_DELAY_RUNS must be 1..99"
[[ $BENCH_S3_POLL =~ ^([1-9][0-9]*)s$ ]] || die "BENCH_S3_POLL must be seconds, e.g. 5s"
poll_s=${BASH_REMATCH[1]}
for tool in SLOTKEEPER MKDATADIR RUNSTAT; do
    [[ -x ${!tool} ]] || die "$tool=${!tool} is not an executable; build it first (make) or set $tool"
done

echo
echo "== S3 benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
if ! command -v swift-proxy-server >/dev/null 2>&1 || ! command -v memcached >/dev/null 2>&1 ||
    ! command -v curl >/dev/null 2>&1; then
    echo "S3 benchmark: SKIP: OpenStack Swift (swift-proxy, memcached) or curl is not installed;" \
        "as root, 'make s3-deps' installs them (make bench does)"
    exit 0
fi
# rclone and s3cmd: installed if missing (as root), else that column is n/a
missing=()
command -v rclone >/dev/null || missing+=(rclone)
command -v s3cmd >/dev/null || missing+=(s3cmd)
if ((${#missing[@]})) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt_install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}")
    "${apt_install[@]}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && "${apt_install[@]}" >/dev/null 2>&1; } ||
        echo "  could not install ${missing[*]}: those columns are n/a"
fi
have_rclone=0
have_s3cmd=0
command -v rclone >/dev/null && have_rclone=1
command -v s3cmd >/dev/null && have_s3cmd=1

# BENCH_S3_DIR: absolute, ours to delete
marker=.slotkeeper-bench-s3
BENCH_S3_DIR=$(realpath -m -- "$BENCH_S3_DIR")
[[ $BENCH_S3_DIR != / ]] || die "BENCH_S3_DIR must not be /"
if [[ -e $BENCH_S3_DIR ]]; then
    [[ -d $BENCH_S3_DIR ]] || die "BENCH_S3_DIR=$BENCH_S3_DIR exists and is not a directory"
    if [[ -e $BENCH_S3_DIR/$marker ]]; then
        bash "$root/tests/s3/stop-s3.sh" "$BENCH_S3_DIR/s3" >/dev/null 2>&1 || true
        rm -rf -- "$BENCH_S3_DIR"
    elif [[ -n $(ls -A -- "$BENCH_S3_DIR") ]]; then
        die "BENCH_S3_DIR=$BENCH_S3_DIR exists, is not empty and was not made by this benchmark"
    fi
fi
mkdir -p -- "$BENCH_S3_DIR"
touch -- "$BENCH_S3_DIR/$marker"
D=$BENCH_S3_DIR
stats=$D/stats
mkdir -- "$stats"

s3_up=0
daemon_pid=
child=
cleanup() {
    local rc=$?
    # an interrupted run: the tool being timed (its own session, see timed) goes first
    [[ -z $child ]] || kill -TERM -- "-$child" 2>/dev/null || true
    if [[ -n $daemon_pid ]]; then
        kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    fi
    ((s3_up)) && bash "$root/tests/s3/stop-s3.sh" "$D/s3" >/dev/null 2>&1
    if [[ $BENCH_KEEP == 1 ]]; then
        echo "BENCH_KEEP=1: kept $D"
    elif [[ -e $D/$marker ]]; then
        rm -rf -- "$D"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "bench-s3: command failed at line $LINENO" >&2' ERR

# ---------------------------------------------------------------------------------------------------------------
# the server, its access log, signed requests

# s3_req from s3_lib.sh (signed curl requests); it wants W and S3_PORT
# shellcheck disable=SC2034 # s3_lib.sh reads it
W=$D
# shellcheck source=tests/integration/s3_lib.sh
. "$root/tests/integration/s3_lib.sh"
S3_PORT=${SK_S3_PORT:-28080}
S3_URL=http://127.0.0.1:$S3_PORT

mkdir -p "$D/s3"
# two tries: a port of a server just stopped, or taken for a moment as some client's ephemeral port, frees itself
started=0
for try in 1 2; do
    if S3_LOG_LEVEL=INFO bash "$root/tests/s3/start-s3.sh" "$D/s3" "$S3_PORT" >"$stats/s3.start" 2>&1; then
        started=1
        break
    fi
    bash "$root/tests/s3/stop-s3.sh" "$D/s3" >/dev/null 2>&1 || true
    ((try == 2)) || sleep 10
done
if ((!started)); then
    echo "S3 benchmark: SKIP: the S3 server did not start on 127.0.0.1:$S3_PORT:" \
        "$(tail -3 "$stats/s3.start" | tr '\n' ' ')"
    exit 0
fi
s3_up=1
export AWS_ENDPOINT_URL=$S3_URL AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION
export SLOTKEEPER_S3_TRANSFERS=$BENCH_S3_TRANSFERS
plog=$D/s3/log/proxy.log
B=bench
[[ $(s3_req PUT /$B) == 200 ]] || die "could not create the bucket $B"

# rclone: a remote "sw" from the environment only (no config file); without AWS_CA_BUNDLE (see the top)
rclone_env=(env -u AWS_CA_BUNDLE RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=Other
    RCLONE_CONFIG_SW_ENDPOINT="$S3_URL" RCLONE_CONFIG_SW_FORCE_PATH_STYLE=true RCLONE_CONFIG_SW_REGION=us-east-1
    RCLONE_CONFIG_SW_ACCESS_KEY_ID=test:tester RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=testing)
rclone_cmd=("${rclone_env[@]}" rclone --config /dev/null --transfers "$BENCH_S3_TRANSFERS"
    --checkers "$BENCH_S3_TRANSFERS" --stats 0 --log-level ERROR)
# shellcheck disable=SC2206 # extra flags, split on blanks
rclone_cmd+=(${BENCH_S3_RCLONE_FLAGS:-})
cat >"$D/s3cfg" <<EOF
[default]
access_key = test:tester
secret_key = testing
host_base = 127.0.0.1:$S3_PORT
host_bucket = 127.0.0.1:$S3_PORT
bucket_location = us-east-1
use_https = False
signature_v2 = False
progress_meter = False
EOF
s3cmd_cmd=(s3cmd -c "$D/s3cfg" --no-progress --quiet)

declare -A WALL RSS STATUS REQ T0 T1

# timed KEY CMD...: runs CMD once under runstat (after sync), records wall time, peak RSS, status, and the time
# window of its requests in the server's log.
timed() {
    local key=$1 line rc=0
    shift
    sync
    T0[$key]=$(now)
    # in its own session, so that an interrupt of this script stops it and its children (cleanup)
    setsid "$RUNSTAT" -o "$stats/$key" -- "$@" >"$stats/$key.out" 2>"$stats/$key.err" </dev/null &
    child=$!
    wait "$child" || rc=$?
    child=
    T1[$key]=$(now)
    line=$(tail -n 1 "$stats/$key" 2>/dev/null || true)
    if [[ $line =~ ^wall=([0-9.]+)\ maxrss_kib=([0-9]+)\ status=([0-9]+)$ ]]; then
        WALL[$key]=${BASH_REMATCH[1]}
        RSS[$key]=${BASH_REMATCH[2]}
        STATUS[$key]=${BASH_REMATCH[3]}
    else
        STATUS[$key]=$rc
    fi
    return "$rc"
}
rss_mib() { echo $((${RSS[$1]:-0} / 1024)); }
show() { [[ ! -s $stats/$1.err ]] || sed 's/^/     | /' "$stats/$1.err" | tail -n 5; }

# requests KEY [T0 T1]: the server's access-log lines of requests that started in the window (default KEY's),
# counted by kind. Sets REQ[KEY] to "total put get list head delete post bytes_in bytes_out".
# Log line: "proxy-server: CLIENT REMOTE DATE METHOD PATH PROTO STATUS REFERER AGENT TOKEN IN OUT ETAG TXN HEADERS
# TIME SOURCE INFO START END POLICY"; the query string is part of PATH, %-encoded; a GET of /BUCKET is a LIST.
requests() {
    local key=$1 t0=${2:-${T0[$1]}} t1=${3:-${T1[$1]}}
    sleep 0.3 # the proxy writes a request's line once it is answered
    REQ[$key]=$(awk -v a="$t0" -v b="$t1" '
        $1 == "proxy-server:" && NF >= 21 && $7 ~ /^HTTP\// && $20 + 0 >= a && $20 + 0 <= b {
            n++; m = $5; p = $6
            if (m == "GET" && p ~ /^\/[^\/%]+\/?(%3F.*)?$/) m = "LIST"
            c[m]++
            if ($12 ~ /^[0-9]+$/) bin += $12
            if ($13 ~ /^[0-9]+$/) bout += $13
        }
        END { printf "%d %d %d %d %d %d %d %.0f %.0f\n", n, c["PUT"], c["GET"], c["LIST"], c["HEAD"], c["DELETE"],
              c["POST"], bin, bout }' "$plog")
}
# req_text KEY: "N requests (PUT a, GET b, ...), up X MiB, down Y MiB"
req_text() {
    local n put get list head del post bin bout s
    read -r n put get list head del post bin bout <<<"${REQ[$1]}"
    s="$n requests ("
    local parts=()
    ((put)) && parts+=("PUT $put")
    ((get)) && parts+=("GET $get")
    ((list)) && parts+=("LIST $list")
    ((head)) && parts+=("HEAD $head")
    ((del)) && parts+=("DELETE $del")
    ((post)) && parts+=("POST $post")
    local IFS=,
    s+="${parts[*]}"
    s=${s//,/, }
    echo "$s), up $(mib "$bin"), down $(mib "$bout")"
}
# s3_json KEY: the "s3" object of slotkeeper's --json output, if it has one
s3_json() {
    local j
    j=$(jq -c '.s3 // empty' "$stats/$1.out" 2>/dev/null || true)
    [[ -z $j ]] || echo "     slotkeeper's own count (--json .s3): $j"
}

# ---------------------------------------------------------------------------------------------------------------
# 0. environment, data-dir, the local repository that gives rclone and s3cmd the same objects

data=$D/datadir
lrepo=$D/local-repo
echo "host: $(uname -sr), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other jobs share it:" \
    "compare within this run only)"
echo "server: Swift $(/usr/bin/python3 -c 'import swift; print(swift.__version__)' 2>/dev/null || echo '?') s3api on" \
    "$S3_URL ($(grep -o 'S3_READY_SECONDS=.*' "$stats/s3.start" | cut -d= -f2) s to start), bucket $B"
echo "tools: $( ((have_rclone)) && rclone version 2>/dev/null | head -n 1 || echo 'rclone: not installed');" \
    "$( ((have_s3cmd)) && s3cmd --version 2>/dev/null | head -n 1 || echo 's3cmd: not installed')"
[[ -z ${BENCH_S3_RCLONE_FLAGS:-} ]] || echo "rclone flags: $BENCH_S3_RCLONE_FLAGS"
echo "parallelism: $BENCH_S3_TRANSFERS (slotkeeper --threads and SLOTKEEPER_S3_TRANSFERS, rclone --transfers" \
    "and --checkers); s3cmd one request at a time"
echo "sizes: blocks.log $BENCH_S3_BLOCKS, shared_memory.bin $BENCH_S3_STATE_SIZE with $BENCH_S3_STATE_DATA of" \
    "data; zstd level $BENCH_LEVEL; follower poll $BENCH_S3_POLL"
if [[ -n ${AWS_CA_BUNDLE:-} ]]; then
    echo "note: AWS_CA_BUNDLE is set; rclone 1.60 runs without it (with it: 'unsupported transport', see the" \
        "script's head)"
fi

echo
echo "== S3 1. generate the data-dir and a local repository of it (the objects rclone and s3cmd upload)"
"$MKDATADIR" create "$data" --blocks-size "$BENCH_S3_BLOCKS" --state-size "$BENCH_S3_STATE_SIZE" \
    --state-data "$BENCH_S3_STATE_DATA" >"$stats/gen.out" || die "mkdatadir create failed"
sed 's/^/  /' "$stats/gen.out"
"$SLOTKEEPER" repo init "$lrepo" --level "$BENCH_LEVEL" >/dev/null || die "repo init $lrepo failed"
timed local_full "$SLOTKEEPER" snapshot --data-dir "$data" --repo "$lrepo" --include blocks,state \
    --level "$BENCH_LEVEL" --threads "$BENCH_S3_TRANSFERS" --quiet || die "local snapshot failed: $(show local_full)"
nobj=$(find "$lrepo/chunks" "$lrepo/snapshots" -type f | wc -l)
obytes=$(apparent "$lrepo/chunks" "$lrepo/snapshots")
echo "  local repository: $nobj objects (chunks/ and snapshots/), $(mib "$obytes");" \
    "local snapshot took ${WALL[local_full]} s (no network: the read/compress part)"

# ---------------------------------------------------------------------------------------------------------------
# 1. full upload

# sfx K: the key suffix of run K ("" for the first, "_K" after)
sfx() { (($1 == 1)) || echo "_$1"; }

up_sk() { # K: slotkeeper repo init + snapshot into s3://bench/sk (run 1) or sk-K
    local k=$1 s url
    s=$(sfx "$k")
    url=s3://$B/sk${s/_/-}
    if ! timed "sk_init$s" "$SLOTKEEPER" repo init "$url" --level "$BENCH_LEVEL"; then
        show "sk_init$s"
        fail "slotkeeper repo init $url (status ${STATUS[sk_init$s]})"
        return 0
    fi
    if timed "sk_full$s" "$SLOTKEEPER" snapshot --data-dir "$data" --repo "$url" --include blocks,state \
        --level "$BENCH_LEVEL" --threads "$BENCH_S3_TRANSFERS" --json --no-progress; then
        ((k > 1)) || sk_ok=1
        requests "sk_full$s"
        echo "  run $k, a. slotkeeper snapshot to $url (full): ${WALL[sk_full$s]} s," \
            "peak RSS $(rss_mib "sk_full$s") MiB; $(req_text "sk_full$s")"
        s3_json "sk_full$s"
    else
        show "sk_full$s"
        fail "slotkeeper snapshot to $url (status ${STATUS[sk_full$s]})"
    fi
}
up_rc() { # K: rclone copy of the local repository's objects into rclone/ (run 1) or rclone-K/
    local k=$1 s
    ((have_rclone)) || return 0
    s=$(sfx "$k")
    if timed "rc_up$s" "${rclone_cmd[@]}" copy "$lrepo" "sw:$B/rclone${s/_/-}" --include '/chunks/**' \
        --include '/snapshots/**'; then
        requests "rc_up$s"
        echo "  run $k, b. rclone copy of the same $nobj objects: ${WALL[rc_up$s]} s," \
            "peak RSS $(rss_mib "rc_up$s") MiB; $(req_text "rc_up$s")"
    else
        show "rc_up$s"
        echo "  run $k, b. rclone copy FAILED (status ${STATUS[rc_up$s]}); not compared"
    fi
}
up_s3cmd() { # K: s3cmd sync of the same objects into s3cmd/ (run 1) or s3cmd-K/
    local k=$1 s
    ((have_s3cmd)) || return 0
    s=$(sfx "$k")
    if timed "s3cmd_up$s" "${s3cmd_cmd[@]}" sync "$lrepo/chunks" "$lrepo/snapshots" "s3://$B/s3cmd${s/_/-}/"; then
        requests "s3cmd_up$s"
        echo "  run $k, c. s3cmd sync of the same objects: ${WALL[s3cmd_up$s]} s," \
            "peak RSS $(rss_mib "s3cmd_up$s") MiB; $(req_text "s3cmd_up$s")"
    else
        show "s3cmd_up$s"
        echo "  run $k, c. s3cmd sync FAILED (status ${STATUS[s3cmd_up$s]}); not compared"
    fi
}

runs_txt=''
((BENCH_S3_REPEAT == 1)) || runs_txt=" ($BENCH_S3_REPEAT runs, the order reversed every other run)"
echo
echo "== S3 2. full upload$runs_txt"
((have_rclone)) || echo "  rclone: not installed, not compared"
((have_s3cmd)) || echo "  s3cmd: not installed, not compared"
sk_ok=0
UP=s3://$B/sk
for k in $(seq "$BENCH_S3_REPEAT"); do
    if ((k % 2)); then
        up_sk "$k"
        up_rc "$k"
        up_s3cmd "$k"
    else
        up_s3cmd "$k"
        up_rc "$k"
        up_sk "$k"
    fi
done

# ---------------------------------------------------------------------------------------------------------------
# 2. a follower's sync of an incremental

frepo=$D/follower-repo
down_sk() { # K: slotkeeper sync of the incremental into the follower's repository (run 1) or a copy of it
    local k=$1 s repo=$frepo
    s=$(sfx "$k")
    if ((k > 1)); then
        repo=$D/follower-repo$s
        rm -rf -- "$repo"
        cp -a -- "$D/follower-base" "$repo"
    fi
    if timed "sk_sync$s" "$SLOTKEEPER" sync --from "$UP" --repo "$repo" --threads "$BENCH_S3_TRANSFERS" \
        --no-progress; then
        requests "sk_sync$s"
        echo "  run $k, a. slotkeeper sync of the incremental: ${WALL[sk_sync$s]} s," \
            "peak RSS $(rss_mib "sk_sync$s") MiB; $(req_text "sk_sync$s")"
    else
        show "sk_sync$s"
        fail "slotkeeper sync of the incremental (status ${STATUS[sk_sync$s]})"
    fi
    ((k == 1)) || rm -rf -- "$repo"
}
# shellcheck disable=SC2016 # the snippets are expanded by the inner bash
down_tool() { # K rclone|s3cmd: the tool copies the prefix into a folder holding the previous objects, then sync -f
    local k=$1 t=$2 s key dst
    s=$(sfx "$k")
    dst=$D/dl-$t$s
    rm -rf -- "$dst"
    cp -al -- "$D/dl-base" "$dst"
    if [[ $t == rclone ]]; then
        ((have_rclone)) || return 0
        key=rc_down$s
        timed "$key" bash -c '"${@:3}" copy "sw:$1/sk" "$2" --include "/chunks/**" --include "/snapshots/**" \
            --ignore-existing && sync -f "$2"' bash "$B" "$dst" "${rclone_cmd[@]}" || true
    else
        ((have_s3cmd)) || return 0
        key=s3cmd_down$s
        timed "$key" bash -c '"${@:3}" sync --skip-existing "s3://$1/sk/chunks" "s3://$1/sk/snapshots" "$2/" &&
            sync -f "$2"' bash "$B" "$dst" "${s3cmd_cmd[@]}" || true
    fi
    if [[ ${STATUS[$key]} == 0 ]]; then
        requests "$key"
        echo "  run $k, $([[ $t == rclone ]] && echo "b. rclone copy --ignore-existing" ||
            echo "c. s3cmd sync --skip-existing") of the same prefix, sync -f: ${WALL[$key]} s; $(req_text "$key")"
        if ! diff -rq "$frepo/chunks" "$dst/chunks" >/dev/null 2>&1; then
            echo "  note: the $t copy's chunks/ differ from the follower's (objects:" \
                "$(find "$dst/chunks" -type f | wc -l) against $(find "$frepo/chunks" -type f | wc -l))"
        fi
    else
        show "$key"
        echo "  run $k, $t FAILED (status ${STATUS[$key]}); not compared"
    fi
    ((k == 1)) || rm -rf -- "$dst"
}

if ((sk_ok)); then
    echo
    echo "== S3 3. a follower's sync of an incremental$runs_txt"
    "$SLOTKEEPER" repo init "$frepo" --level "$BENCH_LEVEL" >/dev/null || die "repo init $frepo failed"
    if timed sk_sync_full "$SLOTKEEPER" sync --from "$UP" --repo "$frepo" --threads "$BENCH_S3_TRANSFERS" \
        --no-progress; then
        requests sk_sync_full
        echo "  the follower's first sync (the full snapshot, into an empty local repository):" \
            "${WALL[sk_sync_full]} s; $(req_text sk_sync_full)"
    else
        show sk_sync_full
        fail "slotkeeper sync of the full snapshot (status ${STATUS[sk_sync_full]})"
    fi
    # the state every run starts from: the follower's repository, and for the other tools the same objects
    ((BENCH_S3_REPEAT == 1)) || cp -a -- "$frepo" "$D/follower-base"
    mkdir -p "$D/dl-base"
    cp -al -- "$frepo/chunks" "$frepo/snapshots" "$D/dl-base/"
    "$MKDATADIR" mutate "$data" | sed 's/^/  /' || die "mkdatadir mutate failed"
    if timed sk_incr "$SLOTKEEPER" snapshot --data-dir "$data" --repo "$UP" --include blocks,state \
        --level "$BENCH_LEVEL" --threads "$BENCH_S3_TRANSFERS" --json --no-progress; then
        requests sk_incr
        echo "  slotkeeper snapshot to S3 (incremental): ${WALL[sk_incr]} s; $(req_text sk_incr)"
        s3_json sk_incr
    else
        show sk_incr
        fail "slotkeeper incremental snapshot to S3 (status ${STATUS[sk_incr]})"
    fi
    for k in $(seq "$BENCH_S3_REPEAT"); do
        if ((k % 2)); then
            down_sk "$k"
            down_tool "$k" rclone
            down_tool "$k" s3cmd
        else
            down_tool "$k" s3cmd
            down_tool "$k" rclone
            down_sk "$k"
        fi
    done
    rm -rf -- "$D/follower-base"
    if timed sk_idle "$SLOTKEEPER" sync --from "$UP" --repo "$frepo" --no-progress; then
        requests sk_idle
        echo "  slotkeeper sync when nothing is new: ${WALL[sk_idle]} s; $(req_text sk_idle)"
    else
        show sk_idle
        fail "slotkeeper sync with nothing new (status ${STATUS[sk_idle]})"
    fi
fi
# ---------------------------------------------------------------------------------------------------------------
# 3. the follower's delay

DELAY=() WAIT=() COPY=()
if ((sk_ok)) && [[ ${STATUS[sk_sync]:-1} == 0 ]]; then
    echo
    echo "== S3 4. the follower's delay (a daemon following $UP, sync_interval $BENCH_S3_POLL)"
    cat >"$D/follower.conf" <<EOF
[daemon]
control_socket = $D/follower.sock
state_dir = $D/follower-state
[repository]
path = $frepo
upstream = $UP
endpoint = $S3_URL
sync_interval = $BENCH_S3_POLL
threads = $BENCH_S3_TRANSFERS
[workers]
# a daemon needs something to supervise: one slot whose worker runs elsewhere (no command)
slots = 1
data_dir = $D/slot-{slot}
EOF
    "$SLOTKEEPER" daemon -c "$D/follower.conf" >"$D/follower.log" 2>&1 &
    daemon_pid=$!
    up=0
    for _ in $(seq 100); do
        if "$SLOTKEEPER" status -c "$D/follower.conf" >/dev/null 2>&1; then
            up=1
            break
        fi
        sleep 0.1
    done
    if ((up)); then
        # idle polls: the daemon's requests over two poll intervals, after its first poll (a
        # whole sync: the first after a start always is; later ones that find both snapshots/
        # listings as they were stop there)
        sleep "$poll_s"
        ti0=$(now)
        sleep $((2 * poll_s))
        requests idle "$ti0" "$(now)"
        polls=2
        echo "  idle: $(req_text idle) in $((2 * poll_s)) s: $polls polls (the timer's)"
        for r in $(seq "$BENCH_S3_DELAY_RUNS"); do
            # publish at a random moment of the poll period
            sleep "$((RANDOM % (poll_s * 10) / 10)).$((RANDOM % 10))"
            "$MKDATADIR" mutate "$data" >/dev/null || die "mkdatadir mutate failed"
            if ! timed sk_pub "$SLOTKEEPER" snapshot --data-dir "$data" --repo "$UP" --include blocks,state \
                --level "$BENCH_LEVEL" --threads "$BENCH_S3_TRANSFERS" --no-progress --quiet; then
                show sk_pub
                fail "slotkeeper snapshot for the follower (status ${STATUS[sk_pub]})"
                break
            fi
            id=$(tail -n 1 "$stats/sk_pub.out")
            t_end=${T1[sk_pub]}
            t_local=''
            for _ in $(seq $(((poll_s + 120) * 20))); do
                if [[ -f $frepo/snapshots/$id ]]; then
                    t_local=$(now)
                    break
                fi
                sleep 0.05
            done
            ((r > 1)) || requests pub "${T0[sk_pub]}" "$t_end"
            sleep 0.5
            # the manifest's PUT (its end time) and the follower's first request for it, from the server's log
            t_pub=$(awk -v id="$id" '$1 == "proxy-server:" && $5 == "PUT" && index($6, "/snapshots/" id) { t = $21 }
                END { print t }' "$plog")
            [[ -n $t_pub ]] || t_pub=$t_end
            t_get=$(awk -v id="$id" -v a="$t_pub" '$1 == "proxy-server:" && $5 == "GET" &&
                index($6, "/snapshots/" id) && $20 + 0 >= a { print $20; exit }' "$plog")
            if [[ -z $t_local ]]; then
                fail "the follower did not get snapshot $id within $((poll_s + 120)) s"
                tail -n 5 "$D/follower.log" | sed 's/^/     | /'
                break
            fi
            DELAY[r]=$(sub "$t_local" "$t_pub")
            if [[ -n $t_get ]]; then
                WAIT[r]=$(sub "$t_get" "$t_pub")
                COPY[r]=$(sub "$t_local" "$t_get")
                ((r > 1)) || requests fsync "$t_get" "$t_local"
            fi
            echo "  run $r: snapshot $id published (manifest PUT answered) at +0.00 s;" \
                "the follower asked for it at +${WAIT[r]:-?} s and held it at +${DELAY[r]} s (copy ${COPY[r]:-?} s)"
            grep -q "copied snapshot $id" "$D/follower.log" ||
                echo "  note: the daemon's log does not say 'copied snapshot $id'"
        done
        [[ -z ${REQ[fsync]:-} ]] || echo "  the daemon's copy in run 1: $(req_text fsync)"
    else
        fail "the follower daemon did not start"
        tail -n 5 "$D/follower.log" | sed 's/^/     | /'
    fi
    if kill -TERM "$daemon_pid" 2>/dev/null; then
        wait "$daemon_pid" || fail "the follower daemon exited with status $? on SIGTERM"
    else
        wait "$daemon_pid" || true
    fi
    daemon_pid=
fi

# ---------------------------------------------------------------------------------------------------------------
# 4. summary

echo
best_txt=''
((BENCH_S3_REPEAT == 1)) || best_txt="; ratios take each tool's best of $BENCH_S3_REPEAT"
echo "== S3 5. summary (the machine is shared: compare within this run$best_txt)"
row() { # KEY LABEL: KEY's row, and those of its other runs
    local key=$1 label=$2 k s
    for k in $(seq "$BENCH_S3_REPEAT"); do
        s=$(sfx "$k")
        [[ -n ${WALL[$key$s]:-} ]] || continue
        ((k == 1)) || label="  run $k"
        printf '  %-50s %8s s %8s MiB  status %s\n' "$label" "${WALL[$key$s]}" \
            "$(awk -v k="${RSS[$key$s]}" 'BEGIN { printf "%.1f", k / 1024 }')" "${STATUS[$key$s]}"
    done
}
printf '  %-50s %10s %12s\n' "command" "wall" "peak RSS"
row local_full "slotkeeper snapshot (full) to a local repository"
row sk_full "upload: slotkeeper snapshot (full) to S3"
row rc_up "upload: rclone copy, same objects"
row s3cmd_up "upload: s3cmd sync, same objects"
row sk_incr "slotkeeper snapshot (incremental) to S3"
row sk_sync_full "follower: slotkeeper sync of the full snapshot"
row sk_sync "follower: slotkeeper sync of the incremental"
row rc_down "follower: rclone copy of the new objects + sync"
row s3cmd_down "follower: s3cmd sync of the new objects + sync"
row sk_idle "follower: slotkeeper sync, nothing new"

ok_wall() { [[ ${STATUS[$1]:-1} != 0 ]] || echo "${WALL[$1]:-}"; }
best() { # KEY: the shortest successful wall time over the runs
    local k
    for k in $(seq "$BENCH_S3_REPEAT"); do ok_wall "$1$(sfx "$k")"; done |
        awk 'NF { if (m == "" || $1 < m) m = $1 } END { print m }'
}
ratio() { # LABEL NUM DEN TARGET (no TARGET: shown only)
    local label=$1 num=$2 den=$3 target=${4:-}
    if [[ -z $num || -z $den ]]; then
        printf '  %-56s %8s   %s\n' "$label" "n/a" "${target:+target <= $target -}"
        return
    fi
    awk -v l="$label" -v n="$num" -v d="$den" -v t="$target" 'BEGIN {
        r = d > 0 ? n / d : 0
        if (t == "") printf "  %-56s %8.2f   (for reference)\n", l, r
        else printf "  %-56s %8.2f   target <= %-6s %s\n", l, r, t, (d > 0 && r <= t) ? "PASS" : "MISS" }'
}
echo
echo "  ratios"
ratio "upload: slotkeeper snapshot (full) / rclone copy" "$(best sk_full)" "$(best rc_up)" 1.00
ratio "upload: slotkeeper snapshot (full) / s3cmd sync" "$(best sk_full)" "$(best s3cmd_up)" 1.00
ratio "follower: slotkeeper sync (incremental) / rclone copy" "$(best sk_sync)" "$(best rc_down)" 1.00
ratio "follower: slotkeeper sync (incremental) / s3cmd sync" "$(best sk_sync)" "$(best s3cmd_down)" 1.00
if ((${#DELAY[@]})); then
    for r in $(seq "$BENCH_S3_DELAY_RUNS"); do
        [[ -n ${DELAY[$r]:-} ]] || continue
        awk -v l="follower delay, run $r: publication to local copy" -v d="${DELAY[$r]}" -v p="$poll_s" \
            -v c="${COPY[$r]:-}" 'BEGIN {
            if (c == "") { printf "  %-56s %8.2f s (its copy time unknown)\n", l, d; exit }
            t = p + c
            printf "  %-56s %8.2f s target <= %.2f s (poll %d + copy %.2f) %s\n", l, d, t, p, c,
                d <= t ? "PASS" : "MISS" }'
    done
else
    printf '  %-56s %8s\n' "follower delay: publication to local copy" "n/a"
fi
for key in sk_full sk_incr sk_sync_full sk_sync sk_idle sk_full_2 sk_sync_2; do
    [[ -n ${RSS[$key]:-} ]] || continue
    awk -v l="peak RSS: slotkeeper ${key#sk_} (MiB)" -v k="${RSS[$key]}" 'BEGIN {
        m = k / 1024
        printf "  %-56s %8.1f   target <= %-6s %s\n", l, m, "128", m <= 128 ? "PASS" : "MISS" }'
done

echo
echo "  requests and bytes per cycle (the server's access log; AWS S3 bills PUT, COPY, POST and LIST as one tier,"
echo "  GET, HEAD and the rest as the other, DELETE is free; bytes up = into the bucket)"
cost_row() { # KEY LABEL
    local n put get list head del post bin bout
    [[ -n ${REQ[$1]:-} ]] || return 0
    read -r n put get list head del post bin bout <<<"${REQ[$1]}"
    printf '  %-44s %6d  %6d PUT/LIST/POST %6d GET/HEAD %4d DELETE  up %10s down %10s\n' "$2" "$n" \
        $((put + list + post)) $((get + head)) "$del" "$(mib "$bin")" "$(mib "$bout")"
}
printf '  %-44s %6s\n' "" "total"
cost_row sk_full "slotkeeper snapshot, full"
cost_row rc_up "rclone copy, full (same objects)"
cost_row s3cmd_up "s3cmd sync, full (same objects)"
cost_row sk_incr "slotkeeper snapshot, incremental (a cycle)"
cost_row pub "snapshot, 2nd incr. (+ follower polls)"
cost_row sk_sync "follower sync, incremental (a cycle)"
cost_row rc_down "rclone copy, incremental"
cost_row s3cmd_down "s3cmd sync, incremental"
cost_row sk_idle "follower sync, nothing new"
cost_row fsync "follower daemon's copy, 2nd incremental"
cost_row idle "follower daemon, idle, ${polls:-?} polls"
if [[ -n ${REQ[sk_incr]:-} && -n ${REQ[sk_idle]:-} && -n ${REQ[sk_sync]:-} ]]; then
    read -r ni _ <<<"${REQ[sk_incr]}"
    read -r ns _ <<<"${REQ[sk_sync]}"
    nn=${REQ[sk_idle]%% *}
    # the daemon's idle poll, where it was measured (a `sync` from cron with nothing new: sk_idle)
    [[ -n ${REQ[idle]:-} ]] && nn=$(((${REQ[idle]%% *} + polls - 1) / polls))
    echo "  per day, at the defaults (snapshot_interval 30m: 48 cycles; a follower's sync_interval 60s: 1440 polls," \
        "48 of them copying):"
    echo "    archival host about $((48 * ni)) requests; each follower about $((48 * ns + (1440 - 48) * nn))" \
        "(with this data-dir's incremental; they scale with the chunks a cycle changes)"
fi

echo
if ((${#failures[@]})); then
    echo "S3 benchmark FAILED:"
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "S3 benchmark: every slotkeeper command succeeded"
