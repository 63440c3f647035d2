#!/usr/bin/env bash
# TAP tests of fakenode, the nodeos stand-in: data-dir layout and headers, dirty flag and fcntl lock, get_info,
# signals, crash and damage exit codes, catch-up, and byte-identical chains.  Needs FAKENODE (path to the binary);
# works in a temporary folder under ${TMPDIR:-/var/tmp}, removed when every check passed and kept otherwise.
# Uses bash's /dev/tcp for HTTP; no python, no curl.
set -u
FAKENODE=${FAKENODE:?set FAKENODE to the fakenode binary}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/fakenode-test.XXXXXX")
T_N=0
T_FAILED=0
PIDS=()
PORT=$((20000 + RANDOM % 30000))
IV=20 # block interval in ms for the tests
START=$(date +%s%N)

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    if [ "$T_FAILED" = 0 ]; then rm -rf "$W"; else echo "# kept $W" >&2; fi
}
trap cleanup EXIT

ok() {
    T_N=$((T_N + 1))
    echo "ok $T_N - fakenode: $*"
}

not_ok() {
    T_N=$((T_N + 1))
    T_FAILED=$((T_FAILED + 1))
    echo "not ok $T_N - fakenode: $*"
}

# check DESC CMD...: passes when CMD succeeds
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# eq DESC GOT WANT
eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}

# has FILE REGEX DESC: FILE (a log) matches the extended REGEX
has() {
    if grep -Eq -- "$2" "$1"; then ok "$3"; else not_ok "$3 (log: $(tail -c 600 "$1" | tr '\n' '|'))"; fi
}

next_port() {
    PORT=$((PORT + 1))
    echo $PORT
}

u8() { od -An -tu1 -j"$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j"$2" -N4 "$1" | tr -d ' '; }
u64() { od -An -tu8 -j"$2" -N8 "$1" | tr -d ' '; }
hexat() { od -An -tx1 -j"$2" -N"$3" "$1" | tr -d ' \n'; }
fsize() { stat -c %s "$1"; }
dirty() { u8 "$1/state/shared_memory.bin" 8; }

# get PORT PATH: the raw HTTP response (empty if nothing listens)
get() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
        timeout 5 cat <&3
    ) 2>/dev/null
}
status_of() { head -n1 | awk '{print $2}'; }
head_num() { get "$1" /v1/chain/get_info | grep -o '"head_block_num":[0-9]*' | cut -d: -f2; }

# start VAR DIR PORT ARGS...: run fakenode in the background, its pid in VAR, its output in DIR.node.log
start() {
    local var=$1 dir=$2 port=$3
    shift 3
    "$FAKENODE" --data-dir "$dir" --http-server-address "127.0.0.1:$port" --block-interval-ms $IV \
        --chain-state-db-size-mb 16 "$@" >"$dir.node.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "$var" '%s' "$pid"
}

# run DIR ARGS...: run fakenode in the foreground (no HTTP), output in $W/last.log; prints the exit code
run() {
    local dir=$1
    shift
    timeout 20 "$FAKENODE" --data-dir "$dir" --http-server-address "" --block-interval-ms $IV \
        --chain-state-db-size-mb 16 "$@" >"$W/last.log" 2>&1
    echo $?
}
LAST=$W/last.log

# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
    local limit=$(($1 * 20)) i=0
    shift
    while ! "$@"; do
        i=$((i + 1))
        [ $i -ge $limit ] && return 1
        sleep 0.05
    done
}

serving() { [ "$(get "$1" /v1/chain/get_info | status_of)" = 200 ]; }
answers() { [ -n "$(get "$1" /v1/chain/get_info)" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# stop PID [SIGNAL]: send SIGNAL (default TERM), wait for the process; its exit status in RC
stop() {
    kill -"${2:-TERM}" "$1" 2>/dev/null
    {
        wait_for 15 gone "$1" || kill -9 "$1"
        wait "$1"
        RC=$?
    } 2>/dev/null # also silences bash's "Killed" job notice
}

# log_consistent DIR: index size is 8 * blocks, the last index entry equals the log's last 8 bytes, and the last
# entry's bytes 14..17 hold the previous block number
log_consistent() {
    local log=$1/blocks/blocks.log idx=$1/blocks/blocks.index
    local n=$(($(fsize "$idx") / 8)) last
    last=$(u64 "$idx" $(((n - 1) * 8)))
    [ "$last" = "$(u64 "$log" $(($(fsize "$log") - 8)))" ] || return 1
    [ "$(od -An -tx1 -j$((last + 14)) -N4 "$log" | tr -d ' \n')" = "$(printf '%08x' $((n - 1)))" ]
}

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.000; }
genesis() { printf '{\n  "initial_timestamp": "%s",\n  "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"\n}\n' "$(iso "$1")"; }

# ---------------------------------------------------------------------------------------------------------------
# fresh start: layout, sparse state file with the chainbase header, block log preamble

A=$W/a
PA=$(next_port)
start PID_A "$A" "$PA"
check "fresh start serves get_info" wait_for 10 serving "$PA"
SHM=$A/state/shared_memory.bin
check "fresh start creates blocks.log, blocks.index, state and genesis.json" \
    test -f "$A/blocks/blocks.log" -a -f "$A/blocks/blocks.index" -a -f "$SHM" -a -f "$A/genesis.json" -a -f "$A/config.ini"
eq "state file is chain-state-db-size-mb MiB" "$(fsize "$SHM")" $((16 << 20))
check "state file is sparse" test $(($(stat -c %b "$SHM") * $(stat -c %B "$SHM"))) -lt $((4 << 20))
eq "header id EOSIODB3" "$(head -c 8 "$SHM")" EOSIODB3
eq "header boost version at 12" "$(u32 "$SHM" 12)" 108300
eq "header compiler string at 528" "$(dd if="$SHM" bs=1 skip=528 count=32 2>/dev/null | tr -d '\0')" fakenode-gcc-12.2.0
eq "header debug/os/arch are 0" "$(u8 "$SHM" 9)$(u8 "$SHM" 10)$(u8 "$SHM" 11)" 000
eq "block log version 3, first block 1" "$(u32 "$A/blocks/blocks.log" 0) $(u32 "$A/blocks/blocks.log" 4)" "3 1"
eq "block log totem after the genesis state" "$(hexat "$A/blocks/blocks.log" 118 8)" ffffffffffffffff
eq "first block entry starts after the preamble" "$(u64 "$A/blocks/blocks.index" 0)" 126

# while running: dirty flag, fcntl lock, no fork_db.dat
eq "dirty flag is 1 while running" "$(dirty "$A")" 1
eq "fcntl lock on shared_memory.bin is held by fakenode" "$("$FAKENODE" --probe-lock "$SHM")" "$PID_A"
check "no fork_db.dat while running" test ! -e "$A/blocks/reversible/fork_db.dat"

# get_info
R=$(get "$PA" /v1/chain/get_info)
eq "get_info answers 200" "$(status_of <<<"$R")" 200
check "get_info has a 64-digit chain_id" grep -Eq '"chain_id":"[0-9a-f]{64}"' <<<"$R"
# as in nodeos: the chain id is the SHA-256 of the packed genesis state in the log's preamble (bytes 8..117)
eq "get_info chain_id is the SHA-256 of the log's genesis state" \
    "$(grep -Eo '"chain_id":"[0-9a-f]{64}"' <<<"$R" | cut -d'"' -f4)" \
    "$(tail -c +9 "$A/blocks/blocks.log" | head -c 110 | sha256sum | cut -d' ' -f1)"
check "get_info has server_version_string v5.0.3-fakenode" grep -q '"server_version_string":"v5.0.3-fakenode"' <<<"$R"
check "get_info has last_irreversible_block_num and head_block_time" \
    grep -Eq '"last_irreversible_block_num":[0-9]+.*"head_block_time":"[0-9]{4}-' <<<"$R"
H1=$(head_num "$PA")
sleep 0.3
H2=$(head_num "$PA")
check "head block advances ($H1 -> $H2)" test "${H2:-0}" -gt "${H1:-0}"
eq "other paths answer 404" "$(get "$PA" /v1/chain/get_block | status_of)" 404

# a second node on the same data-dir: the dirty check comes before the lock, as in nodeos
eq "second fakenode on a running data-dir exits 2" "$(run "$A")" 2
has "$LAST" "error .* main.cpp:[0-9]+ +main +\] database dirty flag set \(likely due to unclean shutdown\): replay required" \
    "second fakenode logs nodeos's dirty flag message"
check "first node keeps running and keeps the lock" \
    test "$(kill -0 "$PID_A" && "$FAKENODE" --probe-lock "$SHM")" = "$PID_A"

# lock: with the dirty byte cleared behind its back, a second node passes the dirty check and fails on the lock
printf '\0' | dd of="$SHM" bs=1 seek=8 conv=notrunc 2>/dev/null
eq "second fakenode on a locked (clean-looking) state exits 254" "$(run "$A")" 254
has "$LAST" "Could not gain write access to the shared memory file" "lock failure message"
printf '\1' | dd of="$SHM" bs=1 seek=8 conv=notrunc 2>/dev/null

# SIGHUP keeps it running
echo '{}' >"$A/logging.json"
kill -HUP "$PID_A"
sleep 0.3
check "SIGHUP keeps fakenode running" kill -0 "$PID_A"
has "$A.node.log" "Received HUP\.  Reloading logging configuration from $A/logging\.json\." "SIGHUP logs the reload message"

# SIGTERM: clean shutdown
stop "$PID_A"
eq "SIGTERM exits 0" "$RC" 0
eq "dirty flag is 0 after SIGTERM" "$(dirty "$A")" 0
check "fork_db.dat written on clean exit" test -f "$A/blocks/reversible/fork_db.dat"
eq "fork_db.dat magic 0x30510FDB, version 1" "$(hexat "$A/blocks/reversible/fork_db.dat" 0 8)" db0f513001000000
eq "lock released after exit" "$("$FAKENODE" --probe-lock "$SHM")" unlocked
check "block log and index agree after a clean exit" log_consistent "$A"
has "$A.node.log" "nodeos successfully exiting" "clean exit logs 'nodeos successfully exiting'"

# keep a clean copy for the damage tests
cp -a --sparse=always "$A" "$W/clean"
HEAD_STOPPED=$(($(fsize "$A/blocks/blocks.index") / 8))

# restart: fork_db.dat is read and deleted, the chain continues; then SIGKILL
start PID_A "$A" "$PA"
check "restart after a clean exit serves get_info" wait_for 10 serving "$PA"
check "restart continues the chain (head >= $HEAD_STOPPED)" test "$(head_num "$PA")" -ge "$HEAD_STOPPED"
check "fork_db.dat deleted at start" test ! -e "$A/blocks/reversible/fork_db.dat"
stop "$PID_A" KILL
eq "SIGKILL" "$RC" 137
eq "dirty flag stays 1 after SIGKILL" "$(dirty "$A")" 1
check "fork_db.dat absent after SIGKILL" test ! -e "$A/blocks/reversible/fork_db.dat"
eq "start after SIGKILL exits 2" "$(run "$A")" 2
has "$LAST" "database dirty flag set \(likely due to unclean shutdown\): replay required" "start after SIGKILL logs the dirty message"
eq "a refused start leaves the dirty flag set" "$(dirty "$A")" 1
eq "--replay-blockchain recovers (runs to --stop-at-block, exits 0)" \
    "$(run "$A" --replay-blockchain --stop-at-block $((HEAD_STOPPED + 20)))" 0
has "$LAST" "replay from 1 to [0-9]+ blocks" "replay logs the replayed range"
eq "dirty flag is 0 after the replayed node exits" "$(dirty "$A")" 0

# --crash-after-blocks: database exhausted
D=$W/crash
eq "--crash-after-blocks exits 1" "$(run "$D" --crash-after-blocks 5)" 1
has "$LAST" "database memory exhausted: increase chain-state-db-size-mb" "exhaustion message"
eq "dirty flag stays 1 after exhaustion" "$(dirty "$D")" 1
check "fork_db.dat absent after exhaustion" test ! -e "$D/blocks/reversible/fork_db.dat"

# damage, each on a fresh copy of the clean data-dir
fresh() {
    rm -rf "$W/d"
    cp -a --sparse=always "$W/clean" "$W/d"
    echo "$W/d"
}
D=$(fresh)
printf 'X' | dd of="$D/state/shared_memory.bin" bs=1 seek=540 conv=notrunc 2>/dev/null
eq "environment mismatch (compiler string) exits 254" "$(run "$D")" 254
has "$LAST" 'CHAINBASE: "state" database was created with a chainbase from a different environment' "environment dump"
has "$LAST" "Database incompatible; All environment parameters must match" "environment error message"
check "environment failure leaves dirty 0 and fork_db.dat in place" \
    test "$(dirty "$D")" = 0 -a -f "$D/blocks/reversible/fork_db.dat"

D=$(fresh)
truncate -s -5 "$D/blocks/blocks.log"
eq "truncated blocks.log tail exits 254" "$(run "$D")" 254
has "$LAST" "Invalid block position|does not match the last block postion" "truncated log message"
check "block log failure clears the dirty flag again and keeps fork_db.dat" \
    test "$(dirty "$D")" = 0 -a -f "$D/blocks/reversible/fork_db.dat"

D=$(fresh)
truncate -s -8 "$D/blocks/blocks.index"
eq "index missing its last entry exits 254" "$(run "$D")" 254
has "$LAST" "The last block position from .*blocks.log is at [0-9]+ which does not match the last block postion [0-9]+ from .*blocks.index" \
    "index mismatch message"

D=$(fresh)
: >"$D/blocks/blocks.index"
eq "empty index with a non-empty log exits 254" "$(run "$D")" 254
has "$LAST" "blocks.index file is empty, please use leap-util to fix the problem" "empty index message"

D=$(fresh)
printf '\x07' | dd of="$D/blocks/blocks.log" bs=1 seek=0 conv=notrunc 2>/dev/null
eq "unsupported block log version exits 254" "$(run "$D")" 254
has "$LAST" "Unsupported version of block log. Block log version is 7" "version message"

D=$(fresh)
printf '\0' | dd of="$D/blocks/blocks.log" bs=1 seek=120 conv=notrunc 2>/dev/null
eq "damaged totem exits 254" "$(run "$D")" 254
has "$LAST" "Expected separator between block log header and blocks was not found" "totem message"

D=$(fresh)
rm "$D/blocks/reversible/fork_db.dat"
eq "missing fork_db.dat with existing state exits 254" "$(run "$D")" 254
has "$LAST" "No existing fork database despite existing chain state. Replay required." "missing fork database message"

D=$(fresh)
truncate -s +1000 "$D/state/shared_memory.bin"
eq "state file size not a multiple of 1 MiB exits 254" "$(run "$D")" 254
has "$LAST" "Database must be mulitple of 1048576 bytes" "size message"

D=$(fresh)
printf '2' | dd of="$D/state/shared_memory.bin" bs=1 seek=7 conv=notrunc 2>/dev/null
eq "wrong database id exits 254" "$(run "$D")" 254
has "$LAST" '"state" database format not compatible with this version of chainbase.' "id message"

# size: grows, never shrinks
D=$(fresh)
eq "larger chain-state-db-size-mb: starts" "$(run "$D" --chain-state-db-size-mb 32 --stop-at-block 1)" 0
eq "state file grew to 32 MiB" "$(fsize "$D/state/shared_memory.bin")" $((32 << 20))
eq "smaller chain-state-db-size-mb: starts" "$(run "$D" --chain-state-db-size-mb 8 --stop-at-block 1)" 0
eq "state file is not shrunk" "$(fsize "$D/state/shared_memory.bin")" $((32 << 20))
has "$LAST" "This database will not be shrunk" "no-shrink message"

# forced startup failures
for kind_rc in dirty:2 blocklog:254 forkdb:254 environment:254 lock:254 initialize:255 exhausted:1; do
    kind=${kind_rc%:*}
    D=$(fresh)
    eq "--fail-at-startup $kind exits ${kind_rc#*:}" "$(run "$D" --fail-at-startup "$kind")" "${kind_rc#*:}"
done
eq "--fail-at-startup exhausted leaves the dirty flag set" "$(dirty "$D")" 1
eq "an unknown option exits 255" "$(run "$W/x" --no-such-option 1)" 255
has "$LAST" "unrecognised option '--no-such-option'" "unknown option message"
check "an unknown option touches nothing" test ! -e "$W/x"

# slow clean shutdown: the dirty flag is cleared only after the "Writing" lines
D=$(fresh)
start PID_D "$D" "$(next_port)" --shutdown-delay-ms 1000
check "slow node starts" wait_for 10 test -f "$D/state/shared_memory.bin" -a ! -e "$D/blocks/reversible/fork_db.dat"
sleep 0.2
kill -TERM "$PID_D"
sleep 0.4
check "during a slow shutdown fork_db.dat is written and the dirty flag is still 1" \
    test -f "$D/blocks/reversible/fork_db.dat" -a "$(dirty "$D")" = 1
stop "$PID_D"
eq "slow shutdown exits 0" "$RC" 0
has "$D.node.log" 'CHAINBASE: Writing "state" database file, 50% complete\.\.\.' "slow shutdown progress lines"
eq "dirty flag is 0 after the slow shutdown" "$(dirty "$D")" 0

# catch-up and determinism: a node started behind catches up; two nodes with the same genesis.json stopped at the
# same head (one of them restarted halfway) have identical blocks.log, blocks.index and state file
NOW=$(date +%s)
B=$W/b
C=$W/c
mkdir -p "$B" "$C"
genesis $((NOW - 20)) >"$B/genesis.json"
cp "$B/genesis.json" "$C/genesis.json"
TARGET=$((1 + 20000 / IV)) # about where the chain is now
S1=$((TARGET / 2))
S2=$((TARGET + 1000 / IV)) # one second ahead
eq "node B catches up to --stop-at-block $S1 and exits 0" "$(run "$B" --stop-at-block $S1)" 0
eq "node B restarted runs to $S2 and exits 0" "$(run "$B" --stop-at-block $S2)" 0
has "$LAST" "catching up: head block #$S1" "node B reports catching up"
eq "node C catches up to $S2 from scratch" "$(run "$C" --stop-at-block $S2)" 0
eq "node C's head is $S2" "$(($(fsize "$C/blocks/blocks.index") / 8))" $S2
check "blocks.log identical" cmp -s "$B/blocks/blocks.log" "$C/blocks/blocks.log"
check "blocks.index identical" cmp -s "$B/blocks/blocks.index" "$C/blocks/blocks.index"
check "shared_memory.bin identical" cmp -s "$B/state/shared_memory.bin" "$C/state/shared_memory.bin"
check "fork_db.dat identical" cmp -s "$B/blocks/reversible/fork_db.dat" "$C/blocks/reversible/fork_db.dat"
check "block log and index agree" log_consistent "$C"

# 200 while catching up, with the head where it is (Leap 4.0.6 answers get_info while it syncs)
E=$W/e
mkdir -p "$E"
genesis $((NOW - 3600)) >"$E/genesis.json"
PE=$(next_port)
start PID_E "$E" "$PE" --catch-up-rate 100
check "a node far behind answers get_info" wait_for 10 answers "$PE"
R=$(get "$PE" /v1/chain/get_info)
eq "get_info answers 200 while catching up" "$(status_of <<<"$R")" 200
HE=$(grep -o '"head_block_num":[0-9]*' <<<"$R" | cut -d: -f2)
check "with the head it has, far behind the chain's ($HE)" test -n "$HE" -a "${HE:-0}" -lt $((3600000 / IV / 2))
stop "$PID_E" INT
eq "SIGINT while catching up exits 0" "$RC" 0

# a port already in use: the node closes its database cleanly and exits 254
F=$W/f
start PID_F "$F" "$PA"
check "node on a free port starts" wait_for 10 serving "$PA"
eq "a second node on the same port exits 254" "$(run "$W/f2" --http-server-address "127.0.0.1:$PA")" 254
has "$LAST" "http service failed to start for 127.0.0.1:$PA" "port in use message"
eq "... with its dirty flag cleared" "$(dirty "$W/f2")" 0
stop "$PID_F" PIPE
eq "SIGPIPE is a clean shutdown" "$RC" 0

# Spring: CHAINB01 and state/chain_head.dat
G=$W/g
eq "spring: runs to --stop-at-block and exits 0" "$(run "$G" --flavour spring --stop-at-block 10)" 0
eq "spring: header id CHAINB01" "$(head -c 8 "$G/state/shared_memory.bin")" CHAINB01
eq "spring: chain_head.dat magic and version" "$(hexat "$G/state/chain_head.dat" 0 16)" f1f2f3f4f4f3f2f10100000000000000
rm "$G/state/chain_head.dat"
eq "spring: missing chain_head.dat exits 254" "$(run "$G" --flavour spring --stop-at-block 20)" 254
has "$LAST" "No existing chain_head.dat file" "spring: missing chain_head.dat message"

# EOSIO 2.x: EOSIODB2, state/fork_db.dat, reversible database, index rebuilt instead of refused
H=$W/h
eq "eosio2: runs and exits 0" "$(run "$H" --flavour eosio2 --stop-at-block 10)" 0
check "eosio2: state/fork_db.dat and blocks/reversible/shared_memory.bin" \
    test -f "$H/state/fork_db.dat" -a -f "$H/blocks/reversible/shared_memory.bin" -a "$(head -c 8 "$H/state/shared_memory.bin")" = EOSIODB2
truncate -s -8 "$H/blocks/blocks.index"
eq "eosio2: a short index is rebuilt" "$(run "$H" --flavour eosio2 --stop-at-block 20)" 0
has "$LAST" "Reconstructing index" "eosio2: rebuild message"
check "eosio2: block log and index agree" log_consistent "$H"
eq "eosio2: start after SIGKILL-like dirty state exits 2" \
    "$(printf '\1' | dd of="$H/state/shared_memory.bin" bs=1 seek=8 conv=notrunc 2>/dev/null; run "$H" --flavour eosio2)" 2
has "$LAST" "Database dirty flag set \(likely due to unclean shutdown\): replay required" "eosio2: capital-D dirty message"

# Leap 4.0.6 (what tests/nodeos/ compares with a real one): EOSIODB2, blocks/reversible/fork_db.dat,
# its warnings and errors without appbase's note, the version lines only after initialization
L4=$W/l4
eq "leap4: runs and exits 0" "$(run "$L4" --flavour leap4 --stop-at-block 10)" 0
check "leap4: EOSIODB2 and blocks/reversible/fork_db.dat, no reversible database" \
    test "$(head -c 8 "$L4/state/shared_memory.bin")" = EOSIODB2 -a -f "$L4/blocks/reversible/fork_db.dat" -a ! -e "$L4/blocks/reversible/shared_memory.bin"
has "$LAST" "main.cpp:140 .*nodeos version v4.0.6 v4.0.6-fakenode" "leap4: the version line"
eq "leap4: a dirty state exits 2" \
    "$(printf '\1' | dd of="$L4/state/shared_memory.bin" bs=1 seek=8 conv=notrunc 2>/dev/null; run "$L4" --flavour leap4)" 2
has "$LAST" "chain_plugin.cpp:1077 .*Database dirty flag set" "leap4: chain_plugin's warning at line 1077"
has "$LAST" "main.cpp:157 .*database dirty flag set \(likely due to unclean shutdown\): replay required" "leap4: main's error"
check "leap4: no appbase note, no version line before the failure" bash -c "! grep -Eq 'appbase: exception|nodeos version' '$LAST'"

# Dawn 3.0: shared_mem/, no header, no preamble, errors exit 0
I=$W/i
eq "dawn3: --chain-state-db-size-mb is not a Dawn option (exit 255)" "$(run "$I" --flavour dawn3)" 255
eq "dawn3: runs and exits 0" "$(timeout 20 "$FAKENODE" --flavour dawn3 --data-dir "$I" --http-server-address "" --block-interval-ms $IV --shared-memory-size-mb 16 --stop-at-block 10 >"$LAST" 2>&1; echo $?)" 0
check "dawn3: shared_mem/shared_memory.bin and .meta" test -f "$I/shared_mem/shared_memory.bin" -a -f "$I/shared_mem/shared_memory.meta"
eq "dawn3: block log has no preamble (first entry at 0)" "$(u64 "$I/blocks/blocks.index" 0)" 0
truncate -s -5 "$I/blocks/blocks.log"
eq "dawn3: a damaged log still exits 0" "$(timeout 20 "$FAKENODE" --flavour dawn3 --data-dir "$I" --http-server-address "" --shared-memory-size-mb 16 >"$LAST" 2>&1; echo $?)" 0
has "$LAST" "basic_ios::clear: iostream error" "dawn3: iostream error message"

echo "1..$T_N"
echo "# $(((($(date +%s%N) - START) / 1000000)))ms" >&2
[ "$T_FAILED" = 0 ]
