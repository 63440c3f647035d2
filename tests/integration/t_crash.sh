#!/usr/bin/env bash
# kill -9 at random moments of a snapshot and of a restore.
# Snapshot: the repository lists only complete snapshots, they verify, and the next
# run succeeds and sweeps what the killed one left. Restore: the slot is either as it
# was, or marked restoring; running the restore again completes it.
. "$(dirname "$0")/lib.sh"

ROUNDS=${SK_CRASH_ROUNDS:-8}
[ "${SK_SANITIZED:-0}" = 1 ] && ROUNDS=3
R=$W/repo
mkdd "$W/src" --blocks-size 24M --state-size 256M --state-data 8M
"$SK" repo init "$R" --chunk-size 64KiB >/dev/null
IDBASE=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)

# Kill the snapshot at spread-out moments of its run (level 19 on one thread makes it slow enough).
bad=0
for i in $(seq "$ROUNDS"); do
    "$MKDATADIR" mutate "$W/src" --append-pct 10 --rewrite-pct 10 --seed $((i + 10)) >/dev/null
    before=$(ls "$R/snapshots" | grep -vc '\.bad$')
    "$SK" snapshot --data-dir "$W/src" --repo "$R" --level 19 --threads 1 >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    after=$(ls "$R/snapshots" | grep -vc '\.bad$')
    if [ "$after" != "$before" ] && [ "$after" != $((before + 1)) ]; then
        echo "# round $i: $before -> $after snapshots"
        bad=$((bad + 1))
    fi
    if ! "$SK" verify --all --repo "$R" >"$W/verify.out" 2>&1; then
        echo "# round $i: verify failed after the kill:" && sed 's/^/#   /' "$W/verify.out" | head -5
        bad=$((bad + 1))
    fi
    if ls "$R/snapshots" | grep -q '^\.'; then
        echo "# round $i: a temporary manifest is visible in snapshots/"
        bad=$((bad + 1))
    fi
done
check "after $ROUNDS killed snapshots only complete snapshots are listed and all verify" test "$bad" = 0
run 0 "the next snapshot succeeds" "$SK" snapshot --data-dir "$W/src" --repo "$R"
left=$(ls -A "$R/tmp")
[ -n "$left" ] && echo "# left in tmp/: $left"
check "and it swept what the killed runs left in tmp/" test -z "$left"
run 0 "a restore of it is byte-identical" "$SK" restore --data-dir "$W/check" --repo "$R"
check "restored = source" same_tree "$W/src" "$W/check"
run 0 "prune collects chunks of killed snapshots" "$SK" prune --keep-last 100 --repo "$R"
run 0 "everything still verifies after prune" "$SK" verify --all --repo "$R"

# Kill restores. The slot starts as an older, different data-dir.
IDNEW=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
"$SK" restore --snapshot "$IDBASE" --data-dir "$W/base" --repo "$R" >/dev/null 2>&1
bad=0
marked=0
for i in $(seq "$ROUNDS"); do
    rm -rf "$W/slot"
    "$SK" restore --snapshot "$IDBASE" --data-dir "$W/slot" --repo "$R" >/dev/null 2>&1
    echo "mine" >"$W/slot/config.ini"
    orig=$(slot_sig "$W/slot")
    "$SK" restore --snapshot "$IDNEW" --data-dir "$W/slot" --repo "$R" --threads 1 >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ -e "$W/slot/.slotkeeper/restoring" ]; then
        marked=$((marked + 1))
        "$SK" restore --snapshot "$IDNEW" --data-dir "$W/slot" --repo "$R" >"$W/r.out" 2>&1 || {
            echo "# round $i: re-running the restore failed" && sed 's/^/#   /' "$W/r.out"
            bad=$((bad + 1))
        }
        if ! same_tree "$W/src" "$W/slot" || [ -e "$W/slot/.slotkeeper/restoring" ]; then
            echo "# round $i: re-run restore did not complete the slot"
            bad=$((bad + 1))
        fi
        # The original data is in quarantine, never lost: its index puts it back.
        q=$(ls "$W/slot/.slotkeeper/quarantine" | tail -1)
        rm -rf "$W/back" && cp -a "$W/slot" "$W/back"
        [ -n "$q" ] && [ -f "$W/back/.slotkeeper/quarantine/$q/index" ] &&
            quarantine_put_back "$W/back/.slotkeeper/quarantine/$q" "$W/back"
        if [ -z "$q" ] || [ "$(content_sig "$W/back")" != "$(content_sig "$W/base")" ]; then
            echo "# round $i: the replaced data is not intact in quarantine"
            bad=$((bad + 1))
        fi
    elif [ "$(slot_sig "$W/slot")" = "$orig" ]; then
        : # killed before the marker: as it was
    elif same_tree "$W/src" "$W/slot"; then
        : # finished before the kill
    else
        echo "# round $i: slot is neither as it was, nor marked restoring, nor complete"
        bad=$((bad + 1))
    fi
    grep -qx mine "$W/slot/config.ini" || {
        echo "# round $i: config.ini changed"
        bad=$((bad + 1))
    }
done
check "after $ROUNDS killed restores each slot was as before, or marked and completed by a re-run ($marked marked)" \
    test "$bad" = 0

# Ctrl-C (SIGINT) during a snapshot cleans up at once.
"$MKDATADIR" mutate "$W/src" --append-pct 30 --rewrite-pct 30 --seed 99 >/dev/null
n=$(ls "$R/snapshots" | wc -l)
"$SK" snapshot --data-dir "$W/src" --repo "$R" --level 19 --threads 1 >/dev/null 2>"$W/err" &
pid=$!
# Wait until it is writing (its own session folder exists), then interrupt it.
for _ in $(seq 400); do ls "$R/tmp" | grep -q "^s-$pid-" && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
check "SIGINT stops a snapshot with a failure exit" test "$rc" = 1
err_has "interrupted" "and says it was interrupted"
check "no snapshot published and tmp/ empty after SIGINT" \
    bash -c "[ \"\$(ls '$R/snapshots' | wc -l)\" = $n ] && [ -z \"\$(ls -A '$R/tmp')\" ]"
