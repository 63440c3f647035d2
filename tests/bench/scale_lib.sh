# shellcheck shell=bash
# scale_lib.sh: what the scale benchmarks (tests/bench/scale_*.sh, run by `make bench-scale`)
# share: loop file systems under /var/tmp (XFS with reflink=1, ext4), dropping the page cache,
# timing one command with its peak RSS, data-dirs of a given size, and the table per file system
# with the slope in seconds per GB, the projection to 1 TB and the targets met or not.
#
# Source it from a scale_*.sh (bash, set -u). Environment:
#   SLOTKEEPER, MKDATADIR, RUNSTAT  the binaries (the Makefile sets them)
#   BENCH_SCALE_SIZES  the data-dir sizes, in GB of data (default "2 8"; fractions allowed)
#   BENCH_SCALE_DIR    where images and data-dirs go (default /var/tmp/sk-scale.PID; removed
#                      at the end unless BENCH_SCALE_KEEP=1)
#   BENCH_SCALE_FS     the file systems to measure (default "xfs ext4")
#
# Functions:
#   scale_init NAME             checks root, tools and free space; makes the work folder
#   scale_fs_mount TYPE MB DIR  a fresh loop file system (image under the work folder, loop
#                               device with direct I/O so its backing file adds no second page
#                               cache); returns 1 with the reason in $SCALE_WHY
#   scale_fs_umount DIR         unmounts, detaches, removes the image
#   scale_drop_caches           sync, then drops the page cache (root), so runs start cold
#   scale_time FS ROW SIZE CMD...  runs CMD under runstat after dropping the cache, records
#                               wall seconds and peak RSS as row ROW of file system FS at SIZE;
#                               CMD's stdout/stderr go to $SCALE_OUT/$SCALE_ERR; returns its status
#   scale_note FS ROW SIZE TEXT a note shown next to the row (e.g. which path a restore took)
#   scale_mkdatadir DIR GB      a data-dir with about GB of data (3/4 blocks.log, 1/4 state data)
#   scale_table FS TITLE        prints the table of FS: a row per measurement and size, slope,
#                               projection to 1 TB (1000 GB) and the target column
#   scale_target FS ROW KIND ARG   adds a target to ROW: "ratio REF MAX" (ROW / row REF at each
#                               size <= MAX) or "under SECS" (at every size)
#   scale_finish                cleans up; exit status 1 if a command failed
set -u
export LC_ALL=C

SCALE_ROOT=${SCALE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SLOTKEEPER=${SLOTKEEPER:-$SCALE_ROOT/slotkeeper}
MKDATADIR=${MKDATADIR:-$SCALE_ROOT/build/tools/mkdatadir}
RUNSTAT=${RUNSTAT:-$SCALE_ROOT/build/tools/runstat}
BENCH_SCALE_SIZES=${BENCH_SCALE_SIZES:-2 8}
BENCH_SCALE_FS=${BENCH_SCALE_FS:-xfs ext4}
BENCH_SCALE_KEEP=${BENCH_SCALE_KEEP:-0}
SCALE_DIR=${BENCH_SCALE_DIR:-/var/tmp/sk-scale.$$}
SCALE_OUT=
SCALE_ERR=
SCALE_WHY=
SCALE_FAILED=0
SCALE_MOUNTS=()
SCALE_LOOPS=()
SCALE_IMAGES=()
declare -A SCALE_T SCALE_RSS SCALE_NOTE SCALE_TGT
declare -a SCALE_ROWS_ORDER

scale_say() { echo "scale: $*" >&2; }

scale_init() {
    local name=$1 b
    if [ "$(id -u)" != 0 ]; then
        scale_say "$name: needs root (loop file systems, dropping the page cache); nothing measured"
        return 1
    fi
    for b in "$SLOTKEEPER" "$MKDATADIR" "$RUNSTAT"; do
        [ -x "$b" ] || { scale_say "$name: $b is missing (make build)"; return 1; }
    done
    mkdir -p "$SCALE_DIR" || return 1
    SCALE_OUT=$SCALE_DIR/out
    SCALE_ERR=$SCALE_DIR/err
    trap scale_cleanup EXIT
    return 0
}

# scale_need_gb GB: refuses (1) when the work folder's file system has less than GB free.
scale_need_gb() {
    local want=$1 avail
    avail=$(df -k --output=avail "$SCALE_DIR" | tail -1)
    if awk -v a="$avail" -v w="$want" 'BEGIN { exit !(a < w * 1048576) }'; then
        scale_say "$SCALE_DIR: needs about $want GB free, $((avail / 1048576)) GB available; lower BENCH_SCALE_SIZES"
        return 1
    fi
}

scale_fs_mount() {
    local type=$1 mb=$2 dir=$3 img loop
    local -a mkfs
    SCALE_WHY=
    case $type in
    xfs) mkfs=(mkfs.xfs -q -f -m reflink=1) ;;
    ext4) mkfs=(mkfs.ext4 -q -F -E "lazy_itable_init=0,lazy_journal_init=0") ;;
    *) SCALE_WHY="unknown file system $type"; return 1 ;;
    esac
    command -v "${mkfs[0]}" >/dev/null || { SCALE_WHY="${mkfs[0]} is not installed"; return 1; }
    img=$SCALE_DIR/$type.img
    truncate -s "${mb}M" "$img" || { SCALE_WHY="cannot make $img"; return 1; }
    SCALE_IMAGES+=("$img")
    "${mkfs[@]}" "$img" >/dev/null 2>"$SCALE_DIR/fs.err" ||
        { SCALE_WHY="${mkfs[0]} failed: $(head -c 200 "$SCALE_DIR/fs.err")"; return 1; }
    loop=$(losetup -f --show --direct-io=on "$img" 2>"$SCALE_DIR/fs.err") ||
        loop=$(losetup -f --show "$img" 2>"$SCALE_DIR/fs.err") ||
        { SCALE_WHY="no loop device: $(head -c 200 "$SCALE_DIR/fs.err")"; return 1; }
    SCALE_LOOPS+=("$loop")
    mkdir -p "$dir"
    mount "$loop" "$dir" 2>"$SCALE_DIR/fs.err" || { SCALE_WHY="mount failed: $(head -c 200 "$SCALE_DIR/fs.err")"; return 1; }
    SCALE_MOUNTS+=("$dir")
}

scale_fs_umount() {
    local dir=$1 i
    umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
    for i in "${!SCALE_MOUNTS[@]}"; do
        [ "${SCALE_MOUNTS[$i]}" = "$dir" ] || continue
        losetup -d "${SCALE_LOOPS[$i]}" 2>/dev/null
        rm -f "${SCALE_IMAGES[$i]}"
        unset "SCALE_MOUNTS[$i]" "SCALE_LOOPS[$i]" "SCALE_IMAGES[$i]"
    done
}

scale_cleanup() {
    local m l i
    for m in "${SCALE_MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    for l in "${SCALE_LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
    for i in "${SCALE_IMAGES[@]}"; do rm -f "$i"; done
    SCALE_MOUNTS=() SCALE_LOOPS=() SCALE_IMAGES=()
    if [ "$BENCH_SCALE_KEEP" = 1 ]; then
        scale_say "kept $SCALE_DIR"
    else
        rm -rf "$SCALE_DIR"
    fi
}

scale_drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || scale_say "cannot drop the page cache: runs are warm"
}

_scale_row() {
    local fs=$1 row=$2 r
    for r in "${SCALE_ROWS_ORDER[@]:-}"; do [ "$r" = "$fs|$row" ] && return; done
    SCALE_ROWS_ORDER+=("$fs|$row")
}

scale_time() {
    local fs=$1 row=$2 size=$3 rc line
    shift 3
    _scale_row "$fs" "$row"
    scale_drop_caches
    rm -f "$SCALE_DIR/stat"
    "$RUNSTAT" -o "$SCALE_DIR/stat" -- "$@" >"$SCALE_OUT" 2>"$SCALE_ERR"
    rc=$?
    line=$(tail -1 "$SCALE_DIR/stat" 2>/dev/null)
    SCALE_T[$fs|$row|$size]=$(sed -n 's/.*wall=\([0-9.]*\).*/\1/p' <<<"$line")
    SCALE_RSS[$fs|$row|$size]=$(sed -n 's/.*maxrss_kib=\([0-9]*\).*/\1/p' <<<"$line")
    if [ "$rc" != 0 ]; then
        unset "SCALE_T[$fs|$row|$size]" # a failed run is no measurement
        SCALE_FAILED=1
        scale_note "$fs" "$row" "$size" "FAILED (exit $rc): $(head -c 200 "$SCALE_ERR" | tr '\n' ' ')"
        scale_say "$fs $row at $size GB failed (exit $rc): $(head -c 300 "$SCALE_ERR" | tr '\n' ' ')"
    fi
    return $rc
}

scale_note() { SCALE_NOTE[$1|$2|$3]=$4; }

scale_target() {
    local fs=$1 row=$2 IFS=';'
    shift 2
    SCALE_TGT[$fs|$row]="$*"
}

scale_mkdatadir() {
    local dir=$1 gb=$2 blocks state data
    blocks=$(awk -v g="$gb" 'BEGIN { printf "%d", g * 1024 * 0.75 }')
    data=$(awk -v g="$gb" 'BEGIN { printf "%d", g * 1024 * 0.25 }')
    state=$(( (data * 2 + 1023) / 1024 * 1024 ))
    "$MKDATADIR" create "$dir" --blocks-size "${blocks}M" --state-size "${state}M" --state-data "${data}M" >/dev/null
}

# _scale_fit "x1 y1" "x2 y2"...: least-squares slope and intercept, "slope intercept".
_scale_fit() {
    printf '%s\n' "$@" | awk '{ n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
        END { if (n == 0) { print "- -"; exit }
              d = n * sxx - sx * sx
              if (n == 1 || d == 0) { printf "%.3f 0\n", sy / sx; exit }
              b = (n * sxy - sx * sy) / d; a = (sy - b * sx) / n; printf "%.3f %.3f\n", b, a }'
}

_scale_hms() {
    awk -v s="$1" 'BEGIN { if (s == "-") { print "-"; exit }
        if (s < 10) printf "%.1f s\n", s; else if (s < 120) printf "%.0f s\n", s; else if (s < 7200) printf "%.1f min\n", s / 60; else printf "%.1f h\n", s / 3600 }'
}

scale_table() {
    local fs=$1 title=$2 key row size t pts fit slope icpt proj tgt verdict ref max r rss rowpeak peak=0
    local -a targ
    local -a sizes
    read -r -a sizes <<<"$BENCH_SCALE_SIZES"
    echo
    echo "== $title"
    printf '%-44s' "measurement (seconds, cold cache)"
    for size in "${sizes[@]}"; do printf '%10s' "$size GB"; done
    printf '%9s %11s %8s  %s\n' "s/GB" "1 TB proj." "RSS MiB" "target"
    for key in "${SCALE_ROWS_ORDER[@]}"; do
        [ "${key%%|*}" = "$fs" ] || continue
        row=${key#*|}
        printf '%-44s' "$row"
        pts=()
        rowpeak=0
        for size in "${sizes[@]}"; do
            t=${SCALE_T[$fs|$row|$size]:-}
            printf '%10s' "${t:--}"
            [ -n "$t" ] && pts+=("${SCALE_DATA_GB[$size]:-$size} $t")
            rss=${SCALE_RSS[$fs|$row|$size]:-0}
            [ "${rss:-0}" -gt "$peak" ] && peak=$rss
            [ "${rss:-0}" -gt "$rowpeak" ] && rowpeak=$rss
        done
        fit=$(_scale_fit "${pts[@]}")
        slope=${fit% *} icpt=${fit#* }
        # A flat row (the fit at 1000 GB under its largest measurement: noise) projects to that.
        proj=$(printf '%s\n' "${pts[@]}" | awk -v b="$slope" -v a="$icpt" '{ if ($2 > m) m = $2 }
            END { if (b == "-") print "-"; else { p = a + b * 1000; printf "%.2f\n", p < m ? m : p } }')
        tgt=${SCALE_TGT[$fs|$row]:-}
        verdict=
        if [ -n "$tgt" ]; then
            IFS=';' read -r -a targ <<<"$tgt"
            set -- "${targ[@]}"
            verdict=met
            case $1 in
            ratio)
                ref=$2 max=$3
                for size in "${sizes[@]}"; do
                    t=${SCALE_T[$fs|$row|$size]:-} r=${SCALE_T[$fs|$ref|$size]:-}
                    if [ -z "$t" ] || [ -z "$r" ] || awk -v t="$t" -v r="$r" -v m="$max" 'BEGIN { exit !(t > r * m) }'; then
                        verdict="NOT MET"
                    fi
                done
                verdict="<= $max x '$ref': $verdict ($(for size in "${sizes[@]}"; do
                    awk -v t="${SCALE_T[$fs|$row|$size]:-0}" -v r="${SCALE_T[$fs|$ref|$size]:-0}" \
                        'BEGIN { if (r > 0) printf "%.2f ", t / r; else printf "- " }'; done | sed 's/ $//'))"
                ;;
            under)
                for size in "${sizes[@]}"; do
                    t=${SCALE_T[$fs|$row|$size]:-}
                    if [ -z "$t" ] || awk -v t="$t" -v m="$2" 'BEGIN { exit !(t >= m) }'; then verdict="NOT MET"; fi
                done
                verdict="< $2 s at each size: $verdict"
                ;;
            esac
        fi
        printf '%9s %11s %8s  %s\n' "$slope" "$(_scale_hms "$proj")" "$((rowpeak / 1024))" "$verdict"
        # Notes (which path a restore took): once when every size has the same.
        local notes
        notes=$(for size in "${sizes[@]}"; do echo "${SCALE_NOTE[$fs|$row|$size]:-}"; done | sort -u)
        if [ "$(grep -c . <<<"$notes")" = 1 ] && [ "$(for size in "${sizes[@]}"; do echo "${SCALE_NOTE[$fs|$row|$size]:-}"; done | grep -c .)" = "${#sizes[@]}" ]; then
            printf '    %s\n' "$notes"
        else
            for size in "${sizes[@]}"; do
                [ -n "${SCALE_NOTE[$fs|$row|$size]:-}" ] && printf '    %s GB: %s\n' "$size" "${SCALE_NOTE[$fs|$row|$size]}"
            done
        fi
    done
    printf '%-44s%10s\n' "peak RSS of any command" "$((peak / 1024)) MiB"
    printf '%s\n' "sizes: GB of data (the snapshot's data bytes / 1e9) in the fit; cold cache before each run"
}

scale_finish() {
    [ "$SCALE_FAILED" = 0 ] && return 0
    scale_say "some commands failed (see FAILED above)"
    return 1
}

# SCALE_DATA_GB[size]: the data a size's data-dir really holds, in GB (set by the scripts from
# the snapshot's data bytes), so that slopes are per GB of data written.
declare -A SCALE_DATA_GB
