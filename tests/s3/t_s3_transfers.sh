#!/usr/bin/env bash
# t_s3_transfers (`make s3-test`): the S3 driver's transfer engine runs up to
# SLOTKEEPER_S3_TRANSFERS requests at once; one at a time and sixteen at once must make the same
# repository: the same chunk objects (names, ETags, sizes), the same number of PUTs, the same
# local chunks after a follower's sync, and a byte-identical restore. Then the server stopped in
# the middle of a 16-transfer upload: many PUTs were in flight, nothing is published, and the next
# snapshot completes.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/s3_lib.sh"

if ! s3_available || ! s3_start; then
    echo "ok 1 - $T_NAME: S3 transfers # SKIP $S3_WHY"
    echo "1..1"
    exit 0
fi
B=sk-transfers
jqt() { jq -e "$@" >/dev/null; } # jqt FILTER FILE: whether FILTER holds of the JSON in FILE
check "bucket created" [ "$(s3_req PUT /$B)" = 200 ]
mkdd "$W/dc" --blocks-size 6M --state-size 16M --state-data 4M --seed 5

# One transfer at a time and sixteen at once make the same repository.
objs() { # objs PREFIX: "key-without-prefix etag size" of every chunk object under PREFIX/chunks/
    s3_req GET "/$B?list-type=2&prefix=$1%2Fchunks%2F" >/dev/null
    tr '<' '\n' <"$W/s3.out" | sed -n 's|^Key>'"$1"'/||p; s|^ETag>||p; s|^Size>||p' | paste - - - | LC_ALL=C sort
}
for t in 1 16; do
    run 0 "repo init (transfers $t)" "$SK" repo init "s3://$B/tr$t"
    run 0 "snapshot with SLOTKEEPER_S3_TRANSFERS=$t" env SLOTKEEPER_S3_TRANSFERS=$t "$SK" snapshot --threads 1 --repo "s3://$B/tr$t" --data-dir "$W/dc" --json
    cp "$W/out" "$W/tr$t.json"
    run 0 "local repo init (transfers $t)" "$SK" repo init "$W/ltr$t"
    run 0 "sync with SLOTKEEPER_S3_TRANSFERS=$t" env SLOTKEEPER_S3_TRANSFERS=$t "$SK" sync --from "s3://$B/tr$t" --repo "$W/ltr$t"
    objs "tr$t" >"$W/objs$t"
done
check "one transfer: never more than one request in flight" jqt '.s3.in_flight_max == 1' "$W/tr1.json"
# With 16 workers each compressing a chunk then PUTting it, requests overlap (the engine saw
# several at once); at most 16 + the lock refresher + the caller's own.
check "sixteen transfers: requests did overlap, within the bound" \
    jqt '(.s3.in_flight_max >= 2) and (.s3.in_flight_max <= 18)' "$W/tr16.json"
check "the same chunk objects (names, ETags, sizes) with 1 and 16 transfers" \
    eval '[ "$(wc -l <"$W/objs1")" -gt 10 ] && cmp -s "$W/objs1" "$W/objs16"'
check "the same PUTs with 1 and 16 transfers" [ "$(jq .s3.put "$W/tr1.json")" = "$(jq .s3.put "$W/tr16.json")" ]
check "the same local chunks after sync with 1 and 16 transfers" diff -r "$W/ltr1/chunks" "$W/ltr16/chunks"
run 0 "restore from the 16-transfer copy" "$SK" restore --repo "$W/ltr16" --data-dir "$W/rtr"
check "restored byte-identical (16 transfers)" same_tree "$W/dc" "$W/rtr"


# ---- the server stopped in the middle of a 16-transfer upload ----
R=s3://$B/stop
run 0 "repo init (stop)" "$SK" repo init "$R"
mkdd "$W/big" --blocks-size 24M --state-size 32M --state-data 8M --seed 3
SLOTKEEPER_S3_TRANSFERS=16 SLOTKEEPER_S3_TRIES=3 "$SK" snapshot --repo "$R" --data-dir "$W/big" >"$W/snap.out" 2>"$W/snap.err" &
SP=$!
for _ in $(seq 400); do
    [ -n "$(s3_keys $B stop/chunks/ | grep -v '/$' | head -1)" ] && break
    sleep 0.05
done
s3_stop
wait $SP
SRC=$?
check "the snapshot failed (exit $SRC)" [ "$SRC" = 1 ]
cp "$W/snap.err" "$W/err"
one_line_error "server stopped mid-upload (16 transfers)"
if s3_start; then ok "the server started again"; else not_ok "the server started again: $S3_WHY"; fi
check "no manifest was published" [ -z "$(s3_keys $B stop/snapshots/ | grep -v '/$')" ]
run 0 "the next snapshot completes" "$SK" snapshot --repo "$R" --data-dir "$W/big"
run 0 "and restores byte-identical" "$SK" restore --repo "$R" --data-dir "$W/rbig"
check "restored byte-identical (after the stop)" same_tree "$W/big" "$W/rbig"

echo "1..$T_N"
