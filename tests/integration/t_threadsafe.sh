#!/usr/bin/env bash
# No call to a libc function that keeps hidden state for the whole process (strtok's cursor,
# localtime's result, ...) in code that runs on worker threads: the library (snapshot/) runs
# on the pool's threads and on libuv's, and the daemon's jobs (supervisor/) run there too.
# Issue 11 found strtok in restore.c and slot.c; this check finds any such call by the symbols
# the objects import, so it fails the moment one comes back, whatever the timing (the unit
# test threadsafe_manifest_heads_parse_at_once catches it at run time for the manifest parser).
source "$(dirname "$0")/lib.sh"

UNSAFE='strtok|localtime|gmtime|ctime|asctime|getpwnam|getgrnam|getpwuid|getgrgid|rand|srand|strsignal|inet_ntoa|gethostbyname|getlogin|ttyname|tmpnam'
# Every object of both layers, sub-folders included (supervisor/daemon/, supervisor/cli/), whose
# source still exists (an object left by an older layout of the tree is not this build's).
objs=()
while IFS= read -r o; do
    src=${o#"$ROOT"/build/}
    [ -e "$ROOT/${src%.o}.c" ] && objs+=("$o")
done < <(find "$ROOT/build/snapshot" "$ROOT/build/supervisor" -name '*.o' 2>/dev/null | sort)
if [ "${#objs[@]}" = 0 ] || ! command -v nm >/dev/null; then
    not_ok "thread-safety: no objects under $ROOT/build or no nm (run make build first)"
else
    found=""
    for o in "${objs[@]}"; do
        hits=$(nm -u "$o" | awk '{print $2}' | grep -wE "$UNSAFE" | tr '\n' ' ')
        [ -n "$hits" ] && found="$found ${o#"$ROOT"/}: $hits;"
    done
    if [ -z "$found" ]; then
        ok "no thread-unsafe libc call (strtok, localtime, ...) in the ${#objs[@]} objects of snapshot/ and supervisor/"
    else
        not_ok "thread-unsafe libc calls:$found"
    fi
fi
finish
