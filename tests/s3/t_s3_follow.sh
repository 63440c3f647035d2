#!/usr/bin/env bash
# t_s3_follow (`make s3-test`): two daemons on this machine standing for two hosts of a cluster
# (separate configurations, state folders, sockets, slots and local repositories) and one S3
# bucket between them (a real S3 server, Swift's s3api on loopback). Host A runs the archival
# node (fakenode) and snapshots into the bucket; host B has no archival node, follows the bucket
# ([repository] upstream) into its local repository, and restores its killed worker from that
# local copy. A second cycle on A reaches B's local repository on its own.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/s3_lib.sh"
FAKENODE=${FAKENODE:-$ROOT/build/fakenode}

if ! s3_available || ! s3_start; then
    echo "ok 1 - $T_NAME: two hosts and a bucket # SKIP $S3_WHY"
    echo "1..1"
    exit 0
fi
B=sk-cluster
UP=s3://$B/mainnet
PORT=$((20000 + RANDOM % 20000))
check "bucket created" [ "$(s3_req PUT /$B)" = 200 ]
run 0 "repo init in the bucket" "$SK" repo init "$UP" --chunk-size 64KiB
GENESIS_TIME=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%S.000)
for d in a/archive b/1; do
    mkdir -p "$W/$d"
    printf '{"initial_timestamp": "%s", "initial_key": "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"}\n' \
        "$GENESIS_TIME" >"$W/$d/genesis.json"
done
run 0 "host B's local repository" "$SK" repo init "$W/b/repo" --chunk-size 64KiB
NODE="$FAKENODE --data-dir {data_dir} --chain-state-db-size-mb 64 --catch-up-rate 5000"
cat >"$W/a.conf" <<CONF
[daemon]
control_socket = $W/a.sock
state_dir = $W/a/state
log_level = debug
[repository]
path = $UP
endpoint = $S3_URL
threads = 2
[archive]
data_dir = $W/a/archive
command = $NODE --http-server-address off
snapshot_interval = 1h
stop_timeout = 20s
[workers]
startup_grace = 2s
CONF
cat >"$W/b.conf" <<CONF
[daemon]
control_socket = $W/b.sock
state_dir = $W/b/state
log_level = debug
[repository]
path = $W/b/repo
upstream = $UP
endpoint = $S3_URL
sync_interval = 1s
threads = 2
[workers]
slots = 1
data_dir = $W/b/{slot}
command = $NODE --http-server-address 127.0.0.1:{http_port}
http_port_base = $PORT
startup_grace = 2s
health_interval = 1s
backoff_min = 200ms
backoff_max = 2s
restore_budget = 5
restore_window = 1h
CONF
run 0 "host A's configuration" "$SK" config check -c "$W/a.conf"
run 0 "host B's configuration" "$SK" config check -c "$W/b.conf"
# The daemons find the endpoint in their configuration; the credentials come from the environment.
unset AWS_ENDPOINT_URL

start() { # NAME: starts host NAME's daemon, waits for its socket
    "$SK" daemon -c "$W/$1.conf" >>"$W/$1.log" 2>&1 &
    echo $! >>"$W/bg.pids"
    eval "PID_$1=$!"
    for _ in $(seq 100); do "$SK" status -c "$W/$1.conf" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
field() { "$SK" status -c "$W/$1.conf" 2>/dev/null | awk -v s="$2" -v n="$3" '$1 == s { print $n; exit }'; }
wait_field() { # HOST SLOT N VALUE [SECONDS]
    for _ in $(seq $((${5:-60} * 10))); do
        [ "$(field "$1" "$2" "$3")" = "$4" ] && return 0
        sleep 0.1
    done
    echo "# host $1 slot $2 field $3 is $(field "$1" "$2" "$3"), not $4"
    return 1
}
has_local() { # ID [SECONDS]: host B's local repository has the snapshot
    for _ in $(seq $((${2:-60} * 10))); do
        [ -f "$W/b/repo/snapshots/$1" ] && return 0
        sleep 0.1
    done
    return 1
}

start a
check "host A's daemon starts" [ -S "$W/a.sock" ]
check "its archival node runs" wait_field a archive 2 running
run 0 "a cycle on host A publishes into the bucket" "$SK" snapshot -c "$W/a.conf"
ID1=$(cat "$W/out")
check "the snapshot is in the bucket" grep -qx "mainnet/snapshots/$ID1" <(s3_keys $B mainnet/snapshots/)
start b
check "host B's daemon starts" [ -S "$W/b.sock" ]
check "host B follows the bucket" grep -q "following $UP" "$W/b.log"
check "host B's local repository gets the snapshot" has_local "$ID1"
check "host B's worker runs" wait_field b 1 2 running
r0=$(field b 1 8)
kill -9 "$(field b 1 4)"
check "host B's killed worker is restored" wait_field b 1 8 $((r0 + 1))
check "and runs again" wait_field b 1 2 running
check "from the local copy of the bucket's snapshot" grep -q "slot 1: restored snapshot $ID1" "$W/b.log"
run 0 "a second cycle on host A" "$SK" snapshot -c "$W/a.conf"
ID2=$(cat "$W/out")
t0=$(date +%s.%N)
check "reaches host B's local repository by itself" has_local "$ID2"
echo "# the follower held the new snapshot $(echo "$(date +%s.%N) - $t0" | bc) s after its publication (sync_interval 1s)"
logged() { for _ in $(seq 100); do grep -q "$1" "$W/b.log" && return 0; sleep 0.1; done; return 1; }
check "host B logged the copy" logged "sync: copied snapshot $ID2 from $UP"
run 0 "host B's local copy verifies" "$SK" verify --all --repo "$W/b/repo"
run 0 "the upstream verifies" env AWS_ENDPOINT_URL=$S3_URL "$SK" verify --all --repo "$UP"
kill -TERM "$PID_a" "$PID_b"
wait "$PID_a"
ra=$?
wait "$PID_b"
rb=$?
check "both daemons exit 0 on SIGTERM ($ra, $rb)" [ "$ra" = 0 ] && [ "$rb" = 0 ]
check "no node is left" [ -z "$(pgrep -f "^$FAKENODE --data-dir $W/")" ]
echo "1..$T_N"
