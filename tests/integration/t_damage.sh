#!/usr/bin/env bash
# Damaged storage: a flipped byte in a chunk or a manifest is found by verify,
# the snapshot is marked bad and never restored; a restore that meets damage
# fails cleanly and leaves the slot as it was.
. "$(dirname "$0")/lib.sh"

R=$W/repo
mkdd "$W/src" --blocks-size 4M --state-size 64M --state-data 2M
"$SK" repo init "$R" --chunk-size 64KiB >/dev/null
ID1=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
"$MKDATADIR" mutate "$W/src" --append-pct 5 >/dev/null
ID2=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
check "two snapshots" test -n "$ID1" -a -n "$ID2" -a "$ID1" != "$ID2"

# Flip one byte in a chunk only the newer snapshot references.
only2=$(comm -13 <(grep '^c ' "$R/snapshots/$ID1" | cut -d' ' -f3 | sort -u) \
    <(grep '^c ' "$R/snapshots/$ID2" | cut -d' ' -f3 | sort -u) | head -1)
chunk=$R/chunks/${only2:0:2}/$only2
check "found a chunk only the newer snapshot uses" test -f "$chunk"
sz=$(stat -c %s "$chunk")
printf '\xff' | dd of="$chunk" bs=1 seek=$((sz / 2)) conv=notrunc status=none

# A used slot, to prove a failed restore changes nothing.
"$SK" restore --snapshot "$ID1" --data-dir "$W/slot" --repo "$R" >/dev/null 2>&1
echo keep >"$W/slot/config.ini"
before=$(slot_sig "$W/slot")

run 3 "restore latest meets the damaged chunk: exit 3" "$SK" restore --data-dir "$W/slot" --repo "$R"
one_line_error "damaged restore"
err_has "$only2" "the error names the damaged chunk"
err_has "blocks/|state/" "the error names the file that uses it"
check "slot unchanged after the failed restore" test "$before" = "$(slot_sig "$W/slot")"
check "no restore marker after a failed restore" test ! -e "$W/slot/.slotkeeper/restoring"
check "no staging left" test ! -e "$W/slot/.slotkeeper/staging"
check "the damaged snapshot is marked bad" test -f "$R/snapshots/$ID2.bad"
run 0 "list" "$SK" list --repo "$R"
check "list shows it bad" grep -q "$ID2.*bad" "$W/out"

run 0 "restore latest now falls to the older good snapshot" "$SK" restore --data-dir "$W/slot" --repo "$R"
check "it restored the older snapshot" grep -qx "$ID1" "$W/out"
run 3 "restore of a snapshot marked bad is refused" "$SK" restore --snapshot "$ID2" --data-dir "$W/x" --repo "$R"
err_has "marked bad" "the refusal says it is marked bad"

run 3 "verify --all finds the damage: exit 3" "$SK" verify --all --repo "$R"
check "verify names the damaged chunk and file" grep -Eq "damaged chunks/${only2:0:2}/$only2: chunk [0-9]+ of (blocks|state)/" "$W/out"
check "verify says the other snapshot is good" grep -q "^$ID1 good" "$W/out"
run 3 "verify --json" "$SK" verify --all --repo "$R" --json
check "verify --json lists the damaged chunk" grep -q "\"chunk\": \"chunks/${only2:0:2}/$only2\"" "$W/out"

check "the damaged chunk was set aside" test -f "$chunk.damaged" -a ! -e "$chunk"
# A missing chunk.
other=$(grep '^c ' "$R/snapshots/$ID2" | cut -d' ' -f3 | grep -v "$only2" | head -1)
rm -f "$R/chunks/${other:0:2}/$other"
run 3 "verify finds a missing chunk" "$SK" verify "$ID2" --repo "$R"
check "verify says missing" grep -q "missing chunks/" "$W/out"

# A damaged manifest: every byte matters.
ID3=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
cp "$R/snapshots/$ID3" "$W/manifest.orig"
sed -i '0,/^f /s/^f 0644/f 0664/' "$R/snapshots/$ID3"
run 0 "list with a corrupt manifest" "$SK" list --repo "$R"
check "list reports it bad: corrupt manifest" grep -q "$ID3.*bad.*corrupt manifest" "$W/out"
run 3 "restore of a corrupt manifest: exit 3" "$SK" restore --snapshot "$ID3" --data-dir "$W/y" --repo "$R"
one_line_error "corrupt manifest"
err_has "snapshots/$ID3: .*checksum mismatch" "the error names the manifest and the reason"
check "nothing was created for the refused restore" test ! -e "$W/y/blocks"

# A truncated manifest (as if cut by a crash) is corrupt, never half-used.
ID4=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
head -c 2000 "$R/snapshots/$ID4" >"$W/t" && cat "$W/t" >"$R/snapshots/$ID4"

"$SK" restore --data-dir "$W/z" --repo "$R" >"$W/out" 2>"$W/err"
check "restore latest skipped the truncated and the corrupt manifests" grep -qx "$ID1" "$W/out"
check "the truncated manifest is now marked bad" test -f "$R/snapshots/$ID4.bad"

# Repository config damage.
cp "$R/config" "$W/config.orig"
echo "bogus 1" >>"$R/config"
run 3 "a damaged repository config is refused" "$SK" list --repo "$R"
err_has "repo/config: line 5: unknown key" "the error names the config file and line"
cp "$W/config.orig" "$R/config"
