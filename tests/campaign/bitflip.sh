#!/usr/bin/env bash
# Bit-flip campaign (issue 6): a repository with a few snapshots of a small data-dir; N times
# (default 300) a pristine copy gets one random bit flipped in a chunk, a manifest or the
# repository config; then
#   - `verify --all` on one copy must exit 3 (or 0 when the flip changed nothing verify
#     depends on: explained below),
#   - `restore --snapshot <affected>` into a fresh slot on a second copy must fail with exit 3,
#     one line, and nothing in the slot (no folders, no marker, no staging), or succeed with
#     bytes identical to that snapshot's source,
#   - `restore latest` on that copy afterwards must fail the same way or restore a good
#     snapshot (the fallback) byte-identical to its source.
# A restore that succeeds with wrong bytes is a "silent bad restore": the campaign exits 1.
#
# The repository keeps a golden copy (golden.h) of its newest snapshot, and some flips land in
# it (a file of golden/tree, its record or its manifest). For those, `verify --all` must exit 3
# and rebuild it (a second verify is clean and the rebuilt copy is the snapshot's bytes), unless
# the flip only changed the record's verification time; and restores of the newest snapshot on
# the unverified copy must still be byte-identical: a golden file changed since its verification
# is never cloned from (on an XFS with reflink=1, which the campaign mounts when it runs as root,
# restores clone from the golden copy; elsewhere they write the chunks).
#
# A flip that neither verify nor restore notices is recorded (file, offset, bit) and classified:
#   harmless-chunk   the zstd frame still decodes to exactly the bytes the chunk's name hashes
#                    (zstd ignores some bits: the frame header's unused bit, parts of a
#                    Huffman/FSE table description that decode to the same table...): the data
#                    is intact, so nothing is wrong and nothing can be detected from the content;
#   harmless-config  the config still parses, to other valid settings (e.g. "level 3" becomes
#                    "level 1", or a chunk size another power of two): they only steer
#                    snapshots to come; existing manifests carry their own chunk sizes.
#                    The repository config carries no checksum, so this cannot be detected;
#   UNEXPLAINED      anything else (the campaign exits 1).
#
#   usage: tests/campaign/bitflip.sh [N]     env: SK (binary), BITFLIP_SEED, KEEP=1
# Prints one line per undetected flip, then
#   "bitflip: N flips, N detected by verify, N detected by restore, 0 silently restored, ..."
set -u
N=${1:-300}
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SK=${SK:-$ROOT/slotkeeper}
TOOLS=${TOOLS:-$ROOT/build/tools}
SEED=${BITFLIP_SEED:-$$}
RANDOM=$SEED
W=$(mktemp -d /var/tmp/sk-camp.bitflip.XXXXXX)
fail=0
XLOOP=
# Restores clone from the golden copy only on a reflink file system: work on an XFS with
# reflink=1 when we may make one (root, mkfs.xfs, a loop device).
if [ "$(id -u)" = 0 ] && command -v mkfs.xfs >/dev/null && truncate -s 512M "$W.img" &&
    mkfs.xfs -q -f -m reflink=1 "$W.img" >/dev/null 2>&1 && XLOOP=$(losetup -f --show "$W.img" 2>/dev/null) &&
    mount "$XLOOP" "$W" 2>/dev/null; then
    WFS="XFS reflink=1 (restores clone from the golden copy)"
else
    [ -n "$XLOOP" ] && losetup -d "$XLOOP"
    XLOOP=
    rm -f "$W.img"
    WFS="$(stat -f -c %T "$W") (no loop XFS: restores write the chunks)"
fi
cleanup() {
    local keep=0
    if { [ "$fail" = 0 ] || [ "${CAMPAIGN_CLEAN:-0}" = 1 ]; } && [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"/*; else keep=1; fi
    if [ -n "$XLOOP" ]; then
        if [ "$keep" = 1 ]; then
            rm -rf "$W.kept" && cp -a "$W" "$W.kept" && echo "# bitflip: kept $W.kept"
        fi
        umount "$W" 2>/dev/null || umount -l "$W"
        losetup -d "$XLOOP"
        rm -f "$W.img"
        rmdir "$W"
    elif [ "$keep" = 1 ]; then
        echo "# bitflip: kept $W"
    else
        rmdir "$W"
    fi
}
trap cleanup EXIT
# the binary under test, copied: a rebuild of the tree's binary mid-run must not change it
mkdir -p "$W/bin" && cp "$SK" "$W/bin/slotkeeper" || exit 2
SK=$W/bin/slotkeeper
start=$(date +%s)

# sig DIR: type, mode, size, mtime, link target and content checksum of blocks/ and state/.
sig() {
    (cd "$1" && find blocks state -printf '%p %y %m %T@ %l\n' | LC_ALL=C sort &&
        find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum) 2>&1
}
rand() { echo $(((RANDOM << 15 | RANDOM) % $1)); } # 0 .. $1-1, up to 2^30

# The pristine repository: three snapshots of a data-dir that changes between them.
R0=$W/pristine
"$TOOLS/mkdatadir" create "$W/src" --blocks-size 2M --state-size 8M --state-data 512K --seed 3 >/dev/null || exit 2
"$SK" repo init "$R0" --chunk-size 64KiB >/dev/null || exit 2
IDS=()
for i in 1 2 3; do
    id=$("$SK" snapshot --data-dir "$W/src" --repo "$R0" 2>/dev/null) || { echo "bitflip: snapshot $i failed" >&2; exit 2; }
    IDS+=("$id")
    sig "$W/src" >"$W/sig.$id"
    "$TOOLS/mkdatadir" mutate "$W/src" --append-pct 10 --rewrite-pct 5 --seed $((i + 10)) >/dev/null
done
"$SK" repo golden "$R0" on >/dev/null 2>&1 || { echo "bitflip: cannot make the golden copy" >&2; exit 2; }
"$SK" verify --all --repo "$R0" >/dev/null 2>&1 || { echo "bitflip: the pristine repository does not verify" >&2; exit 2; }
mapfile -t CHUNKS < <(cd "$R0" && ls chunks/*/*)
mapfile -t MANIFESTS < <(cd "$R0" && ls snapshots/*)
mapfile -t GOLDEN < <(cd "$R0" && { find golden/tree -type f -size +0 | LC_ALL=C sort; echo golden/record; echo golden/manifest; })
echo "# bitflip: seed $SEED, ${#IDS[@]} snapshots, ${#CHUNKS[@]} chunks, ${#MANIFESTS[@]} manifests, ${#GOLDEN[@]} golden copy files, $(du -sk "$R0" | cut -f1) KiB, on $WFS"
# the golden copy's files, as the newest snapshot's source had them
gsig() { (cd "$1" && find blocks state -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cksum) 2>&1; }
gsig "$R0/golden/tree" >"$W/gsig"

# newest snapshot whose manifest references CHUNK_HASH
owner_of() {
    local i
    for ((i = ${#IDS[@]} - 1; i >= 0; i--)); do
        grep -q " $1 " "$R0/snapshots/${IDS[$i]}" && { echo "${IDS[$i]}"; return; }
    done
    echo latest
}

# slot_clean DIR: nothing restored, no marker, no staging (an empty .slotkeeper/ may remain).
slot_clean() {
    [ ! -e "$1" ] && return 0
    [ -z "$(find "$1" -mindepth 1 -not -path "$1/.slotkeeper" -not -path "$1/.slotkeeper/quarantine" \
        -not -path "$1/.slotkeeper/lock" | head -1)" ]
}

tried=0 det_verify=0 det_restore=0 silent=0 harmless=0 unexplained=0 anomalies=0 fallback_ok=0
declare -A cat_tried cat_verify cat_restore
for c in chunk manifest config golden; do cat_tried[$c]=0 cat_verify[$c]=0 cat_restore[$c]=0; done
A=$W/a B=$W/b
for ((n = 1; n <= N; n++)); do
    # A category (chunks are the bulk of a repository), then a file in it.
    r=$(rand 100)
    if [ "$r" -lt 50 ]; then
        cat=chunk f=${CHUNKS[$(rand ${#CHUNKS[@]})]}
    elif [ "$r" -lt 65 ]; then
        cat=golden f=${GOLDEN[$(rand ${#GOLDEN[@]})]}
    elif [ "$r" -lt 90 ]; then
        cat=manifest f=${MANIFESTS[$(rand ${#MANIFESTS[@]})]}
    else
        cat=config f=config
    fi
    rm -rf "$A" "$B" "$W/s1" "$W/s2"
    cp -a "$R0" "$A"
    # A copy's files are new (their ctime is after the golden copy's verification, so restores
    # would not clone from it): verify its golden copy first, as an operator would.
    [ "$cat" = golden ] && "$SK" repo golden "$A" verify >/dev/null 2>&1
    size=$(stat -c %s "$A/$f")
    off=$(rand "$size") bit=$(rand 8)
    old=$(od -An -tu1 -j "$off" -N1 "$A/$f" | tr -d ' ')
    new=$((old ^ (1 << bit)))
    printf "\\$(printf %03o "$new")" | dd of="$A/$f" bs=1 seek="$off" conv=notrunc status=none
    cp -a "$A" "$B"
    if [ "$cat" = golden ]; then # B: the same flip, made after the golden copy's verification
        cp -a "$R0" "$B"
        "$SK" repo golden "$B" verify >/dev/null 2>&1
        printf "\\$(printf %03o "$new")" | dd of="$B/$f" bs=1 seek="$off" conv=notrunc status=none
    fi
    case $cat in
    chunk) h=${f##*/} target=$(owner_of "$h") ;;
    manifest) target=${f##*/} ;;
    config) target=latest ;;
    golden) target=latest ;;
    esac
    tried=$((tried + 1))
    cat_tried[$cat]=$((cat_tried[$cat] + 1))
    what="$f offset $off bit $bit (0x$(printf %02x "$old")->0x$(printf %02x "$new"))"

    "$SK" verify --all --repo "$A" >"$W/v.out" 2>"$W/v.err"
    vrc=$?
    if [ "$cat" = golden ]; then
        # Found damaged, it was rebuilt: the next verify is clean, the copy the snapshot's bytes.
        if [ "$vrc" = 3 ] && ! grep -q 'golden copy DAMAGED.*rebuilt from the chunks' "$W/v.out"; then
            echo "ANOMALY verify exit 3 without rebuilding the golden copy: $what: $(grep -i golden "$W/v.out" | head -c 300)"
            anomalies=$((anomalies + 1))
        fi
        if ! "$SK" verify --all --repo "$A" >/dev/null 2>&1 || ! diff -q <(gsig "$A/golden/tree") "$W/gsig" >/dev/null; then
            echo "ANOMALY the golden copy is not good again after verify: $what"
            anomalies=$((anomalies + 1))
        fi
    fi
    "$SK" restore --snapshot "$target" --data-dir "$W/s1" --repo "$B" >"$W/r.out" 2>"$W/r.err"
    rrc=$?
    "$SK" restore --data-dir "$W/s2" --repo "$B" >"$W/l.out" 2>"$W/l.err"
    lrc=$?

    vdet=0 rdet=0
    case $vrc in
    3) vdet=1 ;;
    0) ;;
    *) echo "ANOMALY verify exit $vrc: $what: $(head -c 300 "$W/v.err")"; anomalies=$((anomalies + 1)) ;;
    esac
    # the restore of the affected snapshot (or latest, for the config)
    case $rrc in
    3)
        rdet=1
        # (a note that the restore does not clone, and why, may come before the error)
        if [ "$(grep -vc 'not restoring by cloning' "$W/r.err")" != 1 ] || ! grep -Eq '^slotkeeper: restore: .+: .+' "$W/r.err"; then
            echo "ANOMALY restore error is not one line: $what: $(head -c 300 "$W/r.err" | tr '\n' '|')"
            anomalies=$((anomalies + 1))
        fi
        if ! slot_clean "$W/s1"; then
            echo "ANOMALY failed restore left something in the slot: $what: $(find "$W/s1" | head -5 | tr '\n' ' ')"
            anomalies=$((anomalies + 1))
        fi
        ;;
    0)
        got=$(tail -1 "$W/r.out")
        if ! diff -q <(sig "$W/s1") "$W/sig.$got" >/dev/null 2>&1; then
            echo "SILENT BAD RESTORE of $got: $what"
            silent=$((silent + 1))
        fi
        # a flip in the golden copy: the restore noticed when it refused to clone the changed file
        [ "$cat" = golden ] && grep -Eq 'not restoring by cloning: (cloning .* failed \(the golden copy.s file changed|the golden copy is not complete)' "$W/r.err" && rdet=1
        ;;
    *) echo "ANOMALY restore exit $rrc: $what: $(head -c 300 "$W/r.err")"; anomalies=$((anomalies + 1)) ;;
    esac
    # latest afterwards: the fallback to a good snapshot, or a clean failure
    case $lrc in
    0)
        got=$(tail -1 "$W/l.out")
        if ! diff -q <(sig "$W/s2") "$W/sig.$got" >/dev/null 2>&1; then
            echo "SILENT BAD RESTORE (latest, $got): $what"
            silent=$((silent + 1))
        elif [ "$rdet" = 1 ] && { [ "$target" = "${IDS[-1]}" ] || [ "$target" = latest ]; } && [ "$got" != "${IDS[-1]}" ]; then
            fallback_ok=$((fallback_ok + 1)) # the newest was damaged: latest fell back to an older good one
        fi
        ;;
    3) slot_clean "$W/s2" || { echo "ANOMALY failed latest restore left something: $what"; anomalies=$((anomalies + 1)); } ;;
    *) echo "ANOMALY restore latest exit $lrc: $what: $(head -c 300 "$W/l.err")"; anomalies=$((anomalies + 1)) ;;
    esac

    det_verify=$((det_verify + vdet))
    det_restore=$((det_restore + rdet))
    cat_verify[$cat]=$((cat_verify[$cat] + vdet))
    cat_restore[$cat]=$((cat_restore[$cat] + rdet))
    if [ "$vdet" = 0 ] || [ "$rdet" = 0 ]; then
        # Undetected by one of them: is the flip harmless?
        why=
        if [ "$cat" = chunk ]; then
            dh=$(zstd -dc "$A/$f" 2>/dev/null | xxhsum -H2 2>/dev/null | cut -d' ' -f1)
            zstd -tq "$A/$f" 2>/dev/null && [ "$dh" = "$h" ] && why="harmless-chunk: the frame still decodes to the bytes its name hashes"
        elif [ "$cat" = golden ] && [ "$f" = golden/record ] && grep -q '^verified ' "$B/golden/record" &&
            diff <(grep -v '^verified ' "$R0/golden/record") <(grep -v '^verified ' "$B/golden/record") >/dev/null; then
            why="harmless-golden: only the record's verification time changed"
        elif [ "$cat" = golden ] && [ "$rdet" = 0 ] && [ "$vdet" = 1 ]; then
            # The restore never needed to notice: it did not clone the damaged file, or wrote
            # the chunks (no reflinks); its bytes were checked above.
            why=golden-restore-ok
        elif [ "$cat" = config ]; then
            if [ "$vdet" = 0 ] && [ "$rdet" = 0 ]; then
                why="harmless-config: still a valid config: $(diff "$R0/config" "$A/config" | grep '^>' | tr -d '>' | tr '\n' ' ')"
            fi
        fi
        if [ "$why" = golden-restore-ok ]; then
            :
        elif [ "$vdet" = 0 ] && [[ $why == harmless-golden* ]]; then
            # (a restore may still refuse to clone: the time says the files changed after it)
            harmless=$((harmless + 1))
            echo "undetected: $what: $why"
        elif [ -n "$why" ] && [ "$vdet" = 0 ] && [ "$rdet" = 0 ]; then
            harmless=$((harmless + 1))
            echo "undetected: $what: $why"
        else
            unexplained=$((unexplained + 1))
            echo "UNEXPLAINED: verify exit $vrc, restore exit $rrc: $what"
        fi
    fi
done

end=$(date +%s)
pct() { [ "$2" = 0 ] && echo "-" || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'; }
for c in chunk manifest config golden; do
    echo "# $c: ${cat_tried[$c]} flips, verify detected ${cat_verify[$c]} ($(pct "${cat_verify[$c]}" "${cat_tried[$c]}")), restore detected ${cat_restore[$c]} ($(pct "${cat_restore[$c]}" "${cat_tried[$c]}"))"
done
effective=$((tried - harmless))
echo "bitflip: $tried flips, $det_verify detected by verify, $det_restore detected by restore, $silent silently restored," \
    "$harmless harmless (content unchanged), $unexplained unexplained, $anomalies anomalies;" \
    "detection rate $(pct "$det_verify" "$effective") by verify, $(pct "$det_restore" "$effective") by restore of flips that change content;" \
    "$fallback_ok fallbacks to an older good snapshot verified; $((end - start))s, seed $SEED"
[ "$silent" = 0 ] && [ "$unexplained" = 0 ] && [ "$anomalies" = 0 ] || fail=1
exit "$fail"
