#!/usr/bin/env bash
# import: an export comes back checked chunk by chunk; a plain tarball of a clean data-dir is
# taken; hostile archives are refused and leave the repository as it was.
. "$(dirname "$0")/lib.sh"

R=$W/repo
mkdd "$W/src" --blocks-size 3M --state-size 64M --state-data 1M
ln -s blocks.log "$W/src/blocks/latest.log"
"$SK" repo init "$R" >/dev/null
ID=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
"$SK" export "$ID" -o "$W/snap.tar.zst" --repo "$R" 2>/dev/null

R2=$W/repo2
"$SK" repo init "$R2" --chunk-size 64KiB >/dev/null
run 0 "import an export into another repository (other chunk size)" "$SK" import "$W/snap.tar.zst" --repo "$R2"
ID2=$(tail -1 "$W/out")
err_has "checked against its manifest" "says it was checked against the manifest"
run 0 "the imported snapshot verifies" "$SK" verify --all --repo "$R2"
run 0 "and restores" "$SK" restore --data-dir "$W/back" --repo "$R2"
check "identical to the source (content, mode, owner, mtime, links)" same_tree "$W/src" "$W/back"
check "the import keeps the source's facts and names the source snapshot" \
    bash -c "grep -q '^fact import.source-id $ID\$' '$R2/snapshots/$ID2' && grep -q '^fact source.layout leap5' '$R2/snapshots/$ID2'"
run 0 "import from stdin" bash -c "'$SK' import - --repo '$R2' <'$W/snap.tar.zst'"
check "the second import stored nothing new" grep -q '"new_bytes": 0,' <("$SK" list --repo "$R2" --json)

# A plain tarball (no manifest) of a clean data-dir, as tar, tar.gz and tar.zst.
tar -C "$W/src" -cf "$W/plain.tar" blocks state
gzip -c "$W/plain.tar" >"$W/plain.tar.gz"
zstd -q -c "$W/plain.tar" >"$W/plain.tar.zst"
for f in plain.tar plain.tar.gz plain.tar.zst; do
    run 0 "import a plain $f of a clean data-dir" "$SK" import "$W/$f" --repo "$R2"
    err_has "no manifest, data-dir clean" "$f: says it had no manifest and check said clean"
done
# Its manifest records what the check found: the chain (a restore must not cross it) and the head block.
P=$R2/snapshots/$(tail -1 "$W/out")
check "a plain import records the chain id and head block of its data-dir" \
    bash -c "grep -q '^fact source.chain-id 90d8c7436017001e64891e8b6b7eb0060baeb350048eb52d2cdb594fdbc2617d$' '$P' &&
             grep -q '^fact source.last-block [1-9]' '$P' && ! grep -q '^fact source.data-dir' '$P'"
tar -C "$W/src" -cf "$W/whole.tar" .
run 0 "a tarball of a whole data-dir (config.ini and all) imports its folders" "$SK" import "$W/whole.tar" --repo "$R2"
err_has "config.ini: skipped" "and says it skipped the top-level files"
check "that snapshot includes blocks and state only" grep -q '^include blocks state$' "$R2/snapshots/$(tail -1 "$W/out")"
# The usual way to tar a data-dir: one top folder holding blocks/, state/, config.ini (issue 16, 4).
mkdir -p "$W/eos" && cp -a "$W/src" "$W/eos/archive" && echo "p2p-peer-address = x:9876" >"$W/eos/archive/config.ini"
mkdir -p "$W/eos/archive/.slotkeeper/quarantine/old"
tar -C "$W/eos" -czf "$W/top.tar.gz" archive
run 0 "a tarball of one top folder that is a data-dir (tar -C /srv/eos -czf x.tar.gz archive)" \
    "$SK" import "$W/top.tar.gz" --repo "$R2"
err_has "archive/: a whole data-dir in one folder" "and says it took the folder as the data-dir"
check "that snapshot includes blocks and state only (no .slotkeeper, no archive/)" \
    grep -q '^include blocks state$' "$R2/snapshots/$(tail -1 "$W/out")"
rm -rf "$W/top-back"
"$SK" restore --snapshot "$(tail -1 "$W/out")" --data-dir "$W/top-back" --repo "$R2" >/dev/null 2>&1
check "and restores the data-dir's blocks and state" \
    bash -c "diff -r --no-dereference '$W/src/blocks' '$W/top-back/blocks' && cmp '$W/src/state/shared_memory.bin' '$W/top-back/state/shared_memory.bin'"
mkdir -p "$W/two/a" "$W/two/b" && tar -C "$W/two" -cf "$W/h2.tar" a b
run 7 "two top folders that are no data-dir are still refused" "$SK" import "$W/h2.tar" --repo "$R2"
mkdir -p "$W/dotx" && tar --zstd -xf "$W/snap.tar.zst" -C "$W/dotx"
tar -C "$W/dotx" -cf "$W/dot.tar" ./.slotkeeper/manifest ./blocks ./state
run 0 "an export re-packed with ./ names still imports against its manifest" "$SK" import "$W/dot.tar" --repo "$R2"
err_has "checked against its manifest" "and is checked against it"
tar -C "$W/dotx" -cf "$W/dotdir.tar" .slotkeeper blocks state
run 0 "an export re-packed with its .slotkeeper/ folder entry first imports against its manifest" \
    "$SK" import "$W/dotdir.tar" --repo "$R2"
err_has "checked against its manifest" "and is checked against it"
# An export made before the manifest moved to .slotkeeper/manifest: the old name still reads.
mkdir -p "$W/oldx" && cp -a "$W/dotx/blocks" "$W/dotx/state" "$W/oldx/" && cp "$W/dotx/.slotkeeper/manifest" "$W/oldx/.slotkeeper-manifest"
tar -C "$W/oldx" -cf "$W/old.tar" .slotkeeper-manifest blocks state
run 0 "an older export (.slotkeeper-manifest at the top) imports against its manifest" "$SK" import "$W/old.tar" --repo "$R2"
err_has "checked against its manifest" "and is checked against it"
rm -rf "$W/back2"
"$SK" restore --data-dir "$W/back2" --repo "$R2" >/dev/null 2>&1
# (a GNU-format tarball keeps whole-second mtimes only, so compare contents and links here)
check "a plain import restores the same contents" diff -r --no-dereference "$W/src/blocks" "$W/back2/blocks"
check "and the same state" cmp "$W/src/state/shared_memory.bin" "$W/back2/state/shared_memory.bin"

# No setuid/setgid bits come in from an archive.
mkdir -p "$W/suid" && cp -a "$W/src/blocks" "$W/src/state" "$W/suid/"
chmod 4755 "$W/suid/blocks/blocks.index"
chmod 2755 "$W/suid/blocks/reversible"
tar -C "$W/suid" -cf "$W/suid.tar" blocks state
run 0 "import of a tarball with setuid/setgid bits" "$SK" import "$W/suid.tar" --repo "$R2"
sid=$(tail -1 "$W/out")
"$SK" restore --snapshot "$sid" --data-dir "$W/suid-back" --repo "$R2" >/dev/null 2>&1
check "the bits were dropped" bash -c "[ \"\$(stat -c %a '$W/suid-back/blocks/blocks.index')\" = 755 ] && [ \"\$(stat -c %a '$W/suid-back/blocks/reversible')\" = 755 ]"

# Refusals. Each leaves the repository exactly as it was.
snaps_before=$(ls "$R2/snapshots" | wc -l)
refused() { # ARCHIVE DESC REGEX [RC]
    run "${4:-3}" "refused: $2" "$SK" import "$1" --repo "$R2"
    err_has "$3" "$2: says why"
    one_line_error "$2"
    check "$2: nothing published, nothing left in tmp/" \
        bash -c "[ \"\$(ls '$R2/snapshots' | wc -l)\" = $snaps_before ] && [ -z \"\$(ls -A '$R2/tmp')\" ]"
}
mkdir -p "$W/h"
cp -a "$W/src" "$W/dirty" && printf '\001' | dd of="$W/dirty/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
tar -C "$W/dirty" -cf "$W/h/dirty.tar" blocks state
refused "$W/h/dirty.tar" "a plain tarball of a dirty data-dir" "the data-dir in it is dirty" 7
tar -P -cf "$W/h/abs.tar" "$W/src/config.ini" 2>/dev/null
refused "$W/h/abs.tar" "an absolute path" "unsafe path"
(cd "$W/src/blocks" && tar -P -cf "$W/h/dotdot.tar" ../config.ini)
refused "$W/h/dotdot.tar" "a '..' path" "unsafe path"
mkdir -p "$W/e1/blocks" && ln -s /etc/passwd "$W/e1/blocks/evil"
tar -C "$W/e1" -cf "$W/h/symabs.tar" blocks
refused "$W/h/symabs.tar" "a symlink to an absolute path" "symbolic link target"
mkdir -p "$W/e2/blocks" && ln -s ../../../etc "$W/e2/blocks/evil"
tar -C "$W/e2" -cf "$W/h/symdot.tar" blocks
refused "$W/h/symdot.tar" "a symlink climbing out with '..'" "symbolic link target"
mkdir -p "$W/e3/blocks" && echo x >"$W/e3/blocks/a" && ln "$W/e3/blocks/a" "$W/e3/blocks/b"
tar -C "$W/e3" -cf "$W/h/hard.tar" blocks
refused "$W/h/hard.tar" "a hard link" "hard links are not accepted"
mkdir -p "$W/e4/blocks" && mkfifo "$W/e4/blocks/fifo"
tar -C "$W/e4" -cf "$W/h/fifo.tar" blocks
refused "$W/h/fifo.tar" "a fifo" "only folders, regular files and symbolic links"
if mknod "$W/e5-null" c 1 3 2>/dev/null; then
    mkdir -p "$W/e5/blocks" && mv "$W/e5-null" "$W/e5/blocks/null"
    tar -C "$W/e5" -cf "$W/h/dev.tar" blocks
    refused "$W/h/dev.tar" "a device node" "only folders, regular files and symbolic links"
else
    ok "a device node # SKIP mknod is not permitted here (not root)"
fi
long=$(printf 'x%.0s' $(seq 5000))
tar -C "$W/src" -cf "$W/h/long.tar" --transform "s|^blocks/blocks.index|blocks/$long|" blocks
refused "$W/h/long.tar" "a name longer than PATH_MAX" "longer than PATH_MAX|unsafe path"
head -c $(($(stat -c %s "$W/snap.tar.zst") * 6 / 10)) "$W/snap.tar.zst" >"$W/h/trunc.tar.zst"
refused "$W/h/trunc.tar.zst" "a truncated stream" "truncated or damaged"
head -c 100000 /dev/urandom >"$W/h/garbage.bin"
refused "$W/h/garbage.bin" "not an archive at all" "not a tar|truncated or damaged"

# Manifests that lie.
mkdir -p "$W/lie" && tar --zstd -xf "$W/snap.tar.zst" -C "$W/lie" && cp "$W/lie/.slotkeeper/manifest" "$W/lie/.slotkeeper-manifest"
printf 'Z' | dd of="$W/lie/blocks/blocks.log" bs=1 seek=1000 conv=notrunc status=none
tar -C "$W/lie" -cf "$W/h/lie-hash.tar" .slotkeeper-manifest blocks state
refused "$W/h/lie-hash.tar" "a file whose data does not match the manifest's hashes" "does not match the manifest"
tar -C "$W/lie" -cf "$W/h/lie-hash2.tar" .slotkeeper/manifest blocks state
refused "$W/h/lie-hash2.tar" "the same under .slotkeeper/manifest" "does not match the manifest"
tar --zstd -xf "$W/snap.tar.zst" -C "$W/lie" && cp "$W/lie/.slotkeeper/manifest" "$W/lie/.slotkeeper-manifest"
truncate -s -1 "$W/lie/blocks/blocks.index"
tar -C "$W/lie" -cf "$W/h/lie-size.tar" .slotkeeper-manifest blocks state
refused "$W/h/lie-size.tar" "a file whose size differs from the manifest" "size differs from the manifest"
tar --zstd -xf "$W/snap.tar.zst" -C "$W/lie" && cp "$W/lie/.slotkeeper/manifest" "$W/lie/.slotkeeper-manifest"
echo extra >"$W/lie/blocks/extra"
tar -C "$W/lie" -cf "$W/h/lie-extra.tar" .slotkeeper-manifest blocks state
refused "$W/h/lie-extra.tar" "a file the manifest does not list" "entries, its manifest lists"
rm "$W/lie/blocks/extra"
tar -C "$W/lie" -cf "$W/h/late-manifest.tar" blocks .slotkeeper-manifest state
refused "$W/h/late-manifest.tar" "a manifest that is not first" "the manifest must come first"
tar -C "$W/lie" -cf "$W/h/late-meta.tar" blocks .slotkeeper state
run 0 "a data-dir with .slotkeeper/manifest after blocks/ (an extracted export, tarred again) is a plain tarball" \
    "$SK" import "$W/h/late-meta.tar" --repo "$R2"
err_has ".slotkeeper/: skipped" "its .slotkeeper/ is skipped as slotkeeper's own folder"
snaps_before=$(ls "$R2/snapshots" | wc -l)
printf 'slotkeeper-manifest 1\nid x\n' >"$W/lie/.slotkeeper-manifest"
tar -C "$W/lie" -cf "$W/h/bad-manifest.tar" .slotkeeper-manifest blocks state
refused "$W/h/bad-manifest.tar" "a corrupt manifest" "corrupt manifest inside"
run 1 "a missing file" "$SK" import "$W/none.tar" --repo "$R2"
one_line_error "missing archive"
