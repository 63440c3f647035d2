#!/usr/bin/env bash
# The command line: help for every command, usage errors (exit 2), bad repositories
# and data-dirs (one-line errors naming the path), and nothing changed by a refusal.
. "$(dirname "$0")/lib.sh"

run 0 "--help" "$SK" --help
for c in snapshot restore list verify prune; do
    run 0 "$c --help" "$SK" $c --help
    check "$c --help shows its usage" grep -q "usage: slotkeeper $c" "$W/out"
done
run 0 "repo init --help" "$SK" repo init --help
for opt in --data-dir --repo --include --level --threads --lock-wait --no-progress; do
    "$SK" snapshot --help | grep -q -- "$opt" || not_ok "snapshot --help documents $opt"
done
for opt in --snapshot --data-dir --repo --quarantine --keep-quarantine --threads --lock-wait; do
    "$SK" restore --help | grep -q -- "$opt" || not_ok "restore --help documents $opt"
done
# The first word of a two-word command prints that command's usage (issue 16, 7).
run 0 "config --help" "$SK" config --help
check "config --help shows config check's usage and options" \
    bash -c "grep -q 'usage: slotkeeper config check -c FILE' '$W/out' && grep -q -- '--config FILE' '$W/out'"
run 0 "repo --help" "$SK" repo --help
check "repo --help shows repo init's usage" grep -q "usage: slotkeeper repo init REPO" "$W/out"
run 2 "config alone" "$SK" config
err_has "usage: slotkeeper config check -c FILE" "config alone names the usage"
check "in one line" test "$(wc -l <"$W/err")" = 1
run 2 "config with an unknown sub-command" "$SK" config frob
err_has "unknown command 'config frob'" "names the unknown sub-command"
# Every command's --help lists each option the command accepts (the list comes from the table).
for c in stop start reset; do
    run 0 "$c --help" "$SK" $c --help
    check "$c --help lists --slot, -c (and its default file), --quiet and --help" \
        bash -c "sed -n '/^options:/,\$p' '$W/out' | grep -q -- '--slot N' &&
                 grep -q -- '-c, --config FILE.*/etc/slotkeeper/slotkeeper.conf' '$W/out' &&
                 grep -q -- '--quiet' '$W/out' && grep -q -- '-h, --help' '$W/out'"
done
run 0 "--version" "$SK" --version
run 2 "no command" "$SK"
run 2 "unknown command" "$SK" frobnicate
run 2 "unknown option" "$SK" list --repo x --frob
check "usage error is one line" test "$(wc -l <"$W/err")" = 1
run 2 "option of another command" "$SK" list --repo x --keep-last 3
run 2 "missing --repo" "$SK" snapshot --data-dir x
run 2 "missing --data-dir" "$SK" restore --repo x
run 2 "bad --level" "$SK" snapshot --data-dir x --repo y --level 99
run 2 "bad --threads" "$SK" snapshot --data-dir x --repo y --threads 257
run 2 "bad --lock-wait" "$SK" snapshot --data-dir x --repo y --lock-wait soon
run 2 "bad --chunk-size" "$SK" repo init "$W/r" --chunk-size 1000
check "no repository was made by the bad init" test ! -e "$W/r"
run 2 "bad --include" "$SK" snapshot --data-dir x --repo y --include ../etc
run 2 "bad --snapshot id" "$SK" restore --snapshot ../../x --data-dir x --repo y
run 2 "bad --quarantine" "$SK" restore --data-dir x --repo y --quarantine maybe
run 2 "verify with ids and --all" "$SK" verify --all someid --repo y

# Bad repositories.
run 1 "missing repository" "$SK" list --repo "$W/nope"
one_line_error "missing repository"
err_has "$W/nope: no such repository" "names the path"
mkdir -p "$W/plain" && echo x >"$W/plain/file"
run 1 "a folder that is not a repository" "$SK" list --repo "$W/plain"
err_has "not a slotkeeper repository" "says it is not a repository"
run 1 "repo init refuses a non-empty folder" "$SK" repo init "$W/plain"
err_has "not empty" "says why"
check "the non-empty folder is unchanged" test "$(ls "$W/plain")" = file
"$SK" repo init "$W/repo" >/dev/null
run 1 "repo init refuses an existing repository" "$SK" repo init "$W/repo"
err_has "already a slotkeeper repository" "says why"

# Bad data-dirs.
run 1 "snapshot of a missing data-dir" "$SK" snapshot --data-dir "$W/none" --repo "$W/repo"
one_line_error "missing data-dir"
mkdir -p "$W/dd/blocks"
run 1 "snapshot of a data-dir without state/" "$SK" snapshot --data-dir "$W/dd" --repo "$W/repo"
err_has "$W/dd: missing: no state file" "names the missing state file"
check "nothing was published" test -z "$(ls "$W/repo/snapshots")"
run 1 "restore from an empty repository" "$SK" restore --data-dir "$W/slot" --repo "$W/repo"
err_has "no good snapshot" "says there is none"
run 1 "restore of an unknown snapshot" "$SK" restore --snapshot 20200101T000000Z-000000-0000 --data-dir "$W/slot" --repo "$W/repo"
err_has "no such snapshot" "says there is no such snapshot"
run 1 "verify of an unknown snapshot" "$SK" verify 20200101T000000Z-000000-0000 --repo "$W/repo"

# Progress: on a terminal only.
if command -v script >/dev/null; then
    mkdd "$W/src" --blocks-size 64M --state-size 64M --state-data 8M
    script -qec "'$SK' snapshot --data-dir '$W/src' --repo '$W/repo' --level 12 --threads 1" /dev/null >"$W/tty.out" 2>&1
    check "on a terminal, snapshot draws a progress line with rate and ETA" grep -q "ETA" "$W/tty.out"
    "$SK" snapshot --data-dir "$W/src" --repo "$W/repo" >/dev/null 2>"$W/err"
    check "not on a terminal: no progress line" bash -c "! grep -q ETA '$W/err'"
else
    ok "progress on a terminal # SKIP script (util-linux) is not installed"
fi
