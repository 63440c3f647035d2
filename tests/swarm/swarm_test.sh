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
T_NAME=swarm
FAKENODE=$ROOT/build/fakenode
P=sk-swarm                 # every Docker object this test makes is named sk-swarm-* / sk-swarm_*
STACK=$P
SVC=${STACK}_nodeos
IMAGE=$P-node:test
BASE=$P-base:test
HC=$W/host.conf            # the host daemon's configuration
SOCK=$W/run/control.sock
OWN_DOCKERD=0
OWN_SWARM=0
t0=$(date +%s)

say() { echo "# $*"; }
quiet() { "$@" >/dev/null; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- Docker --------------------------------------------------------------------------------
start_dockerd() {
    if docker info >/dev/null 2>&1; then
        say "using the running Docker engine ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
        return 0
    fi
    local d=$W/docker
    mkdir -p "$d"
    export DOCKER_HOST=unix://$d/docker.sock
    dockerd --storage-driver=vfs --iptables=false --bridge=none --data-root "$d/data" --exec-root "$d/exec" \
        -H "$DOCKER_HOST" --pidfile "$d/docker.pid" >"$W/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    OWN_DOCKERD=1
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { tail -20 "$W/dockerd.log" | sed 's/^/#   /'; return 1; }
    say "started dockerd $(docker version -f '{{.Server.Version}}') (vfs, no iptables, no bridge) at $DOCKER_HOST"
}

stop_docker() {
    docker stack rm "$STACK" >/dev/null 2>&1
    for _ in $(seq 60); do [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break; sleep 1; done
    docker ps -aq --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker rm -f >/dev/null 2>&1
    docker rmi "$IMAGE" "$BASE" >/dev/null 2>&1
    [ "$OWN_SWARM" = 1 ] && docker swarm leave --force >/dev/null 2>&1
    [ "$OWN_SWARM" = 0 ] && docker node update --label-rm eos-workers "$(docker info -f '{{.Swarm.NodeID}}')" >/dev/null 2>&1
    if [ "$OWN_DOCKERD" = 1 ]; then
        kill -TERM "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
        # vfs layers are plain folders; anything still mounted under the exec root goes first
        grep -o " $W/docker/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$W/docker"
    fi
}

cleanup() {
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
        # a slot whose tasks keep failing will not get healthy
        [ "$(docker service ps -q --filter desired-state=shutdown "$SVC" 2>/dev/null | wc -l)" -gt 8 ] && return 1
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
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:$((30000 + RANDOM % 20000)) >/dev/null &&
        OWN_SWARM=1
    # Our own swarm: keep one finished task per slot, so the vfs copies stay few.
    docker swarm update --task-history-limit 2 >/dev/null
fi
[ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ] && ok "a one-node Swarm" || fatal "a one-node Swarm"
check "this node carries the stack's placement label" quiet docker node update --label-add eos-workers=true "$(docker info -f '{{.Swarm.NodeID}}')"
run 0 "the worker image from etc/docker/Dockerfile (tests/swarm/image.sh)" \
    bash "$ROOT/tests/swarm/image.sh" "$ROOT" "$W" "$BASE" "$IMAGE" "${SWARM_NODEOS:-}"
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
    wait_healthy $s 120 && ok "slot $s: a task is healthy" ||
        { docker service ps --no-trunc "$SVC" 2>&1 | sed 's/^/#   /'; fatal "slot $s: a task is healthy"; }
done
say "deploy to three healthy tasks: $(elapsed "$ts") s"
docker service ps "$SVC" 2>&1 | sed 's/^/#   /'
