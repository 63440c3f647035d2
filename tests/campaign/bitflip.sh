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
cleanup() {
    if { [ "$fail" = 0 ] || [ "${CAMPAIGN_CLEAN:-0}" = 1 ]; } && [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"; else echo "# bitflip: kept $W"; fi
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
"$SK" verify --all --repo "$R0" >/dev/null 2>&1 || { echo "bitflip: the pristine repository does not verify" >&2; exit 2; }
mapfile -t CHUNKS < <(cd "$R0" && ls chunks/*/*)
mapfile -t MANIFESTS < <(cd "$R0" && ls snapshots/*)
echo "# bitflip: seed $SEED, ${#IDS[@]} snapshots, ${#CHUNKS[@]} chunks, ${#MANIFESTS[@]} manifests, $(du -sk "$R0" | cut -f1) KiB"

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
for c in chunk manifest config; do cat_tried[$c]=0 cat_verify[$c]=0 cat_restore[$c]=0; done
A=$W/a B=$W/b
for ((n = 1; n <= N; n++)); do
    # A category (chunks are the bulk of a repository), then a file in it.
    r=$(rand 100)
    if [ "$r" -lt 60 ]; then
        cat=chunk f=${CHUNKS[$(rand ${#CHUNKS[@]})]}
    elif [ "$r" -lt 90 ]; then
        cat=manifest f=${MANIFESTS[$(rand ${#MANIFESTS[@]})]}
    else
        cat=config f=config
    fi
    rm -rf "$A" "$B" "$W/s1" "$W/s2"
    cp -a "$R0" "$A"
    size=$(stat -c %s "$A/$f")
    off=$(rand "$size") bit=$(rand 8)
    old=$(od -An -tu1 -j "$off" -N1 "$A/$f" | tr -d ' ')
    new=$((old ^ (1 << bit)))
    printf "\\$(printf %03o "$new")" | dd of="$A/$f" bs=1 seek="$off" conv=notrunc status=none
    cp -a "$A" "$B"
    case $cat in
    chunk) h=${f##*/} target=$(owner_of "$h") ;;
    manifest) target=${f##*/} ;;
    config) target=latest ;;
    esac
    tried=$((tried + 1))
    cat_tried[$cat]=$((cat_tried[$cat] + 1))
    what="$f offset $off bit $bit (0x$(printf %02x "$old")->0x$(printf %02x "$new"))"

    "$SK" verify --all --repo "$A" >"$W/v.out" 2>"$W/v.err"
    vrc=$?
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
        if [ "$(wc -l <"$W/r.err")" != 1 ] || ! grep -Eq '^slotkeeper: restore: .+: .+' "$W/r.err"; then
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
        elif [ "$cat" = config ]; then
            if [ "$vdet" = 0 ] && [ "$rdet" = 0 ]; then
                why="harmless-config: still a valid config: $(diff "$R0/config" "$A/config" | grep '^>' | tr -d '>' | tr '\n' ' ')"
            fi
        fi
        if [ -n "$why" ] && [ "$vdet" = 0 ] && [ "$rdet" = 0 ]; then
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
for c in chunk manifest config; do
    echo "# $c: ${cat_tried[$c]} flips, verify detected ${cat_verify[$c]} ($(pct "${cat_verify[$c]}" "${cat_tried[$c]}")), restore detected ${cat_restore[$c]} ($(pct "${cat_restore[$c]}" "${cat_tried[$c]}"))"
done
effective=$((tried - harmless))
echo "bitflip: $tried flips, $det_verify detected by verify, $det_restore detected by restore, $silent silently restored," \
    "$harmless harmless (content unchanged), $unexplained unexplained, $anomalies anomalies;" \
    "detection rate $(pct "$det_verify" "$effective") by verify, $(pct "$det_restore" "$effective") by restore of flips that change content;" \
    "$fallback_ok fallbacks to an older good snapshot verified; $((end - start))s, seed $SEED"
[ "$silent" = 0 ] && [ "$unexplained" = 0 ] && [ "$anomalies" = 0 ] || fail=1
exit "$fail"
