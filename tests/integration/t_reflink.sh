#!/usr/bin/env bash
# t_reflink: the loop file systems the clone tests stand on (fs_lib.sh), and the library's probe
# (sk_reflink_probe, through the reflinkprobe tool): it says yes on XFS with reflink=1, and no,
# with a reason, on ext4 and between two file systems.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"
PROBE=$TOOLS/reflinkprobe

if ! fs_mount xfs 300 "$W/xfs"; then
    ok "XFS reflink probe # SKIP $FS_WHY"
    exit 0
fi
check "XFS made with reflink=1 clones (cp --reflink=always)" fs_reflink_ok "$W/xfs"
mkdir -p "$W/xfs/a" "$W/xfs/b"
run 0 "probe: a clone works between two folders of one XFS" "$PROBE" "$W/xfs/a" "$W/xfs/b"
check "probe says yes" grep -qx 'yes' "$W/out"
if fs_mount ext4 64 "$W/ext4"; then
    run 0 "probe on ext4" "$PROBE" "$W/ext4" "$W/ext4"
    check "ext4 cannot clone, and says why" grep -q '^no ' "$W/out"
    run 0 "probe across two file systems" "$PROBE" "$W/xfs/a" "$W/ext4"
    check "two file systems cannot clone (EXDEV)" grep -q '^no .*cross-device' "$W/out"
else
    not_ok "ext4 loop mount: $FS_WHY"
fi
run 1 "probe on a missing folder fails" "$PROBE" "$W/xfs/missing" "$W/xfs/b"
echo "1..$T_N"
