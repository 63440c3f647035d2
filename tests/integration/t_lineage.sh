#!/usr/bin/env bash
# One chain, one lineage (invariant 11): every snapshot records its chain id (the same one the
# node's block log, its genesis.json and nodeos name); a restore never crosses chains unless
# forced; "newest" is the highest head block, not the clock or a name; retention is per chain.
. "$(dirname "$0")/lib.sh"
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}
# libfaketime is preloaded into the sanitized binary too: ASan then does not come first.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# node DIR MS: runs fakenode on DIR for about MS milliseconds of blocks, then stops it cleanly.
node() {
    "$FAKENODE" --data-dir "$1" --http-server-address off --block-interval-ms 20 --chain-state-db-size-mb 64 \
        >>"$1.log" 2>&1 &
    local pid=$!
    echo "$pid" >>"$W/bg.pids"
    sleep "$2"
    kill -TERM "$pid"
    wait "$pid"
}
json_field() { sed -n "s/.*\"$2\": \"\{0,1\}\([0-9a-z.]*\)\"\{0,1\},\{0,1\}\$/\1/p" <<<"$1" | tail -1; }
chain_of() { json_field "$("$SK" check "$1" --json)" chain_id; }
head_of() { json_field "$("$SK" check "$1" --json)" last_block; }
fact() { sed -n "s/^fact $2 //p" "$R/snapshots/$1"; }

R=$W/repo
"$SK" repo init "$R" >/dev/null
A=$W/a
B=$W/b
mkdir -p "$A" "$B"
printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
    "$(date -u -d '3 seconds ago' +%Y-%m-%dT%H:%M:%S.000)" >"$A/genesis.json"
printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
    "$(date -u -d '5 seconds ago' +%Y-%m-%dT%H:%M:%S.000)" >"$B/genesis.json"
node "$A" 0.5
node "$B" 0.5
CA=$(chain_of "$A")
CB=$(chain_of "$B")
check "two chains: two chain ids ($CA, $CB)" test -n "$CA" -a -n "$CB" -a "$CA" != "$CB"
check "check names the chain from blocks.log" grep -q '"chain_id_from": "blocks.log"' <("$SK" check "$A" --json)
mkdir -p "$W/g" && cp "$A/genesis.json" "$W/g/"
check "the chain from genesis.json alone is the block log's" test "$(chain_of "$W/g")" = "$CA"

run 0 "snapshot of A" "$SK" snapshot --data-dir "$A" --repo "$R"
IDA=$(tail -1 "$W/out")
check "the snapshot records A's chain id (the log starts at block 1)" test "$(fact "$IDA" source.chain-id)" = "$CA"

# A's snapshot into B's slot: refused, B untouched.
cp -a "$B" "$W/b.before"
run 8 "restoring A's snapshot into B's slot is refused: exit 8" \
    "$SK" restore --snapshot "$IDA" --data-dir "$B" --repo "$R"
one_line_error "restore across chains"
err_has "$CA.*$CB|$CB.*$CA" "the message names both chain ids"
err_has "force-chain" "and how to force it"
check "B is untouched" same_tree "$W/b.before" "$B"
check "nothing of B went to quarantine" test ! -e "$B/.slotkeeper/quarantine" -o -z "$(ls -A "$B/.slotkeeper/quarantine" 2>/dev/null)"
run 1 "restore latest into B: no snapshot of B's chain (A's is not a candidate)" \
    "$SK" restore --data-dir "$B" --repo "$R"
err_has "no good snapshot in the repository of chain $CB" "the message names B's chain"
check "B is still untouched" same_tree "$W/b.before" "$B"
run 8 "--chain-id that contradicts the slot's chain is refused" \
    "$SK" restore --data-dir "$B" --repo "$R" --chain-id "$CA"
run 2 "--chain-id must be a chain id" "$SK" restore --data-dir "$B" --repo "$R" --chain-id nope

# check --reference compares chain ids.
run 0 "check A --reference A's manifest: clean" "$SK" check "$A" --reference "$R/snapshots/$IDA"
run 12 "check B --reference A's manifest: incompatible (another chain)" \
    "$SK" check "$B" --reference "$R/snapshots/$IDA"
check "check says which chains" grep -q "names chain $CB, the reference's chain is $CA" "$W/out"

# A slot with no identity, a repository with two chains: refused rather than guessed.
run 0 "snapshot of B" "$SK" snapshot --data-dir "$B" --repo "$R"
IDB=$(tail -1 "$W/out")
run 8 "restore latest into an empty slot while the repository holds two chains: refused" \
    "$SK" restore --data-dir "$W/empty" --repo "$R"
err_has "choose one with --chain-id" "it asks for --chain-id"
run 0 "with --chain-id it restores that chain's newest" "$SK" restore --data-dir "$W/empty" --repo "$R" --chain-id "$CB"
check "B's snapshot was restored" grep -q "restored snapshot $IDB" "$W/err"

run 0 "--force-chain restores A's snapshot into B's slot" \
    "$SK" restore --snapshot "$IDA" --data-dir "$B" --repo "$R" --force-chain
check "B now holds A's chain" test "$(chain_of "$B")" = "$CA"

# "newest" is the highest head block: a snapshot taken with the clock in the future, then
# one at the present time further along the chain.
rm -rf "$R" && "$SK" repo init "$R" >/dev/null
run 0 "snapshot of A with the clock in 2031" faketime '2031-01-01 00:00:00' "$SK" snapshot --data-dir "$A" --repo "$R"
IDF=$(tail -1 "$W/out")
check "its id is from 2031" test "${IDF:0:4}" = 2031
HF=$(head_of "$A")
node "$A" 0.3
check "A went on (head $HF -> $(head_of "$A"))" test "$(head_of "$A")" -gt "$HF"
run 0 "snapshot of A at the present time" "$SK" snapshot --data-dir "$A" --repo "$R"
IDP=$(tail -1 "$W/out")
run 0 "list" "$SK" list --repo "$R"
check "list puts the present one (higher head) last" test "$(tail -1 "$W/out" | cut -d' ' -f1)" = "$IDP"
run 0 "restore latest" "$SK" restore --data-dir "$W/slot" --repo "$R"
check "restores the present one, not 2031's" grep -q "restored snapshot $IDP" "$W/err"
# A snapshot of the other chain, and a stray name under snapshots/.
run 0 "snapshot of B (another chain)" "$SK" snapshot --data-dir "$W/b.before" --repo "$R"
IDB2=$(tail -1 "$W/out")
echo stray >"$R/snapshots/blocks"
mkdir "$R/snapshots/state"
run 0 "list with a stray snapshots/blocks" "$SK" list --repo "$R"
check "the stray names are not listed (nor as bad)" bash -c "! grep -Eq '^(blocks|state) | bad(:|$)' '$W/out'"
check "list shows three snapshots" test "$(grep -c '^20' "$W/out")" = 3
run 0 "prune --keep-last 1" "$SK" prune --repo "$R" --keep-last 1
check "it kept the present snapshot of A" test -f "$R/snapshots/$IDP"
check "and removed 2031's" test ! -e "$R/snapshots/$IDF"
check "and kept B's, the newest of its chain" test -f "$R/snapshots/$IDB2"
check "and left the stray names alone" test -f "$R/snapshots/blocks" -a -d "$R/snapshots/state"

# The not-found message says what was asked, no more.
rm -rf "$W/r2" && "$SK" repo init "$W/r2" >/dev/null
run 1 "restore from an empty repository" "$SK" restore --data-dir "$W/nothing" --repo "$W/r2"
check "no word of a reference nobody gave" bash -c "! grep -q reference '$W/err'"

finish
