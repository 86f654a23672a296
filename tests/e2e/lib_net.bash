# Helpers shared by the network e2e scripts (sourced; not a test itself, hence .bash).
# Every process started with `spawn` is killed
# on exit, whatever happens.
[ "${BASH_SOURCE[0]}" = "$0" ] && exit 0
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_skip.bash"
DISR=$(realpath "${DISR_BIN:-build/disr}")
TMP=$(mktemp -d /tmp/disr_e2e.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done >&2; exit 1; }
spawn() { local log=$1; shift; "$@" >"$TMP/$log.log" 2>&1 & PIDS+=($!); }
# wait_port FILE: waits for a --port-file to appear, prints the port
wait_port() {
    for _ in $(seq 100); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.05; done
    return 1
}
# a node: start_node NAME COST MODE SCRIPT [more disr serve args...]; sets PORT and PID
# (not in a $(...) subshell, so the process is tracked and killed on exit)
start_node() {
    local name=$1 cost=$2 mode=$3 script=$4; shift 4
    spawn "$name" "$DISR" serve --name "$name" --cost "$cost" --mode "$mode" --script "$script" \
        --port 0 --port-file "$TMP/$name.port" --quiet "$@"
    PID=${PIDS[-1]}
    PORT=$(wait_port "$TMP/$name.port") || fail "node $name did not start"
}
chat() { # chat URL QUERY [ALPHA] -> response JSON
    curl -s --max-time 20 "$1/v1/chat/completions" -H 'Content-Type: application/json' \
        -d "{\"messages\":[{\"role\":\"user\",\"content\":\"$2\"}],\"disr\":{\"alpha\":${3:-0.5}}}"
}
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
metric() { # metric URL NAME -> value
    curl -s "$1/metrics" | awk -v n="$2" '$1 ~ "^"n"[{]" {print $2; exit}'
}
# start_up WRITE_CONF: runs `WRITE_CONF BASE > net.conf` for a random base port below the
# ephemeral range, starts `disr up net.conf` (logs in $TMP), waits for the entry URL; retries
# with another base if the ports were taken. Sets E (entry URL), BASE and UP_PID.
start_up() {
    for _ in 1 2 3; do
        BASE=$((10000 + RANDOM % 5000 * 4))
        "$1" "$BASE" >net.conf
        rm -f "$TMP/up.log"
        spawn up "$DISR" up net.conf --log-dir "$TMP"
        UP_PID=${PIDS[-1]}
        for _ in $(seq 600); do
            grep -q '^entry:' "$TMP/up.log" 2>/dev/null && break
            kill -0 "$UP_PID" 2>/dev/null || break
            sleep 0.1
        done
        E=$(awk '/^entry:/ {print $2}' "$TMP/up.log")
        [ -n "$E" ] && return 0
        kill "$UP_PID" 2>/dev/null; wait "$UP_PID" 2>/dev/null
    done
    fail "disr up did not start the chain"
}
