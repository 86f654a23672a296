#!/usr/bin/env bash
# Our chat-template interpreter against the reference renderer, @huggingface/jinja: every
# built-in template of `disr template` and the real templates of the Llama 3, Qwen 3 and Gemma 3
# packages, for each conversation of tests/peer/conversations.json (system turns, multi-turn,
# whitespace to trim, literal braces, reasoning blocks, roles out of order, empty content), with
# and without the generation prompt: the same text byte for byte, or a failure where the
# reference raises. Then a model file's own template through `disr template -m` and a refused
# unknown template name.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib_skip.bash
DISR=${DISR_BIN:-build/disr}
need_peer_packages
tmp=$(mktemp -d /tmp/disr_tplpeer.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
node tests/peer/render_all.mjs "$DISR" "$tmp"
/usr/bin/python3 tests/peer/compare_templates.py "$DISR" "$tmp"

# A vocabulary file carries its template and BOS text: -m renders with them.
node tests/peer/to_gguf.mjs llama3 "$tmp/llama3.gguf"
out=$("$DISR" template -m "$tmp/llama3.gguf" -p "Hi" --system "Be brief.")
want=$'<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
[ "$out" == "${want%$'\n\n'}" ] || { echo "llama3 file template: got $out"; exit 1; }
if msg=$("$DISR" template -m "$tmp/llama3.gguf" --chat-template nosuch -p x 2>&1); then
    echo "an unknown template name was accepted"; exit 1
fi
grep -q "unknown chat template 'nosuch' (built-in: chatml" <<<"$msg" || { echo "$msg"; exit 1; }
echo "chat templates: ok"
