#!/usr/bin/env bash
# t_freeze: freeze, restart, then snapshot (issue 13). On an XFS loop image (reflink=1) the
# daemon's archival cycle clones the stopped data-dir's folders, starts the node again at once
# and snapshots the clone: the node is running again before the snapshot is published (the
# order of the daemon's log lines, not timings), the snapshot is byte for byte the data-dir as
# it was frozen, and no frozen folder is left. On ext4 the cycle takes the direct path and
# says why once. `slotkeeper snapshot` freezes too: --after-freeze runs with the data-dir lock
# free, --json says path and stopped_seconds, --no-freeze takes the direct path; a stale
# frozen folder is swept, one in use is not.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

if ! fs_mount xfs 1200 "$W/xfs"; then
    ok "freeze on XFS # SKIP $FS_WHY"
    echo "1..$T_N"
    exit 0
fi
. "$(dirname "$0")/daemon_lib.sh"
A=$W/xfs/archive
genesis "$A"

# The archival node: fakenode started through a wrapper that, on each start, keeps a clone of
# blocks/ and state/ as they are then (at-N for the N-th start): the start right after the
# cycle's freeze keeps what the data-dir held at freeze time.
cat >"$W/node.sh" <<EOF
#!/bin/sh
n=\$(cat "$W/starts" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$W/starts"; echo "start \$n pid \$\$" >>"$W/daemon.log"
mkdir -p "$W/xfs/at-\$n" && cp -a --reflink=always "\$1/blocks" "\$1/state" "$W/xfs/at-\$n/"
exec $FAKENODE --data-dir "\$1" --http-server-address off --chain-state-db-size-mb 64 --catch-up-rate 5000
EOF
chmod +x "$W/node.sh"

# A first run makes the data-dir; then its state gets some 160 MiB of data, so that the
# snapshot (one thread) takes far longer than the clone.
"$FAKENODE" --data-dir "$A" --http-server-address off --chain-state-db-size-mb 256 --stop-at-block 50 \
    >"$W/first.log" 2>&1
check "fakenode made the archival data-dir" test -f "$A/state/shared_memory.bin"
head -c 160M /dev/urandom | dd of="$A/state/shared_memory.bin" bs=1M seek=1 conv=notrunc status=none
run 0 "it is clean" "$SK" check "$A"

write_conf 0 3
sed -i -e "s|^data_dir = $W/archive|data_dir = $A|" -e "s|^command = $FAKENODE --data-dir {data_dir}.*|command = $W/node.sh {data_dir}|" \
    -e "s|^threads = 2|threads = 1|" "$C"
check "the daemon starts" start_daemon
check "the archival node runs" wait_for archive running

run 0 "snapshot -c: a cycle through the daemon" "$SK" snapshot -c "$C"
ID=$(cat "$W/out")
cp "$W/daemon.log" "$W/daemon1.log"
check "a snapshot was published" test -n "$ID" -a -f "$W/repo/snapshots/$ID"
err_has "archival node down [0-9.]*s [(]stop, freeze" "it says the node was down for the stop, freeze and start only"
L=$W/daemon.log # the second daemon (ext4) appends here too
# (the lines of the cycle that published $ID: the daemon's first cycle, due 2 s after its start
# with an empty repository, may come before it on a slow machine)
pub=$(grep -n "archive: published snapshot $ID from the frozen copy" "$W/daemon1.log" | head -1 | cut -d: -f1)
frz=$(head -n "${pub:-0}" "$W/daemon1.log" | grep -n "archive: frozen in" | tail -1 | cut -d: -f1)
back=$(sed -n "${frz:-1},${pub:-1}p" "$W/daemon1.log" | grep -n "archive: node running again after" | head -1 | cut -d: -f1)
[ -n "$back" ] && back=$((back + ${frz:-1} - 1))
check "the log says: frozen, then the node running again, then the snapshot published" \
    test -n "$frz" -a -n "$back" -a -n "$pub" -a "${frz:-0}" -lt "${back:-0}" -a "${back:-0}" -lt "${pub:-0}"
check "the node was started between the freeze and the publication" \
    bash -c "sed -n '${frz:-1},${pub:-1}p' '$W/daemon1.log' | grep -q 'archive: started pid'"
check "the node runs after the cycle" wait_for archive running
N=$(sed -n "${frz:-1},${pub:-1}p" "$W/daemon1.log" | sed -n 's/^start \([0-9]*\) .*/\1/p' | head -1)
AT=$W/xfs/at-${N:-none}
check "the node's start after the freeze kept the frozen data-dir" test -f "$AT/state/shared_memory.bin"
check "no frozen folder is left" bash -c "! ls -d '$A'/.slotkeeper/frozen-* 2>/dev/null"
run 0 "status --json" "$SK" status -c "$C" --json
check "the cycle's path is frozen" grep -q '"path": *"frozen"' "$W/out"
check "the cycle records how long the data-dir was held" grep -Eq '"stopped_ms": *[0-9]+' "$W/out"
run 0 "status" "$SK" status -c "$C"
check "status shows the cycle's path" grep -q " frozen " "$W/out"
"$SK" restore --data-dir "$W/restored" --repo "$W/repo" --snapshot "$ID" >/dev/null 2>"$W/err"
check "the snapshot is byte for byte the data-dir at freeze time" \
    diff -r "$AT/blocks" "$W/restored/blocks"
check "... its state too" cmp "$AT/state/shared_memory.bin" "$W/restored/state/shared_memory.bin"
run 0 "the snapshot verifies" "$SK" verify "$ID" --repo "$W/repo"

# The daemon killed (-9) right after a freeze, while its snapshot reads the frozen copy (or
# just after, the machine decides: either way the same must hold): the node lives on and is
# adopted, never a second one; nothing half-published; the frozen copy left is swept by the
# next cycle, as is an older stale one.
mkdir -p "$A/.slotkeeper/frozen-20000101T000000Z-000000-dead/blocks"
nf=$(grep -c "archive: node running again after" "$L")
"$SK" snapshot -c "$C" >/dev/null 2>&1 &
SNAP=$!
for _ in $(seq 500); do [ "$(grep -c "archive: node running again after" "$L")" -gt "$nf" ] && break; sleep 0.01; done
# (once the new node's pid file is written: a daemon killed before can only leave it be)
np=$(grep "archive: started pid" "$L" | tail -1 | grep -o '[0-9]*$')
for _ in $(seq 500); do [ "$(cat "$W/state/archive.pid" 2>/dev/null | cut -d' ' -f1)" = "$np" ] && break; sleep 0.01; done
kill -9 "$DPID"
wait "$SNAP" 2>/dev/null
# (the wrapper may still be copying before it becomes fakenode)
for _ in $(seq 100); do [ "$(nodes_on "$A")" = 1 ] && break; sleep 0.1; done
check "one node on the data-dir after the kill" nodes_are "$A" 1
check "a new daemon starts (and adopts the node)" start_daemon
check "still one node" nodes_are "$A" 1
run 0 "another cycle" "$SK" snapshot -c "$C"
check "the stale frozen folders were swept" bash -c "! ls -d '$A'/.slotkeeper/frozen-* 2>/dev/null"
check "one node on the data-dir" nodes_are "$A" 1
run 0 "every snapshot verifies (nothing half-published)" "$SK" verify --all --repo "$W/repo"
kill -TERM "$DPID"
for _ in $(seq 200); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
rm -rf "$W"/xfs/at-* "$W/restored"

# The command line: --after-freeze runs while the data-dir's lock is free.
D=$W/xfs/node
"$MKDATADIR" create "$D" --blocks-size 4M --state-size 64M --state-data 8M >/dev/null
mkdir -p "$D/.slotkeeper/frozen-20000101T000000Z-000000-0a1d/state" "$D/.slotkeeper/frozen-20000101T000000Z-000000-0e1d"
flock -s "$D/.slotkeeper/frozen-20000101T000000Z-000000-0e1d" sleep 30 &
HELD=$!
sleep 0.2
run 0 "snapshot --after-freeze --json on XFS" "$SK" snapshot --data-dir "$D" --repo "$W/repo" --json \
    --after-freeze "flock -xn '$D' true && echo lock-free >'$W/hook'"
check "the hook ran with the data-dir's lock free" grep -qx lock-free "$W/hook"
check "--json: path frozen" grep -q '"path":"frozen"' "$W/out"
check "--json: stopped_seconds" grep -Eq '"stopped_seconds":[0-9.e-]+' "$W/out"
err_has "frozen: data-dir free" "it says when the data-dir is free"
check "the stale frozen folder was swept" test ! -e "$D/.slotkeeper/frozen-20000101T000000Z-000000-0a1d"
check "the one in use was not" test -d "$D/.slotkeeper/frozen-20000101T000000Z-000000-0e1d"
kill "$HELD" 2>/dev/null
wait "$HELD" 2>/dev/null
check "its own frozen folder is gone" bash -c "ls '$D/.slotkeeper' | grep -v 0e1d | grep -q frozen && exit 1 || exit 0"
run 0 "snapshot --no-freeze --json" "$SK" snapshot --data-dir "$D" --repo "$W/repo" --json --no-freeze
check "--no-freeze: path direct" grep -q '"path":"direct"' "$W/out"

# ext4 cannot clone: the direct path, said once.
if fs_mount ext4 200 "$W/ext4"; then
    E=$W/ext4/node
    "$MKDATADIR" create "$E" --blocks-size 2M --state-size 16M --state-data 2M >/dev/null
    run 0 "snapshot on ext4 --after-freeze --json" "$SK" snapshot --data-dir "$E" --repo "$W/repo" --json \
        --after-freeze "echo ran >'$W/hook2'"
    check "ext4: path direct" grep -q '"path":"direct"' "$W/out"
    check "ext4: it says why, in one line" test "$(grep -c 'no freeze: .*cannot be cloned' "$W/err")" = 1
    check "ext4: the hook still ran (after the snapshot)" grep -qx ran "$W/hook2"
    EA=$W/ext4/archive
    genesis "$EA"
    write_conf 0 3
    "$SK" repo init "$W/repo2" >/dev/null
    sed -i -e "s|^data_dir = $W/archive|data_dir = $EA|" -e "s|^path = $W/repo|path = $W/repo2|" "$C"
    L0=$(wc -l <"$L")
    check "a daemon with its archival node on ext4" start_daemon
    check "its node runs" wait_for archive running
    run 0 "a cycle on ext4" "$SK" snapshot -c "$C"
    run 0 "and another" "$SK" snapshot -c "$C"
    err_has "stop and snapshot" "the node stayed down for the snapshot (direct)"
    check "the daemon said 'no freeze' once for two cycles" test "$(tail -n +"$L0" "$L" | grep -c 'archive: no freeze: ')" = 1
    run 0 "status --json" "$SK" status -c "$C" --json
    check "the cycles' path is direct" grep -q '"path": *"direct"' "$W/out"
    check "no frozen folder on ext4" bash -c "! ls -d '$EA'/.slotkeeper/frozen-* 2>/dev/null"
else
    not_ok "ext4 loop mount: $FS_WHY"
fi
echo "1..$T_N"
