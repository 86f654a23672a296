#!/usr/bin/env bash
# Across hosts: every agent in its own network namespace with its own 10.200.X.Y address on one
# bridged segment (made here with ip netns + veth pairs; nothing is configured outside the
# namespaces). Agent a2 runs as two replicas behind nginx (Debian's, own prefix/config here).
# Mid-run one replica is cut off the network; every query must still be answered.
# Skips (exit 77, lib_skip.bash) when not root or when root may not make namespaces (a container
# without CAP_SYS_ADMIN): both are privileges a test run may lack, allowed in tests/run.sh. A
# missing nginx is a skip too, but not an allowed one (scripts/install-deps.sh installs it).
source "$(dirname "$0")/lib_net.bash"
NL=$(realpath "$(dirname "$0")/../../bench/netload.py")
[ "$(id -u)" = 0 ] || skip root "network namespaces need root"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || skip nginx "nginx not installed"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
TAG=d$$
X=$((RANDOM % 200 + 20))
NSS=()
ns_cleanup() {
    # the cut replica may hold requests to an unreachable next hop: don't wait for a drain
    [ -n "${CUT_PID:-}" ] && kill -9 "$CUT_PID" 2>/dev/null
    cleanup
    for n in "${NSS[@]}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$n" 2>/dev/null; done
}
trap ns_cleanup EXIT
ip netns add "${TAG}br" 2>/dev/null || skip netns "ip netns add failed: no network namespace privilege"
NSS+=("${TAG}br")
ip -n "${TAG}br" link add br0 type bridge && ip -n "${TAG}br" link set br0 up || fail "bridge"
# host NAME LASTOCTET: a namespace with one veth into the bridge at 10.200.X.LASTOCTET/24
host() {
    local ns="${TAG}$1" i=$2
    ip netns add "$ns" || fail "netns $ns"
    NSS+=("$ns")
    ip link add "${TAG}h$i" type veth peer name "${TAG}b$i" || fail "veth"
    ip link set "${TAG}h$i" netns "$ns" && ip link set "${TAG}b$i" netns "${TAG}br" || fail "veth move"
    ip -n "$ns" link set "${TAG}h$i" name eth0
    ip -n "$ns" addr add "10.200.$X.$i/24" dev eth0
    ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up
    ip -n "${TAG}br" link set "${TAG}b$i" master br0 && ip -n "${TAG}br" link set "${TAG}b$i" up
}
host a1 1; host a2a 2; host a2b 3; host a3 4; host lb 10; host cl 20
N=10.200.$X
cat >"$TMP/a1.jsonl" <<'J'
{"contains":"L2","reply":"I don't know!"}
{"contains":"L3","reply":"I don't know!"}
{"reply":"a1"}
J
cat >"$TMP/a2.jsonl" <<'J'
{"contains":"L3","reply":"I don't know!","delay_ms":100}
{"reply":"a2","delay_ms":100}
J
echo '{"reply":"a3"}' >"$TMP/a3.jsonl"
serve_in() { # serve_in NS NAME COST MODE SCRIPT IP [args]
    local ns="${TAG}$1" name=$2 cost=$3 mode=$4 script=$5 ip=$6; shift 6
    spawn "$ns" ip netns exec "$ns" "$DISR" serve --name "$name" --cost "$cost" --mode "$mode" \
        --script "$script" --host "$ip" --port 8000 --hop-secret netns-secret --quiet "$@"
}
serve_in a3 a3 0.9 always "$TMP/a3.jsonl" "$N.4"
serve_in a2a a2 0.5 trained "$TMP/a2.jsonl" "$N.2" --next "http://$N.4:8000"
CUT_PID=${PIDS[-1]}
serve_in a2b a2 0.5 trained "$TMP/a2.jsonl" "$N.3" --next "http://$N.4:8000"
serve_in a1 a1 0.1 trained "$TMP/a1.jsonl" "$N.1" --next "http://$N.10:8080,http://$N.4:8000" --hop-timeout-ms 8000
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<NG
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fcgi; uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
    upstream a2 { server $N.2:8000 max_fails=1 fail_timeout=10s; server $N.3:8000 max_fails=1 fail_timeout=10s; keepalive 16; }
    server {
        listen $N.10:8080;
        location / {
            proxy_pass http://a2; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_connect_timeout 1s; proxy_read_timeout 2s;
            proxy_next_upstream error timeout http_502 non_idempotent;
        }
    }
}
NG
spawn nginx ip netns exec "${TAG}lb" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "daemon off;"
incl() { ip netns exec "${TAG}cl" "$@"; }
for u in "$N.1:8000" "$N.2:8000" "$N.3:8000" "$N.4:8000" "$N.10:8080"; do
    for _ in $(seq 100); do incl curl -sf --max-time 1 "http://$u/health" >/dev/null && break; sleep 0.05; done
    incl curl -sf --max-time 1 "http://$u/health" >/dev/null || fail "$u not reachable from the client namespace"
done
# sanity: an L2 query goes a1 -> (nginx) -> a2
r=$(incl curl -s "http://$N.1:8000/v1/chat/completions" -d '{"messages":[{"role":"user","content":"q L2"}]}')
[ "$(echo "$r" | jget 'd["disr"]["answerer"]')" = a2 ] || fail "L2 via nginx: $r"
incl /usr/bin/python3 "$NL" "http://$N.1:8000" --n 300 --concurrency 16 --levels 3 --query 'q{i} L{l}' --out "$TMP/load.jsonl" >"$TMP/load.sum" &
LOAD=$!
sleep 0.4
kill -0 $LOAD 2>/dev/null || fail "load finished before the cut: make it longer"
ip -n "${TAG}a2a" link set eth0 down   # cut replica a2a off the network mid-run
wait $LOAD || fail "load"
cat "$TMP/load.sum"
/usr/bin/python3 - "$TMP/load.jsonl" <<'PY' || fail "results"
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
assert len(rs) == 300, len(rs)
bad = [r for r in rs if r["status"] != 200]
assert not bad, f"{len(bad)} unanswered: {bad[:2]}"
for r in rs:
    lvl = r["i"] % 3 + 1
    ans = int(r["reply"]["disr"]["answerer"][1:])
    assert ans >= lvl, r["reply"]["disr"]
print("net_netns: 300/300 answered across namespaces with a replica cut")
PY
a2b=$(incl curl -s "http://$N.3:8000/metrics" | awk '$1 ~ /^disr_answers_total/ {print $2}')
[ "${a2b:-0}" -gt 0 ] || fail "surviving replica answered nothing"
echo "net_netns: ok (surviving replica answered $a2b)"
