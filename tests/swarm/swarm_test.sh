#!/usr/bin/env bash
# A real Docker Swarm, end to end (`make swarm-test`): the worker image from
# etc/docker/Dockerfile (tests/swarm/image.sh: fakenode as nodeos), the host daemon, and
# etc/docker/stack.yml deployed with three replicas (a copy that differs only in the image, the
# host paths, the replica count: see stack_copy). Then: a task's container killed; Docker's 10 s
# stop grace versus the stack's 300 s; a rolling `service update --force`; the host daemon
# killed while Swarm restarts a task; `docker stack rm`. Each prints its time from kill to
# healthy. Starts dockerd (vfs, no iptables, no bridge) when none answers, and stops what it
# started; prints TAP.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/swarm_lib.sh"
T_NAME=swarm
FAKENODE=$ROOT/build/fakenode
P=sk-swarm                 # every Docker object this test makes is named sk-swarm-* / sk-swarm_*
STACK=$P
SVC=${STACK}_nodeos
IMAGE=$P-node:test
BASE=$P-base:test
HC=$W/host.conf            # the host daemon's configuration
SOCK=$W/run/control.sock
OWN_SWARM=0
DONE=0
t0=$(date +%s)

quiet() { "$@" >/dev/null; }
# --- Docker --------------------------------------------------------------------------------

stop_docker() {
    docker stack rm "$STACK" >/dev/null 2>&1
    for _ in $(seq 60); do [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break; sleep 1; done
    docker ps -aq --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker rm -f >/dev/null 2>&1
    docker rmi "$IMAGE" "$BASE" >/dev/null 2>&1
    [ "$OWN_SWARM" = 1 ] && docker swarm leave --force >/dev/null 2>&1
    [ "$OWN_SWARM" = 0 ] && docker node update --label-rm eos-workers "$(docker info -f '{{.Swarm.NodeID}}')" >/dev/null 2>&1
    stop_dockerd
}

cleanup() {
    [ "$DONE" = 1 ] || not_ok "the test ran to its end"
    stop_docker
    [ -n "${DPID:-}" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    pkill -KILL -f "^$FAKENODE --data-dir $W/" 2>/dev/null
    say "swarm-test took $(($(date +%s) - t0)) s"
    echo "1..$T_N"
    if [ "$T_FAILED" = 0 ]; then rm -rf "$W"; else echo "# $T_FAILED failed; kept $W for inspection"; fi
    exit $((T_FAILED > 0))
}
# fatal DESC: a step the rest depends on failed; stop here.
fatal() {
    not_ok "$1 (stopping: the rest depends on it)"
    local c
    for c in $(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK" 2>/dev/null | head -3); do
        say "logs of container $c:"
        docker logs "$c" 2>&1 | tail -15 | sed 's/^/#   /'
    done
    [ -e "$W/daemon.log" ] && say "daemon.log:" && tail -15 "$W/daemon.log" | sed 's/^/#   /'
    exit 1
}
trap cleanup EXIT

# --- the host: repository, archival node, daemon ------------------------------------------
genesis() { # DIR: a chain that started 10 minutes ago
    mkdir -p "$1"
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$GENESIS_TIME" >"$1/genesis.json"
}
GENESIS_TIME=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%S.000)

host_setup() {
    mkdir -p "$W/run" "$W/etc" "$W/state"
    genesis "$W/archive"
    for s in 1 2 3; do
        genesis "$W/slots/$s"
        printf 'http-server-address = 127.0.0.1:8888\nchain-state-db-size-mb = 64\n' >"$W/slots/$s/config.ini"
    done
    "$SK" repo init "$W/repo" --chunk-size 64KiB >/dev/null || return 1
    cat >"$HC" <<CONF
[daemon]
control_socket = $SOCK
state_dir = $W/state
[repository]
path = $W/repo
keep_last = 5
[archive]
data_dir = $W/archive
command = $FAKENODE --data-dir {data_dir} --http-server-address off --chain-state-db-size-mb 64
snapshot_interval = 1h
stop_timeout = 30s
[workers]
slots = 3
data_dir = $W/slots/{slot}
command =
CONF
    # The same configuration as the containers see it (mounted at /etc/slotkeeper): the host's
    # folders at the places the stack mounts them.
    sed -e "s|$SOCK|/run/slotkeeper/control.sock|" -e "s|$W/repo|/var/lib/slotkeeper/repo|" \
        -e "s|$W/slots/{slot}|/opt/DockerJungleNet/{slot}|" "$HC" >"$W/etc/slotkeeper.conf"
}

start_daemon() {
    "$SK" daemon -c "$HC" >>"$W/daemon.log" 2>&1 &
    DPID=$!
    for _ in $(seq 100); do [ -S "$SOCK" ] && "$SK" status -c "$HC" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# --- the stack -----------------------------------------------------------------------------
# etc/docker/stack.yml with the image built here, the host's folders under $W, three replicas.
stack_copy() {
    sed -e "s|image: my/nodeos-slotkeeper|image: $IMAGE|" \
        -e "s|source: /opt/DockerJungleNet/|source: $W/slots/|" \
        -e "s|source: /var/lib/slotkeeper/repo|source: $W/repo|" \
        -e "s|source: /run/slotkeeper|source: $W/run|" \
        -e "s|source: /etc/slotkeeper|source: $W/etc|" \
        -e "s|replicas: 5|replicas: 3|" \
        "$ROOT/etc/docker/stack.yml" >"$W/stack.yml"
}

# ctr SLOT: the id of the running container of the slot's task
ctr() { docker ps -q --filter "name=^${SVC}\.$1\." --filter status=running | head -1; }
# healthy SLOT: the stack's own healthcheck passes inside the slot's running container
healthy() {
    local c
    c=$(ctr "$1")
    [ -n "$c" ] || return 1
    [ -n "${HC_CMD:-}" ] || HC_CMD=$(docker inspect -f '{{index .Config.Healthcheck.Test 1}}' "$c" 2>/dev/null)
    timeout 5 docker exec "$c" /bin/sh -c "$HC_CMD" >/dev/null 2>&1
}
# wait_healthy SLOT SECONDS [NOT_CTR]: until a container (other than NOT_CTR) of the slot is healthy
wait_healthy() {
    local end=$(($(date +%s) + $2))
    while [ "$(date +%s)" -lt "$end" ]; do
        local c
        c=$(ctr "$1")
        if [ -n "$c" ] && [ "$c" != "${3:-}" ] && healthy "$1"; then return 0; fi
        sleep 0.5
    done
    return 1
}
# slot_check SLOT: slotkeeper check's verdict on the slot's folder (on the host)
verdict() { "$SK" check "$W/slots/$1" >/dev/null 2>&1; echo $?; }
clean_slots() { # every slot's data-dir is clean (check exits 0)
    local s bad=0
    for s in 1 2 3; do
        local v
        v=$(verdict $s)
        [ "$v" = 0 ] || { say "slot $s: check exits $v"; bad=1; }
    done
    return $bad
}
logs_of() { docker logs "$1" 2>&1; }

# --- setup ---------------------------------------------------------------------------------
if start_dockerd; then ok "dockerd answers"; else fatal "dockerd answers"; fi
if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
    swarm_init
    # Our own swarm: keep one finished task per slot, so the vfs copies stay few.
    docker swarm update --task-history-limit 2 >/dev/null
fi
[ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ] && ok "a one-node Swarm" || fatal "a one-node Swarm"
check "this node carries the stack's placement label" quiet docker node update --label-add eos-workers=true "$(docker info -f '{{.Swarm.NodeID}}')"
run 0 "the worker image from etc/docker/Dockerfile (tests/swarm/image.sh)" \
    bash "$ROOT/tests/swarm/image.sh" "$ROOT" "$W" "$BASE" "$IMAGE"
say "image $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.1f MB", $1 / 1e6 }')"
check "host: repository, slot folders, configurations" host_setup
check "the host daemon starts (external slots)" start_daemon
run 0 "a first snapshot of the archival node" "$SK" snapshot -c "$HC"
SNAP1=$(cat "$W/out")
stack_copy
docker stack deploy -c "$W/stack.yml" "$STACK" >"$W/out" 2>&1 && ok "docker stack deploy (etc/docker/stack.yml, 3 replicas)" ||
    { sed 's/^/#   /' "$W/out"; fatal "docker stack deploy"; }
ts=$(date +%s.%N)
for s in 1 2 3; do
    wait_healthy $s 60 && ok "slot $s: a task is healthy" ||
        { docker service ps --no-trunc "$SVC" 2>&1 | sed 's/^/#   /'; fatal "slot $s: a task is healthy"; }
done
say "deploy to three healthy tasks: $(elapsed "$ts") s"
docker service ps "$SVC" 2>&1 | sed 's/^/#   /'

# restores SLOT: how many restores the host daemon made for the slot
restores() { "$SK" status -c "$HC" 2>/dev/null | awk -v s="$1" '$1 == s { print $8; exit }'; }
all_restores() { echo $(($(restores 1) + $(restores 2) + $(restores 3))); }
check "the host daemon restored each new slot (3 restores)" test "$(all_restores)" = 3
for s in 1 2 3; do
    check "slot $s: its first task's run asked the host daemon" \
        bash -c "docker logs $(ctr $s) 2>&1 | grep -q 'the host daemon restored snapshot $SNAP1'"
done

# --- 1. docker kill --signal KILL -----------------------------------------------------------
c=$(ctr 1)
r0=$(restores 1)
ts=$(date +%s.%N)
docker kill --signal KILL "$c" >/dev/null
check "kill -9: slot 1 is left dirty (check exits 11)" test "$(verdict 1)" = 11
if wait_healthy 1 180 "$c"; then
    ok "kill -9: Swarm's new task on slot 1 is healthy"
    say "slot 1, docker kill --signal KILL to healthy: $(elapsed "$ts") s (the stack's restart delay is 10 s)"
else
    not_ok "kill -9: Swarm's new task on slot 1 is healthy"
fi
check "kill -9: the new task's run found it dirty and the host daemon restored it" \
    bash -c "docker logs $(ctr 1) 2>&1 | grep -q 'dirty.*restoring' && docker logs $(ctr 1) 2>&1 | grep -q 'the host daemon restored snapshot'"
check "kill -9: the daemon counts one more restore for slot 1" test "$(restores 1)" = $((r0 + 1))

# --- 2. a stop with Docker's default 10 s grace, then with the stack's 300 s ------------------
# Swarm gives a task its stop_grace_period when Swarm stops it (an update, a scale-down, stack
# rm: see 3 and 5), but it does not write it into the container: a plain `docker stop` of a
# task's container gets Docker's default 10 s.
c=$(ctr 2)
r0=$(restores 2)
say "a task's container: StopTimeout $(docker inspect -f '{{if .Config.StopTimeout}}{{.Config.StopTimeout}}{{else}}unset{{end}}' "$c") (the stack's stop_grace_period applies only when Swarm stops the task)"
ts=$(date +%s.%N)
docker stop "$c" >/dev/null
say "slot 2, docker stop (Docker's default 10 s grace): the container was gone after $(elapsed "$ts") s"
check "10 s grace: the node was killed mid-flush and left slot 2 dirty (check exits 11)" test "$(verdict 2)" = 11
if wait_healthy 2 180 "$c"; then
    ok "10 s grace: Swarm's next task on slot 2 is healthy"
    say "slot 2, stop with 10 s grace to healthy: $(elapsed "$ts") s"
else
    not_ok "10 s grace: Swarm's next task on slot 2 is healthy"
fi
check "10 s grace: the next task had slot 2 restored" test "$(restores 2)" = $((r0 + 1))
c=$(ctr 2)
ts=$(date +%s.%N)
docker stop -t 300 "$c" >/dev/null
say "slot 2, docker stop -t 300 (the stack's grace): the node stopped cleanly after $(elapsed "$ts") s"
check "300 s grace: slot 2 is clean (check exits 0)" test "$(verdict 2)" = 0
check "300 s grace: the task exited 0 (run passes the node's own code)" \
    test "$(docker inspect -f '{{.State.ExitCode}}' "$c")" = 0
if wait_healthy 2 90 "$c"; then
    ok "300 s grace: Swarm started a new task on slot 2, healthy"
    say "slot 2, clean stop to healthy: $(elapsed "$ts") s"
else
    not_ok "300 s grace: Swarm started a new task on slot 2, healthy"
    docker service ps "$SVC" 2>&1 | sed 's/^/#   /'
fi
check "300 s grace: no restore was needed" test "$(restores 2)" = $((r0 + 1))

# --- 3. a rolling restart --------------------------------------------------------------------
r0=$(all_restores)
old=$(for s in 1 2 3; do ctr $s; done)
ts=$(date +%s.%N)
run 0 "docker service update --force (a rolling restart)" timeout 600 docker service update --force --detach=false "$SVC"
say "rolling restart of three tasks: $(elapsed "$ts") s"
for s in 1 2 3; do
    if wait_healthy $s 120 && ! grep -qx "$(ctr $s)" <<<"$old"; then ok "rolling: slot $s runs a new task, healthy"; else not_ok "rolling: slot $s runs a new task, healthy"; fi
done
check "rolling: nothing was restored (every node stopped cleanly)" test "$(all_restores)" = "$r0"
for s in 1 2 3; do
    check "rolling: slot $s's new task found its slot clean" \
        bash -c "! docker logs $(ctr $s) 2>&1 | grep -q restor"
done

# --- 4. the host daemon killed while Swarm restarts a task -----------------------------------
c=$(ctr 3)
ts=$(date +%s.%N)
docker kill --signal KILL "$c" >/dev/null
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
check "daemon killed: its socket is left behind, nobody listens" test -S "$SOCK"
if wait_healthy 3 180 "$c"; then
    ok "daemon killed: Swarm's new task on slot 3 is healthy"
    say "slot 3, kill to healthy with the host daemon down: $(elapsed "$ts") s"
else
    not_ok "daemon killed: Swarm's new task on slot 3 is healthy"
fi
check "daemon killed: run restored slot 3 directly from the repository" \
    bash -c "docker logs $(ctr 3) 2>&1 | grep -q 'no daemon listens; restoring directly'"
check "daemon killed: no slot is left half-restored" bash -c "! ls -d '$W'/slots/*/.slotkeeper/restoring 2>/dev/null | grep -q ."
check "the host daemon starts again" start_daemon
# The daemon dies while a new task's run waits for its answer: frozen (SIGSTOP) so the request
# is queued on its socket, then killed. run fails (exit 1), Swarm retries, the retry restores
# directly.
c=$(ctr 2)
ts=$(date +%s.%N)
kill -STOP "$DPID"
docker kill --signal KILL "$c" >/dev/null
for _ in $(seq 120); do
    c2=$(ctr 2)
    [ -n "$c2" ] && [ "$c2" != "$c" ] && docker logs "$c2" 2>&1 | grep -q 'restoring the newest good snapshot' && break
    sleep 0.5
done
sleep 1
kill -KILL "$DPID"
kill -CONT "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
for _ in $(seq 60); do [ "$(docker inspect -f '{{.State.Running}}' "$c2" 2>/dev/null)" = false ] && break; sleep 0.5; done
check "daemon killed mid-request: the waiting task's run exits 1" \
    test "$(docker inspect -f '{{.State.ExitCode}}' "$c2" 2>/dev/null)" = 1
if wait_healthy 2 180 "$c2"; then
    ok "daemon killed mid-request: Swarm's retry on slot 2 is healthy"
    say "slot 2, kill to healthy with the daemon dying mid-request: $(elapsed "$ts") s"
else
    not_ok "daemon killed mid-request: Swarm's retry on slot 2 is healthy"
fi
check "daemon killed mid-request: the retry restored slot 2 directly" \
    bash -c "docker logs $(ctr 2) 2>&1 | grep -q 'no daemon listens; restoring directly'"
check "no slot is left half-restored" bash -c "! ls -d '$W'/slots/*/.slotkeeper/restoring 2>/dev/null | grep -q ."
check "the host daemon starts once more" start_daemon
sleep 2
for s in 1 2 3; do
    check "daemon back: slot $s's node still runs (check exits 10), untouched" test "$(verdict $s)" = 10
done
check "daemon back: status shows the three external slots" \
    test "$("$SK" status -c "$HC" | awk '$1 ~ /^[123]$/' | grep -c external)" = 3
c=$(ctr 1)
ts=$(date +%s.%N)
docker kill --signal KILL "$c" >/dev/null
r0=$(restores 1)
if wait_healthy 1 180 "$c" && test "$(restores 1)" = $((r0 + 1)); then
    ok "daemon back: a killed task's slot is restored through it again"
    say "slot 1, kill to healthy with the daemon back: $(elapsed "$ts") s"
else
    not_ok "daemon back: a killed task's slot is restored through it again"
fi

# --- 5. docker stack rm ----------------------------------------------------------------------
ts=$(date +%s.%N)
run 0 "docker stack rm" docker stack rm "$STACK"
for _ in $(seq 600); do
    [ -z "$(docker ps -q --filter "label=com.docker.stack.namespace=$STACK")" ] && break
    sleep 0.5
done
check "stack rm: every task's container has stopped" test -z "$(docker ps -q --filter "label=com.docker.stack.namespace=$STACK")"
say "docker stack rm to every node stopped: $(elapsed "$ts") s"
for s in 1 2 3; do check "stack rm: slot $s is clean (check exits 0)" test "$(verdict $s)" = 0; done
kill -TERM "$DPID"
wait "$DPID"
check "the host daemon stops cleanly (exit 0)" test $? = 0
DPID=
say "host daemon log:"
sed 's/^/#   /' "$W/daemon.log" | grep -v 'archive:' | tail -30
DONE=1
