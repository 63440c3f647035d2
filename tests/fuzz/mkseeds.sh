#!/usr/bin/env bash
# Regenerates the seed corpora of tests/fuzz/corpus/<target>/ from the test fixtures: the
# nodeos 1.8 block log and index (tests/fixtures), data-dirs made by mkdatadir, snapshots and
# exports made by slotkeeper, the configuration examples, and the hostile archives of
# t_import.sh. Needs ./slotkeeper and build/tools/mkdatadir (`make build`), tar, gzip, zstd.
# The seeds are kept in git; run this only to refresh them:  bash tests/fuzz/mkseeds.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SK=${SK:-$ROOT/slotkeeper}
MKDATADIR=${MKDATADIR:-$ROOT/build/tools/mkdatadir}
FIX=$ROOT/tests/fixtures/nodeos-1.8
C=$ROOT/tests/fuzz/corpus
W=$(mktemp -d "${TMPDIR:-/tmp}/sk-seeds.XXXXXX")
trap 'rm -rf "$W"' EXIT
for t in manifest config control check import; do
    rm -rf "${C:?}/$t"
    mkdir -p "$C/$t"
done

# byte N: one byte of value N; u16 N: N as two bytes, little-endian.
byte() { printf "$(printf '\\%03o' "$1")"; }
u16() { byte $(($1 & 255)); byte $(($1 >> 8)); }
# check_seed NAME FLAGS0 FLAGS1 STATE LOG INDEX: the input format of fuzz_check.c.
check_seed() {
    local name=$1 f0=$2 f1=$3 st=$4 lg=$5 ix=$6
    {
        byte "$f0"
        byte "$f1"
        u16 "$(stat -c %s "$st")"
        cat "$st"
        u16 "$(stat -c %s "$lg")"
        cat "$lg"
        cat "$ix"
    } >"$C/check/$name"
}

# ---- data-dirs, repository, snapshots, exports ----
"$MKDATADIR" create "$W/dd" --blocks-size 8K --state-size 1M --state-data 4K --seed 7 >/dev/null
ln -s blocks.log "$W/dd/blocks/latest.log"
"$SK" repo init "$W/repo" --chunk-size 4KiB --log-chunk-size 4KiB >/dev/null
"$SK" repo init "$W/repo2" >/dev/null
id=$("$SK" snapshot --data-dir "$W/dd" --repo "$W/repo" 2>/dev/null)
id2=$("$SK" snapshot --data-dir "$W/dd" --repo "$W/repo2" 2>/dev/null)
"$SK" export "$id" -o "$W/snap.tar.zst" --repo "$W/repo" 2>/dev/null

# ---- manifest: whole manifests, and bodies without their checksum line ----
cp "$W/repo/snapshots/$id" "$C/manifest/small-chunks"
cp "$W/repo2/snapshots/$id2" "$C/manifest/default-chunks"
head -n -1 "$W/repo/snapshots/$id" >"$C/manifest/small-chunks.body"
head -n -1 "$W/repo2/snapshots/$id2" >"$C/manifest/default-chunks.body"
printf 'slotkeeper-manifest 1\nid 20261126T000000Z-000000-0000\ntime 0 1970-01-01T00:00:00Z\nchunk-size 4096\ninclude a%%20b c\nfact k.1 v%%0A\nstats files=2 logical=5000 data=5000 stored=9 new=9 chunks=2\nd 0755 0 0 0.000000000 a%%20b\nd 0700 1 2 -1.000000001 c\nf 0644 0 0 5.123456789 5000 a%%20b/f\nc 0 0123456789abcdef0123456789abcdef 4\nc 1 fedcba9876543210fedcba9876543210 5\nf 0600 0 0 0.000000000 0 8192 c/empty\nl 0777 0 0 0.000000000 c/l f\nend\n' \
    >"$C/manifest/handmade.body"
# version 2: the carry run, and files with their identity and carried prefix (x records)
printf 'slotkeeper-manifest 2\nid 20261126T000000Z-000000-0000\ntime 0 1970-01-01T00:00:00Z\nchunk-size 4096\ninclude blocks\ncarry-run 2\nstats files=2 logical=9000 data=9000 stored=9 new=0 chunks=2\nd 0755 0 0 0.000000000 blocks\nf 0644 0 0 5.123456789 9000 blocks/blocks.log\nx 2049 131 8192\nc 0 0123456789abcdef0123456789abcdef 4\nc 2 fedcba9876543210fedcba9876543210 5\nf 0600 0 0 0.000000000 0 8192 blocks/blocks.index\nx 18446744073709551615 0 0\nend\n' \
    >"$C/manifest/handmade-v2.body"

# ---- config ----
cp "$ROOT/etc/slotkeeper.conf" "$C/config/etc-slotkeeper.conf"
printf '[repository]\npath = /var/lib/slotkeeper/repo\n' >"$C/config/minimal"
cat >"$C/config/daemon" <<'CONF'
[daemon]
control_socket = /run/slotkeeper/control.sock
control_socket_mode = 0660
log_level = debug
metrics_address = 127.0.0.1:9488

[repository]
path = /var/lib/slotkeeper/repo
keep_last = 1
lock_wait = 250ms

[archive]
data_dir = /srv/eos/archive
command = nodeos --data-dir {data_dir}
include = blocks,shared_mem
snapshot_interval = 1h

[workers]
slots = 3
data_dir = /srv/eos/{slot}
command = nodeos --data-dir {data_dir} --http-server-address 127.0.0.1:{http_port} --p2p-listen-endpoint 0.0.0.0:{p2p_port}
quarantine = delete
log_max_size = 1GiB
backoff_min = 0
backoff_max = 30s
; a comment
# another
CONF
printf '[repository]\npath = /r\n[workers]\nslots = 2\ncommand = nodeos\ndata_dir = /srv/eos\n' >"$C/config/bad-rule"
printf '[repository]\npath = /r\n  level = 4\n' >"$C/config/bad-indent"

# ---- control: byte 0 is the mode (see fuzz_control.c), then the stream ----
ctl() { printf "$2" >"$C/control/$1"; }
ctl pipelined '\000{"v":1,"cmd":"status"}\n{"v":1,"cmd":"ping"}\n{"v":1,"cmd":"later"}\n{"v":1,"cmd":"echo","arg":[1,"x",null]}\n{"v":1,"cmd":"fail"}\n{"v":1,"cmd":"null"}\n{"v":1,"cmd":"array"}\n'
ctl cli-requests '\000{"v":1,"cmd":"restore","slot":3,"snapshot":"20261126T195243Z-123456-3fa9"}\n{"v":1,"cmd":"stop","slot":"archive"}\n{"v":1,"cmd":"snapshot"}\n{"v":1,"cmd":"reset","slot":2}\n'
ctl bad-lines '\000garbage\n[1,2]\n{"cmd":"status"}\n{"v":2,"cmd":"status"}\n{"v":"1","cmd":"status"}\n{"v":1}\n{"v":1,"cmd":7}\n\n{"v":1,"cmd":"\\u00e9\\u0000x"}\n\377\376\n'
ctl half-sent '\000{"v":1,"cmd":"status"}\n{"v":1,"cmd":"lat'
ctl fragmented '\014{"v":1,"cmd":"later"}\n{"v":1,"cmd":"later"}\n{"v":1,"cmd":"status"}'
ctl hang-up '\102{"v":1,"cmd":"later"}\n{"v":1,"cmd":"later"}\n{"v":1,"cmd":"status"}\n'
{ printf '\000'; head -c 70000 /dev/zero | tr '\0' 'a'; printf '\n{"v":1,"cmd":"status"}\n'; } >"$C/control/oversized"
ctl answer-status '\003{"v":1,"ok":true,"daemon":{"pid":1},"slots":[{"slot":1,"state":"running"}]}\n'
ctl answer-error '\003{"v":1,"ok":false,"error":"no slot 4","exit":2}\n'
ctl answer-bad '\003[1]\n'
ctl answer-cut '\003{"v":1,"ok":tr'

# ---- check: flags, state head, block log, index (see fuzz_check.c) ----
head -c 1024 "$W/dd/state/shared_memory.bin" >"$W/st-leap5"
{ printf 'EOSIODB2'; tail -c +9 "$W/st-leap5"; } >"$W/st-eosio"
{ printf 'CHAINB01'; tail -c +9 "$W/st-leap5"; } >"$W/st-spring"
{ head -c 8 "$W/st-leap5"; printf '\001'; tail -c +10 "$W/st-leap5"; } >"$W/st-dirty"
{ head -c 528 "$W/st-leap5"; printf 'clang 17'; tail -c +537 "$W/st-leap5"; } >"$W/st-other-cc"
: >"$W/empty"
check_seed leap5-fixture 0x04 0 "$W/st-leap5" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed leap5-fixture-deep 0x05 0 "$W/st-leap5" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed leap5-v3 0x05 0 "$W/st-leap5" "$W/dd/blocks/blocks.log" "$W/dd/blocks/blocks.index"
check_seed eosio 0x09 0 "$W/st-eosio" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed spring 0x15 0 "$W/st-spring" "$W/dd/blocks/blocks.log" "$W/dd/blocks/blocks.index"
check_seed dawn3 0x07 0 "$W/empty" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed dirty 0x04 0 "$W/st-dirty" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed reference-same 0x04 0x08 "$W/st-leap5" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed reference-other 0x04 0x10 "$W/st-other-cc" "$FIX/blocks.log" "$FIX/blocks.index"
check_seed restoring 0x04 0x04 "$W/st-leap5" "$FIX/blocks.log" "$FIX/blocks.index"
head -c 4000 "$FIX/blocks.log" >"$W/log-cut"
check_seed truncated-tail 0x05 0 "$W/st-leap5" "$W/log-cut" "$FIX/blocks.index"
head -c 16 "$FIX/blocks.index" >"$W/ix-short"
check_seed dropped-entry 0x05 0 "$W/st-leap5" "$FIX/blocks.log" "$W/ix-short"
{ head -c $((0x76)) "$FIX/blocks.log"; printf '\000'; tail -c +$((0x78)) "$FIX/blocks.log"; } >"$W/log-totem"
check_seed flipped-totem 0x05 0 "$W/st-leap5" "$W/log-totem" "$FIX/blocks.index"
{ printf '\000\000\000\000'; tail -c +5 "$FIX/blocks.log"; } >"$W/log-v0"
check_seed version-0 0x04 0 "$W/st-leap5" "$W/log-v0" "$FIX/blocks.index"
check_seed no-index 0x24 0 "$W/st-leap5" "$FIX/blocks.log" "$W/empty"
check_seed only-preamble 0x04 0 "$W/st-leap5" "$W/log-cut" "$W/empty"

# ---- import: byte 0 (1: fix tar header checksums), then the archive ----
imp() { { byte "$1"; cat "$2"; } >"$C/import/$3"; }
imp 0 "$W/snap.tar.zst" export.tar.zst
zstd -q -d -c "$W/snap.tar.zst" >"$W/snap.tar"
imp 1 "$W/snap.tar" export.tar
gzip -9 -c "$W/snap.tar" >"$W/snap.tar.gz"
imp 0 "$W/snap.tar.gz" export.tar.gz
# byte 0 bit 1: the export split into its manifest body (the target adds the header and the
# checksum line) and the rest of the archive
tar -xOf "$W/snap.tar" .slotkeeper/manifest >"$W/man"
head -n -1 "$W/man" >"$W/man.body"
skip=$((512 + ($(stat -c %s "$W/man") + 511) / 512 * 512))
tail -c +$((skip + 1)) "$W/snap.tar" >"$W/rest"
{ byte 3; u16 "$(stat -c %s "$W/man.body")"; cat "$W/man.body" "$W/rest"; } >"$C/import/export-split.tar"
# ... with a manifest whose first chunk hash is another, and one whose first file has another mode
awk '/^c / && !d {d=1; $3="0123456789abcdef0123456789abcdef"} {print}' "$W/man.body" >"$W/man.lie"
{ byte 3; u16 "$(stat -c %s "$W/man.lie")"; cat "$W/man.lie" "$W/rest"; } >"$C/import/export-split-hash-lies.tar"
awk '/^f / && !d {d=1; $2="0600"} {print}' "$W/man.body" >"$W/man.lie2"
{ byte 3; u16 "$(stat -c %s "$W/man.lie2")"; cat "$W/man.lie2" "$W/rest"; } >"$C/import/export-split-mode-lies.tar"
tar -b1 -C "$W/dd" --sparse --format=gnu -cf "$W/plain-gnu.tar" blocks state
imp 1 "$W/plain-gnu.tar" plain-gnu-sparse.tar
tar -b1 -C "$W/dd" --sparse --format=pax -cf "$W/plain-pax.tar" blocks state
imp 1 "$W/plain-pax.tar" plain-pax-sparse.tar
tar -b1 -C "$W/dd" --sparse -czf "$W/whole.tar.gz" .
imp 0 "$W/whole.tar.gz" whole-datadir.tar.gz
mkdir -p "$W/h"
cp -a "$W/dd" "$W/dirty" && printf '\001' | dd of="$W/dirty/state/shared_memory.bin" bs=1 seek=8 conv=notrunc status=none
tar -b1 -C "$W/dirty" --sparse -cf "$W/h/dirty.tar" blocks state
tar -b1 -P -cf "$W/h/abs.tar" "$W/dd/config.ini" 2>/dev/null
(cd "$W/dd/blocks" && tar -b1 -P -cf "$W/h/dotdot.tar" ../config.ini)
mkdir -p "$W/e1/blocks" && ln -s /etc/passwd "$W/e1/blocks/evil" && tar -b1 -C "$W/e1" -cf "$W/h/symabs.tar" blocks
mkdir -p "$W/e2/blocks" && ln -s ../../../etc "$W/e2/blocks/evil" && tar -b1 -C "$W/e2" -cf "$W/h/symdot.tar" blocks
mkdir -p "$W/e3/blocks" && echo x >"$W/e3/blocks/a" && ln "$W/e3/blocks/a" "$W/e3/blocks/b" &&
    tar -b1 -C "$W/e3" -cf "$W/h/hard.tar" blocks
mkdir -p "$W/e4/blocks" && mkfifo "$W/e4/blocks/fifo" && tar -b1 -C "$W/e4" -cf "$W/h/fifo.tar" blocks
long=$(printf 'x%.0s' $(seq 5000))
tar -b1 -C "$W/dd" -cf "$W/h/long.tar" --transform "s|^blocks/blocks.index|blocks/$long|" blocks/blocks.index
mkdir -p "$W/lie" && tar --zstd -xf "$W/snap.tar.zst" -C "$W/lie" && cp "$W/lie/.slotkeeper/manifest" "$W/lie/.slotkeeper-manifest"
tar -b1 -C "$W/lie" --sparse -cf "$W/h/late-manifest.tar" blocks .slotkeeper-manifest state
truncate -s -1 "$W/lie/blocks/blocks.index"
tar -b1 -C "$W/lie" --sparse -cf "$W/h/lie-size.tar" .slotkeeper-manifest blocks state
printf 'slotkeeper-manifest 1\nid 20261126T000000Z-000000-0000\n' >"$W/lie/.slotkeeper-manifest"
tar -b1 -C "$W/lie" --sparse -cf "$W/h/bad-manifest.tar" .slotkeeper-manifest blocks state
for f in "$W"/h/*.tar; do imp 1 "$f" "hostile-$(basename "$f")"; done

for t in manifest config control check import; do
    echo "$t: $(ls "$C/$t" | wc -l) seeds, largest $(ls -S "$C/$t" | head -1) ($(stat -c %s "$C/$t/$(ls -S "$C/$t" | head -1)") bytes)"
done
