# Shared by the real-Swarm tests (swarm_test.sh, cluster_test.sh; sourced after lib.sh): a Docker
# engine to run them on (the running one, else a dockerd started here: vfs, no iptables, no
# bridge, its folders under $W) and small helpers.
OWN_DOCKERD=0

say() { echo "# $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# start_dockerd: the running engine, or one started here (OWN_DOCKERD=1, DOCKER_HOST set).
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

# stop_dockerd: stops the engine start_dockerd started, if it did, and removes its folders.
stop_dockerd() {
    [ "$OWN_DOCKERD" = 1 ] || return 0
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null
    wait "$DOCKERD_PID" 2>/dev/null
    # vfs layers are plain folders; anything still mounted under the exec root goes first
    grep -o " $W/docker/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$W/docker"
    OWN_DOCKERD=0
}

# unused_port: a TCP port below the ephemeral range (32768 and up: a port there may be, for a
# while, the local end of any connection) that no socket on this machine has now.
unused_port() {
    local p hex
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 12000))
        hex=$(printf '%04X' "$p")
        awk -v h="$hex" 'FNR > 1 { split($2, a, ":"); if (a[2] == h) found = 1 } END { exit !found }' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

# swarm_init: makes this engine a one-node Swarm on loopback (OWN_SWARM=1), trying another port
# when the one it took was taken meanwhile.
swarm_init() {
    local p
    for _ in 1 2 3 4 5; do
        p=$(unused_port) || return 1
        if docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$p" >/dev/null 2>"$W/swarm-init.err"; then
            OWN_SWARM=1
            return 0
        fi
        say "docker swarm init on 127.0.0.1:$p: $(head -1 "$W/swarm-init.err")"
        docker swarm leave --force >/dev/null 2>&1
    done
    return 1
}
