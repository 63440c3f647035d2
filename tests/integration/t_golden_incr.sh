#!/usr/bin/env bash
# t_golden_incr: a golden copy's update costs what changed, not the data-dir's size (golden.h).
# On an XFS with reflinks: after a 1% change the update writes and re-hashes about the changed
# bytes only (from the counts it records, never from timing), and the copy is byte-identical
# to a restore of the new snapshot that writes the chunks; files added, removed, truncated and
# extended across snapshots; a file of the copy changed from outside (its ctime) is never
# cloned into a slot and is written whole by the next update; damage a ctime cannot show (the
# image's bytes changed under the file system) is caught by the Nth update's full verification
# ([repository] golden_full_verify_every), which marks the copy and rebuilds it; and a kill at
# steps of an update (the crash build) leaves a golden copy that verifies, and the next update
# brings it to the newest snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

if ! fs_mount xfs 600 "$W/x"; then
    ok "incremental golden copy on XFS # SKIP $FS_WHY"
    echo "1..$T_N"
    exit 0
fi
IMG=${FS_IMAGES[${#FS_IMAGES[@]} - 1]}
R=$W/x/repo
N=$W/x/node

same_data() {
    diff <(cd "$1" && find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 cksum) \
        <(cd "$2" && find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 cksum) >"$W/data.diff"
}
# gj KEY: KEY of `repo golden REPO status --json` (what the update that made the copy cost).
gj() { "$SK" repo golden "$R" status --json | jq -r ".$1"; }
# plain_restore DIR: a restore that writes the chunks (a folder off the XFS: no clone possible).
plain_restore() { rm -rf "$1" && "$SK" restore --data-dir "$1" --repo "$R" --no-progress --quarantine delete >/dev/null 2>"$W/plain.err"; }

mkdd "$N" --blocks-size 6M --state-size 32M --state-data 16M
head -c 200000 /dev/urandom >"$N/state/extra_removed.bin"
head -c 524288 /dev/urandom >"$N/state/extra_truncated.bin"
head -c 100000 /dev/urandom >"$N/state/extra_extended.bin"
run 0 "repo init --golden" "$SK" repo init "$R" --golden --chunk-size 64K
run 0 "first snapshot (the golden copy made from the chunks)" "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress --no-freeze
ID1=$(cat "$W/out")
check "the first copy was verified whole" test "$(gj full_verify)" = true
size=$(gj bytes)
v1=$(gj verified_bytes)
check "its verified_bytes ($v1) are the snapshot's bytes ($size)" test "$v1" = "$size"

# A 1% change: the update writes and re-hashes about the changed bytes, not the data-dir.
"$MKDATADIR" mutate "$N" --append-pct 1 --rewrite-pct 1 >/dev/null
run 0 "second snapshot after a 1% change" "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress --no-freeze
ID2=$(cat "$W/out")
err_has "golden copy updated to $ID2: .* verified \(what changed\)" "the update says it re-hashed what changed"
w=$(gj written_bytes) v=$(gj verified_bytes) u=$(gj reused_bytes)
check "not a full verification" test "$(gj full_verify)" = false
# (1% of the state's pages rewritten touches ~7% of its 64 KiB chunks.)
check "written_bytes ($w) > 0 and < 10% of the copy ($size)" test "$w" -gt 0 -a $((w * 10)) -lt "$size"
check "verified_bytes ($v) covers what was written ($w), and < 10% of the copy" test "$v" -ge "$w" -a $((v * 10)) -lt "$size"
check "the rest was taken from the previous copy (reused_bytes $u)" test "$u" -gt $((size * 9 / 10))
check "the record counts one update since the full verification" test "$(gj incremental)" = 1
plain_restore "$W/p2"
check "the copy is byte-identical to a restore that writes the chunks" same_data "$W/p2" "$R/golden/tree"
check "and to the node" same_data "$N" "$R/golden/tree"
run 0 "verify: the golden copy verifies" "$SK" verify --repo "$R" --no-progress
check "verify says good" grep -q "golden copy of $ID2 good" "$W/out"
check "a full verification resets the count" test "$(gj incremental)" = 0

# Files removed, added, truncated and extended across snapshots.
rm "$N/state/extra_removed.bin"
head -c 300000 /dev/urandom >"$N/state/extra_added.bin"
truncate -s 100007 "$N/state/extra_truncated.bin"
head -c 200000 /dev/urandom >>"$N/state/extra_extended.bin"
run 0 "third snapshot: a file removed, one added, one truncated, one extended" \
    "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress --no-freeze
ID3=$(cat "$W/out")
w=$(gj written_bytes) v=$(gj verified_bytes)
check "written: the added file and the extended tail, about 500 KB ($w)" test "$w" -ge 500000 -a "$w" -lt 800000
check "verified covers it ($v)" test "$v" -ge "$w" -a "$v" -lt 900000
check "the removed file is gone from the copy" test ! -e "$R/golden/tree/state/extra_removed.bin"
check "the truncated file has its new size" test "$(stat -c %s "$R/golden/tree/state/extra_truncated.bin")" = 100007
check "the copy is the node's data" same_data "$N" "$R/golden/tree"
plain_restore "$W/p3"
check "and a restore's that writes the chunks" same_data "$W/p3" "$R/golden/tree"

# Outside tampering: a byte of an unchanged file of the copy changed (its ctime moves).
printf '\xff' | dd of="$R/golden/tree/blocks/blocks.log" bs=1 seek=5000 conv=notrunc status=none
run 0 "restore with a golden file changed from outside" "$SK" restore --data-dir "$W/x/s1" --repo "$R" --no-progress
err_has "the golden copy's file changed since it was verified" "one-line note: never cloned"
check "slot 1 has the snapshot's bytes, not the changed one" same_data "$N" "$W/x/s1"
"$MKDATADIR" mutate "$N" --rewrite-pct 1 >/dev/null
run 0 "fourth snapshot: the update meets the changed file" "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress --no-freeze
ID4=$(cat "$W/out")
check "the changed file was written whole from the chunks (files_rewritten $(gj files_rewritten))" \
    test "$(gj files_rewritten)" = 1
check "the copy is the node's data again" same_data "$N" "$R/golden/tree"
run 0 "verify: the golden copy verifies" "$SK" verify --repo "$R" --no-progress
run 0 "restore into slot 2 clones" "$SK" restore --data-dir "$W/x/s2" --repo "$R" --no-progress
err_has "path clone" "slot 2: path clone"
check "slot 2 is the node's data" same_data "$N" "$W/x/s2"

# Damage a ctime cannot show: a byte of the image under a golden file (the disk's decay). The
# Nth update's full verification (here every 2nd) catches it, marks the copy, and rebuilds it.
cat >"$W/sk.conf" <<EOF
[repository]
path = $R
golden_full_verify_every = 2
EOF
"$MKDATADIR" mutate "$N" --rewrite-pct 1 >/dev/null
run 0 "fifth snapshot (-c: every 2nd update verifies whole; this is the 1st)" \
    "$SK" snapshot -c "$W/sk.conf" --data-dir "$N" --repo "$R" --no-progress --no-freeze
check "the 1st update after a full verification re-hashes what changed" test "$(gj full_verify)" = false
# blocks.log's block 1 (only appended to, so no update rewrites it): where it is in the image.
f=$R/golden/tree/blocks/blocks.log
phys=$(filefrag -v -b4096 "$f" | awk -F'[: .]+' '$2 ~ /^[0-9]+$/ && $3 <= 1 && $4 >= 1 { print $5 + 1 - $3; exit }')
if [ -n "$phys" ]; then
    sync
    old=$(dd if="$IMG" bs=4096 skip="$phys" count=1 status=none | cksum)
    printf 'rot' | dd of="$IMG" bs=1 seek=$((phys * 4096 + 17)) conv=notrunc status=none
    check "the image's bytes changed, the file's ctime did not" \
        test "$(dd if="$IMG" bs=4096 skip="$phys" count=1 status=none | cksum)" != "$old"
    "$MKDATADIR" mutate "$N" --append-pct 1 >/dev/null
    run 0 "sixth snapshot (the 2nd update: verifies whole)" \
        "$SK" snapshot -c "$W/sk.conf" --data-dir "$N" --repo "$R" --no-progress --no-freeze
    ID6=$(cat "$W/out")
    err_has "the update from the previous copy failed its check, made from the chunks" \
        "the full verification caught it; the copy was made from the chunks"
    check "the copy holds the sixth snapshot" grep -qx "snapshot $ID6" "$R/golden/record"
    check "it was verified whole" test "$(gj full_verify)" = true
    check "the rebuilt copy is the node's data" same_data "$N" "$R/golden/tree"
    check "no damaged mark on the new copy" test ! -e "$R/golden/damaged"
    run 0 "verify: the rebuilt copy verifies" "$SK" verify --repo "$R" --no-progress
else
    not_ok "filefrag finds block 1 of $f"
fi

# `repo golden REPO rebuild --json`: the update's cost as JSON (from the chunks: every byte).
run 0 "repo golden rebuild --json" "$SK" repo golden "$R" rebuild --json --no-progress
jtrue() { jq -e "$1" "$2" >/dev/null; }
check "rebuild --json: written_bytes and verified_bytes, every byte verified" \
    jtrue '.written_bytes > 0 and .verified_bytes == '"$(gj bytes)"' and .full_verify == true and .from_scratch == true' "$W/out"

# A kill at steps of an update (the crash build): the golden copy verifies, holds the old or the
# new snapshot, and the next update brings it to the newest.
CRASH_SK=$ROOT/build/crash/slotkeeper
if [ -x "$CRASH_SK" ]; then
    # A snapshot the golden copy does not hold yet (the config says golden off for it).
    "$MKDATADIR" mutate "$N" --append-pct 1 --rewrite-pct 1 >/dev/null
    sed -i '/^golden on$/d' "$R/config"
    run 0 "a snapshot the golden copy does not hold" "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress --no-freeze
    NEW=$(cat "$W/out")
    OLDID=$(sed -n 's/^snapshot //p' "$R/golden/record")
    echo "golden on" >>"$R/config"
    cp -a --reflink=always "$R" "$W/x/base"
    rm -f "$W/trace"
    SK_CRASH_TRACE=$W/trace "$CRASH_SK" repo golden "$R" on --no-progress >/dev/null 2>&1
    steps=$(wc -l <"$W/trace")
    check "the update has crash points ($steps)" test "$steps" -gt 5
    rename=$(grep -n ' rename .*golden.c' "$W/trace" | tail -1 | cut -d: -f1)
    bad=0
    for k in 1 $((steps / 4)) $((steps / 2)) $((steps * 3 / 4)) $((rename - 1)) "$rename" $((rename + 1)) "$steps"; do
        rm -rf "$R" && cp -a --reflink=always "$W/x/base" "$R"
        (SK_CRASH_AT=$k "$CRASH_SK" repo golden "$R" on --no-progress >/dev/null 2>&1; echo $? >"$W/rc") 2>/dev/null
        rc=$(cat "$W/rc")
        held=$(sed -n 's/^snapshot //p' "$R/golden/record" 2>/dev/null)
        why=
        [ "$rc" = 137 ] || why="exit $rc, not killed"
        [ "$held" = "$OLDID" ] || [ "$held" = "$NEW" ] || why="$why; holds '$held'"
        "$SK" repo golden "$R" verify --no-progress >"$W/v.out" 2>&1 || why="$why; verify: $(cat "$W/v.out")"
        "$SK" repo golden "$R" on --no-progress >/dev/null 2>&1 || why="$why; the next update failed"
        grep -qx "snapshot $NEW" "$R/golden/record" || why="$why; the next update did not bring it to $NEW"
        [ -e "$R/golden.new" ] && why="$why; golden.new left"
        same_data "$N" "$R/golden/tree" || why="$why; the copy is not the node's data"
        [ -z "$why" ] || { bad=1 && echo "# crash at $k/$steps: $why"; }
    done
    check "a kill at 8 steps of the update: never a half copy, the next update recovers" test "$bad" = 0
    run 0 "restore after the recovery clones" "$SK" restore --data-dir "$W/x/s3" --repo "$R" --no-progress
    err_has "path clone" "slot 3: path clone"
    check "slot 3 is the node's data" same_data "$N" "$W/x/s3"
    rm -rf "$W/x/base"
else
    ok "a kill mid-update # SKIP no crash build (make build/crash/slotkeeper)"
fi
echo "1..$T_N"
