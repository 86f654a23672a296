"""Writes tests/peer/corpus.txt: the lines every tokenizer is compared on (several scripts and
languages, code, numbers, whitespace runs, each family's special tokens, emoji). Run:
/usr/bin/python3 tests/peer/make_corpus.py > tests/peer/corpus.txt"""
import random
import sys

LINES = [
    "Hello world",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "don't, can't, won't, I'm, you're, we've, they'll, she'd, IT'S, WE'LL, O'Neil's",
    "  leading spaces and trailing spaces   ",
    "multiple     spaces    between      words",
    "\ttabs\tand\t\tdouble tabs\t",
    " ",
    "    ",
    "",
    "a\rb carriage\r return",
    "Numbers: 0 7 42 123 1234 12345 123456789 3.14159 -2.5e-10 1,000,000 0x1F 1/2 50%",
    "Dates 2026-12-03, 17:45:00, phone +1 (555) 010-9999",
    "Français : « Où est la bibliothèque ? » — déjà vu, garçon, naïve, cœur",
    "Deutsch: Größenverhältnisse, Straße, Übermäßig, Äpfel und Öl",
    "Español: ¿Dónde está el baño? ¡Olé! mañana, pingüino",
    "Русский язык: Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "العربية: مرحبا بالعالم، كيف حالك؟ ١٢٣٤٥",
    "עברית: שלום עולם",
    "हिन्दी: नमस्ते दुनिया, आप कैसे हैं? १२३",
    "中文：你好，世界！今天天气很好。我们一起学习自然语言处理。",
    "日本語：こんにちは世界。カタカナとひらがな、漢字も混ざります。",
    "한국어: 안녕하세요 세계! 반갑습니다.",
    "ไทย: สวัสดีชาวโลก",
    "Tiếng Việt: Xin chào thế giới, Hà Nội",
    "emoji: 😀 😃 🎉 🚀 ❤️ 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🇯🇵 🏳️‍🌈",
    "math: ∀x ∈ ℝ, x² ≥ 0; ∑_{i=1}^{n} i = n(n+1)/2; π ≈ 3.14; √2",
    "symbols: © ® ™ € £ ¥ § ¶ † ‡ • … ‰ ′ ″ ← → ↑ ↓ ⇒ ⇔",
    "def fibonacci(n: int) -> int:",
    "    if n < 2:",
    "        return n",
    "    return fibonacci(n - 1) + fibonacci(n - 2)",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "for (size_t i = 0; i < n; i++) { a[i] += b[i] * 2; }",
    "{\"name\": \"disr\", \"version\": [1, 2, 3], \"ok\": true, \"none\": null}",
    "<html><body><div class=\"main\">Hi &amp; bye</div></body></html>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "https://example.com/path?query=1&lang=en#section-2",
    "user@example.org, ~/work/file_name-v2.tar.gz, C:\\Windows\\System32",
    "!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}",
    "camelCaseWords snake_case_words kebab-case-words SCREAMING_CASE",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "1111111111111111111111111111111111111111",
    "<s>[INST] What is 12 plus 30? [/INST] 42</s>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>",
    "<|im_start|>system You are helpful.<|im_end|><|im_start|>user Hi!<|im_end|><|im_start|>assistant",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>",
    "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi<end_of_turn>",
    "text<|endoftext|>more text",
    "mixed English和中文with numbers123and emoji🎉together",
    "I said \"hello\" and she said 'goodbye' — then… silence.",
    "Ünïcödé çhàrâctérs everywhere: ñ ø å æ ß ð þ ł",
    "ZWJ and friends: a\u200bb c\u00a0d e\u2009f",
    "line with trailing tab\t",
    "What is 12 plus 30? Answer: 42",
    "I don't know!",
    "precomposed accents: été, Ångström, Ǆ, ǅ, ﬁ",
]
# No decomposed text (e + U+0301): Qwen's tokenizer.json normalizes to NFC first, which neither
# llama.cpp nor this project implements, so such text tokenizes differently there.

# Random lines over pieces that stress the pre-tokenizers and merges (fixed seed: the file is
# committed, the generator documents it).
PIECES = [" ", "  ", "   ", "\t", "a", "the", "The", "ing", "'s", "'LL", "n't", "0", "12", "345",
          "6789", "3.5", ",", ".", "!?", "...", "--", "(", ")", "{", "}", "é", "ß", "Ж", "λ",
          "中", "文字", "の", "한", "ก", "😀", "👍🏽", "🇫🇷", "\u00a0", "\u3000", "=", "=>",
          "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<start_of_turn>", "<bos>",
          "<unused7>", "▁", "▁▁", "<0x41>", "<", ">", "|", "\\", "\"", "_", "x", "Z", "ё"]


def random_lines(n, seed=20261203):
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 24))) for _ in range(n)]


out = sys.stdout.buffer
for line in LINES + random_lines(200):
    out.write(line.encode("utf-8") + b"\n")
