#!/usr/bin/env bash
# Overlapping paths (issue 10, item 6): a repository that is, contains or lies inside the
# data-dir a command snapshots, restores into or runs on is refused before anything is touched,
# as is a system folder as a data-dir; paths are compared resolved (links followed, folders
# that do not exist yet taken from their longest existing ancestor). The configuration's own
# checks are in t_config.sh (config check) and t_daemon.sh (reload and start).
. "$(dirname "$0")/lib.sh"

mkdd "$W/src" --blocks-size 1M --state-size 16M --state-data 256K
R=$W/repo
"$SK" repo init "$R" >/dev/null
ID=$("$SK" snapshot --data-dir "$W/src" --repo "$R" 2>/dev/null)
check "a snapshot to restore from" test -n "$ID"

# A repository inside the data-dir it snapshots.
"$SK" repo init "$W/src/repo" >/dev/null
run 2 "snapshot of a data-dir that holds the repository: exit 2" \
    "$SK" snapshot --data-dir "$W/src" --repo "$W/src/repo"
one_line_error "repository inside the data-dir"
err_has "^slotkeeper: snapshot: $W/src/repo: the repository is inside the data-dir $W/src$" "names the path and the reason"
check "nothing was written to it" test -z "$(ls "$W/src/repo/snapshots")"

# ... and a restore into that data-dir, which would quarantine the live repository.
run 2 "restore into a data-dir that holds the repository: exit 2" \
    "$SK" restore --data-dir "$W/src" --repo "$W/src/repo"
one_line_error "restore into the repository's parent"
check "the repository is where it was" test -f "$W/src/repo/config"
check "and nothing was quarantined" test ! -e "$W/src/.slotkeeper"

# Written another way: through a link, with "..", or a slot folder that does not exist yet.
ln -s "$W/src" "$W/srclink"
run 2 "the same through a link and '..'" "$SK" snapshot --data-dir "$W/srclink/blocks/.." --repo "$W/src/repo"
err_has "the repository is inside the data-dir" "says why"
run 2 "a repository equal to the data-dir" "$SK" restore --data-dir "$W/srclink/" --repo "$W/src/repo/.."
err_has "the repository is the same folder as the data-dir" "says why"
run 2 "a data-dir inside the repository (not yet there)" "$SK" restore --data-dir "$R/new/slot" --repo "$R"
err_has "the repository contains the data-dir $R/new/slot" "says why"
check "and it was not created" test ! -e "$R/new"

# System folders are never a data-dir. (The repository named here does not exist, so that a
# build without the check fails at opening it instead of writing into / or /tmp.)
NOREPO=$W/no-such-repo
run 2 "restore into /" "$SK" restore --data-dir / --repo "$NOREPO"
err_has "^slotkeeper: restore: /: the data-dir is the system folder /; a data-dir needs a folder of its own$" "says why"
run 2 "restore into /tmp spelt otherwise" "$SK" restore --data-dir /usr/../tmp/ --repo "$NOREPO"
err_has "the data-dir is the system folder /tmp" "says which"
run 2 "snapshot of /var" "$SK" snapshot --data-dir /var --repo "$NOREPO"
err_has "system folder /var" "says which"

# run, the worker entrypoint, restores too.
mkdir -p "$W/slot"
"$SK" repo init "$W/slot/repo" >/dev/null
run 2 "run with the repository inside its data-dir: exit 2, nothing started" \
    "$SK" run --data-dir "$W/slot" --repo "$W/slot/repo" -- touch "$W/started"
err_has "the repository is inside the data-dir $W/slot" "says why"
check "the node was not started" test ! -e "$W/started"
run 2 "run on /" "$SK" run --data-dir / --repo "$NOREPO" -- touch "$W/started"

# Folders apart still work, also when the names share a prefix.
run 0 "restore into a folder beside the repository whose name starts like it" \
    "$SK" restore --data-dir "${R}2" --repo "$R"
check "restored" same_tree "$W/src" "${R}2"
