#!/usr/bin/env bash
# The deployment files under etc/: the Swarm stack (parsed with tests/tools/yamlcheck), the
# Dockerfile, the systemd units, the cron file and the configuration example hold the
# properties the daemon and `slotkeeper run` rely on (slot templates, the repository and the
# daemon's socket mounted into the containers, stop timeouts long enough for nodeos to flush).
. "$(dirname "$0")/lib.sh"

YAMLCHECK=$TOOLS/yamlcheck
ETC=$ROOT/etc

# note MSG...: a TAP diagnostic line.
note() { echo "# $*"; }

# secs DURATION: prints a Go / compose ("1m30s") or systemd ("5min 30s", "660") duration in
# whole seconds; "infinity" is a large number. Fails on anything else.
secs() {
    local d=${1//[[:space:]]/} ms=0 n u
    [ "$d" = infinity ] && { echo 999999999; return 0; }
    [[ $d =~ ^[0-9]+$ ]] && { echo "$d"; return 0; }
    [ -n "$d" ] || return 1
    while [ -n "$d" ]; do
        [[ $d =~ ^([0-9]+)([a-z]+)(.*)$ ]] || return 1
        n=$((10#${BASH_REMATCH[1]})) u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
        case $u in
        ns | us | usec) ;;
        ms | msec) ms=$((ms + n)) ;;
        s | sec | second | seconds) ms=$((ms + n * 1000)) ;;
        m | min | minute | minutes) ms=$((ms + n * 60000)) ;;
        h | hr | hour | hours) ms=$((ms + n * 3600000)) ;;
        d | day | days) ms=$((ms + n * 86400000)) ;;
        *) return 1 ;;
        esac
    done
    echo $((ms / 1000))
}

# at_least_300s WHAT VALUE: VALUE is a duration of 300 s or more.
at_least_300s() {
    local s
    if ! s=$(secs "$2"); then
        note "$1: '$2' is not a duration"
        return 1
    fi
    [ "$s" -ge 300 ] || { note "$1: '$2' is ${s}s, under 300s"; return 1; }
}

# --- yamlcheck itself: it must be able to fail ------------------------------------------
printf 'services:\n  nodeos:\n    image: x\n   ports:\n      - 8888\n' >"$W/indent.yml"
run 1 "yamlcheck refuses bad indentation" "$YAMLCHECK" "$W/indent.yml"
err_has "^$W/indent\\.yml:[0-9]+:[0-9]+: " "bad indentation: the error is FILE:LINE:COL: problem"
check "bad indentation: one line" test "$(wc -l <"$W/err")" = 1
printf 'a: "unclosed\nb: 1\n' >"$W/quote.yml"
run 1 "yamlcheck refuses an unclosed quote" "$YAMLCHECK" "$W/quote.yml"
err_has "^$W/quote\\.yml:[0-9]+:[0-9]+: .*quoted scalar" "unclosed quote: the error is FILE:LINE:COL: problem context"
printf 'a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n' >"$W/dup.yml"
run 1 "yamlcheck refuses a duplicate key" "$YAMLCHECK" "$W/dup.yml"
err_has "^$W/dup\\.yml:5: duplicate key 'x'$" "duplicate key: the error names the line and the key"
printf 'base: &b\n  k: v\nlist:\n  - name: one\n    ref: *b\n  - [x, "y z"]\nm:\n  <<: *b\n' >"$W/good.yml"
run 0 "yamlcheck accepts a good file" "$YAMLCHECK" "$W/good.yml"
printf '%s\n' 'base.k = v' 'list[0].name = one' 'list[0].ref = *b' 'list[1][0] = x' 'list[1][1] = y z' \
    'm.<< = *b' >"$W/good.want"
check "yamlcheck prints path = value for every scalar leaf" diff "$W/good.want" "$W/out"

# --- etc/docker/stack.yml ------------------------------------------------------------------
STACK=$ETC/docker/stack.yml
run 0 "etc/docker/stack.yml parses" "$YAMLCHECK" "$STACK"
cp "$W/out" "$W/stack.flat"
# The worker service: the one whose environment sets SLOTKEEPER_SLOT, else the first one.
SVC=$(sed -En 's/^services\.([^.[]+)\.environment(\.SLOTKEEPER_SLOT|\[[0-9]+\]) = (SLOTKEEPER_SLOT=)?.*/\1/p' \
    "$W/stack.flat" | head -1)
[ -n "$SVC" ] || SVC=$(sed -En 's/^services\.([^.[]+)\..*/\1/p' "$W/stack.flat" | head -1)
note "worker service: '${SVC:-none}'"
S="services\\.${SVC//./\\.}"

# svc_value KEY: the value of services.SVC.KEY (KEY is a regex).
svc_value() { sed -En "s/^$S\\.$1 = //p" "$W/stack.flat" | head -1; }

# volumes: one line per volume of the service, "TYPE<tab>SOURCE<tab>TARGET<tab>READ_ONLY", from
# the long syntax (type/source/target/read_only) or the short one (SRC:DST[:ro]).
volumes() {
    awk -v p="services.$SVC.volumes[" '
        index($0, p) == 1 {
            rest = substr($0, length(p) + 1)
            i = rest; sub(/\].*/, "", i)
            rest = substr(rest, length(i) + 2)
            seen[i] = 1
            if (substr(rest, 1, 3) == " = ") {
                n = split(substr(rest, 4), a, ":")
                typ[i] = a[1] ~ /^[\/.~]/ ? "bind" : "volume"
                src[i] = a[1]; tgt[i] = a[2]
                ro[i] = (n >= 3 && a[3] ~ /(^|,)ro(,|$)/) ? "true" : "false"
            } else if (match(rest, /^\.[a-z_]+ = /)) {
                key = substr(rest, 2, RLENGTH - 4); val = substr(rest, RLENGTH + 1)
                if (key == "type") typ[i] = val
                else if (key == "source") src[i] = val
                else if (key == "target") tgt[i] = val
                else if (key == "read_only") ro[i] = val
            }
        }
        END { for (i in seen) printf "%s\t%s\t%s\t%s\n", typ[i], src[i], tgt[i], ro[i] == "" ? "false" : ro[i] }
    ' "$W/stack.flat"
}
volumes >"$W/volumes"
sed 's/^/# volume: /' "$W/volumes"

# has_bind SOURCE [READ_ONLY]: a bind of host SOURCE at the same path in the container (the
# host's configuration file, mounted too, names these paths), read-only if asked.
has_bind() {
    awk -F'\t' -v s="$1" -v ro="${2:-}" '
        { sub(/\/$/, "", $2); sub(/\/$/, "", $3) }
        $1 == "bind" && $2 == s && $3 == s && (ro == "" || $4 == ro) { found = 1 }
        END { exit !found }' "$W/volumes"
}

version_ok() {
    grep -Eq '^version = 3\.[0-9]+$' "$W/stack.flat" &&
        grep -Eq "^version:[[:space:]]*([\"'])3\\.[0-9]+\\1[[:space:]]*(#.*)?$" "$STACK"
}
check "stack.yml: version is a quoted string 3.x" version_ok
slot_env() {
    grep -Fxq "services.$SVC.environment.SLOTKEEPER_SLOT = {{.Task.Slot}}" "$W/stack.flat" ||
        grep -Eq "^$S\\.environment\\[[0-9]+\\] = SLOTKEEPER_SLOT=\\{\\{\\.Task\\.Slot\\}\\}$" "$W/stack.flat"
}
check "stack.yml: the environment sets SLOTKEEPER_SLOT to {{.Task.Slot}}" slot_env
check "stack.yml: a bind volume's source contains {{.Task.Slot}}" \
    awk -F'\t' '$1 == "bind" && index($2, "{{.Task.Slot}}") { f = 1 } END { exit !f }' "$W/volumes"
check "stack.yml: binds the repository /var/lib/slotkeeper/repo" has_bind /var/lib/slotkeeper/repo
check "stack.yml: binds the daemon's socket folder /run/slotkeeper (run asks the host daemon to restore)" \
    has_bind /run/slotkeeper
check "stack.yml: binds /etc/slotkeeper read-only" has_bind /etc/slotkeeper true
grace=$(svc_value stop_grace_period)
check "stack.yml: stop_grace_period is at least 300s (is '$grace')" at_least_300s stop_grace_period "$grace"
check "stack.yml: deploy.placement.constraints is not empty" \
    grep -Eq "^$S\\.deploy\\.placement\\.constraints\\[0\\] = .+" "$W/stack.flat"
check "stack.yml: deploy.restart_policy.condition is any (a cleanly stopped node comes back too)" \
    grep -Eq "^$S\\.deploy\\.restart_policy\\.condition = any$" "$W/stack.flat"
check "stack.yml: no command or entrypoint hard-codes exit 143" \
    bash -c '! grep -Eq "^services\.[^.]+\.(command|entrypoint)(\[[0-9]+\])? = .*exit[[:space:]]+143" "$1"' _ "$W/stack.flat"

# --- etc/docker/cluster-stack.yml ----------------------------------------------------------
# Deployed with stack.yml (`docker stack deploy -c stack.yml -c cluster-stack.yml`); run on a real
# Swarm by tests/swarm/cluster_test.sh. Here: the properties the daemons rely on.
CLUSTER=$ETC/docker/cluster-stack.yml
WORKER_SVC=$SVC
WORKER_LABEL=$(sed -En "s/^services\.${WORKER_SVC}\.deploy\.placement\.constraints\[0\] = //p" "$W/stack.flat")
mv "$W/stack.flat" "$W/workers.flat"
run 0 "etc/docker/cluster-stack.yml parses" "$YAMLCHECK" "$CLUSTER"
cp "$W/out" "$W/stack.flat"
check "cluster-stack.yml: version is stack.yml's (the files are merged into one stack)" \
    test "$(grep '^version = ' "$W/stack.flat")" = "$(grep '^version = ' "$W/workers.flat")"
check "cluster-stack.yml: defines no service of stack.yml's" \
    bash -c '! grep -q "^services\.$1\." "$2"' _ "$WORKER_SVC" "$W/stack.flat"
for SVC in archive keeper; do
    S="services\\.$SVC"
    volumes >"$W/volumes"
    check "cluster-stack.yml: $SVC: the entrypoint is slotkeeper daemon -c /etc/slotkeeper/..." \
        test "$(sed -En "s/^$S\.entrypoint\[[0-9]+\] = //p" "$W/stack.flat" | head -3 | tr '\n' ' ')" = \
        "slotkeeper daemon -c "
    check "cluster-stack.yml: $SVC: binds /etc/slotkeeper read-only and /run/slotkeeper" \
        bash -c "$(declare -f has_bind); W=$W; has_bind /etc/slotkeeper true && has_bind /run/slotkeeper"
    check "cluster-stack.yml: $SVC: no credentials in its environment or command" \
        bash -c '! grep -Eq "^services\.$1\.(environment|entrypoint|command).*(AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|AWS_SESSION_TOKEN)" "$2"' \
        _ "$SVC" "$W/stack.flat"
    check "cluster-stack.yml: $SVC: credentials from a Docker secret (AWS_SHARED_CREDENTIALS_FILE in /run/secrets)" \
        bash -c 'f=$(sed -En "s/^services\.$1\.environment\.AWS_SHARED_CREDENTIALS_FILE = //p" "$2"); t=$(sed -En "s/^services\.$1\.secrets\[0\]\.target = //p" "$2"); [ -n "$t" ] && [ "$f" = "/run/secrets/$t" ]' \
        _ "$SVC" "$W/stack.flat"
    check "cluster-stack.yml: $SVC: on the host's network" \
        bash -c 'n=$(sed -En "s/^services\.$1\.networks\[0\] = //p" "$2"); grep -qx "networks\.$n\.name = host" "$2"' _ "$SVC" "$W/stack.flat"
    check "cluster-stack.yml: $SVC: restart_policy any, update stop-first" \
        bash -c 'grep -qx "services\.$1\.deploy\.restart_policy\.condition = any" "$2" && grep -qx "services\.$1\.deploy\.update_config\.order = stop-first" "$2"' _ "$SVC" "$W/stack.flat"
done
S="services\\.archive"
check "cluster-stack.yml: archive: one replica, pinned by node.labels.slotkeeper.archive" \
    bash -c 'grep -qx "services.archive.deploy.replicas = 1" "$1" && grep -qx "services.archive.deploy.placement.constraints\[0\] = node.labels.slotkeeper.archive == true" "$1"' _ "$W/stack.flat"
grace=$(sed -En "s/^services\.archive\.stop_grace_period = //p" "$W/stack.flat")
check "cluster-stack.yml: archive: stop_grace_period is at least 300s, [archive] stop_timeout's default (is '$grace')" \
    at_least_300s stop_grace_period "$grace"
SVC=archive; volumes >"$W/volumes"
check "cluster-stack.yml: archive: binds its data-dir and its own state_dir" \
    bash -c "$(declare -f has_bind); W=$W; has_bind /srv/eos/archive && has_bind /var/lib/slotkeeper/archive-state"
SVC=keeper; volumes >"$W/volumes"
check "cluster-stack.yml: keeper: global, on the workers' hosts ($WORKER_LABEL)" \
    bash -c 'grep -qx "services.keeper.deploy.mode = global" "$1" && grep -qxF "services.keeper.deploy.placement.constraints[0] = $2" "$1"' _ "$W/stack.flat" "$WORKER_LABEL"
check "cluster-stack.yml: keeper: binds the repository exactly (the image's VOLUME), its state, the slot folders" \
    bash -c "$(declare -f has_bind); W=$W; has_bind /var/lib/slotkeeper/repo && has_bind /var/lib/slotkeeper/state && has_bind /opt/DockerJungleNet"
check "cluster-stack.yml: keeper: never binds a parent of the image's VOLUME /var/lib/slotkeeper/repo" \
    bash -c '! awk -F"\t" "\$3 == \"/var/lib/slotkeeper\" || \$3 == \"/var/lib\" || \$3 == \"/var\"" "$1" | grep -q .' _ "$W/volumes"
check "cluster-stack.yml: the secrets are external (docker secret create)" \
    bash -c '[ "$(grep -c "^secrets\.[^.]*\.external = true$" "$1")" = 2 ]' _ "$W/stack.flat"

# --- etc/docker/Dockerfile -------------------------------------------------------------------
DOCKERFILE=$ETC/docker/Dockerfile
# Instructions one a line: continuation lines joined, comments dropped.
sed -E '/^[[:space:]]*#/d' "$DOCKERFILE" | sed -E ':a; /\\$/ { N; s/\\\n//; ba }' >"$W/Dockerfile.joined"
# The last ENTRYPOINT (Docker uses the last one) as words, exec or shell form.
grep -E '^[[:space:]]*ENTRYPOINT[[:space:]]' "$W/Dockerfile.joined" | tail -1 |
    sed -E 's/^[[:space:]]*ENTRYPOINT[[:space:]]*//; s/[]["]//g; s/,/ /g; s/[[:space:]]+/ /g; s/^ //; s/ $//' \
        >"$W/entrypoint"
note "ENTRYPOINT: $(cat "$W/entrypoint")"
entrypoint_ok() {
    local -a w
    read -ra w <"$W/entrypoint"
    local i dd=-1 c=0
    [[ ${#w[@]} -ge 2 && ${w[0]} =~ (^|/)slotkeeper$ && ${w[1]} = run ]] || { note "not slotkeeper run"; return 1; }
    for ((i = 2; i < ${#w[@]}; i++)); do
        [ "${w[i]}" = -- ] && { dd=$i; break; }
        [[ ${w[i]} = -c || ${w[i]} = --config || ${w[i]} = --config=* ]] && c=1
    done
    [ "$c" = 1 ] || { note "no -c before --"; return 1; }
    [ "$dd" -ge 0 ] || { note "no --"; return 1; }
    [[ ${w[dd + 1]:-} =~ (^|/)nodeos$ ]] || { note "no nodeos right after --"; return 1; }
}
check "Dockerfile: ENTRYPOINT is slotkeeper run -c ... -- nodeos ..." entrypoint_ok
# The runtime stage: from the last FROM on.
awk '/^[[:space:]]*FROM[[:space:]]/ { n++ } { print n "\t" $0 }' "$W/Dockerfile.joined" >"$W/Dockerfile.staged"
last=$(tail -1 "$W/Dockerfile.staged" | cut -f1)
awk -F'\t' -v n="$last" '$1 == n' "$W/Dockerfile.staged" | cut -f2- >"$W/Dockerfile.runtime"
awk -F'\t' -v n="$last" '$1 != n' "$W/Dockerfile.staged" | cut -f2- >"$W/Dockerfile.build"
check "Dockerfile: the runtime stage installs libcurl4 (the binary links libcurl)" \
    grep -Eq '^[[:space:]]*RUN .*install.*[[:space:]]libcurl4(t64)?([[:space:]]|$)' "$W/Dockerfile.runtime"
# The build stage installs the -dev package of every pkg-config module the Makefile links.
build_deps_ok() {
    local m pair deb missing=0
    for m in $(sed -En 's/^PC_MODULES[[:space:]]*:?=[[:space:]]*//p' "$ROOT/Makefile"); do
        deb=
        for pair in $(sed -En 's/^DEB_OF_MODULE[[:space:]]*:?=[[:space:]]*//p' "$ROOT/Makefile"); do
            [ "${pair%%:*}" = "$m" ] && deb=${pair#*:}
        done
        [ -n "$deb" ] || continue
        grep -Eq "^[[:space:]]*RUN .*install.*[[:space:]]${deb//./\\.}([[:space:]]|$)" "$W/Dockerfile.build" ||
            { note "build stage does not install $deb ($m)"; missing=1; }
    done
    return $missing
}
check "Dockerfile: the build stage installs the -dev package of every library the Makefile links" build_deps_ok

# --- etc/systemd ----------------------------------------------------------------------------
DAEMON_UNIT=$ETC/systemd/slotkeeper.service
SLOT_UNIT=$ETC/systemd/slotkeeper@.service
# unit_lines FILE: continuation lines joined, comments dropped.
unit_lines() { sed -E '/^[[:space:]]*[#;]/d' "$1" | sed -E ':a; /\\$/ { N; s/\\\n[[:space:]]*/ /; ba }'; }
# unit_value FILE KEY: the last assignment of KEY.
unit_value() { unit_lines "$1" | sed -En "s/^$2=[[:space:]]*//p" | tail -1; }

check "etc/systemd/slotkeeper.service exists" test -f "$DAEMON_UNIT"
check "etc/systemd/slotkeeper@.service exists" test -f "$SLOT_UNIT"
if [ -f "$DAEMON_UNIT" ]; then
    check "slotkeeper.service: ExecStart runs slotkeeper daemon" \
        bash -c 'grep -Eq "^ExecStart=[-@:+!]*([^ ]*/)?slotkeeper daemon( |$)" <<<"$1"' _ "$(unit_lines "$DAEMON_UNIT")"
    check "slotkeeper.service: KillMode=process" test "$(unit_value "$DAEMON_UNIT" KillMode)" = process
    v=$(unit_value "$DAEMON_UNIT" TimeoutStopSec)
    check "slotkeeper.service: TimeoutStopSec is at least 300s (is '$v')" at_least_300s TimeoutStopSec "$v"
fi
if [ -f "$SLOT_UNIT" ]; then
    slot_exec_ok() {
        local e
        e=$(unit_lines "$SLOT_UNIT" | grep -E '^ExecStart=' | tail -1)
        note "slot ExecStart: $e"
        [[ $e =~ ^ExecStart=[-@:+!]*([^ ]*/)?slotkeeper\ run\  ]] || return 1
        [[ " ${e%% -- *} " = *" --slot %i "* ]]
    }
    check "slotkeeper@.service: ExecStart runs slotkeeper run --slot %i" slot_exec_ok
    v=$(unit_value "$SLOT_UNIT" TimeoutStopSec)
    check "slotkeeper@.service: TimeoutStopSec is at least 300s (is '$v')" at_least_300s TimeoutStopSec "$v"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    # Copies in which slotkeeper is the binary under test ($SK: verify checks that each Exec*=
    # program exists and is executable) and any other program (nodeos, kill) is /bin/true.
    mkdir -p "$W/units"
    unit_copy() { # UNIT DEST
        sed -E "s|^(Exec[A-Za-z]+=[-@:+!]*)[^ ]*/slotkeeper |\1$SK |; t; s|^(Exec[A-Za-z]+=[-@:+!]*)[^ ]+|\1/bin/true|" "$1" >"$2"
    }
    # verify_units UNIT...: systemd-analyze verify; fails on its exit code and on what it only
    # warns about (an unknown key or section, a key in the wrong section, a value it cannot
    # parse: systemd then ignores the setting).
    verify_units() {
        env SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$@" >"$W/out" 2>"$W/err" || return 1
        ! grep -Eiq "unknown (key|section|lvalue)|failed to parse|ignoring" "$W/err"
    }
    refuses() { ! verify_units "$@"; }
    units=()
    for f in "$DAEMON_UNIT" "$SLOT_UNIT"; do
        [ -f "$f" ] || continue
        unit_copy "$f" "$W/units/$(basename "$f")"
        units+=("$W/units/$(basename "$f" | sed 's/@\.service$/@1.service/')")
    done
    if [ ${#units[@]} = 0 ]; then
        not_ok "systemd-analyze verify: no unit to verify"
    else
        check "the verified copies run slotkeeper itself" grep -q "^ExecStart=$SK daemon " "$W/units/slotkeeper.service"
        check "systemd-analyze verify accepts the units, with no unknown or ignored setting" verify_units "${units[@]}"
        [ -s "$W/err" ] && sed 's/^/# systemd-analyze: /' "$W/err"
        # The check can fail: a key in the wrong section, a bad value, a missing program.
        mkdir -p "$W/bad"
        sed 's/^\[Install\]/[Install]\nKillMode=process/' "$W/units/slotkeeper.service" >"$W/bad/slotkeeper.service"
        check "verify refuses a key in the wrong section" refuses "$W/bad/slotkeeper.service"
        sed 's/^KillMode=.*/KillMode=sometimes/' "$W/units/slotkeeper.service" >"$W/bad/slotkeeper.service"
        check "verify refuses a bad value" refuses "$W/bad/slotkeeper.service"
        sed "s|^ExecStart=[^ ]*|ExecStart=$W/no-such-slotkeeper|" "$W/units/slotkeeper.service" >"$W/bad/slotkeeper.service"
        check "verify refuses a program that is not there" refuses "$W/bad/slotkeeper.service"
    fi
else
    ok "systemd-analyze verify # SKIP systemd-analyze is not installed"
fi

# --- etc/cron.d/slotkeeper -------------------------------------------------------------------
CRON=$ETC/cron.d/slotkeeper
cron_ok() {
    local line bad=0 jobs=0 f
    local v='([0-9]+|[A-Za-z]{3})' # a number or a month / weekday name
    local item="([*]|$v(-$v)?)(/[0-9]+)?"
    local field="^$item(,$item)*\$"
    while IFS= read -r line || { [ -n "$line" ] && note "last line has no newline (cron ignores it)" && bad=1; }; do
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        [[ $line =~ ^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*[[:space:]]*= ]] && continue # SHELL=, MAILTO=, PATH=
        local -a w
        read -ra w <<<"$line"
        local ok=1
        [ ${#w[@]} -ge 7 ] || ok=0
        for f in "${w[@]:0:5}"; do [[ $f =~ $field ]] || ok=0; done
        [[ ${w[5]:-} =~ ^[a-z_][a-z0-9_-]*[$]?$ ]] || ok=0
        [ "$ok" = 1 ] || { note "not 'M H DOM MON DOW USER COMMAND': $line"; bad=1; }
        jobs=$((jobs + 1))
    done <"$CRON"
    [ "$jobs" -gt 0 ] || { note "no job"; return 1; }
    return $bad
}
check "cron.d/slotkeeper: every job line has 5 time fields, a user and a command" cron_ok
check "cron.d/slotkeeper: calls slotkeeper snapshot -c" \
    grep -Eq '^[^#]*(^|[ /])slotkeeper snapshot( .*)? -c [^ ]+' "$CRON"

# --- etc/slotkeeper.conf ---------------------------------------------------------------------
# (config check refuses a missing program: without /usr/local/bin/nodeos, /bin/true stands in)
sed "$([ -x /usr/local/bin/nodeos ] || echo 's|/usr/local/bin/nodeos|/bin/true|g')" "$ETC/slotkeeper.conf" >"$W/etc-sk.conf"
run 0 "etc/slotkeeper.conf passes config check" "$SK" config check -c "$W/etc-sk.conf"
