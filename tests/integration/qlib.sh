# Helpers for a delta restore's quarantine (see restore.h and README), sourced by lib.sh and by
# tests/crash/sweep.sh.

# content_sig DIR [FOLDERS...]: names, types, link targets and file contents (no metadata) of the
# given sub-folders (default blocks state).
content_sig() {
    local d=$1
    shift
    local folders=("$@")
    [ ${#folders[@]} = 0 ] && folders=(blocks state)
    (cd "$d" && find "${folders[@]}" -printf '%p %y %l\n' 2>/dev/null | LC_ALL=C sort &&
        find "${folders[@]}" -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 -r cksum)
}

# quarantine_put_back Q DIR: README's procedure for a delta restore's quarantine Q (its index),
# applied to the data-dir DIR: what the restore created is removed, what it moved is moved
# back, saved files are copied back, saved regions written back, old sizes set.
quarantine_put_back() {
    local q=$1 d=$2 kind path off len where
    _qunesc() { printf '%b' "${1//%/\\x}"; }
    while read -r kind path off len where; do
        [ "$kind" = created ] && rm -rf "${d:?}/$(_qunesc "$path")"
    done < <(tail -n +2 "$q/index" | tac)
    while read -r kind path off len where; do
        path=$(_qunesc "$path")
        where=$(_qunesc "$where")
        case $kind in
        moved) mv "$q/$where" "$d/$path" ;;
        file | clone) cp --sparse=always "$q/$where" "$d/$path" ;;
        region) dd if="$q/$where" of="$d/$path" bs=64K iflag=skip_bytes,count_bytes oflag=seek_bytes \
            skip="$off" seek="$off" count="$len" conv=notrunc status=none ;;
        size) truncate -s "$off" "$d/$path" ;;
        esac
    done < <(tail -n +2 "$q/index")
}
