# Shared by the daemon's integration tests (sourced after lib.sh): a configuration with a
# fakenode archival node and fakenode workers in $W, and helpers that read `slotkeeper status`.
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}
CTLSEND=$TOOLS/ctlsend
# A base port whose neighbours (workers at PORT+slot, metrics at PORT+1000) are free now: tests
# run two at a time (tests/run.sh), so a random base is checked before it is used.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 20); do
    PORT=$((20000 + RANDOM % 20000))
    port_free "$PORT" && port_free $((PORT + 1)) && port_free $((PORT + 2)) && port_free $((PORT + 3)) &&
        port_free $((PORT + 1000)) && break
done
C=$W/sk.conf
SOCK=$W/control.sock

# Under SK_VALGRIND=1 (lib.sh) every daemon this test starts runs under memcheck.
VG_WAIT=1
[ "$SK_VALGRIND" = 1 ] && VG_WAIT=10 # a memcheck'd daemon starts, stops and leak-checks slowly
daemon_cmd() { exec "${VG[@]}" "$SK" daemon -c "$C"; }

# Every process this test started lives under $W: stop them all at the end.
cleanup() {
    pkill -TERM -f "slotkeeper daemon -c $C" 2>/dev/null
    for _ in $(seq $((50 * VG_WAIT))); do pgrep -f "$W/" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f "$W/" 2>/dev/null
    finish
}
trap cleanup EXIT

genesis() { # DIR: a chain that started 10 minutes ago (1,200 blocks to catch up)
    mkdir -p "$1"
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$GENESIS_TIME" >"$1/genesis.json"
}
GENESIS_TIME=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%S.000)
for d in archive 1 2 3; do genesis "$W/$d"; done
"$SK" repo init "$W/repo" --chunk-size 64KiB >/dev/null

write_conf() { # SLOTS BUDGET
    cat >"$C" <<EOF
[daemon]
control_socket = $SOCK
state_dir = $W/state
log_level = debug
metrics_address = ${METRICS_ADDRESS:-}
[repository]
path = $W/repo
keep_last = 10
threads = 2
[archive]
data_dir = $W/archive
command = $FAKENODE --data-dir {data_dir} --http-server-address off --chain-state-db-size-mb 64 --catch-up-rate 5000
snapshot_interval = 1h
stop_timeout = 20s
[workers]
slots = $1
data_dir = $W/{slot}
command = $FAKENODE --data-dir {data_dir} --http-server-address 127.0.0.1:{http_port} --chain-state-db-size-mb 64 --catch-up-rate 5000
http_port_base = $PORT
startup_grace = 2s
health_interval = 1s
stall_timeout = ${STALL_TIMEOUT:-30s}
backoff_min = 200ms
backoff_max = 2s
restore_budget = $2
restore_window = 1h
stop_timeout = ${WORKER_STOP_TIMEOUT:-20s}
EOF
}

start_daemon() {
    daemon_cmd >>"$W/daemon.log" 2>&1 &
    DPID=$!
    for _ in $(seq $((100 * VG_WAIT))); do [ -S "$SOCK" ] && "$SK" status -c "$C" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# field SLOT N: column N of the slot's line in `status` (2 state, 4 pid, 7 restarts, 8 restores).
field() { "$SK" status -c "$C" 2>/dev/null | awk -v s="$1" -v n="$2" '$1 == s { print $n; exit }'; }
# wait_for SLOT STATE [SECONDS]
wait_for() {
    local i
    for i in $(seq $((${3:-60} * 10))); do
        [ "$(field "$1" 2)" = "$2" ] && return 0
        sleep 0.1
    done
    echo "# slot $1 is $(field "$1" 2), not $2; status:" && "$SK" status -c "$C" 2>&1 | sed 's/^/#   /'
    return 1
}
# wait_field SLOT N VALUE [SECONDS]
wait_field() {
    for _ in $(seq $((${4:-60} * 10))); do
        [ "$(field "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    echo "# slot $1 field $2 is $(field "$1" "$2"), not $3" && "$SK" status -c "$C" 2>&1 | sed 's/^/#   /'
    return 1
}
nodes_on() { pgrep -f "^$FAKENODE --data-dir $1 " | wc -l; } # live nodes on a data-dir (not their run)
# nodes_are DIR N: N live nodes on DIR; otherwise says which there are.
nodes_are() {
    local n
    n=$(nodes_on "$1")
    [ "$n" = "$2" ] && return 0
    echo "# $n nodes on $1, not $2:"
    pgrep -af "^$FAKENODE --data-dir $1 " | sed 's/^/#   /'
    return 1
}
pid_of() { field "$1" 4; }
# scrape HOST:PORT: the daemon's /metrics, through bash's /dev/tcp (no curl needed)
scrape() {
    local host=${1%:*} port=${1##*:}
    exec 9<>"/dev/tcp/$host/$port" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&9
    cat <&9
    exec 9<&-
}

