#!/usr/bin/env bash
# The layouts operators use at scale: a strided block log with retained and archived bundles, a
# pruned block log, state history. Each round-trips through snapshot, restore, export and import
# byte for byte; check says clean for good ones and corrupt, with the reason, for damaged ones;
# mkdatadir, fakenode and the real nodeos (tests/fixtures/leap-4.0.6-layouts) make them.
. "$(dirname "$0")/lib.sh"

FAKENODE=${FAKENODE:-$ROOT/build/fakenode}
R=$W/repo
"$SK" repo init "$R" --chunk-size 64KiB >/dev/null
INC=blocks,state,state-history

# roundtrip NAME DIR FOLDERS...: snapshot, restore, export, import into a second repository,
# restore again; both restores identical to DIR (content, holes aside: mode, owner, mtime, links).
roundtrip() {
    local name=$1 d=$2
    shift 2
    local inc
    inc=$(IFS=,; echo "$*")
    run 0 "$name: snapshot --include $inc" "$SK" snapshot --data-dir "$d" --repo "$R" --include "$inc"
    local id
    id=$(tail -1 "$W/out")
    run 0 "$name: restore" "$SK" restore --snapshot "$id" --data-dir "$W/$name.back" --repo "$R"
    check "$name: the restore is identical" same_tree "$d" "$W/$name.back" "$@"
    run 0 "$name: the restored data-dir checks clean" "$SK" check "$W/$name.back"
    run 0 "$name: export" "$SK" export "$id" -o "$W/$name.tar.zst" --repo "$R"
    [ -d "$W/repo2" ] || "$SK" repo init "$W/repo2" >/dev/null
    run 0 "$name: import into another repository" "$SK" import "$W/$name.tar.zst" --repo "$W/repo2"
    local id2
    id2=$(tail -1 "$W/out")
    run 0 "$name: restore the import" "$SK" restore --snapshot "$id2" --data-dir "$W/$name.imp" --repo "$W/repo2"
    check "$name: the import restores identical" same_tree "$d" "$W/$name.imp" "$@"
}

# corrupt NAME REGEX DIR: check says corrupt (exit 13), one line naming the file and the reason.
corrupt() {
    run 13 "$1: check says corrupt" "$SK" check "$3"
    if head -1 "$W/out" | grep -Eq -- "^$3: corrupt: $2"; then
        ok "$1: the reason names it"
    else
        not_ok "$1: the reason names it (got: $(head -1 "$W/out"))"
    fi
}

# damaged NAME SRC: a copy of SRC to damage, in $W/dmg/NAME.
damaged() {
    mkdir -p "$W/dmg"
    cp -a "$2" "$W/dmg/$1"
    echo "$W/dmg/$1"
}

# ---- mkdatadir: strided, retained, archived, state history ----
D=$W/strided
mkdd "$D" --blocks-size 2M --state-size 32M --state-data 1M --stride 100 --retained 3 --state-history
check "mkdatadir: retained and archived bundles, state history" \
    test -f "$D/blocks/retained/blocks-101-200.index" -a -f "$D/blocks/archive/blocks-1-100.log" \
    -a -f "$D/state-history/trace_history.index"
run 0 "strided: check clean" "$SK" check "$D"
check "strided: check lists the retained bundles and the history" \
    bash -c "grep -q 'retained: 3 bundles in blocks/retained' '$W/out' && grep -q 'history: state-history/trace_history, blocks 2\.\.' '$W/out'"
run 0 "strided: check --deep clean" "$SK" check --deep "$D"
run 0 "strided: check --json" "$SK" check --json "$D"
check "strided: --json has retained and state_history" \
    bash -c "grep -q '\"retained\": {' '$W/out' && grep -q '\"chain_state_history\": {' '$W/out'"
roundtrip strided "$D" blocks state state-history

P=$W/pruned
mkdd "$P" --blocks-size 2M --state-size 32M --state-data 1M --pruned 40
run 0 "pruned: check clean" "$SK" check --deep "$P"
check "pruned: check says which blocks it keeps" grep -Eq "\(pruned\), blocks 1\.\.453 \(453 in the index\), keeps blocks 414\.\.453" "$W/out"
check "pruned: blocks.log has a hole" test "$(blocks_of "$P/blocks/blocks.log")" -lt $(($(stat -c %s "$P/blocks/blocks.log") / 1024))
roundtrip pruned "$P" blocks state
check "pruned: the restore keeps the hole" \
    test "$(blocks_of "$W/pruned.back/blocks/blocks.log")" -le "$(blocks_of "$P/blocks/blocks.log")"

# ---- damage: each one found, named, and no snapshot taken of it ----
X=$(damaged cut-retained "$D")
truncate -s -5 "$X/blocks/retained/blocks-201-300.log"
corrupt "cut retained log" "blocks/retained/blocks-201-300.log: tail cut" "$X"
run 7 "a damaged layout is not snapshotted" "$SK" snapshot --data-dir "$X" --repo "$R" --include "$INC"
X=$(damaged index-retained "$D")
truncate -s -8 "$X/blocks/retained/blocks-201-300.index"
corrupt "retained index disagrees" "blocks/retained/blocks-201-300.index: disagrees with" "$X"
X=$(damaged noindex-retained "$D")
rm "$X/blocks/retained/blocks-101-200.index"
corrupt "missing retained index" "blocks/retained/blocks-101-200.log: no index" "$X"
X=$(damaged gap "$D")
rm "$X/blocks/retained/blocks-201-300."*
corrupt "a gap between bundles" "blocks/retained/blocks-301-400.log: a gap: missing blocks 201..300" "$X"
X=$(damaged gap-main "$D")
rm "$X/blocks/retained/blocks-301-400."*
corrupt "a gap before blocks.log" "blocks/blocks.log: starts at block 401, but the retained bundles end at 300" "$X"
X=$(damaged overlap "$D")
cp "$X/blocks/retained/blocks-201-300.log" "$X/blocks/retained/blocks-201-250.log"
cp "$X/blocks/retained/blocks-201-300.index" "$X/blocks/retained/blocks-201-250.index"
corrupt "a bundle whose name lies" "blocks/retained/blocks-201-250.log: holds blocks 201..300" "$X"
X=$(damaged cut-ship "$D")
truncate -s -3 "$X/state-history/trace_history.log"
corrupt "cut state-history tail" "state-history/trace_history.log: tail cut" "$X"
X=$(damaged index-ship "$D")
truncate -s -8 "$X/state-history/chain_state_history.index"
corrupt "state-history index disagrees" "state-history/chain_state_history.index: disagrees with" "$X"
X=$(damaged magic-ship "$D")
printf 'XXXX' | dd of="$X/state-history/chain_state_history.log" bs=1 conv=notrunc 2>/dev/null
corrupt "not a state-history log" "state-history/chain_state_history.log: corrupt: not a state-history log" "$X"
X=$(damaged link-retained "$D")
ln -s /etc/passwd "$X/blocks/retained/blocks-900-901.log"
corrupt "a symbolic link among the bundles" "blocks/retained/blocks-900-901.log: a symbolic link" "$X"
X=$(damaged cut-pruned "$P")
truncate -s -2 "$X/blocks/blocks.log"
corrupt "a pruned log without its count" "blocks.log \(pruned\)" "$X"
# Only the retained folder's bundles are read: nodeos never reads the archive again.
X=$(damaged archive "$D")
truncate -s -5 "$X/blocks/archive/blocks-1-100.log"
run 0 "a damaged archived bundle is not the node's concern" "$SK" check "$X"
mv "$X/blocks/archive" "$W/elsewhere" && ln -s "$W/elsewhere" "$X/blocks/archive"
run 0 "an archive on another disk (a link, not followed) is not the node's concern either" "$SK" check "$X"
# Paths in config.ini are not trusted: absolute or climbing ones are not read.
X=$(damaged config "$D")
sed -i 's|^blocks-retained-dir = .*|blocks-retained-dir = ../../etc|' "$X/config.ini"
run 0 "a retained folder outside the data-dir is not read" "$SK" check "$X"
check "check says so" grep -q "outside the data-dir: not checked" "$W/out"

# ---- fakenode, configured like nodeos: it splits the log and appends state history ----
F=$W/fake
mkdir -p "$F"
cat >"$F/config.ini" <<'EOF'
blocks-log-stride = 20
max-retained-block-files = 2
blocks-retained-dir = retained
blocks-archive-dir = archive
plugin = eosio::state_history_plugin
trace-history = true
chain-state-history = true
EOF
run 0 "fakenode produces 70 blocks" "$FAKENODE" --data-dir "$F" --http-server-address off --block-interval-ms 20 \
    --chain-state-db-size-mb 16 --stop-at-block 70
check "fakenode split the log: 2 retained, 1 archived" \
    test -f "$F/blocks/retained/blocks-41-60.log" -a -f "$F/blocks/retained/blocks-21-40.index" \
    -a -f "$F/blocks/archive/blocks-1-20.log" -a ! -e "$F/blocks/retained/blocks-1-20.log"
run 0 "fakenode's layout checks clean (deep)" "$SK" check --deep "$F"
check "blocks.log starts after the last bundle" grep -q "blocks 61\.\.70" "$W/out"
check "state history up to the head" grep -q "state-history/chain_state_history, blocks 1\.\.70" "$W/out"
roundtrip fake "$F" blocks state state-history
# The slot's own files (config.ini, genesis.json) are not in a snapshot: the slot has them.
cp "$F/config.ini" "$F/genesis.json" "$W/fake.back/"
run 0 "fakenode continues on the restored data-dir" "$FAKENODE" --data-dir "$W/fake.back" --http-server-address off \
    --block-interval-ms 20 --chain-state-db-size-mb 16 --stop-at-block 90
run 0 "and it checks clean again" "$SK" check --deep "$W/fake.back"
check "with the new bundle and history" \
    bash -c "test -f '$W/fake.back/blocks/retained/blocks-61-80.log' && grep -q 'trace_history, blocks 2\.\.90' '$W/out'"
# The manifest records the range over the bundles and blocks.log, and the state history.
M=$(grep -l "^fact source.data-dir $F\$" "$R"/snapshots/*)
check "the manifest records the retained bundles, the history and the head" \
    bash -c "grep -q '^fact source.retained-blocks 21\.\.60$' '$M' &&
             grep -q '^fact source.state-history chain_state_history:1\.\.70,trace_history:2\.\.70$' '$M' &&
             grep -q '^fact source.first-block 21$' '$M' && grep -q '^fact source.last-block 70$' '$M'"
# Right after a split blocks.log holds no block: the head is the last bundle's.
F2=$W/fake2
mkdir -p "$F2" && cp "$F/config.ini" "$F2/"
run 0 "fakenode stops right after a split" "$FAKENODE" --data-dir "$F2" --http-server-address off \
    --block-interval-ms 20 --chain-state-db-size-mb 16 --stop-at-block 40
run 0 "a blocks.log with only its preamble after the bundles checks clean" "$SK" check --deep "$F2"
check "it starts after the last bundle" grep -q "no blocks in the index" "$W/out"
run 0 "snapshot it" "$SK" snapshot --data-dir "$F2" --repo "$R" --include "$INC"
check "its head block is the last bundle's" grep -q '^fact source.last-block 40$' "$R/snapshots/$(tail -1 "$W/out")"
# fakenode repairs a cut state-history tail as nodeos does (recover_blocks), and goes on appending.
truncate -s -3 "$W/fake.back/state-history/trace_history.log"
run 0 "fakenode recovers a cut state-history tail" "$FAKENODE" --data-dir "$W/fake.back" --http-server-address off \
    --block-interval-ms 20 --chain-state-db-size-mb 16 --stop-at-block 95
run 0 "clean after the recovery" "$SK" check --deep "$W/fake.back"

# ---- the real nodeos (Leap 4.0.6): its strided log, retained and archived bundles, state history ----
N=$W/real
mkdir -p "$N/state"
cp -a "$FIXTURES/leap-4.0.6-layouts/blocks" "$FIXTURES/leap-4.0.6-layouts/state-history" "$N/"
cp "$FIXTURES/leap-4.0.6-layouts/config-layouts.ini" "$N/config.ini"
cp "$FIXTURES/leap-4.0.6-layouts/state-header.bin" "$N/state/shared_memory.bin"
truncate -s 256M "$N/state/shared_memory.bin"
run 0 "real nodeos data-dir: check --deep clean" "$SK" check --deep "$N"
check "real: 3 retained bundles 21..80, 1 archived, blocks.log from 81, history from 1 and 2" \
    bash -c "grep -q 'retained: 3 bundles in blocks/retained, blocks 21\.\.80' '$W/out' &&
             grep -q 'archived: 1 bundles' '$W/out' && grep -q 'version 3, blocks 81\.\.' '$W/out' &&
             grep -q 'chain_state_history, blocks 1\.\.' '$W/out' && grep -q 'trace_history, blocks 2\.\.' '$W/out'"
rm "$N/config.ini"
run 0 "real: without config.ini, the default folders are found" "$SK" check "$N"
check "real: retained bundles found in blocks/retained" grep -q "retained: 3 bundles in blocks/retained" "$W/out"
roundtrip real "$N" blocks state state-history
X=$(damaged real-cut "$N")
truncate -s -3 "$X/state-history/chain_state_history.log"
corrupt "real: cut state-history tail" "state-history/chain_state_history.log: tail cut" "$X"
X=$(damaged real-index "$N")
truncate -s -8 "$X/blocks/retained/blocks-41-60.index"
corrupt "real: retained index disagrees" "blocks/retained/blocks-41-60.index: disagrees with" "$X"

