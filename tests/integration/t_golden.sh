#!/usr/bin/env bash
# t_golden: the golden copy (golden.h) on a small XFS with reflinks: made by `repo golden on`,
# updated after a second snapshot by writing only what changed, verified, damaged then marked,
# never cloned from and rebuilt by verify; restores clone from it into two slots that then share
# their extents, byte-identical to the snapshot. Bad input: a slot on another file system (ext4:
# no reflinks, and another file system than the golden copy), a golden copy that fails
# verification, a stale one, and FICLONE failing half-way (the crash build's fault hook): each a
# one-line note, a restore that writes the chunks instead, and a slot never startable
# half-restored.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

if ! fs_mount xfs 600 "$W/x"; then
    ok "golden copy on XFS # SKIP $FS_WHY"
    echo "1..$T_N"
    exit 0
fi
if ! fs_reflink_ok "$W/x"; then
    not_ok "the XFS image clones (mkfs.xfs -m reflink=1)"
    echo "1..$T_N"
    exit 0
fi
R=$W/x/repo
N=$W/x/node

# same_data A B: the files under blocks/ and state/ have the same bytes (the golden copy's tree
# keeps no owner, mode or mtime of its own; a restore applies the snapshot's).
same_data() {
    diff <(cd "$1" && find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 cksum) \
        <(cd "$2" && find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 cksum) >"$W/data.diff"
}
# written_kib: the KiB the last golden update wrote, from its summary line in $W/err.
written_kib() {
    sed -n 's/.*golden copy updated to [^:]*: \([0-9.]*\) \([KMG]\)iB written.*/\1 \2/p' "$W/err" |
        awk '{ m = $2 == "K" ? 1 : $2 == "M" ? 1024 : 1048576; printf "%d\n", $1 * m }'
}
mkdd "$N" --blocks-size 6M --state-size 16M --state-data 4M

run 0 "repo init --golden" "$SK" repo init "$R" --golden --chunk-size 64K
check "config records the golden copy" grep -qx 'golden on' "$R/config"
run 0 "golden status before any snapshot" "$SK" repo golden "$R" status
check "status: on, none yet" grep -q 'golden copy on, none made yet' "$W/out"
run 0 "first snapshot" "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress
ID1=$(cat "$W/out")
err_has "golden copy updated to $ID1" "the snapshot updates the golden copy"
check "golden/ holds the snapshot, with its record" grep -qx "snapshot $ID1" "$R/golden/record"
check "no golden.new left" test ! -e "$R/golden.new"
check "golden tree is the node's data" same_data "$N" "$R/golden/tree"

# A second snapshot after a little change: only the changed chunks are written.
"$MKDATADIR" mutate "$N" --append-pct 1 --rewrite-pct 1 >/dev/null
run 0 "second snapshot" "$SK" snapshot --data-dir "$N" --repo "$R" --no-progress
ID2=$(cat "$W/out")
check "golden copy now holds the second snapshot" grep -qx "snapshot $ID2" "$R/golden/record"
written=$(written_kib)
err_has "golden copy updated to $ID2: .* written, .* cloned" "the update cloned the old copy"
check "the update wrote only the changed chunks (${written:-?} KiB of ~10 MiB)" test "${written:-99999}" -lt 2048
check "golden tree is the node's data after the update" same_data "$N" "$R/golden/tree"
run 0 "golden status --json" "$SK" repo golden "$R" status --json
check "status names the snapshot" grep -q "\"snapshot\": \"$ID2\"" "$W/out"

# Verify covers the golden copy.
run 0 "verify checks the golden copy" "$SK" verify --repo "$R" --no-progress
check "verify: golden copy good" grep -q "golden copy of $ID2 good" "$W/out"

# Restore by cloning into two slots on the same XFS.
free0=$(df -k --output=used "$W/x" | tail -1)
run 0 "restore into slot 1 clones" "$SK" restore --data-dir "$W/x/s1" --repo "$R" --no-progress
err_has "path clone" "summary says path clone"
check "slot 1 is byte-identical to the snapshot" same_tree "$N" "$W/x/s1"
run 0 "restore into slot 2 clones" "$SK" restore --data-dir "$W/x/s2" --repo "$R" --no-progress
err_has "path clone" "slot 2: path clone"
check "slot 2 is byte-identical to the snapshot" same_tree "$N" "$W/x/s2"
free1=$(df -k --output=used "$W/x" | tail -1)
check "the two slots barely take space ($((free1 - free0)) KiB for 2 x ~10 MiB)" test $((free1 - free0)) -lt 4096
check "slot 1's blocks.log shares its extents (filefrag)" \
    bash -c "filefrag -v '$W/x/s1/blocks/blocks.log' | grep -q shared"
check "no marker left" test ! -e "$W/x/s1/.slotkeeper/restoring"
# A clone needs no room for the data: with less free than the snapshot's data, it still works.
avail=$(df -B1 --output=avail "$W/x" | tail -1)
fallocate -l $((avail - 4 * 1024 * 1024)) "$W/x/filler"
run 0 "restore by cloning with 4 MiB free (the data is ~10 MiB)" "$SK" restore --data-dir "$W/x/s7" --repo "$R" --no-progress
err_has "path clone" "nearly full: path clone"
check "slot 7 is byte-identical" same_tree "$N" "$W/x/s7"
rm -f "$W/x/filler"
run 0 "check: slot 1 is clean" "$SK" check "$W/x/s1"

# A golden copy that fails verification: marked, never cloned from, rebuilt by verify.
f=$R/golden/tree/blocks/blocks.log
printf '\xff' | dd of="$f" bs=1 seek=5000 conv=notrunc status=none
# Changed after it was verified (its ctime says so): never cloned from, even before verify runs.
run 0 "restore with a golden file changed since its verification" \
    "$SK" restore --data-dir "$W/x/s0" --repo "$R" --no-progress
err_has "not restoring by cloning: cloning blocks/blocks.log failed \(the golden copy's file changed since it was verified; run verify\)" \
    "one-line note: changed since verified"
err_has "path full" "changed golden copy: falls back"
check "slot 0 is byte-identical (not the flipped byte)" same_data "$N" "$W/x/s0"
check "no marker, no staging left after the fallback" test ! -e "$W/x/s0/.slotkeeper/restoring" -a ! -e "$W/x/s0/.slotkeeper/staging"
run 3 "verify finds the damaged golden copy (exit 3)" "$SK" verify --repo "$R" --no-progress
check "verify says DAMAGED and rebuilt" grep -q 'golden copy DAMAGED (blocks/blocks.log: chunk 0 does not match the snapshot); rebuilt' "$W/out"
check "rebuilt copy is the node's data" same_data "$N" "$R/golden/tree"
run 0 "verify after the rebuild is clean" "$SK" verify --repo "$R" --no-progress
# Marked damaged (a verify that could not rebuild): never cloned from.
printf 'blocks/blocks.log: chunk 0 does not match the snapshot\n' >"$R/golden/damaged"
run 0 "restore with a golden copy marked damaged" "$SK" restore --data-dir "$W/x/s3" --repo "$R" --no-progress
err_has "not restoring by cloning: the golden copy failed verification" "one-line note: failed verification"
err_has "path delta" "falls back to writing the chunks"
check "slot 3 is byte-identical" same_tree "$N" "$W/x/s3"
run 0 "the next update rebuilds the damaged copy" "$SK" repo golden "$R" on --no-progress
check "the damaged mark is gone" test ! -e "$R/golden/damaged"

# A stale golden copy (of an older snapshot): not cloned from.
run 0 "restore of the first snapshot (the golden copy holds the second)" \
    "$SK" restore --data-dir "$W/x/s4" --snapshot "$ID1" --repo "$R" --no-progress
err_has "golden copy holds snapshot $ID2, not $ID1" "one-line note: stale golden copy"
err_has "path delta" "stale: falls back"

# A slot on ext4: another file system than the golden copy, and no reflinks.
if fs_mount ext4 128 "$W/e"; then
    run 0 "restore into a slot on ext4" "$SK" restore --data-dir "$W/e/s" --repo "$R" --no-progress
    err_has "not restoring by cloning: the golden copy is on another file system than the slot" \
        "one-line note: another file system"
    err_has "path delta" "ext4: falls back to writing the chunks"
    check "ext4 slot is byte-identical" same_data "$N" "$W/e/s"
    # A repository (and golden copy) on ext4: no reflinks; the update copies, restores fall back.
    run 0 "repo on ext4 with a golden copy" "$SK" repo init "$W/e/r" --golden
    run 0 "snapshot into it" "$SK" snapshot --data-dir "$N" --repo "$W/e/r" --no-progress
    run 0 "restore on ext4 from an ext4 golden copy" "$SK" restore --data-dir "$W/e/s2" --repo "$W/e/r" --no-progress
    err_has "the slot's file system cannot clone" "one-line note: no reflinks"
    err_has "path delta" "no reflinks: falls back"
else
    not_ok "ext4 loop mount: $FS_WHY"
fi

# FICLONE failing half-way (the crash build's fault hook).
CRASH_SK=$ROOT/build/crash/slotkeeper
if [ -x "$CRASH_SK" ]; then
    SK_FAULT_CLONE_AFTER=1 run 0 "FICLONE fails after one file" \
        env SK_FAULT_CLONE_AFTER=1 "$CRASH_SK" restore --data-dir "$W/x/s5" --repo "$R" --no-progress
    err_has "not restoring by cloning: cloning .* failed \(Input/output error\)" "one-line note: clone failed"
    err_has "path full" "clone failure: falls back"
    check "slot 5 is byte-identical" same_tree "$N" "$W/x/s5"
    check "no marker, no staging left" test ! -e "$W/x/s5/.slotkeeper/restoring" -a ! -e "$W/x/s5/.slotkeeper/staging"
else
    ok "FICLONE failing half-way # SKIP no crash build (make build/crash/slotkeeper)"
fi

# Off: the copy is removed, restores write the chunks without a note.
run 0 "repo golden off" "$SK" repo golden "$R" off
check "golden/ removed" test ! -e "$R/golden"
check "config no longer says golden on" bash -c "! grep -q golden '$R/config'"
run 0 "restore with the golden copy off" "$SK" restore --data-dir "$W/x/s6" --repo "$R" --no-progress
check "no note about cloning" bash -c "! grep -q 'cloning' '$W/err'"
# A follower: `sync` from an upstream (a folder here; the same for s3://) into a local repository
# that keeps a golden copy brings the golden copy to the copied snapshot, so restores clone it.
U=$W/x/upstream
L=$W/x/local
run 0 "upstream repository" "$SK" repo init "$U" --chunk-size 64K
run 0 "snapshot into the upstream" "$SK" snapshot --data-dir "$N" --repo "$U" --no-progress --no-freeze
UP_ID=$(cat "$W/out")
run 0 "local repository with a golden copy" "$SK" repo init "$L" --golden --chunk-size 64K
run 0 "sync --from the upstream" "$SK" sync --from "$U" --repo "$L" --no-progress
err_has "golden copy updated to $UP_ID" "sync: the golden copy is brought to the copied snapshot"
run 0 "restore from the follower's repository" "$SK" restore --data-dir "$W/x/s7" --repo "$L" --no-progress
err_has "path clone" "a follower's restore clones from its golden copy"
check "slot 7 is byte-identical" same_data "$N" "$W/x/s7"
run 2 "repo golden with an unknown action" "$SK" repo golden "$R" sideways
one_line_error "unknown action"
echo "1..$T_N"
