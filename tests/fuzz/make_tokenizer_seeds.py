"""Writes the fuzz seeds for the tokenizers and chat templates: a small SentencePiece-style
vocabulary (model `llama`: scores, <0xNN> byte tokens, add_space_prefix) carrying the Llama 2 chat
template, and a small byte-level BPE vocabulary with the Llama 3 pre-tokenizer carrying a template
that uses namespaces, loops, slices, filters, tests and methods. The fuzzer mutates them into
damaged keys, types and templates. Run:
/usr/bin/python3 tests/fuzz/make_tokenizer_seeds.py tests/fuzz/corpus"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))
from gguf_reference import ARRAY, STRING, gpt2_byte_to_unicode, write_gguf  # noqa: E402

U32, I32, F32, BOOL = 4, 5, 6, 7
SP = '\u2581'
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
          "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
          "{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if "
          "(message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation"
          " roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
          "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
          "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
          "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
          "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
          "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
RICH = ("{%- set ns = namespace(n=0, last=messages|length - 1) -%}\n"
        "{%- for m in messages[::-1] if m.role != 'tool' -%}{% set ns.n = ns.n + 1 %}{%- endfor -%}\n"
        "{%- for m in messages -%}\n  {{- '<|' ~ m['role'] ~ '|>' + m.content|trim }}\n"
        "  {%- if '</think>' in m.content %}{{ m.content.split('</think>')[-1].lstrip('\\n') }}"
        "{% endif %}\n  {%- if loop.last and m.role is defined and m.x is not defined %}"
        "{{ ns.n }}{% elif loop.index is odd %}{{ [1, 2.5, none, true]|tojson }}{% endif %}\n"
        "{%- endfor -%}{{ {'a': 'b'}.get('a', 'c')|upper if add_generation_prompt else '' }}")


def spm(path):
    tokens = ['<unk>', '<s>', '</s>'] + ['<0x%02X>' % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0] * len(tokens)
    pieces = [SP, 'a', 'b', 'c', 'e', 'h', 'l', 'o', 't', SP + 't', 'he', SP + 'the', 'll',
              'lo', SP + 'he', SP + 'hello', 'ab', 'bc', 'abc', SP + SP]
    for i, p in enumerate(pieces):
        tokens.append(p)
        types.append(1)
        scores.append(-float(i))
    kvs = [('general.architecture', STRING, 'llama'),
           ('tokenizer.ggml.model', STRING, 'llama'),
           ('tokenizer.ggml.tokens', ARRAY, (STRING, tokens)),
           ('tokenizer.ggml.scores', ARRAY, (F32, scores)),
           ('tokenizer.ggml.token_type', ARRAY, (I32, types)),
           ('tokenizer.ggml.bos_token_id', U32, 1), ('tokenizer.ggml.eos_token_id', U32, 2),
           ('tokenizer.ggml.unknown_token_id', U32, 0),
           ('tokenizer.ggml.add_bos_token', BOOL, True),
           ('tokenizer.ggml.add_space_prefix', BOOL, True),
           ('tokenizer.chat_template', STRING, LLAMA2)]
    write_gguf(path, kvs, [])


def bpe(path):
    b2u = gpt2_byte_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    merges = [('h', 'e'), ('l', 'l'), (b2u[32], 't'), ('1', '2'), ('12', '3')]
    for a, b in merges:
        tokens.append(a + b)
    specials = ['<|begin_of_text|>', '<|eot_id|>', '<|user|>', '<|assistant|>']
    tokens += specials
    types = [1] * (len(tokens) - len(specials)) + [3] * len(specials)
    kvs = [('general.architecture', STRING, 'llama'),
           ('tokenizer.ggml.model', STRING, 'gpt2'), ('tokenizer.ggml.pre', STRING, 'llama-bpe'),
           ('tokenizer.ggml.tokens', ARRAY, (STRING, tokens)),
           ('tokenizer.ggml.token_type', ARRAY, (I32, types)),
           ('tokenizer.ggml.merges', ARRAY, (STRING, ['%s %s' % m for m in merges])),
           ('tokenizer.ggml.bos_token_id', U32, len(tokens) - 4),
           ('tokenizer.ggml.eos_token_id', U32, len(tokens) - 3),
           ('tokenizer.chat_template', STRING, RICH)]
    write_gguf(path, kvs, [])


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    spm(os.path.join(out, 'spm_vocab.gguf'))
    bpe(os.path.join(out, 'bpe_llama3_template.gguf'))
