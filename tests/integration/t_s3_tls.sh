#!/usr/bin/env bash
# t_s3_tls: an https:// endpoint is checked as curl checks one: a certificate no trusted CA signed
# is refused (one line, exit 1, nothing written), AWS_CA_BUNDLE names the CA to trust (as the AWS
# tools read it), and a certificate for another name is refused even then. The server: the real
# S3 server (Swift's s3api) behind a TLS front on loopback (tests/tools/tlsproxy.py), with a CA
# and certificates made here by openssl.
SK_S3_PORT=${SK_S3_TLS_PORT:-28580} # t_s3 runs alongside on 28080
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"

if ! s3_available || ! command -v python3 >/dev/null || ! command -v openssl >/dev/null || ! s3_start; then
    echo "ok 1 - $T_NAME: S3 over TLS # SKIP ${S3_WHY:-python3 or openssl missing}"
    echo "1..1"
    exit 0
fi
B=sk-tls
check "bucket created" [ "$(s3_req PUT /$B)" = 200 ]

# A CA, a certificate it signs for 127.0.0.1, one it signs for another name.
T=$W/tls
mkdir -p "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj "/CN=sk test CA" \
    >/dev/null 2>&1
cert() { # NAME SAN
    openssl req -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1" >/dev/null 2>&1 &&
        printf 'subjectAltName=%s\n' "$2" >"$T/$1.ext" &&
        openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
            -extfile "$T/$1.ext" -out "$T/$1.pem" >/dev/null 2>&1
}
check "certificates made" bash -c "$(declare -f cert); T='$T'; cert good IP:127.0.0.1 && cert other DNS:example.org"

PROXIES=()
# front NAME PORT: a TLS front with NAME's certificate on PORT.
front() {
    python3 "$ROOT/tests/tools/tlsproxy.py" "$T/$1.pem" "$T/$1.key" "$2" "$S3_PORT" >"$T/$1.out" 2>"$T/$1.err" &
    PROXIES+=($!)
    for _ in $(seq 100); do grep -q ready "$T/$1.out" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
stop_fronts() { for p in "${PROXIES[@]}"; do kill "$p" 2>/dev/null; done; }
trap 'stop_fronts; finish' EXIT
GOOD=$((S3_PORT + 10))
OTHER=$((S3_PORT + 11))
check "TLS front with the 127.0.0.1 certificate" front good "$GOOD"
check "TLS front with a certificate for example.org" front other "$OTHER"

R=s3://$B/repo
export SLOTKEEPER_S3_TRIES=1
mkdd "$W/dd" --blocks-size 2M --state-size 8M --state-data 1M --seed 3

run 1 "https: a certificate no trusted CA signed is refused" env AWS_ENDPOINT_URL=https://127.0.0.1:$GOOD "$SK" repo init "$R"
one_line_error "untrusted certificate"
err_has 'TLS failed: its certificate is not trusted' "untrusted certificate: says why"
check "nothing was written to the bucket" [ -z "$(s3_keys $B repo/)" ]

export AWS_CA_BUNDLE=$T/ca.pem
run 0 "https with AWS_CA_BUNDLE naming the CA: repo init" env AWS_ENDPOINT_URL=https://127.0.0.1:$GOOD "$SK" repo init "$R"
run 0 "snapshot over https" env AWS_ENDPOINT_URL=https://127.0.0.1:$GOOD "$SK" snapshot --repo "$R" --data-dir "$W/dd"
run 0 "restore over https" env AWS_ENDPOINT_URL=https://127.0.0.1:$GOOD "$SK" restore --repo "$R" --data-dir "$W/r"
check "restored byte-identical" same_tree "$W/dd" "$W/r"
KEYS=$(s3_keys $B repo/ | sort)
run 1 "a certificate for another name is refused, even signed by the trusted CA" \
    env AWS_ENDPOINT_URL=https://127.0.0.1:$OTHER "$SK" snapshot --repo "$R" --data-dir "$W/dd"
one_line_error "wrong name"
err_has 'TLS failed' "wrong name: says why"
check "and nothing was written" [ "$KEYS" = "$(s3_keys $B repo/ | sort)" ]
run 1 "AWS_CA_BUNDLE naming a missing file is an error, not a fallback" \
    env AWS_CA_BUNDLE=$T/missing.pem AWS_ENDPOINT_URL=https://127.0.0.1:$GOOD "$SK" list --repo "$R"
one_line_error "missing CA bundle"
err_has "AWS_CA_BUNDLE = $T/missing.pem is unusable" "missing CA bundle: names it"

echo "1..$T_N"
