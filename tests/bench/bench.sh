#!/usr/bin/env bash
# bench.sh: the slotkeeper benchmark, run by `make bench`.
#
# Generates a nodeos-like data-dir with mkdatadir, then, pair by pair on the same data, times a full backup with
# `tar -S | zstd`, `bsdtar --zstd` and `slotkeeper snapshot`, restores each into an empty folder and checks that the
# result is byte-identical, mutates the data-dir like a node that ran for a while and times an incremental
# snapshot.  Every command runs once, right after `sync`, with a warm page cache; the baselines include a final
# sync/syncfs because slotkeeper fsyncs everything it writes.  It prints a summary with the targets:
#   full snapshot  slotkeeper / min(tar|zstd, bsdtar)        <= 1.00
#   incremental    slotkeeper incremental / slotkeeper full  <= 0.10
#   restore        slotkeeper / min(zstd|tar -x, bsdtar -x)  <= 0.70
#   peak RSS       every slotkeeper command                  <= 128 MiB
# A missed target is reported as MISS but still exits 0 (this is a benchmark); a failed command or a restore that
# is not byte-identical exits 1.
#
# Environment (the Makefile sets the first three):
#   SLOTKEEPER, MKDATADIR, RUNSTAT   paths of the binaries (default: ./slotkeeper, tests/tools/{mkdatadir,runstat})
#   BENCH_DIR         work folder on a real disk, not tmpfs (default /var/tmp/slotkeeper-bench); removed at the end
#   BENCH_KEEP=1      keep BENCH_DIR
#   BENCH_BLOCKS      blocks.log size (default 1G)
#   BENCH_STATE_SIZE  shared_memory.bin apparent size (default 4G)
#   BENCH_STATE_DATA  bytes of data in shared_memory.bin (default 256M)
#   BENCH_LEVEL       zstd level for everyone (default 3)
#   BENCH_CHUNK       if set, passed to `slotkeeper repo init` as --chunk-size
#   BENCH_NO_SLOTKEEPER=1  only run the tar/bsdtar baselines (to test this script without a slotkeeper binary)
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLOTKEEPER=${SLOTKEEPER:-$root/slotkeeper}
MKDATADIR=${MKDATADIR:-$root/tests/tools/mkdatadir}
RUNSTAT=${RUNSTAT:-$root/tests/tools/runstat}
BENCH_DIR=${BENCH_DIR:-/var/tmp/slotkeeper-bench}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_BLOCKS=${BENCH_BLOCKS:-1G}
BENCH_STATE_SIZE=${BENCH_STATE_SIZE:-4G}
BENCH_STATE_DATA=${BENCH_STATE_DATA:-256M}
BENCH_LEVEL=${BENCH_LEVEL:-3}
BENCH_CHUNK=${BENCH_CHUNK:-}
BENCH_NO_SLOTKEEPER=${BENCH_NO_SLOTKEEPER:-0}

marker=.slotkeeper-bench
failures=()

die() {
    echo "bench: $*" >&2
    exit 1
}

fail() {
    echo "bench: FAILED: $*" >&2
    failures+=("$*")
}

# SIZE with optional binary suffix K, M, G, T -> bytes
to_bytes() {
    [[ $1 =~ ^([0-9]+)([KkMmGgTt]?)(i?B)?$ ]] || die "invalid size '$1'"
    local n=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in
    [Kk]) n=$((n << 10)) ;;
    [Mm]) n=$((n << 20)) ;;
    [Gg]) n=$((n << 30)) ;;
    [Tt]) n=$((n << 40)) ;;
    esac
    echo "$n"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
apparent() { du -s -B1 --apparent-size "$@" | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
allocated() { du -s -B1 "$@" | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# ---------------------------------------------------------------------------------------------------------------
# checks

if ! [[ $BENCH_LEVEL =~ ^[1-9][0-9]?$ ]] || ((BENCH_LEVEL > 19)); then
    die "BENCH_LEVEL must be 1..19"
fi
blocks_bytes=$(to_bytes "$BENCH_BLOCKS")
state_size_bytes=$(to_bytes "$BENCH_STATE_SIZE")
state_data_bytes=$(to_bytes "$BENCH_STATE_DATA")
[[ -z $BENCH_CHUNK ]] || to_bytes "$BENCH_CHUNK" >/dev/null

for tool in MKDATADIR RUNSTAT; do
    [[ -x ${!tool} ]] || die "$tool=${!tool} is not an executable; build it first (make) or set $tool"
done
if [[ $BENCH_NO_SLOTKEEPER == 1 ]]; then
    echo "BENCH_NO_SLOTKEEPER=1: running the tar/bsdtar baselines only"
elif [[ ! -x $SLOTKEEPER ]]; then
    die "SLOTKEEPER=$SLOTKEEPER is not an executable; build it first (make) or set SLOTKEEPER" \
        "(BENCH_NO_SLOTKEEPER=1 runs only the baselines)"
fi

missing=()
command -v zstd >/dev/null || missing+=(zstd)
command -v bsdtar >/dev/null || missing+=(libarchive-tools)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]}"
        apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; } ||
            die "could not install ${missing[*]}"
    else
        die "zstd and bsdtar are needed: run 'apt-get install -y zstd libarchive-tools' as root"
    fi
fi
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed (tar -S)"
sync --help 2>/dev/null | grep -q -- '--file-system' || die "coreutils sync with FILE arguments and -f is needed"

# BENCH_DIR: absolute, on a real disk, ours to delete
BENCH_DIR=$(realpath -m -- "$BENCH_DIR")
[[ $BENCH_DIR != / ]] || die "BENCH_DIR must not be /"
probe=$BENCH_DIR
while [[ ! -e $probe ]]; do probe=$(dirname "$probe"); done
fstype=$(df --output=fstype -- "$probe" 2>/dev/null | tail -1)
[[ -n $fstype ]] || fstype=$(stat -f -c %T "$probe")
case $fstype in
tmpfs | ramfs) die "BENCH_DIR=$BENCH_DIR is on $fstype; point BENCH_DIR at a real disk" ;;
esac
if [[ -e $BENCH_DIR ]]; then
    [[ -d $BENCH_DIR ]] || die "BENCH_DIR=$BENCH_DIR exists and is not a directory"
    if [[ -e $BENCH_DIR/$marker ]]; then
        rm -rf -- "$BENCH_DIR"
    elif [[ -n $(ls -A -- "$BENCH_DIR") ]]; then
        die "BENCH_DIR=$BENCH_DIR exists, is not empty and was not made by this benchmark; remove it or pick another"
    fi
fi
mkdir -p -- "$BENCH_DIR"
touch -- "$BENCH_DIR/$marker"

cleanup() {
    local rc=$?
    if [[ $BENCH_KEEP == 1 ]]; then
        echo "BENCH_KEEP=1: kept $BENCH_DIR"
    elif [[ -e $BENCH_DIR/$marker ]]; then
        rm -rf -- "$BENCH_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: command failed at line $LINENO" >&2' ERR

# rough space need: source + 3 restores + 2 archives + repo (+ growth), allocated bytes
need=$(((blocks_bytes + state_data_bytes) * 6 + (64 << 20)))
avail=$(df --output=avail -B1 -- "$BENCH_DIR" | tail -n 1 | tr -d ' ')
((avail >= need)) || die "BENCH_DIR=$BENCH_DIR has $(mib "$avail") free, the benchmark needs about $(mib "$need")"

data=$BENCH_DIR/datadir
out1=$BENCH_DIR/out-tar.tar.zst
out2=$BENCH_DIR/out-bsdtar.tar.zst
repo=$BENCH_DIR/repo
stats=$BENCH_DIR/stats
mkdir -- "$stats"

# ---------------------------------------------------------------------------------------------------------------
# timing

declare -A WALL RSS STATUS NOSYNC

# timed KEY CMD...: sync, then run CMD once under runstat; records wall time, peak RSS and status under KEY.
timed() {
    local key=$1 line rc=0
    shift
    sync
    "$RUNSTAT" -o "$stats/$key" -- "$@" || rc=$?
    line=$(tail -n 1 "$stats/$key" 2>/dev/null || true)
    if [[ $line =~ ^wall=([0-9.]+)\ maxrss_kib=([0-9]+)\ status=([0-9]+)$ ]]; then
        WALL[$key]=${BASH_REMATCH[1]}
        RSS[$key]=${BASH_REMATCH[2]}
        STATUS[$key]=${BASH_REMATCH[3]}
    else
        STATUS[$key]=$rc
    fi
    return "$rc"
}

# timed_sync KEY WORK SYNC: time one bash command that runs the shell snippet WORK then SYNC; the time before SYNC is
# recorded too (NOSYNC), from timestamps taken inside that command.
timed_sync() {
    local key=$1 t0 t1 rc=0
    # shellcheck disable=SC2016
    timed "$key" bash -c 'set -euo pipefail
        t0=${EPOCHREALTIME:-$(date +%s.%N)}; eval "$1"
        t1=${EPOCHREALTIME:-$(date +%s.%N)}; eval "$2"
        echo "$t0 $t1" >"$3"' bash "$2" "$3" "$stats/$key.marks" || rc=$?
    if ((rc == 0)) && read -r t0 t1 <"$stats/$key.marks"; then
        NOSYNC[$key]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    fi
    return "$rc"
}

# show KEY: slotkeeper's stderr for the command recorded under KEY, indented
show() {
    [[ ! -s $stats/$1.err ]] || sed 's/^/     | /' "$stats/$1.err"
}

# warm PATH...: read files so that the page cache holds them (sparse holes are skipped by tar -S)
warm() {
    local p
    for p in "$@"; do
        if [[ -d $p ]]; then
            tar -S -C "$p" -cf - . | cat >/dev/null
        else
            cat -- "$p" >/dev/null
        fi
    done
}

# same_tree SRC DST: the blocks/ and state/ trees of DST are byte-identical to those of SRC
same_tree() {
    local src=$1 dst=$2 f ok=0
    (cd "$src" && find blocks state | sort) >"$stats/tree.src"
    (cd "$dst" && find blocks state 2>/dev/null | sort) >"$stats/tree.dst" || true
    if ! cmp -s "$stats/tree.src" "$stats/tree.dst"; then
        echo "    file lists differ between $src and $dst:"
        diff "$stats/tree.src" "$stats/tree.dst" | head -n 20 | sed 's/^/      /' || true
        ok=1
    fi
    while IFS= read -r -d '' f; do
        [[ -f $dst/$f ]] || continue
        if ! cmp -s -- "$src/$f" "$dst/$f"; then
            echo "    differs: $f"
            ok=1
        fi
    done < <(cd "$src" && find blocks state -type f -print0)
    return "$ok"
}

shm_allocated() { stat -c '%b %B' -- "$1/state/shared_memory.bin" | awk '{ printf "%.0f\n", $1 * $2 }'; }

report_restore() {
    local name=$1 dst=$2
    if [[ ! -d $dst/state ]]; then
        fail "$name: nothing restored in $dst"
        return
    fi
    if same_tree "$data" "$dst"; then
        echo "  $name: byte-identical to the source (cmp of every file under blocks/ and state/)"
    else
        fail "$name: restore in $dst is not byte-identical to the source"
    fi
    if [[ -f $dst/state/shared_memory.bin ]]; then
        local a note=""
        a=$(shm_allocated "$dst")
        ((a <= 2 * src_shm_alloc + (16 << 20))) || note=" - SPARSENESS LOST"
        echo "  $name: restored shared_memory.bin allocates $(mib "$a") (source $(mib "$src_shm_alloc")," \
            "apparent $(mib "$state_size_bytes"))$note"
    fi
}

# ---------------------------------------------------------------------------------------------------------------
# 0. environment

echo "== slotkeeper benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "host: $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "work folder: $BENCH_DIR ($fstype, $(mib "$avail") free)"
echo "tools: $(zstd --version | head -n 1 | sed 's/^\*\*\* //; s/ \*\*\*$//'); $(tar --version | head -n 1);" \
    "$(bsdtar --version | head -n 1 | cut -d' ' -f1-5)"
echo "sizes: blocks.log $BENCH_BLOCKS, shared_memory.bin $BENCH_STATE_SIZE with $BENCH_STATE_DATA of data;" \
    "zstd level $BENCH_LEVEL${BENCH_CHUNK:+; slotkeeper chunk size $BENCH_CHUNK}"
echo "method: each command runs once, right after sync, with a warm page cache (inputs read just before);"
echo "        the tar and bsdtar times include a final 'sync FILE' (backup) or 'sync -f DIR' (restore),"
echo "        because slotkeeper fsyncs what it writes; the time before that sync is shown in parentheses."

# bsdtar: libarchive before 3.7 takes zstd:threads=0 as "no worker threads" (it measured single-threaded here), so
# ask for one worker per CPU explicitly, which is what zstd -T0 does.
ncpu=$(nproc)
bsdtar_opts="zstd:compression-level=$BENCH_LEVEL,zstd:threads=$ncpu"
echo probe >"$BENCH_DIR/probe"
if bsdtar --zstd --options "$bsdtar_opts" -cf "$BENCH_DIR/probe.tar.zst" -C "$BENCH_DIR" probe 2>/dev/null; then
    echo "bsdtar: --options $bsdtar_opts (zstd:threads=0 means single-threaded in libarchive < 3.7)"
else
    bsdtar_opts="zstd:compression-level=$BENCH_LEVEL"
    echo "bsdtar: this bsdtar does not accept zstd:threads, so it compresses single-threaded (--options $bsdtar_opts)"
fi
rm -f -- "$BENCH_DIR/probe" "$BENCH_DIR/probe.tar.zst"

# ---------------------------------------------------------------------------------------------------------------
# 1. data-dir

echo
echo "== 1. generate the data-dir"
timed gen "$MKDATADIR" create "$data" --blocks-size "$BENCH_BLOCKS" --state-size "$BENCH_STATE_SIZE" \
    --state-data "$BENCH_STATE_DATA" >"$stats/gen.out" || die "mkdatadir create failed"
sed 's/^/  /' "$stats/gen.out"
src_shm_alloc=$(shm_allocated "$data")
echo "  generated in ${WALL[gen]} s"
echo "  apparent size $(mib "$(apparent "$data")"), allocated $(mib "$(allocated "$data")")" \
    "(blocks/ $(mib "$(allocated "$data/blocks")"), state/ $(mib "$(allocated "$data/state")"))"
meminfo_avail=$(awk '/MemAvailable/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
if ((meminfo_avail < 3 * (blocks_bytes + state_data_bytes))); then
    echo "  warning: only $(mib "$meminfo_avail") of memory available; the page cache may not stay warm"
fi

# ---------------------------------------------------------------------------------------------------------------
# 2. full backup

echo
echo "== 2. full backup"
q_data=$(printf %q "$data")
q_out1=$(printf %q "$out1")
q_out2=$(printf %q "$out2")

warm "$data"
if timed_sync tar_c "tar -S -C $q_data -cf - blocks state | zstd -T0 -$BENCH_LEVEL -q -o $q_out1" "sync $q_out1"; then
    echo "  a. tar -S | zstd -T0 -$BENCH_LEVEL, sync: ${WALL[tar_c]} s (${NOSYNC[tar_c]} s before sync)," \
        "$(mib "$(stat -c %s "$out1")")"
else
    fail "tar -S | zstd backup (status ${STATUS[tar_c]})"
fi

warm "$data"
if timed_sync bsdtar_c "bsdtar --zstd --options $(printf %q "$bsdtar_opts") -cf $q_out2 -C $q_data blocks state" \
    "sync $q_out2"; then
    echo "  b. bsdtar --zstd, sync: ${WALL[bsdtar_c]} s (${NOSYNC[bsdtar_c]} s before sync)," \
        "$(mib "$(stat -c %s "$out2")")"
else
    fail "bsdtar backup (status ${STATUS[bsdtar_c]})"
fi

sk_ok=0
if [[ $BENCH_NO_SLOTKEEPER != 1 ]]; then
    init_args=(repo init "$repo")
    [[ -z $BENCH_CHUNK ]] || init_args+=(--chunk-size "$BENCH_CHUNK")
    if timed sk_init "$SLOTKEEPER" "${init_args[@]}" >"$stats/sk_init.out" 2>"$stats/sk_init.err"; then
        warm "$data"
        if timed sk_full "$SLOTKEEPER" snapshot --data-dir "$data" --repo "$repo" --include blocks,state \
            --level "$BENCH_LEVEL" >"$stats/sk_full.out" 2>"$stats/sk_full.err"; then
            sk_ok=1
            show sk_full
            echo "  c. slotkeeper snapshot (full): ${WALL[sk_full]} s, snapshot id $(tail -n 1 "$stats/sk_full.out")," \
                "repo $(mib "$(apparent "$repo")") (allocated $(mib "$(allocated "$repo")"))"
        else
            show sk_full
            fail "slotkeeper snapshot (status ${STATUS[sk_full]})"
        fi
    else
        show sk_init
        fail "slotkeeper repo init (status ${STATUS[sk_init]})"
    fi
fi

# ---------------------------------------------------------------------------------------------------------------
# 3. restore

echo
echo "== 3. restore into empty folders"
dest1=$BENCH_DIR/restore-tar
dest2=$BENCH_DIR/restore-bsdtar
dest3=$BENCH_DIR/restore-slotkeeper

if [[ -f $out1 && ${STATUS[tar_c]:-1} == 0 ]]; then
    mkdir -- "$dest1"
    warm "$out1"
    if timed_sync tar_x "zstd -d -c $q_out1 | tar -S -xf - -C $(printf %q "$dest1")" \
        "sync -f $(printf %q "$dest1")"; then
        echo "  a. zstd -d | tar -S -x, sync -f: ${WALL[tar_x]} s (${NOSYNC[tar_x]} s before sync)"
        report_restore "tar" "$dest1"
    else
        fail "zstd -d | tar -x restore (status ${STATUS[tar_x]})"
    fi
fi

if [[ -f $out2 && ${STATUS[bsdtar_c]:-1} == 0 ]]; then
    mkdir -- "$dest2"
    warm "$out2"
    if timed_sync bsdtar_x "bsdtar -xf $q_out2 -C $(printf %q "$dest2")" "sync -f $(printf %q "$dest2")"; then
        echo "  b. bsdtar -x, sync -f: ${WALL[bsdtar_x]} s (${NOSYNC[bsdtar_x]} s before sync)"
        report_restore "bsdtar" "$dest2"
    else
        fail "bsdtar -x restore (status ${STATUS[bsdtar_x]})"
    fi
fi

if ((sk_ok)); then
    mkdir -- "$dest3"
    warm "$repo"
    if timed sk_restore "$SLOTKEEPER" restore --snapshot latest --data-dir "$dest3" --repo "$repo" \
        >"$stats/sk_restore.out" 2>"$stats/sk_restore.err"; then
        show sk_restore
        echo "  c. slotkeeper restore: ${WALL[sk_restore]} s"
        report_restore "slotkeeper" "$dest3"
    else
        show sk_restore
        fail "slotkeeper restore (status ${STATUS[sk_restore]})"
    fi
fi

# ---------------------------------------------------------------------------------------------------------------
# 4. incremental

if ((sk_ok)); then
    echo
    echo "== 4. mutate (1% blocks appended, 1% of state pages rewritten), then an incremental snapshot"
    "$MKDATADIR" mutate "$data" | sed 's/^/  /' || die "mkdatadir mutate failed"
    repo_before=$(apparent "$repo")
    warm "$data"
    if timed sk_incr "$SLOTKEEPER" snapshot --data-dir "$data" --repo "$repo" --include blocks,state \
        --level "$BENCH_LEVEL" >"$stats/sk_incr.out" 2>"$stats/sk_incr.err"; then
        show sk_incr
        echo "  slotkeeper snapshot (incremental): ${WALL[sk_incr]} s, snapshot id $(tail -n 1 "$stats/sk_incr.out")," \
            "repo grew by $(mib $(($(apparent "$repo") - repo_before)))"
    else
        show sk_incr
        fail "slotkeeper incremental snapshot (status ${STATUS[sk_incr]})"
    fi
fi

# ---------------------------------------------------------------------------------------------------------------
# 5. summary

echo
echo "== 5. summary (one run each, after sync, warm cache)"
row() {
    local key=$1 label=$2 extra=""
    [[ -n ${WALL[$key]:-} ]] || return 0
    [[ -z ${NOSYNC[$key]:-} ]] || extra=" (${NOSYNC[$key]} before sync)"
    printf '  %-44s %9s s %10s MiB  status %s%s\n' "$label" "${WALL[$key]}" \
        "$(awk -v k="${RSS[$key]}" 'BEGIN { printf "%.1f", k / 1024 }')" "${STATUS[$key]}" "$extra"
}
printf '  %-44s %11s %14s\n' "command" "wall" "peak RSS"
row gen "mkdatadir create"
row tar_c "backup: tar -S | zstd -T0 -$BENCH_LEVEL + sync"
row bsdtar_c "backup: bsdtar --zstd + sync"
row sk_init "slotkeeper repo init"
row sk_full "backup: slotkeeper snapshot (full)"
row tar_x "restore: zstd -d | tar -S -x + sync -f"
row bsdtar_x "restore: bsdtar -x + sync -f"
row sk_restore "restore: slotkeeper restore"
row sk_incr "backup: slotkeeper snapshot (incremental)"

# ratio LABEL NUM DEN TARGET
ratio() {
    local label=$1 num=$2 den=$3 target=$4
    if [[ -z $num || -z $den ]]; then
        printf '  %-52s %8s   target <= %-8s %s\n' "$label" "n/a" "$target" "-"
        return
    fi
    awk -v l="$label" -v n="$num" -v d="$den" -v t="$target" 'BEGIN {
        r = d > 0 ? n / d : 0
        printf "  %-52s %8.2f   target <= %-8s %s\n", l, r, t, (d > 0 && r <= t) ? "PASS" : "MISS" }'
}
min_of() {
    local a=${1:-} b=${2:-}
    if [[ -z $a ]]; then echo "$b"; elif [[ -z $b ]]; then echo "$a"; else
        awk -v a="$a" -v b="$b" 'BEGIN { print (a < b ? a : b) }'
    fi
}
ok_wall() {
    if [[ ${STATUS[$1]:-1} == 0 ]]; then
        echo "${WALL[$1]:-}"
    fi
}

echo
echo "  ratios"
if [[ $BENCH_NO_SLOTKEEPER == 1 ]]; then
    echo "  (slotkeeper skipped: BENCH_NO_SLOTKEEPER=1)"
else
    ratio "full snapshot: slotkeeper / min(tar|zstd, bsdtar)" "$(ok_wall sk_full)" \
        "$(min_of "$(ok_wall tar_c)" "$(ok_wall bsdtar_c)")" 1.00
    ratio "incremental: slotkeeper incremental / full" "$(ok_wall sk_incr)" "$(ok_wall sk_full)" 0.10
    ratio "restore: slotkeeper / min(zstd -d|tar -x, bsdtar -x)" "$(ok_wall sk_restore)" \
        "$(min_of "$(ok_wall tar_x)" "$(ok_wall bsdtar_x)")" 0.70
    for key in sk_init sk_full sk_restore sk_incr; do
        [[ -n ${RSS[$key]:-} ]] || continue
        awk -v l="peak RSS: slotkeeper ${key#sk_} (MiB)" -v k="${RSS[$key]}" 'BEGIN {
            m = k / 1024
            printf "  %-52s %8.1f   target <= %-8s %s\n", l, m, "128", m <= 128 ? "PASS" : "MISS" }'
    done
fi

echo
if ((${#failures[@]})); then
    echo "FAILED:"
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "all commands succeeded and every restore was byte-identical"
