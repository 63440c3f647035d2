#!/usr/bin/env bash
# layers.sh BUILD: proves that the build's layers hold (`make layers`, run by `make check`).
# snapshot/ is the lower layer, supervisor/ the upper one; arrows may only point down.
#   (a) the snapshot/ objects, linked together with `ld -r`, leave no undefined symbol that a
#       supervisor/ object defines, and whatever snapshot/ does not define comes from libc and
#       the system libraries (with LAYERS_LDLIBS set, snapshot/ alone and an empty main()
#       must link into a program against them);
#   (b) no file under snapshot/ and no shared header under include/slotkeeper/ includes a
#       supervisor header (one that lives under supervisor/, or include/slotkeeper/X.h when
#       supervisor/**/X.c exists: a header of a supervisor module);
#   (c) no strtok( in snapshot/ or supervisor/ (it is not reentrant; use strtok_r);
#   (d) no two supervisor/ files call each other (A uses a symbol B defines and B one of A's),
#       and no longer circle of calls among supervisor/ files either (tsort finds those).
# Each violation is one line "layers: (x) file: what"; the last line counts them; exits 1 if any.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
bad=0
say() {
    echo "layers: $*"
    bad=$((bad + 1))
}

mapfile -t SNAP_SRC < <(find snapshot -name '*.c' | LC_ALL=C sort)
mapfile -t SUP_SRC < <(find supervisor -name '*.c' | LC_ALL=C sort)
obj() { echo "$BUILD/${1%.c}.o"; }
for s in "${SNAP_SRC[@]}" "${SUP_SRC[@]}"; do
    [ -f "$(obj "$s")" ] || {
        echo "layers: $(obj "$s") is not built (make build)" >&2
        exit 2
    }
done

# defs OBJ / undefs OBJ: the global symbols an object defines / needs, one per line.
defs() { nm -P -g --defined-only "$1" | awk '{ print $1 }' | LC_ALL=C sort -u; }
undefs() { nm -P -u "$1" | awk '{ print $1 }' | LC_ALL=C sort -u; }

# symbol<TAB>file for every symbol a supervisor object defines
for s in "${SUP_SRC[@]}"; do defs "$(obj "$s")" | sed "s|\$|	$s|"; done | LC_ALL=C sort -t'	' -k1,1 >"$T/sup.defs"

# (a) what snapshot/ as a whole needs from outside itself
snap_objs=()
for s in "${SNAP_SRC[@]}"; do snap_objs+=("$(obj "$s")"); done
ld -r -o "$T/snapshot.o" "${snap_objs[@]}" || exit 2
undefs "$T/snapshot.o" >"$T/snap.undefs"
LC_ALL=C join -t'	' "$T/snap.undefs" "$T/sup.defs" >"$T/up"
while IFS='	' read -r sym def; do
    users=$(for s in "${SNAP_SRC[@]}"; do undefs "$(obj "$s")" | grep -qxF "$sym" && printf '%s ' "$s"; done)
    say "(a) ${users% }: calls $sym, defined in $def (an arrow from snapshot/ up to supervisor/)"
done <"$T/up"

# ...and what is left must come from the system libraries: snapshot/ alone, with an empty
# main, links into a program against the libraries the binary links (LAYERS_LDLIBS).
if [ -n "${LAYERS_LDLIBS:-}" ]; then
    echo 'int main(void) { return 0; }' >"$T/main.c"
    # shellcheck disable=SC2086 # a list of linker flags
    if ! ${CC:-cc} -o "$T/snapshot.probe" "$T/main.c" "$T/snapshot.o" $LAYERS_LDLIBS 2>"$T/ld.err"; then
        grep -oE "undefined reference to \`[^']+'" "$T/ld.err" | sed -E "s/.*\`([^']+)'/\1/" | LC_ALL=C sort -u >"$T/unres"
        LC_ALL=C join -v1 "$T/unres" <(cut -f1 "$T/sup.defs") >"$T/unres.other"
        while IFS= read -r sym; do
            say "(a) snapshot/ needs $sym, which neither snapshot/ nor the system libraries define"
        done <"$T/unres.other"
        [ -s "$T/unres" ] || { say "(a) snapshot/ does not link on its own: $(head -3 "$T/ld.err" | tr '\n' ' ')"; }
    fi
fi

# (b) includes of supervisor headers from snapshot/ and from the shared headers
is_sup_header() { # HEADER-NAME-AS-INCLUDED
    local b
    b=$(basename "$1" .h)
    # A shared header (include/slotkeeper/X.h) whose module the library implements is the
    # library's, even when the supervisor has a module of that name too (progress: the
    # library's interface, the supervisor's terminal line).
    case "$1" in
    */slotkeeper/*.h | slotkeeper/*.h) [ -n "$(find snapshot -name "$b.c" -print -quit)" ] && return 1 ;;
    esac
    [ -n "$(find supervisor -name "$b.h" -print -quit)" ] || [ -n "$(find supervisor -name "$b.c" -print -quit)" ]
}
shared_headers=()
for h in include/slotkeeper/*.h; do is_sup_header "$h" || shared_headers+=("$h"); done
for f in $(find snapshot -name '*.[ch]' | LC_ALL=C sort) "${shared_headers[@]}"; do
    while IFS=: read -r line inc; do
        is_sup_header "$inc" && say "(b) $f:$line: includes $inc, a supervisor header"
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$f" | sed -E 's/^([0-9]+):[^<"]*[<"]([^>"]+)[>"].*/\1:\2/')
done

# (c) strtok
while IFS= read -r hit; do
    say "(c) $hit: strtok is not reentrant (use strtok_r)"
done < <(grep -rnE '(^|[^_[:alnum:]])strtok[[:space:]]*\(' --include='*.[ch]' snapshot supervisor | cut -d: -f1,2)

# (d) call cycles among supervisor/ files: edges "A B" when A uses a symbol that B defines
: >"$T/edges"
for a in "${SUP_SRC[@]}"; do
    undefs "$(obj "$a")" | LC_ALL=C join -t'	' - "$T/sup.defs" | awk -F'\t' -v a="$a" '$2 != a { print a "\t" $2 "\t" $1 }'
done >"$T/edges"
# pairs: A -> B and B -> A
awk -F'\t' '
    { key = $1 "\t" $2; if (!(key in sym)) sym[key] = $3; else if (length(sym[key]) < 60) sym[key] = sym[key] "," $3 }
    END {
        for (k in sym) { split(k, p, "\t"); if (p[1] < p[2] && ((p[2] "\t" p[1]) in sym))
            print "(d) " p[1] " <-> " p[2] ": " p[1] " calls " sym[k] "; " p[2] " calls " sym[p[2] "\t" p[1]] }
    }' "$T/edges" | LC_ALL=C sort >"$T/pairs"
while IFS= read -r l; do say "$l"; done <"$T/pairs"
# longer circles: tsort prints the files of each loop it breaks
cut -f1,2 "$T/edges" | LC_ALL=C sort -u | tr '\t' ' ' | tsort 2>"$T/tsort" >/dev/null
if grep -q 'loop' "$T/tsort"; then
    awk '/input contains a loop/ { if (n) print l; l = ""; n = 1; next } { sub(/^tsort: /, ""); l = l (l ? ", " : "") $0 }
         END { if (n) print l }' "$T/tsort" >"$T/loops"
    while IFS= read -r loop; do
        # a loop of two files is already reported as a pair
        [ "$(awk -F', ' '{ print NF }' <<<"$loop")" -gt 2 ] && say "(d) a circle of calls through $loop"
    done <"$T/loops"
fi

echo "layers: $bad violation(s) (snapshot/ ${#SNAP_SRC[@]} files, supervisor/ ${#SUP_SRC[@]} files)"
[ "$bad" = 0 ]
