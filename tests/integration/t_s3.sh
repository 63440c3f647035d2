#!/usr/bin/env bash
# t_s3: a repository on S3-compatible object storage (s3://BUCKET/PREFIX), against a real S3
# server (OpenStack Swift's s3api on loopback, started and stopped here): init, snapshot, list,
# restore (byte-identical), verify, prune; wrong credentials, a missing bucket, no credentials,
# a bad URL, a credentials file, a config file's endpoint; a damaged object (verify finds it,
# restore refuses it); lock objects of other holders (live: exit 4; of a dead local process:
# ignored); the request counters of --json ("s3") and the plain output's line, exact where they
# can be (an unchanged data-dir PUTs no chunk); SLOTKEEPER_S3_TRANSFERS out of its bounds. Each
# failure: one line, an exit code, the local side unchanged. The longer fault
# runs (a stale lock, a slow server, the server stopped mid-upload) are tests/s3/t_s3_faults.sh,
# `make s3-test`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"

if ! s3_available || ! s3_start; then
    echo "ok 1 - $T_NAME: S3 repository # SKIP $S3_WHY"
    echo "1..1"
    exit 0
fi
B=sk-test
R=s3://$B/repo/one
check "bucket created" [ "$(s3_req PUT /$B)" = 200 ]

mkdd "$W/dd" --blocks-size 3M --state-size 16M --state-data 2M --seed 1
run 0 "repo init on s3" "$SK" repo init "$R"
run 1 "repo init again is refused" "$SK" repo init "$R"
one_line_error "repo init again"
run 0 "snapshot to s3" env SLOTKEEPER_S3_DEBUG=1 "$SK" snapshot --repo "$R" --data-dir "$W/dd"
ID1=$(cat "$W/out")
cp "$W/err" "$W/s3trace.1"
check "the manifest is an object under snapshots/" grep -qx "repo/one/snapshots/$ID1" <(s3_keys $B repo/one/snapshots/)
check "nothing is left under tmp/" [ -z "$(s3_keys $B repo/one/tmp/ | grep -v '/tmp/$')" ]
check "no lock object is left" [ -z "$(s3_keys $B repo/one/locks/)" ]
run 0 "list" "$SK" list --repo "$R"
check "list shows the snapshot good" grep -Eq "^$ID1 .* good$" "$W/out"
run 0 "restore from s3" "$SK" restore --repo "$R" --data-dir "$W/r1"
check "restored byte-identical" same_tree "$W/dd" "$W/r1"
run 0 "verify" "$SK" verify --repo "$R"
err_has '^slotkeeper: verify: s3: [0-9]+ requests \([0-9]+ get, [0-9]+ put, [0-9]+ head, [0-9]+ list, [0-9]+ delete, [0-9]+ copy\), .* up, .* down$' "verify's plain output says its requests"

"$MKDATADIR" mutate "$W/dd" --append-pct 5 --rewrite-pct 10 --seed 2 >/dev/null
# SLOTKEEPER_S3_LOCK_STALE=2: the lock object is refreshed every 0.4 s while the snapshot runs.
run 0 "second snapshot" env SLOTKEEPER_S3_LOCK_STALE=2 SLOTKEEPER_S3_DEBUG=1 "$SK" snapshot --repo "$R" --data-dir "$W/dd" --threads 1
ID2=$(cat "$W/out")
err_has ' new in [0-9]+ new chunks' "the second snapshot says what it added"
# Its parent's chunks stand for the listing of chunks/ (a request per 1000 chunks, every cycle).
check "the second snapshot carried from the first" grep -q "$ID1" "$W/err"
cp "$W/err" "$W/s3trace.2"
LIST_CHUNKS='^> GET /sk-test/\?list-type=2&prefix=repo%2Fone%2Fchunks%2F'
check "the second snapshot lists no chunks" bash -c '! grep -Eq "$1" "$2"' _ "$LIST_CHUNKS" "$W/s3trace.2"
check "the first snapshot did list them (the check above can fail)" grep -Eq "$LIST_CHUNKS" "$W/s3trace.1"
run 0 "prune --keep-last 1" "$SK" prune --repo "$R" --keep-last 1
check "prune removed the first" grep -q "removed $ID1" "$W/out"
run 0 "list after prune" "$SK" list --repo "$R"
check "only the second is left" [ "$(grep -c ' good$' "$W/out")" = 1 ] && grep -q "^$ID2 " "$W/out"
run 0 "verify after prune" "$SK" verify --repo "$R"
run 0 "restore after prune" "$SK" restore --repo "$R" --data-dir "$W/r2"
check "restored byte-identical after prune" same_tree "$W/dd" "$W/r2"

# ---- a follower: sync into a local repository ----
L=$W/local
run 0 "local repo init" "$SK" repo init "$L"
run 0 "sync --from s3 into the local repository" "$SK" sync --from "$R" --repo "$L"
check "sync prints the snapshot it copied" [ "$(cat "$W/out")" = "$ID2" ]
err_has '1 snapshot\(s\) copied, 0 already here' "sync says what it copied"
run 0 "list the local repository" "$SK" list --repo "$L"
check "the local copy is good" grep -Eq "^$ID2 .* good$" "$W/out"
check "the local manifest is the upstream one, byte for byte" cmp -s "$L/snapshots/$ID2" <(s3_req GET "/$B/repo/one/snapshots/$ID2" >/dev/null; cat "$W/s3.out")
run 0 "restore from the local copy" "$SK" restore --repo "$L" --data-dir "$W/r4"
check "restored byte-identical from the local copy" same_tree "$W/dd" "$W/r4"
run 0 "verify the local copy" "$SK" verify --repo "$L"
run 0 "sync again" "$SK" sync --from "$R" --repo "$L"
err_has '0 snapshot\(s\) copied, 1 already here' "sync again copies nothing"
run 1 "sync from a missing bucket" "$SK" sync --from s3://no-such-bucket/x --repo "$L"
one_line_error "sync from a missing bucket"
run 2 "sync --from the repository itself" "$SK" sync --from "$L" --repo "$L"

# ---- bad input: one line each, nothing changed ----
SIG=$(tree_sig "$W/r2")
run 1 "wrong secret" env AWS_SECRET_ACCESS_KEY=wrong "$SK" restore --repo "$R" --data-dir "$W/r2"
one_line_error "wrong secret"
err_has 'access denied' "wrong secret: says access denied"
check "wrong secret: the data-dir is unchanged" [ "$SIG" = "$(tree_sig "$W/r2")" ]
run 1 "missing bucket" "$SK" list --repo s3://no-such-bucket/x
one_line_error "missing bucket"
err_has 'no such bucket' "missing bucket: says so"
run 1 "no credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$W" "$SK" list --repo "$R"
one_line_error "no credentials"
err_has 'no credentials' "no credentials: says so"
run 1 "bad bucket name" "$SK" list --repo s3://Bad_Bucket/x
one_line_error "bad bucket name"
run 1 "https to a server that speaks http" env AWS_ENDPOINT_URL=https://127.0.0.1:$S3_PORT SLOTKEEPER_S3_TRIES=1 "$SK" list --repo "$R"
one_line_error "https to http"
run 0 "SLOTKEEPER_S3_DEBUG=1 shows libcurl's trace" env SLOTKEEPER_S3_DEBUG=1 "$SK" list --repo "$R"
err_has 'Authorization: AWS4-HMAC-SHA256 Credential=test:tester/[0-9]+/us-east-1/s3/aws4_request' "requests are signed with SigV4 by libcurl"
err_has 'x-amz-content-sha256: [0-9a-f]{64}' "with the payload's SHA-256"
run 1 "http endpoint with no server" env AWS_ENDPOINT_URL=http://127.0.0.1:1 SLOTKEEPER_S3_TRIES=1 "$SK" list --repo "$R"
one_line_error "no server"
printf '[other]\naws_access_key_id = test:tester\naws_secret_access_key = testing\n' >"$W/creds"
run 0 "credentials from a file and a profile" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
    AWS_SHARED_CREDENTIALS_FILE="$W/creds" AWS_PROFILE=other "$SK" list --repo "$R"
printf '[daemon]\nstate_dir = %s/state\n[repository]\npath = %s\nendpoint = %s\nregion = us-east-1\n' "$W" "$R" "$S3_URL" >"$W/s3.conf"
run 0 "a config with an s3:// path and its endpoint" env -u AWS_ENDPOINT_URL "$SK" list -c "$W/s3.conf"
check "lists the snapshot" grep -q "^$ID2 " "$W/out"
printf '[daemon]\nstate_dir = %s/state\n[repository]\npath = %s\nendpoint = ftp://x\n' "$W" "$R" >"$W/bad.conf"
run 2 "a config with a bad endpoint" "$SK" config check -c "$W/bad.conf"
err_has 'endpoint: must start with http' "says why"
run 0 "export from s3" "$SK" export "$ID2" -o "$W/two.tar.zst" --repo "$R"
run 1 "import into s3 is refused" "$SK" import --repo "$R" "$W/two.tar.zst"
one_line_error "import into s3"
err_has 'object store' "import into s3: says why"

# ---- a server that does not answer (tests/s3/t_s3_faults.sh has more) ----
PG=$(s3_pgid proxy)
kill -STOP -- "-$PG"
run 1 "a server that does not answer" env SLOTKEEPER_S3_TIMEOUT=1 SLOTKEEPER_S3_TRIES=2 "$SK" list --repo "$R"
kill -CONT -- "-$PG"
one_line_error "slow server"
err_has 'timed out' "slow server: says timed out"

# ---- locks: objects under locks/ ----
OWN=$(hostname | tr -c 'a-zA-Z0-9.\n' '_').$(printf '%x' "$(stat -Lc %i /proc/self/ns/pid)")
printf 'owner other\n' >"$W/lockbody"
check "a live exclusive lock of another host" [ "$(s3_req PUT /$B/repo/one/locks/lock/ex-otherhost.1-4242-00000001 "$W/lockbody")" = 200 ]
run 4 "snapshot waits for it, then exit 4" "$SK" snapshot --repo "$R" --data-dir "$W/dd" --lock-wait 1s
one_line_error "locked repository"
run 4 "prune: exit 4" "$SK" prune --repo "$R" --keep-last 1 --lock-wait 0
s3_req DELETE /$B/repo/one/locks/lock/ex-otherhost.1-4242-00000001 >/dev/null
sh -c 'exit 0' &
DEAD=$!
wait $DEAD
check "an exclusive lock of a dead process of this host" [ "$(s3_req PUT /$B/repo/one/locks/lock/ex-$OWN-$DEAD-00000002 "$W/lockbody")" = 200 ]
run 0 "is ignored at once" "$SK" prune --repo "$R" --keep-last 1 --lock-wait 0
check "a live shared lock of another host" [ "$(s3_req PUT /$B/repo/one/locks/lock/sh-otherhost.1-4243-00000003 "$W/lockbody")" = 200 ]
run 0 "does not stop a reader" "$SK" verify --repo "$R" --lock-wait 0
run 4 "stops prune" "$SK" prune --repo "$R" --keep-last 1 --lock-wait 0
s3_req DELETE /$B/repo/one/locks/lock/sh-otherhost.1-4243-00000003 >/dev/null

# ---- a damaged object ----
K=$(s3_keys $B repo/one/chunks/ | grep -v '/$' | head -1)
printf 'not a zstd frame' >"$W/garbage"
check "a chunk object overwritten with garbage" [ "$(s3_req PUT "/$B/$K" "$W/garbage")" = 200 ]
L2=$W/local2
run 0 "a second local repository" "$SK" repo init "$L2"
run 3 "sync of a snapshot with a damaged chunk upstream is refused" "$SK" sync --from "$R" --repo "$L2"
one_line_error "sync damaged"
err_has 'damaged upstream' "sync names the damaged upstream chunk"
check "nothing was published locally" [ -z "$(ls "$L2/snapshots")" ]
check "nothing was left in the local tmp/" [ -z "$(ls "$L2/tmp")" ]
run 3 "verify finds the damage" "$SK" verify --repo "$R"
err_has 'damaged|bad' "verify says damaged"
SIG=$(tree_sig "$W/r2")
run 3 "restore of the damaged snapshot is refused" "$SK" restore --repo "$R" --snapshot "$ID2" --data-dir "$W/r2"
one_line_error "restore damaged"
check "the data-dir is unchanged" [ "$SIG" = "$(tree_sig "$W/r2")" ]
run 0 "a new snapshot stores a good copy of the damaged chunk" "$SK" snapshot --repo "$R" --data-dir "$W/dd"
ID3=$(cat "$W/out")
run 0 "verify of the new snapshot" "$SK" verify --repo "$R" "$ID3"
run 0 "sync --all after the new snapshot" "$SK" sync --from "$R" --repo "$L" --all
check "sync --all copied the new one" grep -qx "$ID3" "$W/out"
err_has '1 snapshot\(s\) copied, 0 already here; 0 chunks copied \(0 B\), [1-9][0-9]* already here' "no chunk copied: the follower had them all (the bad one upstream is skipped)"
run 0 "verify the follower" "$SK" verify --repo "$L" --all

# ---- the transfer engine: request counters (--json "s3"), the transfer count ----
C=s3://$B/counts
jqt() { jq -e "$@" >/dev/null; } # jqt FILTER FILE: whether FILTER holds of the JSON in FILE
mkdd "$W/dc" --blocks-size 3M --state-size 16M --state-data 2M --seed 5
run 0 "repo init (counters)" "$SK" repo init "$C"
run 0 "snapshot --json on s3" "$SK" snapshot --repo "$C" --data-dir "$W/dc" --json
cp "$W/out" "$W/c1.json"
check "snapshot --json has the s3 counters" jqt '.s3 | (.requests > 0) and (.bytes_up > 0) and has("get") and has("head") and has("list") and has("delete") and has("bytes_down")' "$W/c1.json"
check "requests are the sum of the kinds" jqt '.s3 | .requests == .get + .put + .head + .list + .delete + .copy' "$W/c1.json"
check "one PUT per new chunk, and a few more (locks, manifest)" jqt '(.new_chunks > 10) and (.s3.put > .new_chunks) and (.s3.put - .new_chunks <= 4)' "$W/c1.json"
check "at least the new bytes went up" jqt '.s3.bytes_up >= .new_bytes' "$W/c1.json"
run 0 "second snapshot of the unchanged data-dir" "$SK" snapshot --repo "$C" --data-dir "$W/dc" --json
cp "$W/out" "$W/c2.json"
check "it stores no new chunk" jqt '.new_chunks == 0' "$W/c2.json"
check "it PUTs no chunk: only the same lock and manifest objects as the first" \
    [ "$(jq '.s3.put' "$W/c2.json")" = "$(jq '.s3.put - .new_chunks' "$W/c1.json")" ]
run 0 "verify --json on s3" "$SK" verify --repo "$C" --json
check "verify GETs every chunk it reads" jqt '(.chunks_read > 10) and (.s3.get >= .chunks_read)' "$W/out"
run 0 "restore --json from s3" "$SK" restore --repo "$C" --data-dir "$W/rc" --json
check "restore --json has the s3 counters" jqt '.s3.get > 10' "$W/out"
check "restored byte-identical (counters run)" same_tree "$W/dc" "$W/rc"
run 0 "local repo init (counters)" "$SK" repo init "$W/lc"
run 0 "sync --json from s3" "$SK" sync --from "$C" --repo "$W/lc" --json
cp "$W/out" "$W/s1.json"
check "sync GETs every chunk it copies, PUTs only its lock upstream" jqt '(.copied == 1) and (.chunks > 10) and (.s3.get >= .chunks) and (.s3.put == 1) and (.s3.bytes_down >= .bytes)' "$W/s1.json"
run 0 "sync --json again" "$SK" sync --from "$C" --repo "$W/lc" --json
check "sync again GETs no chunk" jqt --slurpfile one "$W/s1.json" '(.copied == 0) and (.present == 1) and (.s3.get <= $one[0].s3.get - $one[0].chunks)' "$W/out"
run 0 "verify --json of a local repository" "$SK" verify --repo "$W/lc" --json
check "a local repository has no s3 counters" jqt 'has("s3") | not' "$W/out"
"$MKDATADIR" mutate "$W/dc" --append-pct 5 --rewrite-pct 20 --seed 6 >/dev/null
run 0 "snapshot of the changed data-dir" "$SK" snapshot --repo "$C" --data-dir "$W/dc"
run 0 "prune --json on s3" "$SK" prune --repo "$C" --keep-last 1 --json
check "prune DELETEs what it removes" jqt '(.chunks_removed > 0) and (.s3.delete >= .chunks_removed + (.removed | length))' "$W/out"

# SLOTKEEPER_S3_TRANSFERS: 1..128, a bad value is one line and exit 1, nothing done.
N0=$(s3_keys $B counts/snapshots/ | grep -vc '/$')
for v in 0 129 abc -1 ''; do
    [ -z "$v" ] && continue
    run 1 "SLOTKEEPER_S3_TRANSFERS=$v is refused" env SLOTKEEPER_S3_TRANSFERS=$v "$SK" snapshot --repo "$C" --data-dir "$W/dc"
    one_line_error "SLOTKEEPER_S3_TRANSFERS=$v"
    err_has "SLOTKEEPER_S3_TRANSFERS: must be a whole number from 1 to 128" "SLOTKEEPER_S3_TRANSFERS=$v: names it and the bounds"
done
check "no snapshot was published by the refused runs" [ "$(s3_keys $B counts/snapshots/ | grep -vc '/$')" = "$N0" ]
run 1 "a bad SLOTKEEPER_S3_TRANSFERS stops sync too" env SLOTKEEPER_S3_TRANSFERS=1000 "$SK" sync --from "$C" --repo "$W/lc"
one_line_error "sync with a bad SLOTKEEPER_S3_TRANSFERS"

echo "1..$T_N"
