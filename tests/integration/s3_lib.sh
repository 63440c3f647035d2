# Helpers for the tests that need an S3 server: a real one (OpenStack Swift with its s3api
# middleware, tests/s3/start-s3.sh), on loopback ports SK_S3_PORT..SK_S3_PORT+4 (default
# 28080: below the ephemeral ports, 32768 and up, which a busy client may hold in TIME-WAIT), holding its objects under $W/s3. Source after lib.sh. s3_cleanup (called by lib.sh's
# finish) stops it, pass or fail.
S3_PORT=${SK_S3_PORT:-28080}
S3_DIR=$W/s3
S3_URL=http://127.0.0.1:$S3_PORT
S3_UP=0

# s3_available: whether Swift is installed (sets S3_WHY otherwise).
s3_available() {
    command -v swift-proxy-server >/dev/null 2>&1 && command -v memcached >/dev/null 2>&1 &&
        command -v curl >/dev/null 2>&1 && return 0
    S3_WHY="OpenStack Swift (swift-proxy, memcached) is not installed: make deps-test installs it"
    return 1
}

# s3_start: starts the server (again, after s3_stop, with the objects it had); exports the AWS_*
# variables slotkeeper reads. Returns 1 with S3_WHY when it does not come up.
s3_start() {
    mkdir -p "$S3_DIR"
    if ! S3_PROXY_WORKERS=1 S3_LOG_LEVEL=WARNING bash "$ROOT/tests/s3/start-s3.sh" "$S3_DIR" "$S3_PORT" \
        >"$W/s3.start" 2>&1; then
        S3_WHY="the S3 server did not start: $(tail -3 "$W/s3.start" | tr '\n' ' ')"
        bash "$ROOT/tests/s3/stop-s3.sh" "$S3_DIR" >/dev/null 2>&1
        return 1
    fi
    S3_UP=1
    export AWS_ENDPOINT_URL=$S3_URL AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
    unset AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION
}

s3_stop() {
    bash "$ROOT/tests/s3/stop-s3.sh" "$S3_DIR" >/dev/null 2>&1
    S3_UP=0
}

s3_cleanup() { [ "$S3_UP" = 1 ] && s3_stop; return 0; }

# s3_pids NAME: the process group of one of the server's processes (proxy, object, ...).
s3_pgid() { awk -v n="$1" '$2 == n { print $1 }' "$S3_DIR/run/pids"; }

# s3_req METHOD PATH [FILE]: a signed request to the server (PATH: /bucket/key?query), the body
# from FILE; prints the HTTP status, the answer in $W/s3.out.
s3_req() {
    local m=$1 p=$2 f=${3:-} sha
    local args=(-s -o "$W/s3.out" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" -X "$m")
    if [ -n "$f" ]; then
        sha=$(sha256sum "$f" | cut -d' ' -f1)
        args+=(-H "x-amz-content-sha256: $sha" --data-binary @"$f")
    else
        args+=(-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    fi
    curl "${args[@]}" "http://test%3Atester:testing@127.0.0.1:$S3_PORT$p"
}

# s3_keys BUCKET PREFIX: the keys under PREFIX (one page: up to 1000), one a line.
s3_keys() {
    local p
    p=$(printf '%s' "$2" | sed 's|/|%2F|g')
    s3_req GET "/$1?list-type=2&prefix=$p" >/dev/null
    grep -o '<Key>[^<]*</Key>' "$W/s3.out" | sed 's|<Key>\(.*\)</Key>|\1|'
}
