#!/usr/bin/env bash
# README stays honest:
#  1. every example command line of README.md (a line indented 4 spaces that starts with
#     `slotkeeper ` or `$ slotkeeper `) runs on generated data in $W with README's paths
#     replaced, in README's order, and parses: no usage error (exit 2), no "unknown option" or
#     "unknown command". The commands that start or need a daemon (daemon, run, status, stop,
#     start, reset, restore --slot) are parsed only: the line with --help added before any `--`.
#  2. the walkthrough (the ```sh block under "Try it by hand") runs line by line, in order, on
#     generated data; each line exits with the code its comment states (`# exit N`), else 0.
#  3. every code of README's exit-code tables (### Exit codes, and check's verdicts) is produced
#     by some test: a `run N ...` (lib.sh) or `verdict N ...` (t_check.sh) in tests/integration.
. "$(dirname "$0")/lib.sh"
README=$ROOT/README.md
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}

# README's paths, and where they go here.
subst() {
    sed -e "s|/var/lib/slotkeeper/repo|$W/var/repo|g" \
        -e "s|/etc/slotkeeper/slotkeeper.conf|$W/etc/slotkeeper.conf|g" \
        -e "s|/srv/eos|$W/eos|g" \
        -e "s|/backup/|$W/backup/|g" \
        -e "s|/tmp/seed.tar.zst|$W/seed.tar.zst|g"
}

# Generated data: an archival data-dir and slots 1 and 3, a configuration made from
# etc/slotkeeper.conf with its paths moved into $W and fakenode as the node.
mkdir -p "$W/var" "$W/etc" "$W/backup" "$W/run"
mkdd "$W/eos/archive" --blocks-size 2M --state-size 8M --state-data 1M
mkdd "$W/eos/1" --blocks-size 1M --state-size 8M --state-data 1M
mkdd "$W/eos/3" --blocks-size 1M --state-size 8M --state-data 1M
sed -e "s|/var/lib/slotkeeper|$W/var|g" -e "s|/srv/eos|$W/eos|g" -e "s|/run/slotkeeper|$W/run|g" \
    -e "s|/usr/local/bin/nodeos|$FAKENODE|g" "$ROOT/etc/slotkeeper.conf" >"$W/etc/slotkeeper.conf"

# 1. The examples.
grep -E '^    (\$ )?slotkeeper ' "$README" | sed -E 's/^    (\$ )?//' >"$W/examples"
n_ex=$(wc -l <"$W/examples")
check "README has example command lines ($n_ex)" test "$n_ex" -ge 20
while IFS= read -r line; do
    case $line in
    *'['* | *']'* | *'|'* | *'{{'* | *'...'*)
        not_ok "example is not a concrete command line (no [ ] | {{ }} ...): $line"
        continue
        ;;
    esac
    cmdline=$(printf '%s\n' "$line" | subst)
    read -r -a argv <<<"$cmdline"
    argv=("${argv[@]:1}") # without "slotkeeper"
    mode=run
    case " ${argv[*]} " in
    " daemon "* | " run "* | " status "* | " stop "* | " start "* | " reset "* | *" --slot "*) mode=parse ;;
    esac
    if [ $mode = parse ]; then
        pre=() post=()
        seen=0
        for a in "${argv[@]}"; do
            if [ $seen = 0 ] && [ "$a" = -- ]; then seen=1; fi
            if [ $seen = 0 ]; then pre+=("$a"); else post+=("$a"); fi
        done
        argv=("${pre[@]}" --help "${post[@]}")
    fi
    "$SK" "${argv[@]}" >"$W/out" 2>"$W/err" </dev/null
    rc=$?
    if [ "$rc" = 2 ] || grep -Eqi 'unknown (option|command)|usage error' "$W/err"; then
        not_ok "README example ($mode): $line (exit $rc: $(head -c 300 "$W/err" | tr '\n' ' '))"
    else
        ok "README example ($mode, exit $rc): $line"
    fi
done <"$W/examples"

# 2. The walkthrough, line by line.
awk '/^## Try it by hand/{w=1} w && /^```sh/{b=1; next} b && /^```/{exit} b' "$README" >"$W/walk"
n_walk=$(grep -c . "$W/walk")
check "README has a walkthrough of at least 8 lines ($n_walk)" test "$n_walk" -ge 8
mkdir -p "$W/walk-cwd/build"
ln -s "$SK" "$W/walk-cwd/slotkeeper"
ln -s "$TOOLS" "$W/walk-cwd/build/tools"
while IFS= read -r line; do
    [ -n "$line" ] || continue
    want=0
    if [[ $line =~ \#\ exit\ ([0-9]+) ]]; then want=${BASH_REMATCH[1]}; fi
    cmdline=$(printf '%s\n' "$line" | sed -e "s|/tmp/sk|$W/sk|g")
    (cd "$W/walk-cwd" && bash -c "$cmdline") >"$W/out" 2>"$W/err"
    rc=$?
    if [ "$rc" = "$want" ]; then
        ok "walkthrough (exit $rc): ${line%%#*}"
    else
        not_ok "walkthrough: $line (exit $rc, want $want): $(head -c 300 "$W/err" | tr '\n' ' ')"
    fi
done <"$W/walk"
check "the walkthrough cleans up after itself" test ! -e "$W/sk"

# 3. Every documented exit code is produced by some test.
codes=$(awk '/^### Exit codes/{t=1; next} t && /^#/{t=0} t' "$README" | sed -nE 's/^\| *([0-9]+) *\|.*/\1/p')
verdicts=$(awk '/^\| exit \| verdict \|/{t=1; next} t && !/^\|/{t=0} t' "$README" | sed -nE 's/^\| *([0-9]+) *\|.*/\1/p')
check "README's exit-code table lists codes 0 to 8" test "$(echo $codes)" = "0 1 2 3 4 5 6 7 8"
check "README's verdict table lists 0 and 10 to 15" test "$(echo $verdicts)" = "0 10 11 12 13 14 15"
for c in $codes $verdicts; do
    if grep -Eq "(^|[^A-Za-z_])(run|verdict) $c " "$ROOT"/tests/integration/t_*.sh; then
        ok "exit code $c (README) is produced by a test"
    else
        not_ok "exit code $c is in README's table but no test runs 'run $c ...' or 'verdict $c ...'"
    fi
done

# The walkthrough's generator is a documented tool (its first line also proved that it makes
# DIR's missing parents: /tmp/sk did not exist).
run 0 "mkdatadir --help" "$MKDATADIR" --help
for opt in create mutate --blocks-size --state-size --state-data --append-pct --rewrite-pct --seed Example; do
    grep -q -- "$opt" "$W/out" || not_ok "mkdatadir --help documents $opt"
done
