#!/usr/bin/env bash
# The cluster stack on a real Docker Swarm (`make swarm-test`, after swarm_test.sh):
# etc/docker/stack.yml and etc/docker/cluster-stack.yml deployed together, as README says, with
# a real S3 server (Swift's s3api, tests/s3/start-s3.sh) on the host's loopback. The copies differ
# from the real files only in the image, the host paths, the replica counts, the S3 endpoint and
# the secrets' names (see stack_copy). One node stands for the cluster's hosts: it carries both
# labels, so it runs the archival daemon and a keeper. Shown: the archive task publishes into the
# bucket, the keeper copies it into the host's local repository, a worker killed hard is restored
# from that local copy (with the S3 server stopped) and becomes healthy, and `stack rm` stops
# everything cleanly. Prints times; starts its own dockerd when none answers; prints TAP.
. "$(dirname "$0")/../integration/lib.sh"
export SK_S3_PORT=${SK_S3_PORT:-28380} # below the ephemeral ports (32768 and up)
. "$ROOT/tests/integration/s3_lib.sh"
. "$ROOT/tests/integration/fs_lib.sh"
. "$ROOT/tests/swarm/swarm_lib.sh"
T_NAME=cluster
P=sk-cluster               # every Docker object this test makes is named sk-cluster-* / sk-cluster_*
STACK=$P
IMAGE=$P-node:test
BASE=$P-base:test
BUCKET=$P
UP=s3://$BUCKET/mainnet
H=$W/host                  # the host's repository, slot folders and archival data-dir: XFS (reflinks)
GOLDEN=0
OWN_SWARM=0
DONE=0
NODE=
t0=$(date +%s)

quiet() { "$@" >/dev/null 2>&1; }
# --- Docker --------------------------------------------------------------------------------

stack_gone() { [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]; }

stop_docker() {
    docker stack rm "$STACK" >/dev/null 2>&1
    for _ in $(seq 60); do stack_gone && break; sleep 1; done
    docker ps -aq --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker rm -f >/dev/null 2>&1
    docker secret rm $P-s3-writer $P-s3-follower >/dev/null 2>&1
    docker rmi "$IMAGE" "$BASE" >/dev/null 2>&1
    [ "$OWN_SWARM" = 1 ] && docker swarm leave --force >/dev/null 2>&1
    [ "$OWN_SWARM" = 0 ] && [ -n "$NODE" ] &&
        docker node update --label-rm eos-workers --label-rm slotkeeper.archive "$NODE" >/dev/null 2>&1
    stop_dockerd
}

cleanup() {
    [ "$DONE" = 1 ] || not_ok "the test ran to its end"
    stop_docker
    s3_cleanup
    fs_cleanup
    say "cluster test took $(($(date +%s) - t0)) s"
    echo "1..$T_N"
    if [ "$T_FAILED" = 0 ]; then rm -rf "$W"; else echo "# $T_FAILED failed; kept $W for inspection"; fi
    exit $((T_FAILED > 0))
}
svc_logs() { # SERVICE: the last lines of its tasks' logs, as diagnostics
    docker service logs --raw "${STACK}_$1" 2>&1 | tail -"${2:-20}" | sed "s/^/#   $1: /"
}
fatal() {
    not_ok "$1 (stopping: the rest depends on it)"
    docker stack ps --no-trunc "$STACK" 2>&1 | head -20 | sed 's/^/#   /'
    for s in archive keeper nodeos; do svc_logs $s 15; done
    exit 1
}
trap cleanup EXIT

# --- the host's files ----------------------------------------------------------------------
GENESIS_TIME=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%S.000)
genesis() {
    mkdir -p "$1"
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$GENESIS_TIME" >"$1/genesis.json"
}

# The folders the stacks mount, under $W (the stack copies' sources); the configurations name
# them as the containers see them (the stack's targets, the host's paths in production), and
# the host's own commands use copies with $W's paths (host-*.conf).
host_setup() {
    mkdir -p "$W/run" "$W/etc" "$W/state" "$W/archive-state" "$H" &&
        genesis "$H/archive" || return 1
    for s in 1 2; do
        genesis "$H/slots/$s"
        printf 'http-server-address = 127.0.0.1:8888\nchain-state-db-size-mb = 16\n' >"$H/slots/$s/config.ini"
    done
    "$SK" repo init "$H/repo" --chunk-size 64KiB >/dev/null || return 1
    if [ "$GOLDEN" = 1 ]; then "$SK" repo golden "$H/repo" on >/dev/null 2>&1 || return 1; fi
    cat >"$W/etc/slotkeeper.conf" <<CONF
[daemon]
control_socket = /run/slotkeeper/control.sock
state_dir = /var/lib/slotkeeper/state
[repository]
path = /var/lib/slotkeeper/repo
upstream = $UP
sync_interval = 2s
keep_last = 5
[workers]
slots = 2
data_dir = /opt/DockerJungleNet/{slot}
command =
CONF
    cat >"$W/etc/archive.conf" <<CONF
[daemon]
control_socket = /run/slotkeeper/archive.sock
state_dir = /var/lib/slotkeeper/archive-state
[repository]
path = $UP
keep_last = 5
[archive]
data_dir = /srv/eos/archive
command = /usr/local/bin/fakenode --data-dir {data_dir} --http-server-address off --chain-state-db-size-mb 16
snapshot_interval = 1h
stop_timeout = 30s
[workers]
startup_grace = 3s
CONF
    local f
    for f in slotkeeper archive; do
        sed -e "s|/run/slotkeeper/|$W/run/|" -e "s|/var/lib/slotkeeper/repo|$H/repo|" \
            -e "s|/var/lib/slotkeeper/state|$W/state|" -e "s|/var/lib/slotkeeper/archive-state|$W/archive-state|" \
            -e "s|/opt/DockerJungleNet/|$H/slots/|" -e "s|/srv/eos/archive|$H/archive|" \
            "$W/etc/$f.conf" >"$W/host-$f.conf" || return 1
    done
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
        "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$W/s3.credentials"
}

# --- the stack copies ----------------------------------------------------------------------
# The real files with the image built here, the host's folders under $W, no worker at first
# (they are scaled up once the first snapshot is local), the test's S3 server and secret names.
stack_copy() {
    local paths=(-e "s|image: my/nodeos-slotkeeper|image: $IMAGE|"
        -e "s|source: /opt/DockerJungleNet|source: $H/slots|"
        -e "s|source: /var/lib/slotkeeper/repo|source: $H/repo|"
        -e "s|source: /var/lib/slotkeeper/state|source: $W/state|"
        -e "s|source: /var/lib/slotkeeper/archive-state|source: $W/archive-state|"
        -e "s|source: /srv/eos/archive|source: $H/archive|"
        -e "s|source: /run/slotkeeper|source: $W/run|"
        -e "s|source: /etc/slotkeeper|source: $W/etc|")
    sed "${paths[@]}" -e "s|replicas: 5|replicas: 0|" "$ROOT/etc/docker/stack.yml" >"$W/stack.yml" &&
        sed "${paths[@]}" -e "s|AWS_ENDPOINT_URL: https://minio.internal:9000|AWS_ENDPOINT_URL: $S3_URL|" \
            -e "s|name: slotkeeper-s3-|name: $P-s3-|" "$ROOT/etc/docker/cluster-stack.yml" >"$W/cluster-stack.yml"
}

# ctr SERVICE [SLOT]: the id of the running container of the service's task (of the slot)
ctr() {
    local name=${STACK}_$1
    [ -n "${2:-}" ] && name="$name\\.$2"
    docker ps -q --filter "name=^$name\\." --filter status=running | head -1
}
# hc_ok SERVICE [SLOT]: the service's own healthcheck command passes in its running container
hc_ok() {
    local c
    c=$(ctr "$@")
    [ -n "$c" ] || return 1
    local -a cmd
    mapfile -d '' cmd < <(docker inspect -f '{{json .Config.Healthcheck.Test}}' "$c" |
        python3 -c 'import json, sys; t = json.load(sys.stdin); a = ["/bin/sh", "-c", t[1]] if t[0] == "CMD-SHELL" else t[1:]; sys.stdout.write("".join(x + "\0" for x in a))')
    [ "${#cmd[@]}" -gt 0 ] && timeout 10 docker exec "$c" "${cmd[@]}" >/dev/null 2>&1
}
# wait_hc SECONDS SERVICE [SLOT [NOT_CTR]]: until a container (other than NOT_CTR) passes
wait_hc() {
    local end=$(($(date +%s) + $1)) c
    shift
    while [ "$(date +%s)" -lt "$end" ]; do
        c=$(ctr "$1" "${2:-}")
        if [ -n "$c" ] && [ "$c" != "${3:-}" ] && hc_ok "$1" "${2:-}"; then return 0; fi
        sleep 0.5
    done
    return 1
}
# ids REPO: the snapshot ids of a repository, oldest first
ids() { "$SK" list --repo "$1" --json 2>/dev/null | grep -o '"id": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'; }
# wait_id REPO ID SECONDS: until the repository lists ID (ID empty: any snapshot)
wait_id() {
    local end=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$end" ]; do
        if [ -n "$2" ]; then ids "$1" | grep -qx "$2" && return 0; else [ -n "$(ids "$1")" ] && return 0; fi
        sleep 0.5
    done
    return 1
}
restores() { "$SK" status -c "$W/host-slotkeeper.conf" 2>/dev/null | awk -v s="$1" '$1 == s { print $8; exit }'; }
verdict() { "$SK" check "$1" >/dev/null 2>&1; echo $?; }
# zombies CTR: the processes in the container that exited and were never reaped
zombies() {
    docker exec "$1" /bin/bash -c 'n=0; for f in /proc/[0-9]*/stat; do read -r l <"$f" 2>/dev/null || continue; l=${l##*) }; [ "${l%% *}" = Z ] && n=$((n+1)); done; echo $n'
}

# --- setup ---------------------------------------------------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
    why="needs root and dockerd (make swarm-test installs docker.io)"
    if [ "${CI:-}" = true ]; then not_ok "the cluster stack on a real Swarm: $why"; else ok "the cluster stack on a real Swarm # SKIP $why"; fi
    DONE=1
    exit 0
fi
# s3_up: s3_start, tried again: a port of the server may be, for a while, the local end of a
# client connection elsewhere on the machine (they come from the same ephemeral range), or in
# TIME_WAIT for a minute after a previous run's server closed its connections.
s3_up() {
    local i
    for i in 1 2 3 4; do s3_start && return 0; say "the S3 server did not start ($i): $S3_WHY"; sleep 20; done
    return 1
}
if s3_available && s3_up; then ok "the S3 server on 127.0.0.1:$S3_PORT (Swift s3api)"; else fatal "the S3 server starts: ${S3_WHY:-}"; fi
check "the bucket" test "$(s3_req PUT "/$BUCKET")" = 200
run 0 "repo init $UP (the shared repository)" "$SK" repo init "$UP" --chunk-size 64KiB
# The host's folders on XFS with reflink=1, the local repository keeping a golden copy: the
# keeper's restores then clone, through two bind mounts of one file system.
if fs_mount xfs 768 "$H" && fs_reflink_ok "$H"; then
    GOLDEN=1
    ok "the host's folders on XFS (reflink=1)"
elif [ "${CI:-}" = true ]; then
    not_ok "the host's folders on XFS (reflink=1): ${FS_WHY:-no reflink}"
else
    ok "the host's folders on XFS (reflink=1) # SKIP ${FS_WHY:-no reflink}: no golden copy"
fi
check "the host: local repository, slot folders, configurations" host_setup
if start_dockerd; then ok "dockerd answers"; else fatal "dockerd answers"; fi
if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
    swarm_init
    docker swarm update --task-history-limit 2 >/dev/null
fi
[ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ] && ok "a one-node Swarm" || fatal "a one-node Swarm"
NODE=$(docker info -f '{{.Swarm.NodeID}}')
check "the node carries both labels (archival host, worker host)" \
    quiet docker node update --label-add slotkeeper.archive=true --label-add eos-workers=true "$NODE"
check "the two credentials secrets" bash -c "docker secret create $P-s3-writer '$W/s3.credentials' >/dev/null &&
    docker secret create $P-s3-follower '$W/s3.credentials' >/dev/null"
run 0 "the worker image from etc/docker/Dockerfile (tests/swarm/image.sh)" \
    bash "$ROOT/tests/swarm/image.sh" "$ROOT" "$W" "$BASE" "$IMAGE"
check "the stack copies" stack_copy
say "the copies differ from the real files in:"
diff "$ROOT/etc/docker/cluster-stack.yml" "$W/cluster-stack.yml" | grep '^>' | sed 's/^/#   /'

# --- deploy --------------------------------------------------------------------------------
ts=$(date +%s.%N)
docker stack deploy -c "$W/stack.yml" -c "$W/cluster-stack.yml" "$STACK" >"$W/out" 2>&1 &&
    ok "docker stack deploy -c stack.yml -c cluster-stack.yml" ||
    { sed 's/^/#   /' "$W/out"; fatal "docker stack deploy -c stack.yml -c cluster-stack.yml"; }
grep -v '^Creating' "$W/out" | sed 's/^/# stack deploy: /'
check "the stack has the three services" test "$(docker stack services -q "$STACK" | wc -l)" = 3
wait_hc 90 archive && ok "archive: its task runs and its healthcheck passes" || fatal "archive: its task runs and its healthcheck passes"
wait_hc 90 keeper && ok "keeper: its task runs and its healthcheck passes" || fatal "keeper: its task runs and its healthcheck passes"
say "deploy to both daemons healthy: $(elapsed "$ts") s"
A=$(ctr archive)
K=$(ctr keeper)
check "archive: the daemon is the container's PID 1" \
    bash -c "docker exec $A /bin/bash -c 'mapfile -d \"\" a </proc/1/cmdline; echo \"\${a[*]}\"' | grep -qx 'slotkeeper daemon -c /etc/slotkeeper/archive.conf'"
check "archive: on the host's network" test "$(docker inspect -f '{{.HostConfig.NetworkMode}}' "$A")" = host
check "the credentials are in no container's command line or environment" \
    bash -c "! docker inspect $A $K | grep -q '$AWS_SECRET_ACCESS_KEY'"
secret_modes() {
    docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}}:{{printf "%o" .File.Mode}} {{end}}' \
        "${STACK}_archive" "${STACK}_keeper" | tr -s ' \n' ' '
}
check "the secrets are files of mode 0400 in /run/secrets (is '$(secret_modes)')" \
    test "$(secret_modes)" = "slotkeeper-s3-writer:400 slotkeeper-s3-follower:400 "
run 0 "the host's CLI reaches the archival daemon through the shared socket folder" \
    "$SK" status -c "$W/host-archive.conf"

# --- 1. the archive publishes, the keeper copies ------------------------------------------
if wait_id "$UP" "" 120; then
    ID1=$(ids "$UP" | tail -1)
    tp=$(date +%s.%N)
    ok "archive: its first cycle published snapshot $ID1 into $UP"
    say "deploy to the first snapshot listed in the bucket: $(elapsed "$ts") s"
else
    fatal "archive: its first cycle publishes a snapshot into $UP"
fi
if wait_id "$H/repo" "$ID1" 60; then
    ok "keeper: snapshot $ID1 copied into the host's local repository"
    say "publication to local copy (sync_interval 2 s): $(elapsed "$tp") s"
else
    fatal "keeper: snapshot $ID1 copied into the host's local repository"
fi
run 0 "the local copy verifies" "$SK" verify --repo "$H/repo"
# log_has CTR REGEX SECONDS: the container's log matches within SECONDS
log_has() {
    local end=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$end" ]; do docker logs "$1" 2>&1 | grep -Eq "$2" && return 0; sleep 0.5; done
    return 1
}
check "keeper: its log says it copied $ID1" log_has "$K" "sync: copied snapshot $ID1 from $UP" 20
if [ "$GOLDEN" = 1 ]; then
    check "keeper: the golden copy follows the copy ($ID1)" log_has "$K" "golden copy updated to $ID1" 20
fi

# --- 2. the workers, restored by the keeper from the local repository --------------------------
ts=$(date +%s.%N)
run 0 "docker service scale ${STACK}_nodeos=2" docker service scale -d "${STACK}_nodeos=2"
for s in 1 2; do
    wait_hc 90 nodeos $s && ok "slot $s: a task is healthy" || fatal "slot $s: a task is healthy"
done
say "scale to two healthy workers: $(elapsed "$ts") s"
for s in 1 2; do
    check "slot $s: restored by the keeper from snapshot $ID1" \
        bash -c "docker logs $(ctr nodeos $s) 2>&1 | grep -q 'the host daemon restored snapshot $ID1'"
done
[ "$GOLDEN" = 1 ] && check "the keeper's restores cloned from the golden copy (two bind mounts of one XFS)" \
    bash -c "docker logs $K 2>&1 | grep 'restored snapshot $ID1' | grep -c '(clone: ' | grep -qx 2"

# --- 3. a second cycle, asked through the archival daemon's socket -------------------------
# The bucket's listing, polled from before the request, tells when the new snapshot appeared.
( while [ "$(ids "$UP" | wc -l)" -lt 2 ]; do sleep 0.2; done; date +%s.%N >"$W/published" ) &
POLL=$!
run 0 "slotkeeper snapshot -c archive.conf (the daemon's cycle)" "$SK" snapshot -c "$W/host-archive.conf"
ID2=$(tail -1 "$W/out")
if wait_id "$UP" "$ID2" 60; then ok "archive: snapshot $ID2 in the bucket"; else not_ok "archive: snapshot $ID2 in the bucket"; fi
if wait_id "$H/repo" "$ID2" 60; then
    ok "keeper: snapshot $ID2 copied by itself"
    wait $POLL
    say "publication to local copy (sync_interval 2 s): $(elapsed "$(cat "$W/published")") s"
    if [ "$GOLDEN" = 1 ]; then
        check "keeper: the golden copy follows the copy ($ID2)" log_has "$K" "golden copy updated to $ID2" 60
        say "publication to the golden copy updated (the keeper's log line): $(elapsed "$(cat "$W/published")") s"
    fi
else
    not_ok "keeper: snapshot $ID2 copied by itself"
fi
kill $POLL 2>/dev/null

# --- 4. the keeper replaced (an update): the workers run on, untouched ------------------------
w_before=$(ctr nodeos 1; ctr nodeos 2)
ts=$(date +%s.%N)
run 0 "docker service update --force ${STACK}_keeper (a rolling update of the keepers)" \
    timeout 300 docker service update --force --detach=false "${STACK}_keeper"
if wait_hc 60 keeper "" "$K"; then ok "a new keeper answers"; else not_ok "a new keeper answers"; fi
say "keeper update to a new keeper answering: $(elapsed "$ts") s"
check "the keeper's update left both workers' containers running" test "$(ctr nodeos 1; ctr nodeos 2)" = "$w_before"
for s in 1 2; do check "slot $s: still healthy after the keeper's update" hc_ok nodeos $s; done
check "the old keeper stopped cleanly: no worker's node was its to stop" \
    bash -c "docker logs $K 2>&1 | tail -1 | grep -q 'all nodes stopped; exiting'"
K=$(ctr keeper)

# --- 5. a worker killed hard, the bucket away: restored from the local copy ------------------
s3_stop
c=$(ctr nodeos 1)
r0=$(restores 1)
ts=$(date +%s.%N)
docker kill --signal KILL "$c" >/dev/null
check "kill -9: slot 1 is left dirty (check exits 11)" test "$(verdict "$H/slots/1")" = 11
if wait_hc 180 nodeos 1 "$c"; then
    ok "kill -9, S3 server stopped: Swarm's new task on slot 1 is healthy"
    say "slot 1, docker kill to healthy from the local copy: $(elapsed "$ts") s (the stack's restart delay is 10 s)"
else
    not_ok "kill -9, S3 server stopped: Swarm's new task on slot 1 is healthy"
fi
check "kill -9: the keeper restored slot 1 from the local copy of $ID2" \
    bash -c "docker logs $(ctr nodeos 1) 2>&1 | grep -q 'the host daemon restored snapshot $ID2'"
check "kill -9: the keeper counts one more restore for slot 1" test "$(restores 1)" = $((r0 + 1))
[ "$GOLDEN" = 1 ] && check "kill -9: that restore cloned from the golden copy of $ID2" \
    bash -c "docker logs $K 2>&1 | grep 'slot 1: restored snapshot $ID2' | grep -q '(clone: '"
# Its sync retries for about half a minute (SLOTKEEPER_S3_TRIES) before it says so.
check "the keeper says the bucket is away (once its retries are spent), and runs on" \
    bash -c "$(declare -f log_has); log_has $K 'sync from $UP: .*(refused|reach)' 90 && [ \"\$(docker inspect -f '{{.State.Running}}' $K)\" = true ]"
check "archive: no zombie process in its container" test "$(zombies "$A")" = 0
check "keeper: no zombie process in its container" test "$(zombies "$K")" = 0

check "keeper: SIGHUP to the container (docker kill -s HUP) reloads its file" \
    bash -c "docker kill -s HUP $K >/dev/null && sleep 2 && docker logs $K 2>&1 | grep -q 'reloaded /etc/slotkeeper/slotkeeper.conf'"
check "archive: the daemon logs to stderr (docker logs): its cycles" \
    bash -c "docker logs $A 2>&1 | grep -q 'archive: published snapshot $ID2'"
# Their logs to the end (the containers go with the stack).
docker logs -f "$A" >"$W/archive.log" 2>&1 &
LA=$!
docker logs -f "$K" >"$W/keeper.log" 2>&1 &
LK=$!

# --- 6. docker stack rm, the bucket still away ---------------------------------------------
ts=$(date +%s.%N)
run 0 "docker stack rm" docker stack rm "$STACK"
for _ in $(seq 600); do stack_gone && break; sleep 0.5; done
check "stack rm: every task's container is gone" stack_gone
say "docker stack rm to everything stopped: $(elapsed "$ts") s"
wait $LA $LK
check "stack rm: SIGTERM stopped each daemon after its nodes (the bucket away)" \
    bash -c "tail -1 '$W/archive.log' | grep -q 'all nodes stopped; exiting' && tail -1 '$W/keeper.log' | grep -q 'all nodes stopped; exiting'"
check "stack rm: the archival data-dir is clean (the daemon stopped its node)" test "$(verdict "$H/archive")" = 0
for s in 1 2; do check "stack rm: slot $s is clean" test "$(verdict "$H/slots/$s")" = 0; done
say "archival daemon's log:"
grep -v 'log-writer' "$W/archive.log" | tail -12 | sed 's/^/#   /'
say "keeper's log:"
tail -12 "$W/keeper.log" | sed 's/^/#   /'
DONE=1
