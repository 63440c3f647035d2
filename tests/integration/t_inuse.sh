#!/usr/bin/env bash
# A live node (a process holding the fcntl lock on state/shared_memory.bin, as
# nodeos does) makes its data-dir untouchable: no snapshot, no restore.
. "$(dirname "$0")/lib.sh"

R=$W/repo
mkdd "$W/src" --blocks-size 2M --state-size 32M --state-data 1M
"$SK" repo init "$R" >/dev/null
ID1=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)

pid=$(holdlock "$W/src/state/shared_memory.bin")
run 5 "snapshot of a data-dir held by a live node: exit 5" "$SK" snapshot --data-dir "$W/src" --repo "$R"
one_line_error "snapshot of a running node"
err_has "state/shared_memory.bin: in use by process $pid" "the error names the file and the pid"
check "no snapshot was published" test "$(ls "$R/snapshots" | wc -l)" = 1
check "no session left in tmp/" bash -c "[ -z \"\$(ls -A '$R/tmp')\" ]"

mkdd "$W/slot" --blocks-size 1M --state-size 16M --state-data 512K --seed 7
before=$(slot_sig "$W/slot")
pid2=$(holdlock "$W/slot/state/shared_memory.bin")
run 5 "restore into a data-dir held by a live node: exit 5" "$SK" restore --data-dir "$W/slot" --repo "$R"
one_line_error "restore onto a running node"
err_has "in use by process $pid2" "the error names the pid"
check "the slot is untouched" test "$before" = "$(slot_sig "$W/slot")"
check "no marker and no staging" test ! -e "$W/slot/.slotkeeper/restoring" -a ! -e "$W/slot/.slotkeeper/staging"
kill "$pid2"
wait "$pid2" 2>/dev/null
run 0 "once the node is gone the restore works" "$SK" restore --data-dir "$W/slot" --repo "$R"
kill "$pid"
wait "$pid" 2>/dev/null
check "and the slot matches the snapshot" same_tree "$W/src" "$W/slot"

# A symlinked included folder in the target is refused (restoring would move data across disks).
mkdir -p "$W/other/blocks" "$W/slot2"
ln -s "$W/other/blocks" "$W/slot2/blocks"
run 1 "restore refuses a target whose blocks/ is a symlink" "$SK" restore --data-dir "$W/slot2" --repo "$R"
err_has "is a symbolic link" "says why"

# A data-dir that is not clean is never snapshotted.
mkdd "$W/dirty" --blocks-size 1M --state-size 16M --state-data 256K
printf '\001' | dd of="$W/dirty/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
run 7 "snapshot of a data-dir whose state has the dirty flag set: exit 7" "$SK" snapshot --data-dir "$W/dirty" --repo "$R"
one_line_error "dirty state"
err_has "dirty: state/shared_memory.bin: Database dirty flag set" "the error names the verdict, the file and the reason"
printf '\000' | dd of="$W/dirty/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
mkdir -p "$W/dirty/.slotkeeper" && echo "snapshot x" >"$W/dirty/.slotkeeper/restoring"
run 7 "snapshot of a data-dir with an unfinished restore: exit 7" "$SK" snapshot --data-dir "$W/dirty" --repo "$R"
err_has "unfinished" "says a restore is unfinished"
rm "$W/dirty/.slotkeeper/restoring"
run 0 "once clean it snapshots" "$SK" snapshot --data-dir "$W/dirty" --repo "$R"
