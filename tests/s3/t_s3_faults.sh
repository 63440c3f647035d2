#!/usr/bin/env bash
# t_s3_faults (`make s3-test`): a repository on a real S3 server (tests/integration/t_s3.sh has
# the basics) when things go wrong slowly: a lock object whose holder died goes stale after its
# expiry and the next exclusive holder removes it; a server that stops answering; the server
# stopped in the middle of an upload, then started again (nothing half-published, the data-dir
# untouched, the next snapshot succeeds and restores byte-identical); the server stopped in the
# middle of a follower's sync (nothing published locally, no leftovers; the next sync completes).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/s3_lib.sh"

if ! s3_available || ! s3_start; then
    echo "ok 1 - $T_NAME: S3 faults # SKIP $S3_WHY"
    echo "1..1"
    exit 0
fi
B=sk-faults
R=s3://$B/repo/one
check "bucket created" [ "$(s3_req PUT /$B)" = 200 ]
mkdd "$W/dd" --blocks-size 2M --state-size 8M --state-data 1M --seed 1
run 0 "repo init on s3" "$SK" repo init "$R"
run 0 "snapshot to s3" "$SK" snapshot --repo "$R" --data-dir "$W/dd"

# ---- a holder that died: its lock goes stale ----
printf 'owner other\n' >"$W/lockbody"
check "an exclusive lock of another host" [ "$(s3_req PUT /$B/repo/one/locks/lock/ex-otherhost.1-4242-00000001 "$W/lockbody")" = 200 ]
run 4 "holds prune off" env SLOTKEEPER_S3_LOCK_STALE=5 "$SK" prune --repo "$R" --keep-last 1 --lock-wait 0
sleep 8 # past SLOTKEEPER_S3_LOCK_STALE=5 on the server's clock, with a margin: S3 times are whole seconds (a LastModified rounded up, a Date rounded down)
run 0 "once stale it is ignored, and the exclusive holder removes it" env SLOTKEEPER_S3_LOCK_STALE=5 "$SK" prune --repo "$R" --keep-last 1 --lock-wait 0
check "the stale lock object is gone" [ -z "$(s3_keys $B repo/one/locks/ | grep ex-otherhost)" ]

# ---- a slow server ----
PG=$(s3_pgid proxy)
kill -STOP -- "-$PG"
run 1 "a server that does not answer" env SLOTKEEPER_S3_TIMEOUT=2 SLOTKEEPER_S3_TRIES=2 "$SK" list --repo "$R"
kill -CONT -- "-$PG"
one_line_error "slow server"
err_has 'timed out' "slow server: says timed out"

# ---- the server stopped in the middle of an upload ----
R2=s3://$B/repo/two
run 0 "repo init (2)" "$SK" repo init "$R2"
mkdd "$W/big" --blocks-size 24M --state-size 32M --state-data 8M --seed 3
SIG=$(tree_sig "$W/big")
SLOTKEEPER_S3_TRIES=3 "$SK" snapshot --repo "$R2" --data-dir "$W/big" --threads 1 >"$W/snap.out" 2>"$W/snap.err" &
SP=$!
for _ in $(seq 400); do
    [ -n "$(s3_keys $B repo/two/chunks/ | grep -v '/$' | head -1)" ] && break
    sleep 0.05
done
kill -STOP $SP 2>/dev/null
check "the snapshot was still uploading" [ -z "$(s3_keys $B repo/two/snapshots/ | grep -v '/$')" ]
s3_stop
kill -CONT $SP 2>/dev/null
wait $SP
SRC=$?
check "the snapshot failed (exit $SRC)" [ "$SRC" = 1 ]
cp "$W/snap.err" "$W/err"
one_line_error "server stopped mid-upload"
check "the data-dir is unchanged" [ "$SIG" = "$(tree_sig "$W/big")" ]
if s3_start; then ok "the server started again"; else not_ok "the server started again: $S3_WHY"; fi
run 0 "list after the restart" "$SK" list --repo "$R2"
check "nothing was published" [ "$(grep -c ' good$' "$W/out")" = 0 ]
run 0 "the snapshot again" "$SK" snapshot --repo "$R2" --data-dir "$W/big"
run 0 "restore it" "$SK" restore --repo "$R2" --data-dir "$W/r3"
check "byte-identical" same_tree "$W/big" "$W/r3"
run 0 "verify it" "$SK" verify --repo "$R2"

# ---- the server stopped in the middle of a follower's sync ----
L=$W/local
run 0 "local repo init" "$SK" repo init "$L"
"$SK" sync --from "$R2" --repo "$L" --threads 1 >"$W/sync.out" 2>"$W/sync.err" &
SP=$!
for _ in $(seq 400); do
    [ -n "$(find "$L/tmp" -type f 2>/dev/null | head -1)" ] && break
    sleep 0.05
done
kill -STOP $SP 2>/dev/null
check "the sync was still copying" [ -z "$(ls "$L/snapshots")" ]
s3_stop
kill -CONT $SP 2>/dev/null
wait $SP
SRC=$?
check "the sync failed (exit $SRC)" [ "$SRC" = 1 ]
cp "$W/sync.err" "$W/err"
one_line_error "server stopped mid-sync"
check "nothing was published locally" [ -z "$(ls "$L/snapshots")" ]
check "nothing was left in the local tmp/" [ -z "$(ls "$L/tmp")" ]
if s3_start; then ok "the server started again"; else not_ok "the server started again: $S3_WHY"; fi
run 0 "sync again" "$SK" sync --from "$R2" --repo "$L"
run 0 "restore from the follower" "$SK" restore --repo "$L" --data-dir "$W/r4"
check "byte-identical" same_tree "$W/big" "$W/r4"

echo "1..$T_N"
