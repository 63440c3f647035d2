#!/usr/bin/env bash
# Snapshot and restore round trips: contents, holes, mode/owner/mtime, dedup,
# incremental snapshots, the slot's other files, quarantine, real nodeos fixtures.
. "$(dirname "$0")/lib.sh"

R=$W/repo
mkdd "$W/src" --blocks-size 6M --state-size 128M --state-data 3M
chown 1234:5678 "$W/src/blocks/blocks.index"
chmod 600 "$W/src/blocks/blocks.index"
ln -s blocks.log "$W/src/blocks/latest.log"
touch -d '2020-01-02 03:04:05.123456789' "$W/src/blocks/reversible/fork_db.dat"

run 0 "repo init" "$SK" repo init "$R" --chunk-size 256KiB
check "repo has config, chunks, snapshots" test -f "$R/config" -a -d "$R/chunks/ff" -a -d "$R/snapshots"
run 0 "first snapshot" "$SK" snapshot --data-dir "$W/src" --repo "$R"
ID1=$(tail -1 "$W/out")
check "snapshot prints its id" grep -Eq '^[0-9]{8}T[0-9]{6}Z-[0-9]{6}-[0-9a-f]{4}$' <<<"$ID1"
check "no progress line when stderr is not a terminal" bash -c "! grep -q \$'\\r' '$W/err'"
check "manifest published" test -f "$R/snapshots/$ID1"
check "tmp/ is empty after a snapshot" bash -c "[ -z \"\$(ls -A '$R/tmp')\" ]"

run 0 "restore into a missing folder" "$SK" restore --snapshot "$ID1" --data-dir "$W/new" --repo "$R"
check "restored blocks/ and state/ are identical (content, mode, owner, mtime, links)" same_tree "$W/src" "$W/new"
check "restored shared_memory.bin keeps its holes" \
    test "$(blocks_of "$W/new/state/shared_memory.bin")" -le "$(blocks_of "$W/src/state/shared_memory.bin")"
check "restored shared_memory.bin is sparse (allocated < 1/10 of its size)" \
    test $(($(blocks_of "$W/new/state/shared_memory.bin") * 512 * 10)) -lt 134217728
check "no restore marker left" test ! -e "$W/new/.slotkeeper/restoring"
check "no staging left" test ! -e "$W/new/.slotkeeper/staging"

# Dedup: the same data again stores nothing new.
run 0 "second snapshot of unchanged data" "$SK" snapshot --data-dir "$W/src" --repo "$R"
ID2=$(tail -1 "$W/out")
run 0 "list --json" "$SK" list --repo "$R" --json
check "list --json shows two good snapshots" test "$(grep -c '"status": "good"' "$W/out")" = 2
check "second snapshot wrote 0 new bytes" grep -q '"new_bytes": 0,' "$W/out"
nchunks=$(find "$R/chunks" -type f | wc -l)

# Incremental: 1% appended, 1% of the state's pages rewritten.
"$MKDATADIR" mutate "$W/src" >/dev/null
run 0 "incremental snapshot" "$SK" snapshot --data-dir "$W/src" --repo "$R"
ID3=$(tail -1 "$W/out")
nchunks3=$(find "$R/chunks" -type f | wc -l)
check "incremental stored only some new chunks ($nchunks -> $nchunks3)" \
    test "$nchunks3" -gt "$nchunks" -a "$nchunks3" -lt $((nchunks * 2))
run 0 "list (table)" "$SK" list --repo "$R"
check "list shows ids, sizes and status" bash -c "grep -q '$ID3' '$W/out' && grep -q 'good' '$W/out' && grep -q MiB '$W/out'"

# Restore into a slot that has its own config, logs and an older state.
mkdir -p "$W/slot/logs"
echo "p2p-peer-address = mine:9876" >"$W/slot/config.ini"
echo "log" >"$W/slot/logs/nodeos.log"
cp -a "$W/new/blocks" "$W/new/state" "$W/slot/"
cp "$W/slot/blocks/blocks.index" "$W/old.index"
run 0 "restore latest into a used slot" "$SK" restore --data-dir "$W/slot" --repo "$R"
check "restore latest picked the newest snapshot" grep -qx "$ID3" "$W/out"
check "slot now matches the mutated source" same_tree "$W/src" "$W/slot"
check "config.ini untouched" grep -qx "p2p-peer-address = mine:9876" "$W/slot/config.ini"
check "logs untouched" grep -qx log "$W/slot/logs/nodeos.log"
q=$(ls "$W/slot/.slotkeeper/quarantine")
# (A delta restore: the quarantine keeps what it overwrote, listed in its index; t_delta puts it back.)
check "what the restore overwrote is quarantined, with an index" \
    grep -q '^region blocks/blocks.log ' "$W/slot/.slotkeeper/quarantine/$q/index"
check "the small blocks.index it rewrote is kept whole and as it was" \
    cmp "$W/old.index" "$W/slot/.slotkeeper/quarantine/$q/saved/blocks/blocks.index"

# Quarantine policy: keep 1 by default, delete on request.
sleep 1.1
run 0 "restore again (keeps one quarantined copy)" "$SK" restore --snapshot "$ID1" --data-dir "$W/slot" --repo "$R"
check "still exactly one quarantined copy" test "$(ls "$W/slot/.slotkeeper/quarantine" | wc -l)" = 1
check "the slot matches snapshot 1" same_tree "$W/new" "$W/slot"
run 0 "restore --quarantine=delete" "$SK" restore --snapshot "$ID3" --data-dir "$W/slot" --repo "$R" --quarantine=delete
check "no quarantined copy left with --quarantine=delete" test -z "$(ls "$W/slot/.slotkeeper/quarantine")"
sleep 1.1
run 0 "restore --keep-quarantine 2" "$SK" restore --snapshot "$ID1" --data-dir "$W/slot" --repo "$R" --keep-quarantine 2
sleep 1.1
run 0 "restore --keep-quarantine 2 again" "$SK" restore --snapshot "$ID3" --data-dir "$W/slot" --repo "$R" --keep-quarantine 2
check "two quarantined copies kept" test "$(ls "$W/slot/.slotkeeper/quarantine" | wc -l)" = 2

# Real nodeos files, and a Dawn 3.0 layout (shared_mem instead of state).
mkdir -p "$W/fx/blocks" "$W/fx/shared_mem"
cp "$FIXTURES/nodeos-1.8/blocks.log" "$FIXTURES/nodeos-1.8/blocks.index" "$W/fx/blocks/"
truncate -s 8M "$W/fx/shared_mem/shared_memory.bin"
printf 'dawn' | dd of="$W/fx/shared_mem/shared_memory.bin" conv=notrunc status=none
echo meta >"$W/fx/shared_mem/shared_memory.meta"
run 0 "snapshot a Dawn-layout data-dir with real nodeos block files" \
    "$SK" snapshot --data-dir "$W/fx" --repo "$R" --include blocks,shared_mem
IDF=$(tail -1 "$W/out")
run 0 "restore it" "$SK" restore --snapshot "$IDF" --data-dir "$W/fx2" --repo "$R"
check "fixture files restored byte for byte" same_tree "$W/fx" "$W/fx2" blocks shared_mem
check "restore of a Dawn snapshot made no state/ folder" test ! -e "$W/fx2/state"

run 0 "verify --all" "$SK" verify --all --repo "$R"
check "verify says every snapshot is good" test "$(grep -c ' good: ' "$W/out")" = 4
run 0 "verify (default: newest)" "$SK" verify --repo "$R" --json
# Newest is the highest head block (ID3, 1,360 blocks), not the latest clock (IDF, 3 blocks).
check "verify --json names the newest" grep -q "\"id\": \"$ID3\"" "$W/out"
run 0 "verify latest (as restore and export take it)" "$SK" verify latest --repo "$R" --json
check "verify latest names the newest good snapshot" grep -q "\"id\": \"$ID3\"" "$W/out"
run 0 "verify latest and an id" "$SK" verify latest "$IDF" --repo "$R"
check "verify latest and an id checks both" test "$(grep -c ' good: ' "$W/out")" = 2
