#!/usr/bin/env bash
# Hostile input against one node: garbage bytes, truncated bodies, a huge body, wrong types,
# deep nesting, slowloris connections. After each, the node still answers a normal query.
source "$(dirname "$0")/lib_net.bash"
echo '{"reply":"fine"}' >"$TMP/a.jsonl"
start_node a 0.5 always "$TMP/a.jsonl" --max-body 65536 --idle-timeout 2; E=http://127.0.0.1:$PORT
alive() { [ "$(chat "$E" ping | jget 'd["choices"][0]["message"]["content"]')" = fine ] || fail "node stopped answering after: $1"; }
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$E/v1/chat/completions" "$@"; }
head -c 5000 /dev/urandom >"$TMP/garbage"
[ "$(status --data-binary @"$TMP/garbage")" = 400 ] || fail "garbage not 400"; alive garbage
[ "$(status -d '{"messages":[{"role":"user","content":"trunc')" = 400 ] || fail "truncated not 400"; alive truncated
head -c 3000000 /dev/zero | tr '\0' 'x' >"$TMP/huge"
[ "$(status --data-binary @"$TMP/huge")" = 413 ] || fail "huge not 413"; alive huge
# chunked upload (no Content-Length) over the limit is refused too
[ "$(status -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/huge")" = 413 ] || fail "huge chunked not 413"; alive chunked
/usr/bin/python3 -c "print('['*20000 + ']'*20000)" >"$TMP/deep"
[ "$(status --data-binary @"$TMP/deep")" = 400 ] || fail "deep nesting not 400"; alive deep
[ "$(status -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}')" = 400 ] || fail "negative max_tokens"
# a body that claims more than it sends, then hangs: the node must time it out, not block others
/usr/bin/python3 - "$PORT" <<'PY' &
import socket, sys, time
port = int(sys.argv[1]); socks = []
for i in range(50):  # slowloris: half-sent headers, trickled
    s = socket.create_connection(("127.0.0.1", port)); s.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"); socks.append(s)
t = socket.create_connection(("127.0.0.1", port))
t.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"messages\"")
for _ in range(3):
    time.sleep(1)
    for s in socks:
        try: s.send(b"X-a: b\r\n")
        except OSError: pass
PY
SL=$!
sleep 0.5
alive slowloris   # answered while 51 slow connections are open
wait $SL
alive "slowloris end"
[ "$(metric "$E" disr_errors_total)" != "" ] || fail "metrics missing"
# fuzz smoke run of the request/reply/network-file parsers (longer runs: tests/fuzz/fuzz_request.c).
if fuzz_smoke_wanted; then
    make -s build-fuzz/fuzz_request >/dev/null || fail "fuzz build"
    mkdir -p "$TMP/corpus"
    build-fuzz/fuzz_request -max_total_time=8 -print_final_stats=1 "$TMP/corpus" \
        tests/fuzz/corpus_request >"$TMP/fuzz.log" 2>&1 || { tail -30 "$TMP/fuzz.log"; fail "fuzzer found a crash"; }
    grep -E "stat::number_of_executed_units" "$TMP/fuzz.log" | sed 's/^/fuzz_request: /'
fi
skip_report
echo "serve_robust: ok"
