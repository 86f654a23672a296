#!/usr/bin/env bash
# Three scripted agent processes on loopback: queries the small agents reject reach the larger
# ones, each node's /metrics agrees with the routes the clients saw, a killed middle agent is
# skipped, and the OpenAI error objects come back for bad input.
source "$(dirname "$0")/lib_net.bash"
cat >"$TMP/a1.jsonl" <<'J'
{"contains":"hard","reply":"I don't know!"}
{"reply":"a1 says 1"}
J
cat >"$TMP/a2.jsonl" <<'J'
{"contains":"very","reply":"I don't know!"}
{"reply":"a2 says 2"}
J
echo '{"reply":"a3 says 3"}' >"$TMP/a3.jsonl"
start_node a3 0.9 always "$TMP/a3.jsonl"; P3=$PORT
start_node a2 0.5 trained "$TMP/a2.jsonl" --next "http://127.0.0.1:$P3"; P2=$PORT; PID2=$PID
start_node a1 0.1 trained "$TMP/a1.jsonl" --next "http://127.0.0.1:$P2,http://127.0.0.1:$P3"; P1=$PORT
E=http://127.0.0.1:$P1
declare -A want=([easy]=a1 [hard]=a2 [very_hard]=a3)
n=0
for q in easy hard very_hard easy hard very_hard; do
    r=$(chat "$E" "$q") || fail "no reply for $q"
    got=$(echo "$r" | jget 'd["disr"]["answerer"]')
    [ "$got" = "${want[$q]}" ] || fail "query $q answered by $got, expected ${want[$q]}: $r"
    n=$((n + 1))
done
# metrics agree with the routes: a1 answered 2 and rejected 4, a2 answered 2, rejected 2, a3 answered 2
[ "$(metric "$E" disr_answers_total)" = 2 ] || fail "a1 answers"
[ "$(metric "$E" disr_rejects_total)" = 4 ] || fail "a1 rejects"
[ "$(metric "http://127.0.0.1:$P2" disr_rejects_total)" = 2 ] || fail "a2 rejects"
[ "$(metric "http://127.0.0.1:$P3" disr_answers_total)" = 2 ] || fail "a3 answers"
# bad requests: status and OpenAI error code; the node stays up
code=$(curl -s -o "$TMP/err.json" -w '%{http_code}' "$E/v1/chat/completions" -d '{"messages":')
[ "$code" = 400 ] || fail "invalid JSON gave $code"
[ "$(jget 'd["error"]["code"]' <"$TMP/err.json")" = invalid_json ] || fail "error object"
code=$(curl -s -o /dev/null -w '%{http_code}' "$E/v1/nothing")
[ "$code" = 404 ] || fail "unknown path gave $code"
# kill the middle agent: a1 skips it and the trace says so
kill "$PID2"; wait "$PID2" 2>/dev/null
r=$(chat "$E" "hard")
[ "$(echo "$r" | jget 'd["disr"]["answerer"]')" = a3 ] || fail "after kill: $r"
[ "$(echo "$r" | jget 'd["disr"]["route"][1]["decision"]')" = skipped ] || fail "no skip in trace: $r"
curl -sf "$E/health" >/dev/null || fail "entry node down"
echo "serve_chain: ok"
