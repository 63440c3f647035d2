#!/usr/bin/env bash
# A quick sample of the issue-6 campaigns (tests/campaign/; `make campaigns` runs them in full):
# 30 bit flips, a full-disk sweep of 8 points per kind (12 of the disk-full-at-step-N kind; the
# freeze's, 2 of bytes, 1 moment, 2 steps), and the whole hostile-input corpus with a
# 1 GiB decompression bomb and a 10,000-file tar bomb. Under ASan+UBSan (SK_SANITIZED=1) only the
# hostile corpus runs (with smaller bombs): it is where a memory error would hide; the other two
# exercise the same code as the release run.
. "$(dirname "$0")/lib.sh"

CAMP=$ROOT/tests/campaign
export SK ROOT TOOLS
export CAMPAIGN_CLEAN=1 # the TAP lines say what failed; make campaigns keeps the folders

# report NAME LOG RC: one TAP line from a campaign's summary line and exit status
report() {
    local name=$1 log=$2 rc=$3 summary
    summary=$(grep -a "^$name: " "$log" | tail -1)
    if [ "$rc" = 77 ]; then
        ok "$name # SKIP $(grep -a "^$name: " "$log" | head -1)"
    elif [ "$rc" = 0 ] && [ -n "$summary" ]; then
        ok "$summary"
    else
        not_ok "${summary:-$name exited with status $rc}"
        grep -aE '^(BROKEN|SILENT|UNEXPLAINED|ANOMALY)|^#   ' "$log" | head -20 | sed 's/^/# /'
        grep -a 'kept /var/tmp' "$log" | sed 's/^# */# /'
    fi
}

if [ "${SK_SANITIZED:-0}" != 1 ]; then
    BITFLIP_SEED=${BITFLIP_SEED:-$RANDOM} bash "$CAMP/bitflip.sh" 30 >"$W/bitflip.log" 2>&1
    report bitflip "$W/bitflip.log" $?
    ENOSPC_INODE_POINTS=8 ENOSPC_TIME_POINTS=3 ENOSPC_STEP_POINTS=12 ENOSPC_FREEZE_POINTS=2 \
        bash "$CAMP/enospc.sh" 8 >"$W/enospc.log" 2>&1
    report enospc "$W/enospc.log" $?
    bomb=1G files=10000
else
    bomb=256M files=2000
fi

# hostile: one TAP line per input, from its table
HOSTILE_BOMB_SIZE=$bomb HOSTILE_FILES=$files bash "$CAMP/hostile.sh" >"$W/hostile.log" 2>&1
rc=$?
if [ "$rc" = 77 ]; then
    ok "hostile # SKIP $(grep -a '^hostile: ' "$W/hostile.log" | head -1)"
else
    while IFS= read -r line; do
        input=$(cut -c1-44 <<<"$line" | sed 's/ *$//')
        res=$(cut -c95-98 <<<"$line")
        got=$(cut -c101- <<<"$line")
        case $res in
        pass) ok "hostile: $input" ;;
        FAIL) not_ok "hostile: $input: expected $(cut -c47-92 <<<"$line" | sed 's/ *$//'), got $got" ;;
        esac
    done < <(grep -aE '^.{94}(pass|FAIL)  ' "$W/hostile.log")
    summary=$(grep -a '^hostile: ' "$W/hostile.log" | tail -1)
    if [ "$rc" = 0 ] && [ -n "$summary" ]; then ok "$summary"; else not_ok "${summary:-hostile exited with status $rc}"; fi
fi
