# Loop-device file systems for the tests that need a particular one (XFS with reflinks for
# clones, ext4 for "cannot clone"). Source after lib.sh. Each mount is a sparse image under
# /var/tmp, attached to a loop device and mounted under $W; fs_cleanup (called by lib.sh's
# finish) unmounts and detaches everything this test made, whatever happened.
#
#   fs_mount xfs|ext4 SIZE_MB DIR   makes DIR a fresh file system; prints nothing, returns 0,
#                                   or returns 1 with the reason in $FS_WHY (not root, no loop
#                                   device, no mkfs...): the caller SKIPs with it
#   fs_reflink_ok DIR               0 when a clone works inside DIR (cp --reflink=always)
FS_IMAGES=()
FS_MOUNTS=()
FS_LOOPS=()
FS_WHY=

fs_cleanup() {
    local m l i
    for m in "${FS_MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
    for l in "${FS_LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
    for i in "${FS_IMAGES[@]}"; do rm -f "$i"; done
    FS_MOUNTS=() FS_LOOPS=() FS_IMAGES=()
}

fs_mount() {
    local type=$1 mb=$2 dir=$3 img loop mkfs
    FS_WHY=
    if [ "$(id -u)" != 0 ]; then FS_WHY="not root (a loop mount needs root)"; return 1; fi
    case $type in
    xfs) mkfs=(mkfs.xfs -q -f -m reflink=1) ;;
    ext4) mkfs=(mkfs.ext4 -q -F) ;;
    *) FS_WHY="unknown file system $type"; return 1 ;;
    esac
    command -v "${mkfs[0]}" >/dev/null || { FS_WHY="${mkfs[0]} is not installed"; return 1; }
    img=$(mktemp "/var/tmp/sk-fs.$type.XXXXXX") || { FS_WHY="cannot make an image in /var/tmp"; return 1; }
    FS_IMAGES+=("$img")
    truncate -s "${mb}M" "$img" || { FS_WHY="cannot size $img"; return 1; }
    "${mkfs[@]}" "$img" >/dev/null 2>"$W/fs.err" || { FS_WHY="${mkfs[0]} failed: $(head -c 200 "$W/fs.err")"; return 1; }
    loop=$(losetup -f --show "$img" 2>"$W/fs.err") || { FS_WHY="no loop device: $(head -c 200 "$W/fs.err")"; return 1; }
    FS_LOOPS+=("$loop")
    mkdir -p "$dir"
    mount "$loop" "$dir" 2>"$W/fs.err" || { FS_WHY="mount failed: $(head -c 200 "$W/fs.err")"; return 1; }
    FS_MOUNTS+=("$dir")
    return 0
}

fs_reflink_ok() {
    local d=$1
    head -c 8192 /dev/urandom >"$d/.reflink-probe" &&
        cp --reflink=always "$d/.reflink-probe" "$d/.reflink-probe2" 2>/dev/null
    local rc=$?
    rm -f "$d/.reflink-probe" "$d/.reflink-probe2"
    return $rc
}
