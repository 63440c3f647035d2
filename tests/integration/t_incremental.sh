#!/usr/bin/env bash
# Append-aware incremental snapshots (README, "Incremental snapshots"): a grown append-only
# file carries its prefix from the parent; a replaced file, a rewritten boundary, a cut tail,
# --full-reread and the periodic full re-read read it whole; frozen-origin identities are
# honoured; a pruned block log follows its own rule; verify still checks carried chunks.
. "$(dirname "$0")/lib.sh"

R=$W/repo
D=$W/dd
MiB=1048576
mkdd "$D" --blocks-size 24M --state-size 32M --state-data 4M --seed 1
"$SK" repo init "$R" --quiet >/dev/null

# snap DESC [ARGS...]: snapshot of $D (or --data-dir in ARGS) with --json; sets ID, READ, CARRIED, DATA, PARENT.
snap() {
    local desc=$1
    shift
    local dd=$D
    [ "${1:-}" = --dd ] && dd=$2 && shift 2
    run 0 "$desc" "$SK" snapshot --data-dir "$dd" --repo "$R" --json --no-progress "$@"
    ID=$(jq -r .id "$W/out")
    READ=$(jq -r .read_bytes "$W/out")
    CARRIED=$(jq -r .carried_bytes "$W/out")
    DATA=$(jq -r .data_bytes "$W/out")
    PARENT=$(jq -r .parent "$W/out")
}
# carried_of ID FILE: the carried bytes the manifest records for FILE (blocks/blocks.log).
carried_of() { awk -v p="$2" '$1 == "f" && $NF == p { getline; print ($1 == "x" ? $4 : "none"); exit }' "$R/snapshots/$1"; }
ident_of() { awk -v p="$2" '$1 == "f" && $NF == p { getline; print ($1 == "x" ? $2 " " $3 : "none"); exit }' "$R/snapshots/$1"; }
# restored_same ID DESC: a restore of ID is identical to $D (content and metadata).
restored_same() {
    rm -rf "$W/r"
    "$SK" restore --repo "$R" --snapshot "$1" --data-dir "$W/r" --quiet --no-progress >/dev/null 2>"$W/rerr" &&
        check "$2: restore is byte-identical to the data-dir" same_tree "$D" "$W/r" ||
        not_ok "$2: restore failed: $(head -c 300 "$W/rerr")"
}
append() { "$MKDATADIR" mutate "$D" --append-pct "${1:-1}" --rewrite-pct 0 --seed "$RANDOM" >/dev/null; }
# u64le FILE OFFSET: the little-endian u64 at OFFSET.
u64le() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }

# --- a grown file carries its prefix -------------------------------------------------------
snap "first snapshot (nothing to carry from)"
ID1=$ID
check "first snapshot: nothing carried, everything read (read $READ of $DATA)" test "$CARRIED" = 0 -a "$READ" = "$DATA"
check "first snapshot: no parent" test "$PARENT" = null
check "the manifest records identities (version 2)" grep -qx 'slotkeeper-manifest 2' "$R/snapshots/$ID1"
check "blocks.log's identity is its (st_dev, st_ino)" \
    test "$(ident_of "$ID1" blocks/blocks.log)" = "$(stat -c '%d %i' "$D/blocks/blocks.log")"

append 1
snap "incremental snapshot after a 1% append"
ID2=$ID
check "grown blocks.log carries its prefix (carried $CARRIED bytes, parent $PARENT)" \
    test "$CARRIED" -gt $((20 * MiB)) -a "$PARENT" = "$ID1"
check "read little: $READ bytes (state ~4 MiB + the appended tail + boundary)" test "$READ" -lt $((10 * MiB))
check "the manifest records blocks.log's carried prefix" test "$(carried_of "$ID2" blocks/blocks.log)" -gt 0
check "the summary line names the carried bytes" grep -q 'carried from' "$W/err"
restored_same "$ID2" "grown file"

# --- a file replaced by another of the same size (new inode): read whole -----------------
append 1
snap "snapshot (parent of the replacement)"
cp "$D/blocks/blocks.log" "$W/copy.log"
printf 'X' | dd of="$W/copy.log" bs=1 seek=$((3 * MiB + 77)) conv=notrunc status=none
touch -r "$D/blocks/blocks.log" "$W/copy.log"
mv "$W/copy.log" "$D/blocks/blocks.log"
snap "snapshot after blocks.log was replaced (same size, new inode)"
check "replaced file: nothing carried" test "$CARRIED" = 0 -a "$(carried_of "$ID" blocks/blocks.log)" = 0
restored_same "$ID" "replaced file"

# --- rewritten in place at the boundary (same inode): caught by the boundary check ---------
append 1
snap "snapshot (parent of the rewrite)"
size=$(stat -c %s "$D/blocks/blocks.log")
bnd=$(((size - 8) / MiB - 1)) # the boundary chunk: the last one the next snapshot would carry
append 1
printf 'Y' | dd of="$D/blocks/blocks.log" bs=1 seek=$((bnd * MiB + 4321)) conv=notrunc status=none
snap "snapshot after a rewrite inside the boundary chunk, then an append"
check "rewrite at the boundary: caught by the boundary check, read whole (carried $CARRIED)" \
    test "$CARRIED" = 0 -a "$(carried_of "$ID" blocks/blocks.log)" = 0
restored_same "$ID" "boundary rewrite"

# --- a cut tail (shrank), then a cut tail grown back past the old size ---------------------
append 1
snap "snapshot (parent of the cut)"
isize=$(stat -c %s "$D/blocks/blocks.index")
k=$((isize / 8 - 40)) # cut the last 40 blocks, log and index together (a consistent repair)
pos=$(u64le "$D/blocks/blocks.index" $((k * 8)))
truncate -s "$pos" "$D/blocks/blocks.log"
truncate -s $((k * 8)) "$D/blocks/blocks.index"
snap "snapshot after the tail was cut"
check "shrunk file: read whole, nothing carried" test "$CARRIED" = 0 -a "$(carried_of "$ID" blocks/blocks.log)" = 0
restored_same "$ID" "cut tail"
PSIZE=$(stat -c %s "$D/blocks/blocks.log")
k=$((isize / 8 - 400))
pos=$(u64le "$D/blocks/blocks.index" $((k * 8)))
truncate -s "$pos" "$D/blocks/blocks.log"
truncate -s $((k * 8)) "$D/blocks/blocks.index"
append 8 # other blocks than before where the cut ones were: the same offsets, new bytes
check "the cut log grew back past its old size" test "$(stat -c %s "$D/blocks/blocks.log")" -gt "$PSIZE"
snap "snapshot after a cut tail grown back past the old size"
check "cut and regrown: caught by the boundary check, read whole" test "$CARRIED" = 0
restored_same "$ID" "cut and regrown tail"

# --- --full-reread -------------------------------------------------------------------------
append 1
snap "snapshot (parent of --full-reread)"
append 1
snap "snapshot --full-reread" --full-reread
check "--full-reread: nothing carried, everything read, no parent" \
    test "$CARRIED" = 0 -a "$READ" = "$DATA" -a "$PARENT" = null
append 1
snap "snapshot after --full-reread carries again"
check "after --full-reread: carried from it" test "$CARRIED" -gt 0

# --- frozen-origin identities --------------------------------------------------------------
append 1
snap "snapshot of the data-dir (parent of the frozen copy)"
IDP=$ID
append 1
F=$W/frozen
rm -rf "$F"
cp -a --reflink=auto "$D" "$F"
mkdir -p "$F/.slotkeeper"
{
    echo "slotkeeper-frozen-origin 1"
    (cd "$D" && find blocks state -type f -printf '%D %i %s %T@ %p\n') |
        awk '{ split($4, t, "."); printf "%s %s %s %s%s %s\n", $1, $2, $3, t[1], substr(t[2] "000000000", 1, 9), $5 }'
} >"$F/.slotkeeper/frozen-origin"
snap "snapshot of a frozen copy with a frozen-origin" --dd "$F"
check "frozen copy: carried from the data-dir's snapshot ($CARRIED bytes, parent $PARENT)" \
    test "$CARRIED" -gt $((20 * MiB)) -a "$PARENT" = "$IDP"
check "frozen copy: the manifest records the origin's identity, not the copy's" \
    test "$(ident_of "$ID" blocks/blocks.log)" = "$(stat -c '%d %i' "$D/blocks/blocks.log")"
IDF=$ID
restored_same "$IDF" "frozen copy"
mv "$F/.slotkeeper/frozen-origin" "$W/origin.saved"
snap "snapshot of a frozen copy without its frozen-origin" --dd "$F"
check "without the origin: the copy's own inode matches nothing, nothing carried" test "$CARRIED" = 0
printf 'slotkeeper-frozen-origin 1\n1 2 3 blocks/blocks.log\n' >"$F/.slotkeeper/frozen-origin"
n=$(ls "$R/snapshots" | wc -l)
run 3 "a frozen-origin that does not parse: exit 3" "$SK" snapshot --data-dir "$F" --repo "$R" --no-progress
one_line_error "bad frozen-origin"
err_has 'frozen-origin: line 2:' "the error names the file and its line"
check "nothing published" test "$(ls "$R/snapshots" | wc -l)" = "$n"
rm -rf "$F"

# --- a pruned block log (block-log-retain-blocks) ------------------------------------------
# nodeos sets bit 31 of the version, keeps a u32 block count at the end (rewritten on each
# append), and punches holes over the front. Rule: the first chunk (the version) and the last
# bytes are always read again, a chunk that became a hole is dropped, a chunk next to a hole's
# edge is read again.
prune_on() { # set bit 31, append the block count
    printf '\x03\x00\x00\x80' | dd of="$D/blocks/blocks.log" bs=1 count=4 conv=notrunc status=none
    printf '\x10\x00\x00\x00' >>"$D/blocks/blocks.log"
}
prune_off() { # what an append does to the trailer: the next block overwrites it
    truncate -s -4 "$D/blocks/blocks.log"
    printf '\x03\x00\x00\x00' | dd of="$D/blocks/blocks.log" bs=1 count=4 conv=notrunc status=none
}
prune_on
run 0 "check accepts the pruned log" "$SK" check "$D"
snap "snapshot of a pruned log"
prune_off
append 1
prune_on
# The front punched from the first block (nodeos starts at its largest preamble size, which can
# reach into the totem: `check` would then refuse this test's log) to an unaligned end.
first=$(u64le "$D/blocks/blocks.index" 0)
fallocate -p -o "$first" -l $((5 * MiB + 12345)) "$D/blocks/blocks.log"
snap "snapshot after the pruned log was punched at its front and appended to"
check "pruned log: its prefix carried ($CARRIED bytes)" test "$CARRIED" -gt $((10 * MiB))
check "pruned log: the punched chunks are dropped (no chunk 1..4 listed)" \
    bash -c "! awk '\$1 == \"f\" { f = (\$NF == \"blocks/blocks.log\") } f && \$1 == \"c\" && \$2 >= 1 && \$2 <= 4' '$R/snapshots/$ID' | grep -q ."
restored_same "$ID" "pruned and punched log"
check "restored pruned log keeps its holes (allocated < size - 4 MiB)" \
    test $(($(blocks_of "$W/r/blocks/blocks.log") * 512)) -lt $(($(stat -c %s "$W/r/blocks/blocks.log") - 4 * MiB))
prune_off

# --- the periodic full re-read catches what the boundary check cannot ----------------------
# A rewrite in the middle of a log (never made by nodeos), far from the boundary, is not seen
# by the boundary check: that snapshot carries the old chunk. The full re-read every
# full_reread_every-th snapshot of a carrying run catches it.
R2=$W/repo2
"$SK" repo init "$R2" --quiet >/dev/null
printf '[repository]\npath = %s\n[archive]\nfull_reread_every = 2\n' "$R2" >"$W/sk.conf"
psnap() {
    run 0 "$1" "$SK" snapshot -c "$W/sk.conf" --repo "$R2" --data-dir "$D" --json --no-progress
    ID=$(jq -r .id "$W/out")
    CARRIED=$(jq -r .carried_bytes "$W/out")
}
psnap "full_reread_every = 2: first snapshot (reads all)"
append 1
printf 'Z' | dd of="$D/blocks/blocks.log" bs=1 seek=$((8 * MiB + 999)) conv=notrunc status=none
psnap "snapshot after a rewrite in the middle (chunk 8), far from the boundary"
check "middle rewrite: not caught by the boundary check (carried $CARRIED)" test "$CARRIED" -gt 0
rm -rf "$W/r"
"$SK" restore --repo "$R2" --snapshot "$ID" --data-dir "$W/r" --quiet --no-progress >/dev/null 2>&1
check "that snapshot holds the old chunk 8 (the limit the full re-read covers)" \
    bash -c "! cmp -s '$D/blocks/blocks.log' '$W/r/blocks/blocks.log'"
append 1
psnap "the next snapshot: its full re-read is due"
check "full re-read: nothing carried" test "$CARRIED" = 0
check "the manifest's carry-run restarts at 0" grep -qx 'carry-run 0' "$R2/snapshots/$ID"
rm -rf "$W/r"
"$SK" restore --repo "$R2" --snapshot "$ID" --data-dir "$W/r" --quiet --no-progress >/dev/null 2>&1
check "middle rewrite: caught by the periodic full re-read (restore identical)" same_tree "$D" "$W/r"

# --- a carried chunk the repository no longer holds (set aside as damaged) is read again ---
snap "snapshot (parent of the set-aside chunk; a full re-read: chunk 8 was rewritten above)" --full-reread
h=$(awk '$1 == "f" { f = ($NF == "blocks/blocks.log") } f && $1 == "c" && $2 == 12 { print $3; exit }' "$R/snapshots/$ID")
mv "$R/chunks/${h:0:2}/$h" "$R/chunks/${h:0:2}/$h.damaged"
append 1
snap "snapshot while a chunk it would carry is set aside"
check "the other chunks are still carried" test "$CARRIED" -gt $((10 * MiB))
check "the set-aside chunk was read and stored again" test -f "$R/chunks/${h:0:2}/$h"
run 0 "verify of that snapshot: good" "$SK" verify "$ID" --repo "$R" --no-progress
restored_same "$ID" "set-aside chunk"

# --- retained stride files and state-history logs carry too -------------------------------
# A strided data-dir in nodeos's own formats (mkdatadir --stride --retained --state-history):
# retained bundles never change, the state-history logs grow with each block.
D2=$W/strided
R_SAVED=$R R=$W/repo-strided # its own repository
"$SK" repo init "$R" --quiet >/dev/null
mkdd "$D2" --blocks-size 24M --state-size 32M --state-data 4M --stride 2000 --retained 2 --state-history --seed 7
snap "snapshot with retained block files and state-history" --dd "$D2" --include blocks,state,state-history
"$MKDATADIR" mutate "$D2" --append-pct 1 --rewrite-pct 0 --seed 3 >/dev/null
snap "snapshot after the logs grew" --dd "$D2" --include blocks,state,state-history
check "a retained block file carries its prefix" test "$(carried_of "$ID" "blocks/retained/blocks-1-2000.log")" -gt 0
check "a grown state-history log carries its prefix" test "$(carried_of "$ID" state-history/trace_history.log)" -gt 0
rm -rf "$W/r"
"$SK" restore --repo "$R" --snapshot "$ID" --data-dir "$W/r" --quiet --no-progress >/dev/null 2>&1
check "retained and state-history: restore is byte-identical" same_tree "$D2" "$W/r" blocks state state-history
R=$R_SAVED

# --- several data-dirs of one chain in one repository ---------------------------------------
# Each carries from its own newest snapshot, not from the newest of the chain (another
# data-dir's files, whose identities are not these).
D3=$W/other
rm -rf "$D3"
append 1
cp -a "$D" "$D3" # the same chain and head, other inodes
snap "snapshot of the data-dir"
IDD=$ID
snap "snapshot of another data-dir of the same chain, taken after it" --dd "$D3"
IDO=$ID
append 1
snap "the data-dir again: carries from its own snapshot, not the newer one of the other data-dir"
check "parent is the data-dir's own snapshot ($PARENT, not $IDO), carried $CARRIED bytes" \
    test "$PARENT" = "$IDD" -a "$CARRIED" -gt 0
rm -rf "$D3"

# --- verify checks carried chunks ----------------------------------------------------------
run 0 "verify --all: every snapshot good" "$SK" verify --all --repo "$R" --no-progress
h=$(awk '$1 == "f" { f = ($NF == "blocks/blocks.log") } f && $1 == "c" && $2 == 10 { print $3; exit }' "$R/snapshots/$ID2")
cp "$R/chunks/${h:0:2}/$h" "$W/chunk.saved"
printf 'garbage' | dd of="$R/chunks/${h:0:2}/$h" bs=1 seek=20 conv=notrunc status=none
run 3 "verify of the carried snapshot finds the damaged chunk it carried" \
    "$SK" verify "$ID2" --repo "$R" --no-progress
check "carried chunk 10 was damaged and verify marked the snapshot bad" test -e "$R/snapshots/$ID2.bad"

echo "1..$T_N"
