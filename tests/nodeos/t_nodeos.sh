#!/usr/bin/env bash
# The whole loop against a real nodeos ($NODEOS, default ../shared/nodeos/nodeos beside the
# project: Leap v4.0.6): a one-producer chain on loopback (the producer is not under the daemon),
# then
#   1. a node on its own, beside the producer: what `check` says of its data-dir while it runs,
#      after a clean stop, after kill -9 (and what nodeos itself does with that data-dir), with a
#      cut blocks.log, with both; a second nodeos on a live data-dir; SIGHUP;
#   2. `slotkeeper daemon` running an archival nodeos and two worker nodeos that sync from the
#      producer and the archival node over p2p: snapshot cycles (the first one on schedule, one
#      asked for with `snapshot -c`), a worker killed with SIGKILL restored and back in sync
#      with the producer (the same block id at the same height), a stopped worker with a cut
#      blocks.log restored before its start, a direct restore into a running worker refused
#      (exit 5) with the slot untouched, and SIGTERM stopping every node cleanly.
# Timings (stop, kill to running, kill to in sync) are printed as TAP comments ("# time: ...").
# Ports: the producer 18888/19876 (its config.ini as shipped), the others 18890-18899/19870-19879.
. "$(dirname "$0")/../integration/lib.sh"

NODEOS=${NODEOS:-$ROOT/../shared/nodeos/nodeos}
SHARED=$(cd "$(dirname "$NODEOS")" 2>/dev/null && pwd)
T_NAME=nodeos
note() { echo "# $*"; }

if [ ! -x "$NODEOS" ] || [ ! -f "$SHARED/config.ini" ] || [ ! -f "$SHARED/genesis.json" ]; then
    ok "the whole loop against a real nodeos # SKIP no nodeos at $NODEOS (with config.ini and genesis.json beside it); set NODEOS=path"
    echo "1..$T_N"
    exit 0
fi
if ldd "$NODEOS" 2>/dev/null | grep -q 'not found'; then
    ok "the whole loop against a real nodeos # SKIP $NODEOS lacks run-time libraries: $(ldd "$NODEOS" | awk '/not found/ { printf "%s ", $1 }')(make nodeos-test installs them as root)"
    echo "1..$T_N"
    exit 0
fi
for c in curl jq; do
    command -v $c >/dev/null || {
        ok "the whole loop against a real nodeos # SKIP $c is not installed (make nodeos-test installs it as root)"
        echo "1..$T_N"
        exit 0
    }
done
note "nodeos: $NODEOS ($("$NODEOS" --full-version 2>/dev/null))"

# Every nodeos this test starts has its data-dir under $W; the daemon's too.
DPID=
cleanup() {
    [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null
    for _ in $(seq 600); do pgrep -f "$W/" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f "$W/" 2>/dev/null
    finish
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
info() { curl -s --max-time 2 "http://127.0.0.1:$1/v1/chain/get_info"; }
head_of() { info "$1" | jq -r '.head_block_num // empty' 2>/dev/null; }
# block_id PORT NUM: the id of block NUM as the node on PORT has it.
block_id() {
    curl -s --max-time 2 -d "{\"block_num_or_id\":\"$2\"}" "http://127.0.0.1:$1/v1/chain/get_block" |
        jq -r '.id // empty' 2>/dev/null
}
# wait_head PORT SECONDS: until the node on PORT answers get_info with a head block.
wait_head() {
    for _ in $(seq $(($2 * 5))); do
        [ -n "$(head_of "$1")" ] && return 0
        sleep 0.2
    done
    return 1
}
# in_sync PORT: the node's head is within a block of the producer's, and both have the same
# id for the node's head block.
in_sync() {
    local h p a b
    h=$(head_of "$1") p=$(head_of 18888)
    [ -n "$h" ] && [ -n "$p" ] && [ "$h" -ge $((p - 1)) ] || return 1
    a=$(block_id "$1" "$h") b=$(block_id 18888 "$h")
    [ -n "$a" ] && [ "$a" = "$b" ]
}
# wait_sync PORT SECONDS
wait_sync() {
    for _ in $(seq $(($2 * 5))); do
        in_sync "$1" && return 0
        sleep 0.2
    done
    note "port $1: head $(head_of "$1"), producer's $(head_of 18888)"
    return 1
}
# same_block PORT: prints "NUM ID" when the node and the producer agree on the id of the node's head.
same_block() {
    local h
    h=$(head_of "$1")
    echo "$h $(block_id "$1" "$h") $(block_id 18888 "$h")"
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# node_conf DIR HTTP P2P PEER...: a non-producing node's config.ini and the chain's genesis.json.
node_conf() {
    local d=$1 http=$2 p2p=$3 p
    shift 3
    mkdir -p "$d"
    cp "$SHARED/genesis.json" "$d/"
    {
        echo "chain-state-db-size-mb = 256"
        echo "chain-state-db-guard-size-mb = 32"
        echo "plugin = eosio::chain_api_plugin"
        echo "plugin = eosio::http_plugin"
        echo "http-server-address = 127.0.0.1:$http"
        echo "p2p-listen-endpoint = 127.0.0.1:$p2p"
        echo "p2p-max-nodes-per-host = 10"
        for p in "$@"; do echo "p2p-peer-address = 127.0.0.1:$p"; done
    } >"$d/config.ini"
}
# start_node DIR: nodeos on DIR in the background (log DIR/nodeos.log); sets NPID.
start_node() {
    "$NODEOS" --data-dir "$1" --config-dir "$1" --genesis-json "$1/genesis.json" >>"$1/nodeos.log" 2>&1 &
    NPID=$!
}
# nodeos_once NAME DIR [ARGS...]: nodeos in the foreground, its output in $W/once.log (and kept
# in $W/NAME.log); returns its code.
nodeos_once() {
    local name=$1 d=$2 rc
    shift 2
    timeout 60 "$NODEOS" --data-dir "$d" --config-dir "$d" --genesis-json "$d/genesis.json" "$@" >"$W/once.log" 2>&1
    rc=$?
    cp "$W/once.log" "$W/$name.log"
    return $rc
}
# show_failure: nodeos's own words for a failed start (its warnings and errors, no feature lines).
show_failure() { grep -v -e protocol_feature -e '^$' "$W/once.log" | grep -v '^info ' | cut -c1-240 | sed 's/^/#   | /'; }
dirty_byte() { od -An -tu1 -j8 -N1 "$1/state/shared_memory.bin" | tr -d ' '; }
forkdb_magic() { od -An -tx4 -N4 "$1/blocks/reversible/fork_db.dat" 2>/dev/null | tr -d ' '; }
# index_matches DIR: blocks.index's last entry is the offset blocks.log's last 8 bytes hold.
index_matches() {
    local d=$1/blocks a b
    a=$(tail -c 8 "$d/blocks.index" | od -An -tu8 | tr -d ' ')
    b=$(tail -c 8 "$d/blocks.log" | od -An -tu8 | tr -d ' ')
    note "blocks.index: $(($(stat -c %s "$d/blocks.index") / 8)) entries, last $a; blocks.log's last 8 bytes: $b"
    [ -n "$a" ] && [ "$a" = "$b" ]
}

for p in 18888 19876 18890 18891 18892 18896 18897 18898 18899 19870 19871 19872 19878 19879; do
    port_free $p || { not_ok "port $p is free (another nodeos runs?)"; exit 0; }
done

# --- the producer ------------------------------------------------------------------------------
P=$W/producer
mkdir -p "$P"
cp "$SHARED/config.ini" "$SHARED/genesis.json" "$P/"
# Every node is on 127.0.0.1, and nodeos accepts one peer per host by default: the workers'
# connections would be closed ("Peer closed connection") and they would stay at block 1.
chmod u+w "$P/config.ini"
echo "p2p-max-nodes-per-host = 10" >>"$P/config.ini"
"$NODEOS" --data-dir "$P" --config-dir "$P" --genesis-json "$P/genesis.json" >>"$P/nodeos.log" 2>&1 &
PPID_=$!
echo "$PPID_" >>"$W/bg.pids"
check "the producer answers get_info" wait_head 18888 30
CHAIN_ID=$(info 18888 | jq -r .chain_id)
note "chain id $CHAIN_ID"
"$SK" repo init "$W/repo" --chunk-size 64KiB >/dev/null

# --- 1. one node on its own --------------------------------------------------------------------
X=$W/x
node_conf "$X" 18899 19879 19876
t0=$(now)
start_node "$X"
XPID=$NPID
check "a node syncs from the producer over p2p" wait_sync 18899 60
note "time: start to in sync with the producer: $(since "$t0") s (head $(head_of 18899))"

run 10 "check: running (a live nodeos holds the state lock)" "$SK" check "$X"
check "check names nodeos's pid as the lock holder" grep -q "process $XPID holds the lock" "$W/out"
check "the dirty flag is set while nodeos runs" test "$(dirty_byte "$X")" = 1
check "fork_db.dat was deleted at start" test ! -e "$X/blocks/reversible/fork_db.dat"
run 5 "snapshot of a running data-dir is refused (exit 5)" "$SK" snapshot --data-dir "$X" --repo "$W/repo"

# A second nodeos on the live data-dir: chainbase checks the dirty flag before the lock.
h0=$(head_of 18899)
nodeos_once second "$X" --http-server-address 127.0.0.1:18898 --p2p-listen-endpoint 127.0.0.1:19878
rc=$?
note "second nodeos on a live data-dir: exit $rc:"
show_failure
check "a second nodeos on a live data-dir exits 2 (dirty flag), not 254 (lock)" test "$rc" = 2
check "and the first one runs on" kill -0 "$XPID"
sleep 1.2
check "and still produces its head" test "$(head_of 18899)" -gt "$h0"

kill -HUP "$XPID"
sleep 1
check "SIGHUP: nodeos keeps running" kill -0 "$XPID"
check "SIGHUP: nodeos logs 'Received HUP'" grep -q "Received HUP" "$X/nodeos.log"

t0=$(now)
kill -TERM "$XPID"
wait "$XPID"
rc=$?
note "time: SIGTERM to exit: $(since "$t0") s"
check "SIGTERM: nodeos exits 0" test "$rc" = 0
check "SIGTERM: its last line is 'nodeos successfully exiting'" bash -c "tail -1 '$X/nodeos.log' | grep -q 'nodeos successfully exiting'"
check "a clean stop writes blocks/reversible/fork_db.dat (magic 30510fdb)" test "$(forkdb_magic "$X")" = 30510fdb
check "and clears the dirty flag" test "$(dirty_byte "$X")" = 0
run 0 "check: clean" "$SK" check "$X"
check "check: layout leap4, EOSIODB2, the chain id of get_info" bash -c \
    "grep -q 'layout:  leap4' '$W/out' && grep -q 'id EOSIODB2' '$W/out' && grep -q 'chain:   $CHAIN_ID' '$W/out'"
check "blocks.index agrees with blocks.log after a clean stop" index_matches "$X"
Y=$W/y
cp -a --sparse=always "$X" "$Y"

start_node "$X"
XPID=$NPID
check "the node restarts on its clean data-dir" wait_sync 18899 60
check "fork_db.dat was deleted at the restart" test ! -e "$X/blocks/reversible/fork_db.dat"
sleep 1
kill -9 "$XPID"
wait "$XPID" 2>/dev/null
run 11 "check after kill -9: dirty" "$SK" check "$X"
check "check: a killed Leap 4 data-dir is still layout leap4 (no fork_db.dat, blocks/reversible/ there)" \
    grep -q 'layout:  leap4' "$W/out"
check "kill -9 leaves no fork_db.dat" test ! -e "$X/blocks/reversible/fork_db.dat"
check "kill -9 leaves blocks.index in agreement with blocks.log" index_matches "$X"
cp -a --sparse=always "$X" "$W/x-killed"
nodeos_once killed "$X"
rc=$?
note "nodeos on the killed data-dir: exit $rc:"
show_failure
check "nodeos refuses the killed data-dir with exit 2" test "$rc" = 2
check "with 'database dirty flag set (likely due to unclean shutdown): replay required'" \
    grep -q 'database dirty flag set (likely due to unclean shutdown): replay required' "$W/once.log"
check "after chain_plugin's warning 'Database dirty flag set'" grep -q 'warn .*chain_plugin.*Database dirty flag set' "$W/once.log"
check "and leaves the data-dir as it was" bash -c "cmp -s '$X/blocks/blocks.log' '$W/x-killed/blocks/blocks.log' && test \$(od -An -tu1 -j8 -N1 '$X/state/shared_memory.bin' | tr -d ' ') = 1"
run 11 "check: still dirty" "$SK" check "$X"

# A cut blocks.log on a clean data-dir.
truncate -s -100 "$Y/blocks/blocks.log"
run 13 "check with a cut blocks.log: corrupt" "$SK" check "$Y"
head -1 "$W/out" >"$W/y.check"
note "check: $(head -1 "$W/out")"
nodeos_once cut "$Y" --http-server-address 127.0.0.1:18898 --p2p-listen-endpoint 127.0.0.1:19878
rc=$?
note "nodeos on a cut blocks.log: exit $rc:"
show_failure
check "nodeos refuses a cut blocks.log with exit 254" test "$rc" = 254
quoted=$(sed -n 's/.*nodeos refuses it with "\(.*\)"$/\1/p' "$W/y.check")
note "check quoted: $quoted"
check "with the message slotkeeper's check quotes" bash -c '[ -n "$1" ] && grep -qF -- "$1" "$2"' _ "$quoted" "$W/once.log"
# Dirty and cut: which does nodeos see first? (chainbase opens before the block log)
truncate -s -100 "$X/blocks/blocks.log"
run 11 "check on a killed data-dir with a cut blocks.log: dirty (nodeos's order)" "$SK" check "$X"
nodeos_once killed-cut "$X"
rc=$?
check "nodeos reports the dirty flag first (exit 2)" test "$rc" = 2
rm -rf "$X" "$Y" "$W/x-killed"

# --- 1b. fakenode --flavour leap4 through the same steps: the same exit codes and the same
# warnings and errors, line for line (timestamps, numbers and paths aside) -------------------
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}
# shape LOG: the lines of a failed start that are not info, with times, numbers and paths blanked.
shape() {
    grep -v -e '^info ' -e protocol_feature "$1" | sed -E 's/^(warn|error|debug) +[0-9T:.-]+ /\1 /;
        s#/[^ "]*/##g; s/[0-9]{5,}/N/g; s/ +$//'
}
same_shape() { # REAL-LOG FAKE-LOG
    diff <(shape "$1") <(shape "$2") >"$W/shape.diff" && return 0
    sed 's/^/#   /' "$W/shape.diff" | head -20
    return 1
}
F=$W/f
mkdir -p "$F"
# fakenode's head follows the clock from genesis: a genesis of a few seconds ago keeps its chain short.
printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
    "$(date -u -d '5 seconds ago' +%Y-%m-%dT%H:%M:%S.000)" >"$F/genesis.json"
printf 'chain-state-db-size-mb = 64\nhttp-server-address = 127.0.0.1:18897\n' >"$F/config.ini"
fake() { "$FAKENODE" --flavour leap4 --data-dir "$1" --config-dir "$1" --genesis-json "$1/genesis.json" "${@:2}"; }
# fake_bg DIR: fakenode in the background (not through the function: $! must be fakenode's pid).
fake_bg() {
    "$FAKENODE" --flavour leap4 --data-dir "$1" --config-dir "$1" --genesis-json "$1/genesis.json" >>"$1/nodeos.log" 2>&1 &
    FPID=$!
}
fake_bg "$F"
check "fakenode leap4 answers get_info" wait_head 18897 20
run 10 "fakenode: check: running" "$SK" check "$F"
fake "$F" --http-server-address 127.0.0.1:18896 >"$W/f-second.log" 2>&1
rc=$?
check "fakenode: a second instance on a live data-dir exits 2 as nodeos does (is $rc)" test "$rc" = 2
check "fakenode: and says what nodeos says, line for line" same_shape "$W/second.log" "$W/f-second.log"
kill -TERM "$FPID"
wait "$FPID"
check "fakenode: SIGTERM: exit 0" test $? = 0
check "fakenode: its last line is 'nodeos successfully exiting'" bash -c "tail -1 '$F/nodeos.log' | grep -q 'nodeos successfully exiting'"
run 0 "fakenode: check: clean" "$SK" check "$F"
cp -a --sparse=always "$F" "$W/g"
fake_bg "$F"
check "fakenode restarts" wait_head 18897 20
kill -9 "$FPID"
wait "$FPID" 2>/dev/null
run 11 "fakenode: check after kill -9: dirty" "$SK" check "$F"
check "fakenode: check says layout leap4 as for nodeos" grep -q 'layout:  leap4' "$W/out"
check "fakenode: kill -9 leaves no fork_db.dat" test ! -e "$F/blocks/reversible/fork_db.dat"
fake "$F" >"$W/f-killed.log" 2>&1
rc=$?
check "fakenode: refuses the killed data-dir with exit 2 (is $rc)" test "$rc" = 2
check "fakenode: says what nodeos says, line for line" same_shape "$W/killed.log" "$W/f-killed.log"
truncate -s -100 "$W/g/blocks/blocks.log"
run 13 "fakenode: check with a cut blocks.log: corrupt" "$SK" check "$W/g"
fake "$W/g" >"$W/f-cut.log" 2>&1
rc=$?
check "fakenode: refuses a cut blocks.log with exit 254 (is $rc)" test "$rc" = 254
check "fakenode: says what nodeos says, line for line" same_shape "$W/cut.log" "$W/f-cut.log"
rm -rf "$F" "$W/g"

# --- 2. the daemon --------------------------------------------------------------------------
A=$W/archive
node_conf "$A" 18890 19870 19876
node_conf "$W/1" 18891 19871 19876 19870
node_conf "$W/2" 18892 19872 19876 19870
C=$W/sk.conf
CMD="$NODEOS --data-dir {data_dir} --config-dir {data_dir} --genesis-json {data_dir}/genesis.json"
cat >"$C" <<EOF
[daemon]
control_socket = $W/control.sock
state_dir = $W/state
log_level = debug
[repository]
path = $W/repo
keep_last = 5
threads = 2
[archive]
data_dir = $A
command = $CMD
snapshot_interval = 1h
stop_timeout = 60s
[workers]
slots = 2
data_dir = $W/{slot}
command = $CMD
http_port_base = 18890
p2p_port_base = 19870
startup_grace = 5s
health_interval = 1s
stall_timeout = 30s
backoff_min = 500ms
backoff_max = 5s
restore_budget = 5
stop_timeout = 60s
EOF
run 0 "config check accepts the configuration" "$SK" config check -c "$C"

field() { "$SK" status -c "$C" 2>/dev/null | awk -v s="$1" -v n="$2" '$1 == s { print $n; exit }'; }
wait_for() { # SLOT STATE [SECONDS]
    for _ in $(seq $((${3:-60} * 10))); do
        [ "$(field "$1" 2)" = "$2" ] && return 0
        sleep 0.1
    done
    note "slot $1 is $(field "$1" 2), not $2"
    "$SK" status -c "$C" 2>&1 | sed 's/^/#   /'
    return 1
}
wait_field() { # SLOT N VALUE [SECONDS]
    for _ in $(seq $((${4:-60} * 10))); do
        [ "$(field "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    note "slot $1 field $2 is $(field "$1" "$2"), not $3"
    return 1
}
nodes_on() { pgrep -f "^$NODEOS --data-dir $1 " | wc -l; }

"$SK" daemon -c "$C" >>"$W/daemon.log" 2>&1 &
DPID=$!
started() { [ -S "$W/control.sock" ] && "$SK" status -c "$C" >/dev/null 2>&1; }
check "the daemon starts" bash -c "for i in \$(seq 100); do '$SK' status -c '$C' >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
check "worker 1 runs (a new slot starts from genesis)" wait_for 1 running
check "worker 2 runs" wait_for 2 running
check "the archival node runs" wait_for archive running
check "worker 1 syncs from the producer" wait_sync 18891 60
check "worker 2 syncs from the producer" wait_sync 18892 60
check "the archival node syncs from the producer" wait_sync 18890 60

# The first cycle is due startup_grace after the start (the repository is empty).
check "the first snapshot cycle publishes a snapshot" bash -c \
    "for i in \$(seq 600); do [ -n \"\$(ls '$W/repo/snapshots' 2>/dev/null)\" ] && exit 0; sleep 0.1; done; exit 1"
check "the archival node runs again after it" wait_for archive running
check "the archival node was stopped cleanly for it" grep -q 'nodeos successfully exiting' "$A/nodeos.log"
t0=$(now)
run 0 "snapshot -c asks the daemon for a cycle (through the control socket)" "$SK" snapshot -c "$C"
ID=$(cat "$W/out")
note "cycle: $(grep -Eo 'archival node down .*' "$W/err" | head -1)"
note "time: snapshot -c returned after $(since "$t0") s"
check "it prints the snapshot id" test -f "$W/repo/snapshots/$ID"
check "the archival node runs again" wait_for archive running
check "and is back in sync" wait_sync 18890 60
run 0 "the snapshot verifies" "$SK" verify "$ID" --repo "$W/repo"
run 0 "list shows it with the chain id" "$SK" list --repo "$W/repo"
check "of the producer's chain" grep -q "${CHAIN_ID:0:8}" "$W/out"
"$SK" list --repo "$W/repo" | sed 's/^/#   /'

# A worker killed with SIGKILL: the daemon finds it dirty, restores it, starts it, it catches up.
p2=$(field 2 4)
sleep 2 # let the snapshot fall a few blocks behind
t0=$(now)
kill -9 "$p2"
check "the killed worker is restored" wait_field 2 8 1 120
t_restored=$(since "$t0")
check "and runs again" wait_for 2 running 120
t_running=$(since "$t0")
check "on a new pid" test "$(field 2 4)" != "$p2"
check "and is back in sync with the producer" wait_sync 18892 120
t_sync=$(since "$t0")
note "time: kill -9 to restored $t_restored s, to running $t_running s, to in sync $t_sync s"
read -r hn hw hp <<<"$(same_block 18892)"
note "worker 2 head #$hn id $hw; the producer's block #$hn: $hp"
check "the same head block id as the producer's at that height" test -n "$hw" -a "$hw" = "$hp"
check "the daemon named the dirty flag" grep -Eq "slot 2: dirty" "$W/daemon.log"
check "the dirty state went to quarantine" test -n "$(ls "$W/2/.slotkeeper/quarantine" 2>/dev/null)"
check "one nodeos on slot 2" test "$(nodes_on "$W/2")" = 1

# A restore never touches a running nodeos.
p1=$(field 1 4)
ino() { stat -c %i "$W/1/state/shared_memory.bin" "$W/1/blocks/blocks.log" | tr '\n' ' '; }
before=$(ino)
run 5 "a direct restore into running worker 1 is refused (exit 5)" \
    "$SK" restore --snapshot latest --data-dir "$W/1" --repo "$W/repo"
one_line_error "restore into a running worker"
check "worker 1's files are the same files" test "$(ino)" = "$before"
check "no restore marker, no quarantine in worker 1" bash -c "test ! -e '$W/1/.slotkeeper/restoring' && test -z \"\$(ls '$W/1/.slotkeeper/quarantine' 2>/dev/null)\""
check "worker 1's nodeos runs on (same pid)" test "$(field 1 4)" = "$p1" -a -d "/proc/$p1"
check "and stays in sync" wait_sync 18891 30

# A stopped worker whose blocks.log is cut: restored before its start.
run 0 "stop --slot 1 stops its nodeos cleanly" "$SK" stop --slot 1 -c "$C"
check "its nodeos said so" bash -c "tail -1 '$W/1/nodeos.log' | grep -q 'nodeos successfully exiting'"
run 0 "check: clean" "$SK" check "$W/1"
truncate -s -100 "$W/1/blocks/blocks.log"
run 13 "check: corrupt" "$SK" check "$W/1"
t0=$(now)
run 0 "start --slot 1" "$SK" start --slot 1 -c "$C"
check "the cut blocks.log was restored before the start" wait_field 1 8 1 60
check "worker 1 runs" wait_for 1 running 60
check "and is back in sync" wait_sync 18891 120
note "time: start of a corrupt slot to in sync: $(since "$t0") s"

# SIGTERM: every node stops cleanly.
t0=$(now)
kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
note "time: daemon SIGTERM to exit (three nodeos stopped): $(since "$t0") s"
check "the daemon exits 0 on SIGTERM" test "$rc" = 0
for d in "$A" "$W/1" "$W/2"; do
    run 0 "after the daemon's stop, $(basename "$d") is clean" "$SK" check "$d"
    check "$(basename "$d"): nodeos said 'nodeos successfully exiting'" bash -c "grep 'nodeos successfully exiting' '$d/nodeos.log' | tail -1 | grep -q ."
done
check "no nodeos left on the daemon's data-dirs" test "$(pgrep -fc "^$NODEOS --data-dir $W/[a12]")" = 0

kill -TERM "$PPID_"
wait "$PPID_"
check "the producer exits 0 on SIGTERM" test $? = 0
echo "1..$T_N"
