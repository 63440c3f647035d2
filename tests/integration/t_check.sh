#!/usr/bin/env bash
# `slotkeeper check`: every verdict, on generated data-dirs and on damaged copies of
# real nodeos block logs; the snapshot command records check's facts in the manifest.
. "$(dirname "$0")/lib.sh"

# A clean Leap data-dir whose block log and index are the real nodeos 1.8 fixtures.
mkfx() {
    rm -rf "$1"
    mkdd "$1" --blocks-size 64K --state-size 16M --state-data 64K
    cp "$FIXTURES/nodeos-1.8/blocks.log" "$FIXTURES/nodeos-1.8/blocks.index" "$1/blocks/"
    chmod 644 "$1/blocks/blocks.log" "$1/blocks/blocks.index"
}
# verdict WANT_RC WANT_WORD DESC DIR [ARGS...]
verdict() {
    local rc=$1 word=$2 desc=$3
    shift 3
    run "$rc" "$desc: $word (exit $rc)" "$SK" check "$@"
    check "$desc: says $word" grep -q ": $word: " "$W/out"
}

mkfx "$W/fx"
verdict 0 clean "real nodeos 1.8 block log" "$W/fx"
check "it reads blocks 1..3 from the fixture" grep -q "version 2, blocks 1..3 (3 in the index)" "$W/out"
run 0 "check --json" "$SK" check "$W/fx" --json
check "--json has the verdict" grep -q '"verdict": "clean"' "$W/out"
check "--json has the block range" bash -c "grep -q '\"first_block\": 1' '$W/out' && grep -q '\"last_block\": 3' '$W/out'"
check "--json has the state header" bash -c "grep -q '\"id\": \"EOSIODB3\"' '$W/out' && grep -q '\"boost_version\": 108300' '$W/out'"
verdict 0 clean "--deep on the fixture" "$W/fx" --deep

# Truncated tails: 1..16 bytes.
bad=0
for n in $(seq 1 16); do
    mkfx "$W/t"
    truncate -s -"$n" "$W/t/blocks/blocks.log"
    "$SK" check "$W/t" >"$W/o" 2>&1
    rc=$?
    [ "$rc" = 13 ] || { echo "# truncated by $n: exit $rc: $(head -1 "$W/o")"; bad=$((bad + 1)); }
done
check "a block log truncated by 1..16 bytes is corrupt" test "$bad" = 0
# What check prints for a cut tail is true (issue 16, 7): its own finding first, then nodeos's
# words; no "blocks 1..0".
mkfx "$W/t"
truncate -s -5 "$W/t/blocks/blocks.log"
verdict 13 corrupt "a block log cut by 5 bytes" "$W/t"
check "the verdict says first, in slotkeeper's words, that the tail is cut" \
    grep -Eq "^$W/t: corrupt: blocks.log('s tail)? is cut" "$W/out"
check "then quotes nodeos (Leap 4.0.6 says this of a cut tail: tests/nodeos)" grep -Eq 'nodeos refuses it with "(The last block position|Invalid block position [0-9]+")' "$W/out"
check "the blocks line gives the index's range and says the last block could not be read" \
    grep -q "the index lists blocks 1..3; the log's last block could not be read" "$W/out"
check "no empty range such as 1..0" bash -c "! grep -q 'blocks 1\.\.0' '$W/out'"
mkfx "$W/t"
truncate -s 790 "$W/t/blocks/blocks.log" # the last block starts at byte 777
verdict 13 corrupt "a block log cut just after its last block starts" "$W/t"
check "says it ends before the end of the index's last block" grep -q "blocks.log is cut: it ends at byte" "$W/out"
mkfx "$W/t"
truncate -s -8 "$W/t/blocks/blocks.index"
verdict 13 corrupt "last index entry dropped" "$W/t"
check "names the mismatch as nodeos does" grep -q "does not match the last block postion" "$W/out"
check "and says first that the index ends early" grep -q "blocks.index ends early" "$W/out"
mkfx "$W/t"
printf '\x00\x00\x00\x00' | dd of="$W/t/blocks/blocks.log" bs=1 seek=$((0x76)) conv=notrunc status=none
verdict 13 corrupt "totem flipped" "$W/t"
check "says the separator is missing" grep -q "Expected separator" "$W/out"
mkfx "$W/t"
printf '\x00\x00\x00\x00' | dd of="$W/t/blocks/blocks.log" bs=1 seek=0 conv=notrunc status=none
verdict 13 corrupt "version zeroed" "$W/t"
check "says not set up properly" grep -q "not setup properly" "$W/out"
mkfx "$W/t"
printf '\x07\x00\x00\x00' | dd of="$W/t/blocks/blocks.log" bs=1 seek=0 conv=notrunc status=none
verdict 13 corrupt "unknown version" "$W/t"
mkfx "$W/t"
head -c 20 "$FIXTURES/nodeos-1.8/blocks.index" >"$W/t/blocks/blocks.index"
verdict 13 corrupt "index size not a multiple of 8" "$W/t"
mkfx "$W/t"
: >"$W/t/blocks/blocks.index"
verdict 13 corrupt "empty index" "$W/t"
mkfx "$W/t"
printf '\x09' | dd of="$W/t/blocks/blocks.log" bs=1 seek=$((0x13e + 17)) conv=notrunc status=none
verdict 0 clean "a damaged middle entry passes the fast check" "$W/t"
verdict 13 corrupt "--deep finds a damaged middle entry" "$W/t" --deep
check "--deep reports the offset" grep -q "first inconsistency at offset $((0x13e))" "$W/out"
mkfx "$W/t"
rm "$W/t/blocks/reversible/fork_db.dat"
verdict 13 corrupt "fork_db.dat missing while state exists" "$W/t"
check "with nodeos's words" grep -q "Replay required" "$W/out"
mkfx "$W/t"
truncate -s 15M "$W/t/state/shared_memory.bin"
truncate -s +1000 "$W/t/state/shared_memory.bin"
verdict 13 corrupt "state size not a multiple of 1 MiB" "$W/t"

# The state header.
mkfx "$W/t"
printf '\001' | dd of="$W/t/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
verdict 11 dirty "dirty byte set" "$W/t"
mkfx "$W/t"
printf 'XXXXXXXX' | dd of="$W/t/state/shared_memory.bin" bs=1 seek=0 conv=notrunc status=none
verdict 12 incompatible "unknown header id" "$W/t"
mkfx "$W/t"
mkfx "$W/ref"
printf 'clang-17.0.6\000\000\000' | dd of="$W/t/state/shared_memory.bin" bs=1 seek=528 conv=notrunc status=none
verdict 0 clean "another compiler without a reference" "$W/t"
verdict 12 incompatible "another compiler than --reference's state file" "$W/t" --reference "$W/ref/state/shared_memory.bin"
check "names both compilers" grep -q "compiler 'clang-17.0.6', reference '12.2.0'" "$W/out"
verdict 0 clean "same environment as --reference" "$W/ref" --reference "$W/ref/state/shared_memory.bin"

# A snapshot manifest as the reference, and the facts the snapshot records.
"$SK" repo init "$W/repo" >/dev/null
run 0 "snapshot records check's facts" "$SK" snapshot --data-dir "$W/ref" --repo "$W/repo"
id=$(tail -1 "$W/out")
check "manifest has source.layout, the block range and the state environment" \
    bash -c "grep -q '^fact source.layout leap5' '$W/repo/snapshots/$id' && grep -q '^fact source.last-block 3' '$W/repo/snapshots/$id' && grep -q '^fact state.environment ' '$W/repo/snapshots/$id'"
verdict 12 incompatible "another compiler than --reference's manifest" "$W/t" --reference "$W/repo/snapshots/$id"
verdict 0 clean "same environment as the manifest" "$W/ref" --reference "$W/repo/snapshots/$id"
run 0 "list --json shows the facts" "$SK" list --repo "$W/repo" --json
check "list --json has source.layout" grep -q '"source.layout": "leap5"' "$W/out"

# missing, running, restoring.
mkdir -p "$W/empty"
verdict 14 missing "an empty folder" "$W/empty"
verdict 14 missing "no such folder" "$W/nope"
mkfx "$W/t"
rm "$W/t/blocks/blocks.log"
verdict 14 missing "no block log" "$W/t"
mkfx "$W/t"
pid=$(holdlock "$W/t/state/shared_memory.bin")
verdict 10 running "lock held by another process" "$W/t"
check "reports the holder's pid" grep -q "process $pid holds the lock" "$W/out"
run 5 "snapshot refuses it: exit 5" "$SK" snapshot --data-dir "$W/t" --repo "$W/repo"
kill "$pid"
wait "$pid" 2>/dev/null
mkdir -p "$W/t/.slotkeeper" && : >"$W/t/.slotkeeper/restoring"
verdict 15 restoring "restore marker present" "$W/t"
run 7 "snapshot refuses it: exit 7" "$SK" snapshot --data-dir "$W/t" --repo "$W/repo"

# Layouts.
mkfx "$W/sp"
printf 'CHAINB01' | dd of="$W/sp/state/shared_memory.bin" bs=1 seek=0 conv=notrunc status=none
verdict 13 corrupt "Spring without chain_head.dat" "$W/sp"
printf '\xf1\xf2\xf3\xf4\xf4\xf3\xf2\xf1\x01\x00\x00\x00' >"$W/sp/state/chain_head.dat"
verdict 0 clean "Spring with chain_head.dat" "$W/sp"
check "layout spring" grep -q "layout:  spring" "$W/out"
mkdir -p "$W/dawn/blocks" "$W/dawn/shared_mem"
cp "$FIXTURES/nodeos-1.8/blocks.log" "$FIXTURES/nodeos-1.8/blocks.index" "$W/dawn/blocks/"
truncate -s 8M "$W/dawn/shared_mem/shared_memory.bin"
: >"$W/dawn/shared_mem/shared_memory.meta"
verdict 0 clean "a Dawn 3.0 layout" "$W/dawn"
check "layout dawn3" grep -q "layout:  dawn3" "$W/out"
run 0 "snapshot of a Dawn data-dir takes shared_mem by default" "$SK" snapshot --data-dir "$W/dawn" --repo "$W/repo"
check "the manifest includes blocks and shared_mem" grep -q '^include blocks shared_mem$' "$W/repo/snapshots/$(tail -1 "$W/out")"

# Random damage never crashes check: every flipped byte or cut of a real block log and index
# gives a verdict (0 or 13), with and without --deep.
n_bad=0
N=${SK_CHECK_FUZZ:-150}
[ "${SK_SANITIZED:-0}" = 1 ] && N=60
logsz=$(stat -c %s "$FIXTURES/nodeos-1.8/blocks.log")
for i in $(seq "$N"); do
    mkfx "$W/z" >/dev/null 2>&1
    case $((i % 4)) in
    0) f=blocks.log; sz=$logsz ;;
    1) f=blocks.index; sz=24 ;;
    2) f=blocks.log; sz=$logsz ;;
    3) f=blocks.log; sz=0 ;;
    esac
    if [ "$sz" = 0 ]; then
        truncate -s $((RANDOM % logsz)) "$W/z/blocks/blocks.log"
    else
        printf "\\x$(printf %02x $((RANDOM % 256)))" | dd of="$W/z/blocks/$f" bs=1 seek=$((RANDOM % sz)) conv=notrunc status=none
    fi
    for deep in "" --deep; do
        "$SK" check "$W/z" $deep >/dev/null 2>"$W/z.err"
        rc=$?
        if [ "$rc" != 0 ] && [ "$rc" != 13 ]; then
            echo "# case $i ($f) $deep: exit $rc: $(head -c 300 "$W/z.err")"
            n_bad=$((n_bad + 1))
        fi
    done
done
check "$N randomly damaged block logs: check always answers clean or corrupt, never crashes" test "$n_bad" = 0

# restore --reference: only a snapshot whose state environment matches is restored.
mkfx "$W/clang"
printf 'clang-17.0.6\000\000\000' | dd of="$W/clang/state/shared_memory.bin" bs=1 seek=528 conv=notrunc status=none
"$SK" repo init "$W/repo2" >/dev/null
idg=$("$SK" snapshot --data-dir "$W/ref" --repo "$W/repo2" 2>/dev/null)
idc=$("$SK" snapshot --data-dir "$W/clang" --repo "$W/repo2" 2>/dev/null)
run 0 "restore latest --reference picks the newest snapshot with the same environment" \
    "$SK" restore --data-dir "$W/slot-gcc" --repo "$W/repo2" --reference "$W/ref/state/shared_memory.bin"
check "it restored the gcc snapshot, not the newer clang one" grep -qx "$idg" "$W/out"
run 8 "restore of a named snapshot from another environment: exit 8" \
    "$SK" restore --snapshot "$idc" --data-dir "$W/slot-x" --repo "$W/repo2" --reference "$W/ref/state/shared_memory.bin"
one_line_error "incompatible snapshot"
check "nothing was made for the refused restore" test ! -e "$W/slot-x/state"
mkfx "$W/other"
printf 'msvc\000\000\000\000\000\000\000\000' | dd of="$W/other/state/shared_memory.bin" bs=1 seek=528 conv=notrunc status=none
run 8 "restore latest when no snapshot matches: exit 8" \
    "$SK" restore --data-dir "$W/slot-y" --repo "$W/repo2" --reference "$W/other/state/shared_memory.bin"
err_has "no good snapshot in the repository whose state environment matches the reference" "says why"
run 0 "a manifest works as --reference too" \
    "$SK" restore --data-dir "$W/slot-c" --repo "$W/repo2" --reference "$W/repo2/snapshots/$idc"
check "and picks the clang snapshot" grep -qx "$idc" "$W/out"

# A version 3 log that does not start at block 1 carries the chain id in its preamble.
mkfx "$W/cid"
{
    printf '\x03\x00\x00\x00\x05\x00\x00\x00'
    for _ in $(seq 32); do printf '\x11'; done
    printf '\xff\xff\xff\xff\xff\xff\xff\xff'
    # block 5 at 48: 14 bytes, BE32(4), 10 bytes, then its own offset
    printf 'AAAAAAAAAAAAAA\x00\x00\x00\x04BBBBBBBBBB\x30\x00\x00\x00\x00\x00\x00\x00'
    # block 6 at 84
    printf 'AAAAAAAAAAAAAA\x00\x00\x00\x05BBBBBBBBBB\x54\x00\x00\x00\x00\x00\x00\x00'
} >"$W/cid/blocks/blocks.log"
printf '\x30\x00\x00\x00\x00\x00\x00\x00\x54\x00\x00\x00\x00\x00\x00\x00' >"$W/cid/blocks/blocks.index"
verdict 0 clean "a v3 log starting at block 5" "$W/cid" --deep
check "it reports blocks 5..6 and the chain id" \
    bash -c "grep -q 'blocks 5..6' '$W/out' && grep -q 'chain id 1111111111111111111111111111111111111111111111111111111111111111' '$W/out'"
printf '\x00' | dd of="$W/cid/blocks/blocks.log" bs=1 seek=44 conv=notrunc status=none
verdict 13 corrupt "its totem damaged" "$W/cid"

# The layout of an EOSIODB2 data-dir whose fork_db.dat is gone (Leap 4 deletes it at start: a
# running or killed node has none; tests/nodeos saw it): Leap 4 keeps blocks/reversible/ without
# EOSIO 1.x-2.0's reversible database.
mkfx "$W/l4"
printf 'EOSIODB2\001' | dd of="$W/l4/state/shared_memory.bin" bs=1 conv=notrunc status=none
rm "$W/l4/blocks/reversible/fork_db.dat"
verdict 11 dirty "a killed Leap 4 node" "$W/l4"
check "its layout is leap4" grep -q "layout:  leap4" "$W/out"
truncate -s 1M "$W/l4/blocks/reversible/shared_memory.bin"
verdict 11 dirty "the same with a reversible database" "$W/l4"
check "its layout is eosio" grep -q "layout:  eosio" "$W/out"
