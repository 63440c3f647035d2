#!/usr/bin/env bash
# Full disk: ENOSPC in the middle of a snapshot (a small tmpfs holding the repository)
# and a file-size limit (EFBIG, the same path) fail that snapshot with a clear message,
# remove its temporary files and leave every earlier snapshot intact and restorable.
# A restore checks free space first, and a write failure midway leaves the slot as it was.
. "$(dirname "$0")/lib.sh"

mkdd "$W/small-src" --blocks-size 1M --state-size 16M --state-data 256K
mkdd "$W/big-src" --blocks-size 24M --state-size 64M --state-data 4M --seed 5

nospace_case() { # REPO LABEL
    local R=$1 label=$2
    run 0 "$label: first, small snapshot fits" "$SK" snapshot --data-dir "$W/small-src" --repo "$R"
    local id1
    id1=$(tail -1 "$W/out")
    run 6 "$label: a snapshot that does not fit fails with exit 6" "$SK" snapshot --data-dir "$W/big-src" --repo "$R"
    one_line_error "$label"
    err_has "No space left on device|File too large" "$label: the error says the storage is full"
    check "$label: no temporary files left in tmp/" bash -c "[ -z \"\$(ls -A '$R/tmp')\" ]"
    check "$label: only the earlier snapshot is listed" test "$(ls "$R/snapshots")" = "$id1"
    run 0 "$label: the earlier snapshot still verifies" "$SK" verify --all --repo "$R"
    rm -rf "$W/r-$label"
    run 0 "$label: and restores" "$SK" restore --data-dir "$W/r-$label" --repo "$R"
    check "$label: byte-identical" same_tree "$W/small-src" "$W/r-$label"
}

mkdir -p "$W/small"
if mount -t tmpfs -o size=6m tmpfs "$W/small" 2>/dev/null; then
    "$SK" repo init "$W/small/repo" --chunk-size 64KiB >/dev/null
    nospace_case "$W/small/repo" tmpfs
    # A restore into a slot that cannot hold the snapshot is refused before anything changes.
    mkdir -p "$W/small/slot/blocks" && echo old >"$W/small/slot/blocks/blocks.log"
    "$SK" repo init "$W/bigrepo" >/dev/null
    "$SK" snapshot --data-dir "$W/big-src" --repo "$W/bigrepo" >/dev/null 2>&1
    run 6 "restore into a slot without room: exit 6" "$SK" restore --data-dir "$W/small/slot" --repo "$W/bigrepo"
    one_line_error "restore without room"
    err_has "not enough space: the snapshot needs .* available" "says how much it needs and has"
    check "the slot is untouched" bash -c "[ \"\$(cat '$W/small/slot/blocks/blocks.log')\" = old ] && [ ! -e '$W/small/slot/.slotkeeper/restoring' ]"
    umount "$W/small"
    # An included folder that is a mount point cannot be swapped: refused before anything changes.
    mkdir -p "$W/mslot/blocks"
    mount -t tmpfs -o size=1m tmpfs "$W/mslot/blocks"
    echo old >"$W/mslot/blocks/blocks.log"
    run 1 "restore refuses a slot whose blocks/ is a mount point" "$SK" restore --data-dir "$W/mslot" --repo "$W/bigrepo"
    err_has "is a mount point" "says why"
    check "the mounted folder is untouched and no marker is left" \
        bash -c "[ \"\$(cat '$W/mslot/blocks/blocks.log')\" = old ] && [ ! -e '$W/mslot/.slotkeeper/restoring' ]"
    umount "$W/mslot/blocks"
else
    ok "a full tmpfs # SKIP mounting a tmpfs is not permitted here (the file-size limit case below covers the same path)"
fi

# RLIMIT_FSIZE: writes past the limit fail with EFBIG, like a full disk.
"$SK" repo init "$W/lrepo" --chunk-size 64KiB >/dev/null
"$SK" snapshot --data-dir "$W/small-src" --repo "$W/lrepo" >"$W/out" 2>"$W/err"
id1=$(tail -1 "$W/out")
(ulimit -f 8 && exec "$SK" snapshot --data-dir "$W/big-src" --repo "$W/lrepo" --threads 1) >"$W/out" 2>"$W/err"
check "fsize: the snapshot past the limit fails with exit 6" test $? = 6
one_line_error "fsize"
check "fsize: no temporary files left" bash -c "[ -z \"\$(ls -A '$W/lrepo/tmp')\" ]"
check "fsize: only the earlier snapshot is listed" test "$(ls "$W/lrepo/snapshots")" = "$id1"
run 0 "fsize: the earlier snapshot verifies" "$SK" verify --all --repo "$W/lrepo"

# A --full restore whose writes fail midway leaves the slot as it was (no marker, no staging).
"$SK" snapshot --data-dir "$W/big-src" --repo "$W/lrepo" >/dev/null 2>&1
mkdd "$W/slot" --blocks-size 1M --state-size 16M --state-data 256K --seed 9
before=$(slot_sig "$W/slot")
(ulimit -f 4096 && exec "$SK" restore --full --data-dir "$W/slot" --repo "$W/lrepo") >"$W/out" 2>"$W/err"
check "a --full restore that hits the size limit midway fails with exit 6" test $? = 6
one_line_error "restore hits the limit"
check "the slot is as it was" test "$before" = "$(slot_sig "$W/slot")"
check "no marker, no staging left" test ! -e "$W/slot/.slotkeeper/restoring" -a ! -e "$W/slot/.slotkeeper/staging"
# A delta restore writes in place: one that fails midway leaves the slot as it was (it failed
# before its first change) or marked restoring (unstartable), and a re-run completes it.
(ulimit -f 4096 && exec "$SK" restore --data-dir "$W/slot" --repo "$W/lrepo") >"$W/out" 2>"$W/err"
check "a delta restore that hits the size limit midway fails with exit 6" test $? = 6
one_line_error "delta restore hits the limit"
if [ -e "$W/slot/.slotkeeper/restoring" ]; then
    run 15 "the slot is restoring (unstartable)" "$SK" check "$W/slot"
else
    check "the slot is as it was" test "$before" = "$(slot_sig "$W/slot")"
fi
run 0 "the restore run again completes it" "$SK" restore --data-dir "$W/slot" --repo "$W/lrepo"
check "the slot is the snapshot" same_tree "$W/big-src" "$W/slot"
check "no marker left" test ! -e "$W/slot/.slotkeeper/restoring"
