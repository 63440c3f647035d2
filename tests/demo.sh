#!/usr/bin/env bash
# `make demo`: the main job on an embedded default. Generates a nodeos-like data-dir
# (an "archival node"), snapshots it, snapshots it again after it ran a little
# (incremental), verifies, then brings a broken worker slot back from the newest
# snapshot and shows what happened. Everything lives under $DEMO_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SK=$ROOT/slotkeeper
MK=$ROOT/build/tools/mkdatadir
D=${DEMO_DIR:-/var/tmp/slotkeeper-demo}
rm -rf "$D"
mkdir -p "$D"
say() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

say "an archival node's data-dir: a 256 MiB blocks.log, a 2 GiB sparse state file with 64 MiB of data"
"$MK" create "$D/archive" --blocks-size 256M --state-size 2G --state-data 64M
du -sh --apparent-size "$D/archive/state/shared_memory.bin" | sed 's/^/   apparent size: /'
du -sh "$D/archive/state/shared_memory.bin" | sed 's/^/   allocated:     /'

say "a repository, and a first snapshot (the node is stopped)"
show "$SK" repo init "$D/repo"
show "$SK" snapshot --data-dir "$D/archive" --repo "$D/repo"

say "the node runs a while (1% more blocks, 1% of state pages rewritten); an incremental snapshot"
"$MK" mutate "$D/archive"
show "$SK" snapshot --data-dir "$D/archive" --repo "$D/repo"
show "$SK" list --repo "$D/repo"

say "verify reads back every chunk and checks every hash"
show "$SK" verify --all --repo "$D/repo"

say "worker slot 3 was killed: its state is dirty and its block log tail is torn"
mkdir -p "$D/slots"
"$MK" create "$D/slots/3" --blocks-size 32M --state-size 512M --state-data 8M --seed 3 >/dev/null
printf '\001' | dd of="$D/slots/3/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
truncate -s -100 "$D/slots/3/blocks/blocks.log"
echo "p2p-peer-address = peer-of-slot-3:9876" >>"$D/slots/3/config.ini"
echo "   dirty byte: $(od -An -tu1 -j8 -N1 "$D/slots/3/state/shared_memory.bin" | tr -d ' ')"

say "restore the newest good snapshot into slot 3"
show "$SK" restore --snapshot latest --data-dir "$D/slots/3" --repo "$D/repo"
cmp "$D/archive/blocks/blocks.log" "$D/slots/3/blocks/blocks.log"
cmp "$D/archive/state/shared_memory.bin" "$D/slots/3/state/shared_memory.bin"
echo "   blocks/ and state/ are byte-identical to the snapshot; dirty byte: $(od -An -tu1 -j8 -N1 "$D/slots/3/state/shared_memory.bin" | tr -d ' ')"
echo "   the slot kept its own config.ini: $(grep peer-of-slot-3 "$D/slots/3/config.ini")"
echo "   the broken folders were quarantined in: $(ls -d "$D"/slots/3/.slotkeeper/quarantine/*)"
du -sh "$D/slots/3/state/shared_memory.bin" | sed 's/^/   restored state file, allocated (holes kept): /'

say "retention: keep the newest snapshot, free the rest"
show "$SK" prune --keep-last 1 --repo "$D/repo"
du -sh "$D/repo" | sed 's/^/   repository size: /'
echo
echo "demo done; files are in $D (remove with: rm -rf $D)"
