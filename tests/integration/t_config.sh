#!/usr/bin/env bash
# The configuration file: etc/slotkeeper.conf documents every key and passes `config check`;
# the printed effective configuration reads back the same; every bad input is refused with
# "slotkeeper: FILE: line N: [section] key: reason" and exit 2 (a file
# that cannot be read: exit 1); commands take their settings from -c.
. "$(dirname "$0")/lib.sh"

# config check refuses a command whose program is missing (issue 16, 8): on a host without
# /usr/local/bin/nodeos the example names a missing program, so it is checked with /bin/true.
ETC_CONF=$ROOT/etc/slotkeeper.conf
if [ ! -x /usr/local/bin/nodeos ]; then
    run 2 "etc/slotkeeper.conf on a host without /usr/local/bin/nodeos is refused" "$SK" config check -c "$ETC_CONF"
    err_has "^slotkeeper: $ETC_CONF: line [0-9]+: \[archive\] command: '/usr/local/bin/nodeos' not found or not executable" \
        "and names the line, the key and the program"
    sed 's|/usr/local/bin/nodeos|/bin/true|g' "$ETC_CONF" >"$W/etc.conf"
    ETC_CONF=$W/etc.conf
fi
run 0 "etc/slotkeeper.conf passes config check" "$SK" config check -c "$ETC_CONF"
err_has "configuration OK" "says configuration OK"
cp "$W/out" "$W/effective.conf"
run 0 "the effective configuration passes too" "$SK" config check -c "$W/effective.conf"
check "and reads back to the same values" \
    bash -c "diff <(tail -n +2 '$W/effective.conf') <(tail -n +2 '$W/out') >/dev/null"
# Every key config check knows is documented in etc/slotkeeper.conf.
missing=0
while read -r key; do
    grep -Eq "^#? ?$key =" "$ROOT/etc/slotkeeper.conf" || { echo "# not in etc/slotkeeper.conf: $key"; missing=$((missing + 1)); }
done < <(grep -Eo '^#? ?[a-z_]+ =' "$W/effective.conf" | sed 's/^# //; s/ =$//')
check "etc/slotkeeper.conf documents every key" test "$missing" = 0
check "defaults are shown" grep -q "^stop_timeout = 5m" "$W/effective.conf"

bad() { # WANT_REGEX DESC CONTENT
    printf '%b' "$3" >"$W/bad.conf"
    run 2 "refused: $2" "$SK" config check -c "$W/bad.conf"
    err_has "$1" "$2: the error says where and why"
    check "$2: one line" test "$(wc -l <"$W/err")" = 1
    check "$2: the line is 'slotkeeper: FILE: ...' (no command name)" grep -q "^slotkeeper: $W/bad.conf: " "$W/err"
}
R='[repository]\npath = /r\n'
bad "bad.conf: \\[repository\\] path: required" "missing required key" '[archive]\ninclude = blocks\n'
bad "bad.conf: line 3: \\[repository\\] colour: unknown key" "unknown key" "${R}colour = red\n"
bad "bad.conf: line 4: \\[nodes\\] x: unknown section" "unknown section" "${R}[nodes]\nx = 1\n"
bad "line 4: \\[archive\\] stop_timeout: '5 minutes' is not a duration" "bad duration" "${R}[archive]\nstop_timeout = 5 minutes\n"
bad "line 4: \\[archive\\] stop_timeout: '10ms' is not a duration from 1000ms" "duration out of range" "${R}[archive]\nstop_timeout = 10ms\n"
bad "line 4: \\[workers\\] log_max_size: '64MB' is not a size" "bad size" "${R}[workers]\nlog_max_size = 64MB\n"
bad "line 3: \\[repository\\] level: '20' is not a whole number from 1 to 19" "number out of range" "${R}level = 20\n"
bad "line 3: \\[repository\\] path: given twice" "key given twice" "${R}path = /other\n"
bad "line 2: \\[repository\\] path: 'relative/repo' is not an absolute path" "relative path" '[repository]\npath = relative/repo\n'
bad "line 4: \\[daemon\\] log_level: 'loud' is not one of: error warn info debug" "bad enum" "${R}[daemon]\nlog_level = loud\n"
bad "line 4: \\[daemon\\] control_socket_mode: '0999' is not an octal mode" "bad mode" "${R}[daemon]\ncontrol_socket_mode = 0999\n"
bad "line 4: \\[workers\\] command: unknown placeholder '\\{port\\}'" "unknown placeholder" "${R}[workers]\ncommand = nodeos --http {port}\n"
bad "\\[workers\\] data_dir: required when slots > 0" "slots without a data-dir" "${R}[workers]\nslots = 2\ncommand = nodeos\n"
bad "\\[workers\\] data_dir: must contain \\{slot\\}" "two slots sharing one data-dir" "${R}[workers]\nslots = 2\ncommand = nodeos\ndata_dir = /srv/eos\n"
bad "line 3: syntax error" "a line that is not key = value" "${R}just words\n"
bad "line 4: longer than 198 characters" "an over-long line (inih would cut it)" "${R}[archive]\ncommand = $(printf 'x%.0s' $(seq 250))\n"
bad "line 3: indented line" "a continuation line (inih would glue it)" "${R}  level = 4\n"
bad "\\[workers\\] backoff_min: larger than backoff_max" "back-off bounds reversed" "${R}[workers]\nbackoff_min = 10m\nbackoff_max = 1m\n"
# A command whose program does not exist, found as execvp finds it (issue 16, 8).
bad "line 4: \\[workers\\] command: 'no-such-nodeos' not found or not executable" "a worker program not on PATH" \
    "${R}[workers]\ncommand = no-such-nodeos --data-dir {data_dir}\n"
bad "line 5: \\[archive\\] command: '$W/none/nodeos' not found or not executable" "an archival program that is missing" \
    "${R}[archive]\ndata_dir = $W/arch\ncommand = '$W/none/nodeos' --data-dir {data_dir}\n"
printf '#!/bin/sh\n' >"$W/noexec" && chmod 644 "$W/noexec"
bad "line 4: \\[workers\\] command: '$W/noexec' not found or not executable" "a program that is not executable" \
    "${R}[workers]\ncommand = $W/noexec\n"
mkdir -p "$W/bin" && printf '#!/bin/sh\n' >"$W/bin/my-nodeos" && chmod 755 "$W/bin/my-nodeos"
printf '[repository]\npath = /r\n[workers]\ncommand = my-nodeos --data-dir {data_dir}\n' >"$W/onpath.conf"
run 2 "a program in no folder of PATH is refused" env PATH=/usr/bin:/bin "$SK" config check -c "$W/onpath.conf"
run 0 "the same program on PATH passes" env PATH="$W/bin:/usr/bin:/bin" "$SK" config check -c "$W/onpath.conf"
printf '[repository]\npath = /r\n[workers]\ncommand = sh -c "exec my-nodeos"\n' >"$W/sh.conf"
run 0 "a shell as the program passes (what it runs is its business)" "$SK" config check -c "$W/sh.conf"
# Values the daemon would refuse at start are refused here, in the same format (issue 10, 8).
bad "line 4: \\[daemon\\] metrics_address: '999.1.1.1:99999' is not HOST:PORT" "a metrics port out of range" "${R}[daemon]\nmetrics_address = 999.1.1.1:99999\n"
bad "line 4: \\[daemon\\] metrics_address: '999.1.1.1:80' is not HOST:PORT" "a metrics host that is not an address" "${R}[daemon]\nmetrics_address = 999.1.1.1:80\n"
bad "line 4: \\[daemon\\] control_socket: empty" "an empty control socket" "${R}[daemon]\ncontrol_socket =\n"
bad "line 4: \\[daemon\\] control_socket: .* is 120 bytes; a UNIX socket path is at most 107 bytes" "a 120-byte control socket" "${R}[daemon]\ncontrol_socket = /$(printf 'x%.0s' $(seq 119))\n"
# Overlapping paths (issue 10, 6): resolved, with links followed and missing folders taken lexically.
mkdir -p "$W/x/same" && ln -s "$W/x" "$W/xlink"
bad "line 5: \\[workers\\] data_dir: $W/x/same/2/..: slot 2's data-dir is the same folder as slot 1's data-dir" "two slots on one folder" "${R}[workers]\nslots = 3\ndata_dir = $W/x/same/{slot}/..\n"
bad "line 7: \\[workers\\] data_dir: $W/x/1: slot 1's data-dir is the same folder as the archival data-dir $W/xlink/1 \\($W/x/1\\)" "the archive's data-dir equal to a slot's (through a link)" "${R}[archive]\ndata_dir = $W/xlink/1\n[workers]\nslots = 2\ndata_dir = $W/x/{slot}\n"
bad "line 2: \\[repository\\] path: $W/x/1: the repository is the same folder as|\\[workers\\] data_dir: $W/x/1: slot 1's data-dir is the same folder as the repository" "a repository equal to a slot" "[repository]\npath = $W/x/1\n[workers]\nslots = 2\ndata_dir = $W/x/{slot}\n"
bad "\\[workers\\] data_dir: $W/x/1: slot 1's data-dir contains the repository $W/x/1/repo" "a repository inside a slot" "[repository]\npath = $W/x/1/repo\n[workers]\nslots = 2\ndata_dir = $W/x/{slot}\n"
bad "\\[workers\\] data_dir: $W/x/1: slot 1's data-dir is inside the repository $W/x" "a repository above the slots" "[repository]\npath = $W/x\n[workers]\nslots = 2\ndata_dir = $W/x/{slot}\n"
bad "line 4: \\[archive\\] data_dir: $W/x/a: the archival data-dir contains the repository $W/xlink/a/r" "a repository inside the archive's data-dir" "[repository]\npath = $W/xlink/a/r\n[archive]\ndata_dir = $W/x/a\n"
bad "line 4: \\[archive\\] data_dir: /: the archival data-dir is the system folder /" "data_dir = /" "${R}[archive]\ndata_dir = /\n"
bad "line 4: \\[archive\\] data_dir: /usr/../var: the archival data-dir is the system folder /var" "data_dir = /var, spelt otherwise" "${R}[archive]\ndata_dir = /usr/../var\n"
bad "line 5: \\[workers\\] data_dir: /home/../root: slot 1's data-dir is the system folder /root" "a slot on /root" "${R}[workers]\nslots = 1\ndata_dir = /home/../root\n"
bad "line 4: \\[daemon\\] state_dir: $W/x/1/state: the state folder is inside slot 1's data-dir|\\[workers\\] data_dir: $W/x/1: slot 1's data-dir contains the state folder" "the daemon's state folder inside a slot" "${R}[daemon]\nstate_dir = $W/x/1/state\n[workers]\nslots = 1\ndata_dir = $W/x/{slot}\n"
printf '[repository]\npath = %s/x/repo\n[daemon]\nstate_dir = %s/x/repo/state\n[archive]\ndata_dir = %s/x/archive\n[workers]\nslots = 12\ndata_dir = %s/xlink/{slot}\n' "$W" "$W" "$W" "$W" >"$W/apart.conf"
run 0 "folders apart (slot 1 and 12, a state folder in the repository) are fine" "$SK" config check -c "$W/apart.conf"
run 1 "a missing file exits 1 (it cannot be read)" "$SK" config check -c "$W/none.conf"
err_has "^slotkeeper: $W/none.conf: No such file" "names the missing file, as 'slotkeeper: FILE: reason'"
run 1 "a command with a missing -c file exits 1 too" "$SK" list -c "$W/none.conf"
err_has "^slotkeeper: $W/none.conf: No such file" "and names it"
run 2 "config check without -c is a usage error" "$SK" config check

# Commands take their settings from -c.
mkdd "$W/archive" --blocks-size 1M --state-size 16M --state-data 256K
"$SK" repo init "$W/repo" >/dev/null
cat >"$W/sk.conf" <<CONF
[repository]
path = $W/repo
keep_last = 1

[archive]
data_dir = $W/archive

[workers]
slots = 3
data_dir = $W/slots/{slot}
command = nodeos --data-dir {data_dir} --http-server-address 127.0.0.1:{http_port}
quarantine = delete
CONF
run 0 "snapshot -c takes the repository and the archival data-dir" "$SK" snapshot -c "$W/sk.conf"
id1=$(tail -1 "$W/out")
check "the snapshot is in the configured repository" test -f "$W/repo/snapshots/$id1"
run 0 "restore --slot 2 -c restores into the slot's data-dir" "$SK" restore --slot 2 -c "$W/sk.conf"
check "slot 2 holds the archive's data" same_tree "$W/archive" "$W/slots/2"
run 0 "restore --slot 2 again (quarantine = delete)" "$SK" restore --slot 2 -c "$W/sk.conf"
check "the configured quarantine policy deleted the replaced folders" test -z "$(ls "$W/slots/2/.slotkeeper/quarantine")"
run 2 "restore --slot 4 when there are 3 slots" "$SK" restore --slot 4 -c "$W/sk.conf"
# restore --slot without -c reads the default file, as status, stop, start and reset do.
if [ ! -e /etc/slotkeeper/slotkeeper.conf ]; then
    run 1 "restore --slot without -c reads /etc/slotkeeper/slotkeeper.conf" "$SK" restore --slot 1 --repo "$W/repo"
    err_has "^slotkeeper: /etc/slotkeeper/slotkeeper.conf: No such file" "and names it when it is missing"
    check "not a usage error about -c" bash -c "! grep -q 'needs -c' '$W/err'"
    run 1 "run --slot without -c reads it too" "$SK" run --slot 1 -- true
    err_has "^slotkeeper: /etc/slotkeeper/slotkeeper.conf: No such file" "and names it when it is missing"
    run 1 "so does run with SLOTKEEPER_SLOT (Swarm) and no -c" env SLOTKEEPER_SLOT=2 "$SK" run -- true
    err_has "^slotkeeper: /etc/slotkeeper/slotkeeper.conf: No such file" "and names it"
fi
run 0 "list -c" "$SK" list -c "$W/sk.conf"
check "list -c shows the snapshot" grep -q "$id1" "$W/out"
"$SK" snapshot -c "$W/sk.conf" >/dev/null 2>&1
run 0 "prune -c uses [repository] keep_last" "$SK" prune -c "$W/sk.conf"
check "one snapshot kept" test "$(ls "$W/repo/snapshots" | wc -l)" = 1
printf '[repository]\npath = /r\nbogus = 1\n' >"$W/broken.conf"
run 2 "a command with a bad -c file refuses to run" "$SK" list -c "$W/broken.conf"
err_has "^slotkeeper: $W/broken.conf: line 3: \\[repository\\] bogus: unknown key" "and says why"

# The daemon started on such a configuration anyway: status says why the slot does not run
# (the spawn error is the slot's failure), not only that it is in back-off (issue 16, 8).
mkdir -p "$W/d1"
cat >"$W/nope.conf" <<CONF
[daemon]
control_socket = $W/nope.sock
state_dir = $W/nope-state
[repository]
path = $W/repo
[workers]
slots = 1
data_dir = $W/d{slot}
command = no-such-nodeos --data-dir {data_dir}
health_url =
backoff_min = 200ms
backoff_max = 1s
CONF
"$SK" daemon -c "$W/nope.conf" >"$W/nope.log" 2>&1 &
NOPE_PID=$!
for _ in $(seq 50); do
    "$SK" status -c "$W/nope.conf" 2>/dev/null | grep -q "no-such-nodeos" && break
    sleep 0.1
done
run 0 "status of a slot whose program is missing" "$SK" status -c "$W/nope.conf"
check "status shows the spawn error as the slot's failure" \
    grep -Eq "^1 +backoff .*cannot start no-such-nodeos: no such file or directory" "$W/out"
run 0 "status --json" "$SK" status -c "$W/nope.conf" --json
check "--json has it as last_failure" grep -q '"last_failure": "cannot start no-such-nodeos: no such file or directory"' "$W/out"
kill "$NOPE_PID" && wait "$NOPE_PID"
