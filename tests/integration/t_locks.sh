#!/usr/bin/env bash
# Repository locks and prune: prune is exclusive, snapshots and restores are
# shared; a locked repository fails clearly or is waited for; a dead holder
# never blocks; prune keeps the newest good snapshot and frees chunks.
. "$(dirname "$0")/lib.sh"

R=$W/repo
mkdd "$W/src" --blocks-size 3M --state-size 32M --state-data 1M
"$SK" repo init "$R" --chunk-size 64KiB >/dev/null
ID1=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)

# held MODE: waits until a background flock holds the repository lock in MODE (-x or -s),
# i.e. until taking the opposite kind would fail, so no test races the holder's start.
held() {
    local probe=-x
    [ "$1" = -x ] && probe=-s
    for _ in $(seq 200); do
        flock -n "$probe" "$R/lock" true || return 0
        sleep 0.05
    done
    return 1
}

# An exclusive holder (as prune would be): snapshot fails at once with --lock-wait 0 ...
flock -F -x "$R/lock" sleep 30 &
holder=$!
BG_PIDS+=("$holder")
held -x
run 4 "snapshot while the repository is held exclusively: exit 4" \
    "$SK" snapshot --data-dir "$W/src" --repo "$R" --lock-wait 0
one_line_error "locked repository"
err_has "repository is locked" "the error says the repository is locked"
run 4 "restore while held exclusively: exit 4" "$SK" restore --data-dir "$W/slot" --repo "$R" --lock-wait 0
check "the refused restore created nothing" test ! -e "$W/slot/blocks"
# ... and waits when asked to, then succeeds once the holder is gone.
(sleep 1 && kill "$holder") &
run 0 "snapshot --lock-wait 20s waits for the lock" "$SK" snapshot --data-dir "$W/src" --repo "$R" --lock-wait 20s
err_has "waiting for the repository lock" "it said it was waiting"

# A holder killed with SIGKILL does not leave the repository locked.
flock -F -x "$R/lock" sleep 30 &
h2=$!
held -x
kill -9 "$h2"
wait "$h2" 2>/dev/null
run 0 "a killed lock holder leaves no lock behind" "$SK" snapshot --data-dir "$W/src" --repo "$R" --lock-wait 0

# A shared holder (a running snapshot) blocks prune but not another snapshot.
flock -F -s "$R/lock" sleep 30 &
h3=$!
BG_PIDS+=("$h3")
held -s
run 0 "snapshot while another shared holder runs" "$SK" snapshot --data-dir "$W/src" --repo "$R" --lock-wait 0
run 4 "prune while a snapshot holds the lock: exit 4" "$SK" prune --keep-last 1 --repo "$R" --lock-wait 0
kill "$h3"
wait "$h3" 2>/dev/null

# Prune itself.
"$MKDATADIR" mutate "$W/src" --append-pct 20 --rewrite-pct 20 >/dev/null
IDN=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
n_before=$(ls "$R/snapshots" | wc -l)
c_before=$(find "$R/chunks" -type f | wc -l)
# An orphan chunk, as a snapshot killed after publishing chunks would leave.
mkdir -p "$R/chunks/00" && echo junk >"$R/chunks/00/00000000000000000000000000000000"
run 0 "prune --keep-last 1" "$SK" prune --keep-last 1 --repo "$R"
check "prune kept only the newest snapshot" test "$(ls "$R/snapshots")" = "$IDN"
check "prune reported what it removed" grep -q "removed $((n_before - 1))" "$W/out"
check "prune reports bytes freed" grep -Eq 'freed [0-9.]+ (B|KiB|MiB)' "$W/out"
c_after=$(find "$R/chunks" -type f | wc -l)
check "prune removed unreferenced chunks ($c_before -> $c_after)" test "$c_after" -lt "$c_before"
check "prune removed the orphan chunk" test ! -e "$R/chunks/00/00000000000000000000000000000000"
run 0 "the kept snapshot still verifies" "$SK" verify --all --repo "$R"
run 0 "and restores" "$SK" restore --data-dir "$W/after-prune" --repo "$R"
check "restored data matches" same_tree "$W/src" "$W/after-prune"

# The newest good snapshot survives even when newer ones are bad.
IDB=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
echo "damaged" >"$R/snapshots/$IDB.bad"
run 0 "prune --keep-last 1 with a newer bad snapshot" "$SK" prune --keep-last 1 --repo "$R"
check "the newest good snapshot was kept, the bad one removed" test "$(ls "$R/snapshots")" = "$IDN"
run 2 "prune --keep-last 0 is a usage error" "$SK" prune --keep-last 0 --repo "$R"
run 2 "prune without --keep-last is a usage error" "$SK" prune --repo "$R"

# A repository whose lock file was removed (issue 10, 8): every command used to fail with
# ENOENT and `repo init` refuses an existing repository. A repository whose config is valid
# gets its lock back, said once on stderr; the commands then work, prune's exclusion included.
rm "$R/lock"
run 0 "list with the lock file removed" "$SK" list --repo "$R"
err_has "$R/lock: was missing; recreated it" "says it recreated the lock"
check "the lock file is back" test -f "$R/lock"
rm "$R/lock"
run 0 "snapshot with the lock file removed" "$SK" snapshot --data-dir "$W/src" --repo "$R"
flock -F -s "$R/lock" sleep 30 &
h4=$!
BG_PIDS+=("$h4")
held -s
run 4 "and the recreated lock excludes prune from a running snapshot" "$SK" prune --keep-last 1 --repo "$R" --lock-wait 0
kill "$h4"
wait "$h4" 2>/dev/null
run 0 "prune with the lock file removed" bash -c "rm '$R/lock' && '$SK' prune --keep-last 1 --repo '$R'"

# A repository on a read-only mount (issue 10, 8): list, verify, restore and export only read,
# so they work; a damaged snapshot is reported without a word about marking it; prune, which
# writes, fails with one line. A read-only bind mount of the repository, as a container gets.
RO=$W/ro
mkdir -p "$RO"
[ -f "$R/lock" ] || : >"$R/lock" # (so that a build without the recreation tests this too)
ro_cleanup() {
    mountpoint -q "$RO" && umount "$RO"
    finish
}
trap ro_cleanup EXIT
if mount --bind "$R" "$RO" 2>/dev/null && mount -o remount,bind,ro "$RO" 2>/dev/null; then
    check "the mount is read-only" bash -c "! touch '$RO/probe' 2>/dev/null"
    run 0 "list from a read-only repository" "$SK" list --repo "$RO"
    check "lists the kept snapshot" grep -q "$(ls "$R/snapshots")" "$W/out"
    run 0 "verify --all from a read-only repository" "$SK" verify --all --repo "$RO"
    run 0 "restore from a read-only repository" "$SK" restore --data-dir "$W/from-ro" --repo "$RO"
    check "restored data matches" same_tree "$W/src" "$W/from-ro"
    run 0 "export from a read-only repository" "$SK" export latest -o "$W/ro.tar.zst" --repo "$RO"
    run 1 "prune of a read-only repository fails" "$SK" prune --keep-last 1 --repo "$RO"
    one_line_error "prune of a read-only repository"
    err_has "Read-only file system" "says why"
    # Damage a chunk through the writable path: verify reports it, quietly unable to mark it.
    chunk=$(find "$R/chunks" -type f -size +0 | head -1)
    cp "$chunk" "$W/chunk.bak"
    printf 'junk' | dd of="$chunk" bs=1 seek=20 conv=notrunc 2>/dev/null
    run 3 "verify of a damaged snapshot from a read-only repository: exit 3" "$SK" verify --all --repo "$RO"
    check "no warning about marking it bad" bash -c "! grep -q 'cannot mark' '$W/err'"
    cp "$W/chunk.bak" "$chunk"
    # A read-only repository without a lock file cannot be locked: one clear line.
    umount "$RO"
    mv "$R/lock" "$W/lock.bak"
    mount --bind "$R" "$RO" && mount -o remount,bind,ro "$RO"
    run 1 "a read-only repository without its lock file" "$SK" list --repo "$RO"
    err_has "$RO/lock: missing, and the repository is read-only" "says why"
    umount "$RO"
    mv "$W/lock.bak" "$R/lock"
else
    ok "read-only repository # SKIP mount --bind is not permitted here"
fi
