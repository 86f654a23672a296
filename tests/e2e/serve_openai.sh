#!/usr/bin/env bash
# The official `openai` npm client, unchanged, against a two-agent chain: a normal and a
# streamed chat completion, the model list, and an API error surfacing as the client's error.
# Skips (exit 77, lib_skip.bash) if node/npm or the npm registry is unavailable; neither skip is
# allowed by tests/run.sh (scripts/install-deps.sh installs nodejs, and the client is what this
# suite proves compatible with), so either fails the test command.
source "$(dirname "$0")/lib_net.bash"
command -v node >/dev/null && command -v npm >/dev/null || skip node "node/npm not installed"
mkdir -p "$TMP/npm"
if ! (cd "$TMP/npm" && timeout 120 npm install --no-audit --no-fund --loglevel=error openai >npm.log 2>&1); then
    if grep -qiE "ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network" "$TMP/npm/npm.log"; then
        skip npm-registry "the npm registry is unreachable (npm install openai)"
    fi
    cat "$TMP/npm/npm.log"; fail "npm install openai"
fi
cat >"$TMP/a1.jsonl" <<'J'
{"contains":"hard","reply":"I don't know!"}
{"reply":"small says hi"}
J
echo '{"reply":"big answers the hard one"}' >"$TMP/a2.jsonl"
start_node big 0.9 always "$TMP/a2.jsonl" --hop-secret hs; P2=$PORT
start_node small 0.1 trained "$TMP/a1.jsonl" --hop-secret hs --api-key sk-test --next "http://127.0.0.1:$P2"
cat >"$TMP/npm/t.mjs" <<'JS'
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.argv[2] + "/v1", apiKey: "sk-test", maxRetries: 0 });
const assert = (c, m) => { if (!c) { console.error("assertion failed: " + m); process.exit(1); } };
const models = await client.models.list();
assert(models.data.map((m) => m.id).includes("disr-balance"), "models");
const r = await client.chat.completions.create({ model: "disr-balance", messages: [{ role: "user", content: "a hard one" }] });
assert(r.choices[0].message.content === "big answers the hard one", "content: " + JSON.stringify(r));
assert(r.disr.answerer === "big" && r.disr.route[0].decision === "reject", "route");
assert(r.usage.total_tokens > 0, "usage");
const s = await client.chat.completions.create({ model: "disr-cost", stream: true, messages: [{ role: "user", content: "easy" }] });
let text = "", last = null, n = 0;
for await (const chunk of s) { n++; text += chunk.choices[0]?.delta?.content ?? ""; last = chunk; }
assert(text === "small says hi", "streamed text: " + text);
assert(n >= 3 && last.choices[0].finish_reason === "stop" && last.disr.answerer === "small", "stream end");
try {
  await client.chat.completions.create({ model: "disr-nope", messages: [{ role: "user", content: "x" }] });
  assert(false, "no error for an unknown model");
} catch (e) {
  assert(e.status === 404 && e.code === "model_not_found", "error: " + e);
}
const bad = new OpenAI({ baseURL: process.argv[2] + "/v1", apiKey: "wrong", maxRetries: 0 });
try { await bad.models.list(); assert(false, "wrong key accepted"); } catch (e) { assert(e.status === 401, "401"); }
console.log(`openai client ok: ${n} stream chunks`);
JS
(cd "$TMP/npm" && node t.mjs "http://127.0.0.1:$PORT") || fail "openai client"
echo "serve_openai: ok"
