#!/usr/bin/env python3
"""Golden fixture for the byte-level BPE tokenizer (no Qwen vocabulary file exists here).

Trains a small byte-level BPE (GPT-2 byte alphabet, 160 merges) on a fixed multilingual text,
writes it as GGUF vocabularies (tokenizer.ggml.pre = qwen2 and = gpt2), and encodes a list of test
strings with an independent reference: Python's `re` with the Qwen2 / GPT-2 pre-tokenizer regexes
(\\p{L} and \\p{N} spelled out as explicit code point classes from unicodedata, \\s as the Unicode
White_Space set) and GPT-2's string-based bpe(). tests/unit/test_tokenizer_bpe.c must produce the
same ids.

  /usr/bin/python3 tests/golden/gguf_bpe_fixture.py tests/golden
writes gguf_bpe_qwen2.gguf, gguf_bpe_gpt2.gguf and gguf_bpe_cases.json there.
"""
import collections
import json
import os
import random
import re
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reference import ARRAY, STRING, gpt2_byte_to_unicode, write_gguf  # noqa: E402

WS = '\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000'


def char_class(pred):
    parts, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            ok = False
        else:
            ok = pred(unicodedata.category(chr(cp)))
        if ok and start is None:
            start = cp
        if not ok and start is not None:
            parts.append((start, cp - 1))
            start = None
    if start is not None:
        parts.append((start, 0x10FFFF))

    def esc(cp):
        return '\\U%08x' % cp

    return ''.join(esc(a) if a == b else esc(a) + '-' + esc(b) for a, b in parts)


L = char_class(lambda c: c.startswith('L'))
N = char_class(lambda c: c.startswith('N'))
QWEN2 = re.compile(
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n%s%s]?[%s]+|[%s]| ?[^%s%s%s]+[\\r\\n]*|[%s]*[\\r\\n]+|"
    "[%s]+(?![^%s])|[%s]+" % (L, N, L, N, WS, L, N, WS, WS, WS, WS))
GPT2 = re.compile(
    "'s|'t|'re|'ve|'m|'ll|'d| ?[%s]+| ?[%s]+| ?[^%s%s%s]+|[%s]+(?![^%s])|[%s]+"
    % (L, N, WS, L, N, WS, WS, WS))

B2U = gpt2_byte_to_unicode()
SPECIALS = [('<|endoftext|>', 3), ('<|im_start|>', 3), ('<|im_end|>', 3), ('<tool>', 4)]

CORPUS = """The quick brown fox jumps over the lazy dog. I'm sure they're here, we've seen it; you'll
see. Don't stop! THE END. Numbers: 12345, 3.14159, 2026-11-28, 1000000. Hello hello HELLO world
wörld héllo café naïve résumé. Привет мир, привет! 日本語のテキストです。 中文文本。 عربي ١٢٣
tabs\tand  spaces   and\n\nnewlines\r\nend. <html><body>code(); x = y + z * 2;</body></html>
emoji 😀 👍🏽 and symbols ½ ² Ⅻ © ™ — “quotes” ‘single’ ... ??? !!! the the the there then
"""

CASES = [
    "Hello world", "hello  world", "  leading and trailing  ", "the theater there then",
    "don't I'LL we've she'S they'Re 'd 'x", "12345 3.14159 1,000,000 2026-11-28",
    "héllo wörld naïve café", "Привет мир", "日本語のテキスト", "عربي ١٢٣ and ½ ² Ⅻ",
    "emoji 😀👍🏽 done", "tabs\tand\ttabs", "line1\nline2\n\nline4\r\nline5", "   \n  \n x",
    "x  \n  y", "end with spaces   ", "\n\n\n", "!!!???... ;;", "a\u00a0b\u2003c",
    "e\u0301 combining", "<html><body>code();</body></html>",
    "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n", "<tool>call</tool>",
    "<|endoftext|><|endoftext|>", "mixed123abc456", "CamelCaseWordsHere", "x=y+z*2;",
    "’quote’ “double”", "", " ", "a", "\t", "don’t", "'", "'s",
]


def pretokenize(text, rx):
    return rx.findall(text)


def train(words_count, n_merges):
    words = {tuple(B2U[b] for b in w.encode('utf-8')): c for w, c in words_count.items()}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def bpe(token, ranks):
    """GPT-2's reference bpe() (string symbols, lowest rank first, all occurrences at once)."""
    word = tuple(token)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        bigram = min(pairs, key=lambda p: ranks.get(p, float('inf')))
        if bigram not in ranks:
            break
        first, second = bigram
        new, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and word[i] == first and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = tuple(new)
    return word


def encode(text, rx, vocab, ranks):
    specials = sorted((s for s, _ in SPECIALS), key=len, reverse=True)
    ids, i, start = [], 0, 0
    while i < len(text):
        hit = next((s for s in specials if text.startswith(s, i)), None)
        if hit is None:
            i += 1
            continue
        ids += encode_plain(text[start:i], rx, vocab, ranks) + [vocab[hit]]
        i += len(hit)
        start = i
    return ids + encode_plain(text[start:], rx, vocab, ranks)


def encode_plain(text, rx, vocab, ranks):
    out = []
    for piece in pretokenize(text, rx):
        enc = ''.join(B2U[b] for b in piece.encode('utf-8'))
        out += [vocab[s] for s in bpe(enc, ranks)]
    return out


# The ChatML template as Qwen-style models publish it (tokenizer_config.json).
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def main(outdir):
    counts = collections.Counter(pretokenize(CORPUS, QWEN2))
    merges = train(counts, 160)
    tokens = [B2U[b] for b in range(256)]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    types = [1] * len(tokens)
    for s, t in SPECIALS:
        tokens.append(s)
        types.append(t)
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    ranks = {m: r for r, m in enumerate(merges)}
    eot = vocab['<|endoftext|>']
    for pre in ('qwen2', 'gpt2'):
        kvs = [('general.architecture', STRING, 'none'),
               ('tokenizer.ggml.model', STRING, 'gpt2'), ('tokenizer.ggml.pre', STRING, pre),
               ('tokenizer.ggml.tokens', ARRAY, (STRING, tokens)),
               ('tokenizer.ggml.token_type', ARRAY, (5, types)),
               ('tokenizer.ggml.merges', ARRAY, (STRING, ['%s %s' % m for m in merges])),
               ('tokenizer.ggml.bos_token_id', 4, eot), ('tokenizer.ggml.eos_token_id', 4,
                                                          vocab['<|im_end|>']),
               ('tokenizer.ggml.padding_token_id', 4, eot),
               ('tokenizer.ggml.add_bos_token', 7, False),
               ('tokenizer.chat_template', STRING, CHATML)]
        write_gguf(os.path.join(outdir, 'gguf_bpe_%s.gguf' % pre), kvs, [])
    # Plus random strings over a pool that stresses every regex branch.
    rng = random.Random(7)
    pool = list("aeht rnoTHE'sStTdlLvVmM0123456789 \t\n\r.,!?;:-()<>|_") + \
        ['é', 'ö', 'П', 'р', '日', '本', '١', '½', 'Ⅻ', '😀', '\u00a0', '\u3000', '\u0301',
         '’', '<|im_start|>', '<|im_end|>', '<tool>', '  ', '\n\n', "'re", "'ll", "'VE"]
    texts = CASES + [''.join(rng.choice(pool) for _ in range(rng.randrange(1, 40)))
                     for _ in range(300)]
    cases = [{'text': t, 'qwen2': encode(t, QWEN2, vocab, ranks),
              'gpt2': encode(t, GPT2, vocab, ranks)} for t in texts]
    with open(os.path.join(outdir, 'gguf_bpe_cases.json'), 'w', encoding='utf-8') as fp:
        fp.write('{"n_vocab": %d, "n_merges": %d, "cases": [\n' % (len(tokens), len(merges)))
        fp.write(',\n'.join(json.dumps(c, ensure_ascii=True) for c in cases))
        fp.write('\n]}\n')
    print('%d tokens, %d merges, %d cases' % (len(tokens), len(merges), len(cases)))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
