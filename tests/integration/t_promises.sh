#!/usr/bin/env bash
# Promises kept against unlucky timing, careless paths and a hostile worker (issue 10):
# one data-dir lock for snapshot, restore and deep check (never a mixed snapshot); no link
# that leaves a snapshot is stored or followed; nothing under a slot is reached through a
# link; an I/O error is never a verdict; a bounded number of descriptors whatever the files.
. "$(dirname "$0")/lib.sh"

R=$W/repo
"$SK" repo init "$R" --chunk-size 64KiB >/dev/null
mkdd "$W/a" --blocks-size 2M --state-size 16M --state-data 1M --seed 1
mkdd "$W/b" --blocks-size 2M --state-size 16M --state-data 1M --seed 2
IDB=$("$SK" snapshot --data-dir "$W/b" --repo "$R" 2>/dev/null)
check "a snapshot of data-dir b" test -n "$IDB"
nsnaps() { find "$R/snapshots" -maxdepth 1 -type f ! -name '*.bad' | wc -l; }
# release PID: ends a background flock holder and the command that inherited its lock.
release() {
    pkill -P "$1" 2>/dev/null
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# ---- 1. one data-dir lock ----
# A restore holds the data-dir exclusively: a snapshot of it is refused at once (exit 5).
flock -x "$W/a" sleep 30 &
holder=$!
BG_PIDS+=("$holder")
for _ in $(seq 100); do flock -n -s "$W/a" true || break; sleep 0.05; done
before=$(nsnaps)
run 5 "snapshot while a restore holds the data-dir: exit 5" "$SK" snapshot --data-dir "$W/a" --repo "$R"
one_line_error "data-dir locked"
err_has "a restore is running on it" "and says a restore is running on it"
check "nothing was published" test "$(nsnaps)" = "$before"
run 5 "check --deep while a restore holds the data-dir: exit 5" "$SK" check --deep "$W/a"
run 0 "a plain check still answers (it reads only headers)" "$SK" check "$W/a"
release "$holder"
# A snapshot (or deep check) holds it shared: a restore into it is refused, the slot untouched.
flock -s "$W/a" sleep 30 &
holder=$!
BG_PIDS+=("$holder")
for _ in $(seq 100); do flock -n -x "$W/a" true || break; sleep 0.05; done
sig=$(slot_sig "$W/a")
run 5 "restore while a snapshot reads the data-dir: exit 5" \
    "$SK" restore --data-dir "$W/a" --repo "$R" --snapshot "$IDB"
one_line_error "data-dir in use"
check "the data-dir is untouched" test "$(slot_sig "$W/a")" = "$sig"
release "$holder"

# The race the lock closes: a slow snapshot (18,000 small files under blocks/, one thread) and,
# 10 ms later, a restore of another snapshot into the same data-dir. Whatever the order, a
# published snapshot is wholly the old data-dir or wholly the new one, never a mix.
mkdir -p "$W/a/blocks/many"
(cd "$W/a/blocks/many" && for i in $(seq 18000); do echo "$i" >"f$i"; done)
old_state=$(cksum <"$W/a/state/shared_memory.bin")
mixed=0
for round in 1 2 3; do
    "$SK" snapshot --data-dir "$W/a" --repo "$R" --threads 1 >"$W/race.id" 2>"$W/race.err" &
    sp=$!
    sleep 0.01
    "$SK" restore --data-dir "$W/a" --repo "$R" --snapshot "$IDB" >/dev/null 2>"$W/race.rerr"
    rrc=$?
    wait "$sp"
    src=$?
    echo "# round $round: snapshot exit $src, restore exit $rrc"
    if [ "$src" = 0 ]; then
        rm -rf "$W/race"
        "$SK" restore --data-dir "$W/race" --repo "$R" --snapshot "$(cat "$W/race.id")" >/dev/null 2>&1
        has_many=0
        [ -d "$W/race/blocks/many" ] && has_many=1
        is_old=0
        [ "$(cksum <"$W/race/state/shared_memory.bin")" = "$old_state" ] && is_old=1
        [ "$has_many" = "$is_old" ] || mixed=$((mixed + 1))
    fi
    [ "$src" = 0 ] || [ "$src" = 5 ] || mixed=$((mixed + 100))
    [ "$rrc" = 0 ] || [ "$rrc" = 5 ] || mixed=$((mixed + 100))
    # back to the old data-dir for the next round
    rm -rf "$W/a/blocks" "$W/a/state" "$W/a/.slotkeeper"
    mkdd "$W/a.tmp" --blocks-size 2M --state-size 16M --state-data 1M --seed 1
    mv "$W/a.tmp/blocks" "$W/a.tmp/state" "$W/a/"
    rm -rf "$W/a.tmp"
    mkdir -p "$W/a/blocks/many"
    (cd "$W/a/blocks/many" && for i in $(seq 18000); do echo "$i" >"f$i"; done)
done
check "no snapshot taken during a restore is a mix of two data-dirs (3 rounds)" test "$mixed" = 0

# ---- 2. links that leave the snapshot ----
mkdd "$W/l" --blocks-size 1M --state-size 16M --state-data 1M --seed 3
mv "$W/l/state/shared_memory.bin" "$W/elsewhere.bin"
ln -s "$W/elsewhere.bin" "$W/l/state/shared_memory.bin"
"$SK" check "$W/l" >"$W/out" 2>&1
grep -q corrupt "$W/out" && grep -q 'symbolic link' "$W/out" && ok "check calls it corrupt: a link inside the data-dir" ||
    not_ok "check calls it corrupt: a link inside the data-dir ($(head -c 300 "$W/out"))"
before=$(nsnaps)
run 7 "snapshot refuses a data-dir whose state file links elsewhere" "$SK" snapshot --data-dir "$W/l" --repo "$R"
one_line_error "link out of the snapshot"
err_has "symbolic link" "the error names the link"
check "nothing was published" test "$(nsnaps)" = "$before"
# A worker slot whose state file links to another node's state: a restore replaces the link and
# never writes through it.
mkdd "$W/victim" --blocks-size 1M --state-size 16M --state-data 1M --seed 4
vsig=$(cksum <"$W/victim/state/shared_memory.bin")
mkdd "$W/w" --blocks-size 1M --state-size 16M --state-data 1M --seed 5
rm "$W/w/state/shared_memory.bin"
ln -s "$W/victim/state/shared_memory.bin" "$W/w/state/shared_memory.bin"
run 0 "restore into a slot whose state file links to another node's" \
    "$SK" restore --data-dir "$W/w" --repo "$R" --snapshot "$IDB"
check "the slot's state is now a file of its own" test -f "$W/w/state/shared_memory.bin" -a ! -L "$W/w/state/shared_memory.bin"
check "the other node's state is untouched" test "$(cksum <"$W/victim/state/shared_memory.bin")" = "$vsig"
# A link within the snapshot's folders is kept as a link.
mkdd "$W/k" --blocks-size 1M --state-size 16M --state-data 1M --seed 6
ln -s ../state/shared_memory.bin "$W/k/blocks/state-link"
run 0 "a link within the snapshot's folders is accepted" "$SK" snapshot --data-dir "$W/k" --repo "$R"
IDK=$(cat "$W/out")
run 0 "and restored" "$SK" restore --data-dir "$W/k2" --repo "$R" --snapshot "$IDK"
check "as the same link" test "$(readlink "$W/k2/blocks/state-link")" = ../state/shared_memory.bin

# ---- 4. nothing under a slot is reached through a link ----
mkdd "$W/q" --blocks-size 1M --state-size 16M --state-data 1M --seed 7
mkdir -p "$W/q/.slotkeeper" "$W/outside"
ln -s "$W/outside" "$W/q/.slotkeeper/quarantine"
qsig=$(slot_sig "$W/q")
run 1 "restore refuses a slot whose .slotkeeper/quarantine is a link" \
    "$SK" restore --data-dir "$W/q" --repo "$R" --snapshot "$IDB"
one_line_error "quarantine link"
err_has "symbolic link where slotkeeper expects" "and says a link is where its own folder should be"
check "nothing was moved through the link" test -z "$(ls -A "$W/outside")"
check "the slot's folders are where they were" test "$(slot_sig "$W/q")" = "$qsig"
run 0 "check says it is not half-restored (no marker left)" "$SK" check "$W/q"
rm -rf "$W/q/.slotkeeper"
ln -s "$W/outside" "$W/q/.slotkeeper"
run 1 "restore refuses a slot whose .slotkeeper is a link" \
    "$SK" restore --data-dir "$W/q" --repo "$R" --snapshot "$IDB"
err_has "symbolic link where slotkeeper expects" "and says so"
check "nothing was written through it" test -z "$(ls -A "$W/outside")"
rm "$W/q/.slotkeeper"
mkdir -p "$W/q/.slotkeeper"
ln -s "$W/outside/marker" "$W/q/.slotkeeper/restoring"
run 7 "snapshot refuses a data-dir whose restore marker is a link (an unfinished restore)" \
    "$SK" snapshot --data-dir "$W/q" --repo "$R"
check "and does not follow it" test ! -e "$W/outside/marker"
rm -rf "$W/q/.slotkeeper"

# ---- 7. an I/O error is never a verdict ----
mkdd "$W/io" --blocks-size 1M --state-size 16M --state-data 1M --seed 8
run 1 "check with too few descriptors fails with an error" bash -c "ulimit -n 5; exec '$SK' check '$W/io'"
err_has "cannot read" "naming what it could not read"
check "and gives no verdict" test ! -s "$W/out"

# ---- 8. a bounded number of descriptors, whatever the number of files ----
mkdd "$W/n" --blocks-size 1M --state-size 16M --state-data 1M --seed 9
mkdir -p "$W/n/blocks/many"
(cd "$W/n/blocks/many" && for i in $(seq 3000); do echo "$i" >"f$i"; done)
run 0 "snapshot of 3,000 files with 64 descriptors" bash -c "ulimit -n 64; exec '$SK' snapshot --data-dir '$W/n' --repo '$R'"
IDN=$(cat "$W/out")
run 0 "restore of it with 64 descriptors" \
    bash -c "ulimit -n 64; exec '$SK' restore --data-dir '$W/n2' --repo '$R' --snapshot '$IDN'"
check "the restored data-dir is the same" same_tree "$W/n" "$W/n2"
run 1 "a snapshot that runs out of descriptors fails cleanly" \
    bash -c "ulimit -n 9; exec '$SK' snapshot --data-dir '$W/n' --repo '$R' --threads 1"
one_line_error "descriptor limit"
check "and leaves nothing in tmp/" test -z "$(ls -A "$R/tmp")"
if grep -q 'Bad file descriptor' "$W/err"; then not_ok "the error is not a bare 'Bad file descriptor'"; else ok "the error is not a bare 'Bad file descriptor'"; fi

# ---- 4. nor anything under a repository ----
R2=$W/repo2
"$SK" repo init "$R2" --chunk-size 64KiB >/dev/null
ID2=$("$SK" snapshot --data-dir "$W/b" --repo "$R2" 2>/dev/null)
pfx=$(find "$R2/chunks" -mindepth 2 -type f -printf '%h\n' | head -1)
mv "$pfx" "$W/evil-chunks"
ln -s "$W/evil-chunks" "$pfx"
run 3 "restore does not read chunks through a link in the repository (damage: exit 3)" \
    "$SK" restore --data-dir "$W/r2" --repo "$R2" --snapshot "$ID2"
check "the slot was not made startable" bash -c "! '$SK' check '$W/r2' >/dev/null 2>&1"
