#!/usr/bin/env bash
# export: a snapshot as a standard .tar.zst that GNU tar restores without slotkeeper, holes
# kept, the manifest inside; streams to stdout; a failed export leaves no file behind.
. "$(dirname "$0")/lib.sh"

R=$W/repo
mkdd "$W/src" --blocks-size 6M --state-size 256M --state-data 2M
chown 1234:5678 "$W/src/blocks/blocks.index"
ln -s blocks.log "$W/src/blocks/latest.log"
"$SK" repo init "$R" >/dev/null
ID=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)

run 0 "export to a file" "$SK" export "$ID" -o "$W/snap.tar.zst" --repo "$R"
check "the file is a valid zstd stream (with checksums)" zstd -tq "$W/snap.tar.zst"
mkdir -p "$W/x"
check "GNU tar extracts it" tar --zstd -xf "$W/snap.tar.zst" -C "$W/x"
check "what tar extracts is identical (content, mode, owner, mtime, links)" same_tree "$W/src" "$W/x"
check "tar kept the state file's holes" \
    test "$(blocks_of "$W/x/state/shared_memory.bin")" -le $(($(blocks_of "$W/src/state/shared_memory.bin") + 2048))
check "the manifest is inside, in slotkeeper's own folder (.slotkeeper/manifest)" cmp -s "$W/x/.slotkeeper/manifest" "$R/snapshots/$ID"
check "a plain extraction leaves nothing but blocks/, state/ and .slotkeeper/ in the data-dir" \
    test "$(ls -A "$W/x" | tr '\n' ' ')" = ".slotkeeper blocks state "
# Extracted over a data-dir a restore already used, the folder keeps its mode and contents.
mkdir -p "$W/x2/.slotkeeper/quarantine" && chmod 0700 "$W/x2/.slotkeeper"
tar --zstd -xf "$W/snap.tar.zst" -C "$W/x2"
check "an existing .slotkeeper/ keeps its mode and quarantine" \
    bash -c "[ \"\$(stat -c %a '$W/x2/.slotkeeper')\" = 700 ] && [ -d '$W/x2/.slotkeeper/quarantine' ]"
check "the extracted data-dir passes check" "$SK" check "$W/x"
check "no temporary file left next to it" test -z "$(ls "$W" | grep 'snap.tar.zst.tmp')"

run 0 "export latest to stdout" bash -c "'$SK' export latest -o - --repo '$R' | zstd -dcq | tar -tf - >'$W/list'"
check "the manifest is the first entry" test "$(head -1 "$W/list")" = .slotkeeper/manifest
check "every file is listed" bash -c "grep -qx 'state/shared_memory.bin' '$W/list' && grep -qx 'blocks/blocks.log' '$W/list'"

run 2 "a bad snapshot id" "$SK" export ../x -o "$W/y.tar.zst" --repo "$R"
run 1 "an unknown snapshot" "$SK" export 20200101T000000Z-000000-0000 -o "$W/y.tar.zst" --repo "$R"
one_line_error "unknown snapshot"
check "nothing written for it" test ! -e "$W/y.tar.zst"
run 1 "an unwritable output" "$SK" export "$ID" -o "$W/no/such/dir/y.tar.zst" --repo "$R"
one_line_error "unwritable output"
run 2 "export without -o" "$SK" export "$ID" --repo "$R"

# A damaged chunk stops the export; no partial archive is left under either name.
h=$(grep '^c ' "$R/snapshots/$ID" | head -1 | cut -d' ' -f3)
f=$R/chunks/${h:0:2}/$h
printf '\xff' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") / 2)) conv=notrunc status=none
run 3 "export meets a damaged chunk: exit 3" "$SK" export "$ID" -o "$W/z.tar.zst" --repo "$R"
err_has "damaged chunk" "says which chunk"
check "no archive and no temporary left" bash -c "! ls '$W' | grep -q '^z.tar.zst'"
