#!/usr/bin/env python3
"""Independent GGUF v3 reference (Python stdlib; numpy only for the quantization check).

Written from the format description (docs/notes: GGUF byte by byte), not from our C code, so the
C reader/writer is cross-checked against a second implementation:

  write-types OUT        a file with every metadata type (scalars, arrays of each, strings) and a
                         few tensors; tests/unit/test_gguf_golden.c reads the committed copy
                         (tests/golden/gguf_types.gguf) and checks every value listed here.
  write-model OUT [ARCH] [--vocab GGUF] [--f16] [--chat]
                         a tiny `llama` / `qwen2` model (char tokenizer in GPT-2's alphabet, or
                         the tokenizer.* keys of another file; F32 or F16 matrices; weights from
                         a fixed seed) for the e2e test and the fuzz seed corpus. --chat makes
                         it a chat model: the same alphabet as a byte-level BPE vocabulary
                         without merges, and a chat template.
  check FILE [--like REF --quant TYPE]
                         parses FILE strictly as ggml's reader does (exact offsets, alignment,
                         no duplicates); with --like, checks that FILE has REF's metadata (but
                         general.file_type / quantization_version) and that every tensor equals
                         REF's, converted to TYPE with ggml's reference quantizer (numpy float32),
                         byte for byte.
Exit status 0 on success; a message on stderr otherwise.
"""
import random
import struct
import sys

GGUF_TYPES = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}
STRING, ARRAY = 8, 9
# ggml type id -> (block size, bytes per block)
GGML = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 26: (1, 4)}
FILE_TYPE = {'f32': 0, 'f16': 1, 'q4_0': 2, 'q8_0': 7}
TYPE_ID = {'f32': 0, 'f16': 1, 'q4_0': 2, 'q8_0': 8}


class Fail(Exception):
    pass


# ----------------------------------------------------------------------------- writing

def enc_str(s):
    b = s.encode('utf-8') if isinstance(s, str) else s
    return struct.pack('<Q', len(b)) + b


def enc_value(vtype, value):
    if vtype == STRING:
        return enc_str(value)
    if vtype == ARRAY:
        etype, items = value
        out = struct.pack('<IQ', etype, len(items))
        return out + b''.join(enc_value(etype, v) for v in items)
    return struct.pack('<' + GGUF_TYPES[vtype], value)


def write_gguf(path, kvs, tensors, alignment=32):
    """kvs: list of (key, type, value); tensors: list of (name, ggml_type, ne list, bytes)."""
    out = bytearray(b'GGUF')
    out += struct.pack('<IQQ', 3, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        out += enc_str(key) + struct.pack('<I', vtype) + enc_value(vtype, value)
    offset = 0
    for name, ttype, ne, data in tensors:
        out += enc_str(name) + struct.pack('<I', len(ne))
        out += b''.join(struct.pack('<Q', n) for n in ne)
        out += struct.pack('<IQ', ttype, offset)
        offset += (len(data) + alignment - 1) // alignment * alignment
    if tensors:
        out += b'\0' * (-len(out) % alignment)
    for _, _, _, data in tensors:
        out += data + b'\0' * (-len(data) % alignment)
    with open(path, 'wb') as fp:
        fp.write(out)


def types_file(path):
    kvs = [
        ('general.architecture', STRING, 'golden'),
        ('golden.u8', 0, 250), ('golden.i8', 1, -7), ('golden.u16', 2, 65535),
        ('golden.i16', 3, -32768), ('golden.u32', 4, 4294967295), ('golden.i32', 5, -123456789),
        ('golden.f32', 6, 0.15625), ('golden.bool', 7, True), ('golden.str', STRING, 'ünïcode ✓\n'),
        ('golden.u64', 10, 2 ** 64 - 2), ('golden.i64', 11, -(2 ** 63)), ('golden.f64', 12, 2.5e-300),
        ('golden.arr_u8', ARRAY, (0, [0, 1, 255])),
        ('golden.arr_i8', ARRAY, (1, [-128, 127])),
        ('golden.arr_u16', ARRAY, (2, [7, 65535])),
        ('golden.arr_i16', ARRAY, (3, [-2, 3])),
        ('golden.arr_u32', ARRAY, (4, [1, 2, 3, 4000000000])),
        ('golden.arr_i32', ARRAY, (5, [-1, 0, 1])),
        ('golden.arr_f32', ARRAY, (6, [1.5, -0.25])),
        ('golden.arr_bool', ARRAY, (7, [False, True, True])),
        ('golden.arr_str', ARRAY, (STRING, ['alpha', '', 'Ġγ'])),
        ('golden.arr_u64', ARRAY, (10, [2 ** 63])),
        ('golden.arr_i64', ARRAY, (11, [-5])),
        ('golden.arr_f64', ARRAY, (12, [0.1, -1e100])),
        ('golden.arr_empty', ARRAY, (4, [])),
    ]
    f32 = struct.pack('<6f', 1, -2, 3.5, 0, 1e-3, 65504)
    f16 = struct.pack('<5e', 1, -2, 0.5, 65504, 6.1035156e-05)
    i32 = struct.pack('<4i', 7, -7, 2 ** 31 - 1, -(2 ** 31))
    tensors = [('golden.f32', 0, [3, 2], f32), ('golden.f16', 1, [5], f16),
               ('golden.i32', 26, [2, 1, 2], i32)]
    write_gguf(path, kvs, tensors)


def gpt2_byte_to_unicode():
    direct = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, n = {}, 0
    for b in range(256):
        if b in direct:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def model_file(path, arch='llama', vocab=None, f16=False, chat=False):
    rng = random.Random(1234)
    b2u = gpt2_byte_to_unicode()
    vocab_bytes = [10] + list(range(32, 127))
    tokens = ['<s>', '</s>'] + [b2u[b] for b in vocab_bytes]
    types = [3, 3] + [1] * len(vocab_bytes)
    tok_kvs = None
    if vocab:  # take the whole tokenizer (e.g. a BPE vocabulary) from another GGUF file
        vk, vorder, _, _ = read_gguf(vocab)
        tok_kvs = [(k, vk[k][0], vk[k][1]) for k in vorder if k.startswith('tokenizer.')]
        tokens = vk['tokenizer.ggml.tokens'][1][1]
    V, C, L, H, KV, F = len(tokens), 32, 1, 2, 1, 64
    hd = C // H
    kv_dim = KV * hd
    kvs = [
        ('general.architecture', STRING, arch), ('general.name', STRING, 'golden-tiny'),
        ('general.file_type', 4, 0),
        (arch + '.context_length', 4, 64), (arch + '.embedding_length', 4, C),
        (arch + '.block_count', 4, L), (arch + '.feed_forward_length', 4, F),
        (arch + '.attention.head_count', 4, H), (arch + '.attention.head_count_kv', 4, KV),
        (arch + '.rope.freq_base', 6, 10000.0),
        (arch + '.attention.layer_norm_rms_epsilon', 6, 1e-5),
        ('tokenizer.ggml.model', STRING, 'gpt2'), ('tokenizer.ggml.pre', STRING, 'default'),
        ('tokenizer.ggml.tokens', ARRAY, (STRING, tokens)),
        ('tokenizer.ggml.token_type', ARRAY, (5, types)),
        ('tokenizer.ggml.merges', ARRAY, (STRING, [])),
        ('tokenizer.ggml.bos_token_id', 4, 0), ('tokenizer.ggml.eos_token_id', 4, 1),
        ('disr.tokenizer', STRING, 'char'), ('disr.agent.cost', 6, 0.1),
    ]
    if tok_kvs:
        kvs = [kv for kv in kvs if not kv[0].startswith(('tokenizer.', 'disr.tokenizer'))] + tok_kvs
    if chat:
        kvs = [kv for kv in kvs if kv[0] != 'disr.tokenizer']
        kvs.append(('tokenizer.chat_template', STRING, CHAT_TEMPLATE))

    def mat(rows, cols, scale=0.05):
        vals = [rng.gauss(0, scale) for _ in range(rows * cols)]
        # A few exact ties and extremes so rounding paths are exercised.
        vals[0], vals[1] = 0.0, scale * 3
        return struct.pack('<%d%s' % (len(vals), 'e' if f16 else 'f'), *vals)

    def vec(n, v=1.0):
        return struct.pack('<%df' % n, *[v + 0.01 * i for i in range(n)])

    tensors = [('token_embd.weight', 0, [C, V], mat(V, C))]
    for l in range(L):
        p = 'blk.%d.' % l
        tensors += [(p + 'attn_norm.weight', 0, [C], vec(C)),
                    (p + 'attn_q.weight', 0, [C, C], mat(C, C))]
        if arch == 'qwen2':
            tensors.append((p + 'attn_q.bias', 0, [C], vec(C, 0.0)))
        tensors.append((p + 'attn_k.weight', 0, [C, kv_dim], mat(kv_dim, C)))
        if arch == 'qwen2':
            tensors.append((p + 'attn_k.bias', 0, [kv_dim], vec(kv_dim, 0.0)))
        tensors.append((p + 'attn_v.weight', 0, [C, kv_dim], mat(kv_dim, C)))
        if arch == 'qwen2':
            tensors.append((p + 'attn_v.bias', 0, [kv_dim], vec(kv_dim, 0.0)))
        tensors += [(p + 'attn_output.weight', 0, [C, C], mat(C, C)),
                    (p + 'ffn_norm.weight', 0, [C], vec(C)),
                    (p + 'ffn_gate.weight', 0, [C, F], mat(F, C)),
                    (p + 'ffn_up.weight', 0, [C, F], mat(F, C)),
                    (p + 'ffn_down.weight', 0, [F, C], mat(C, F))]
    tensors += [('output_norm.weight', 0, [C], vec(C)), ('output.weight', 0, [C, V], mat(V, C))]
    if f16:
        tensors = [(n, 1 if len(ne) == 2 else t, ne, d) for n, t, ne, d in tensors]
        kvs = [(k, t, 1 if k == 'general.file_type' else v) for k, t, v in kvs]
    write_gguf(path, kvs, tensors)


# ----------------------------------------------------------------------------- reading

class Reader:
    def __init__(self, data, name):
        self.d, self.o, self.name = data, 0, name

    def take(self, n, what):
        if n > len(self.d) - self.o:
            raise Fail('%s: truncated reading %s at %d' % (self.name, what, self.o))
        b = self.d[self.o:self.o + n]
        self.o += n
        return b

    def u32(self, what):
        return struct.unpack('<I', self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack('<Q', self.take(8, what))[0]

    def string(self, what):
        n = self.u64(what + ' length')
        if n > 1 << 30:
            raise Fail('%s: absurd %s length' % (self.name, what))
        return self.take(n, what)

    def value(self, vtype, key):
        if vtype == STRING:
            return self.string('string')
        if vtype == ARRAY:
            etype = self.u32('array type')
            n = self.u64('array length')
            if etype == ARRAY:
                raise Fail('%s: nested array in %s' % (self.name, key))
            return (etype, [self.value(etype, key) for _ in range(n)])
        if vtype not in GGUF_TYPES:
            raise Fail('%s: key %s has unknown type %d' % (self.name, key, vtype))
        fmt = '<' + GGUF_TYPES[vtype]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), key))[0]


def read_gguf(path):
    data = open(path, 'rb').read()
    r = Reader(data, path)
    if r.take(4, 'magic') != b'GGUF':
        raise Fail('%s: bad magic' % path)
    version = r.u32('version')
    if version != 3:
        raise Fail('%s: version %d' % (path, version))
    n_tensors, n_kv = r.u64('n_tensors'), r.u64('n_kv')
    kvs = {}
    order = []
    for _ in range(n_kv):
        key = r.string('key').decode('utf-8')
        if key in kvs:
            raise Fail('%s: duplicate key %s' % (path, key))
        vtype = r.u32('type')
        kvs[key] = (vtype, r.value(vtype, key))
        order.append(key)
    alignment = 32
    if 'general.alignment' in kvs:
        t, alignment = kvs['general.alignment']
        if t != 4 or alignment == 0 or alignment & (alignment - 1):
            raise Fail('%s: bad general.alignment' % path)
    infos = []
    names = set()
    for _ in range(n_tensors):
        name = r.string('tensor name').decode('utf-8')
        if len(name) >= 64 or name in names:
            raise Fail('%s: bad or duplicate tensor name %s' % (path, name))
        names.add(name)
        nd = r.u32('n_dims')
        if nd > 4:
            raise Fail('%s: %s has %d dims' % (path, name, nd))
        ne = [r.u64('ne') for _ in range(nd)]
        ttype, off = r.u32('type'), r.u64('offset')
        if ttype not in GGML:
            raise Fail('%s: %s has type %d this checker does not know' % (path, name, ttype))
        blk, size = GGML[ttype]
        if ne and ne[0] % blk:
            raise Fail('%s: %s row not a multiple of the block' % (path, name))
        nel = 1
        for n in ne:
            nel *= n
        infos.append((name, ttype, ne, off, nel // blk * size))
    start = r.o
    if n_tensors:
        start = (r.o + alignment - 1) // alignment * alignment
    expect = 0
    tensors = {}
    for name, ttype, ne, off, nbytes in infos:
        if off != expect:
            raise Fail('%s: %s offset %d, ggml expects %d' % (path, name, off, expect))
        if start + off + nbytes > len(data):
            raise Fail('%s: %s data past the end' % (path, name))
        tensors[name] = (ttype, ne, data[start + off:start + off + nbytes])
        expect += (nbytes + alignment - 1) // alignment * alignment
    if n_tensors and len(data) != start + expect:
        raise Fail('%s: file is %d bytes, expected %d' % (path, len(data), start + expect))
    return kvs, order, [i[0] for i in infos], tensors


# ------------------------------------------------------------------------ quantization

def quantize(data_f32, ne, qtype):
    import numpy as np
    x = np.frombuffer(data_f32, dtype='<f4').astype(np.float32)
    if qtype == 'f32':
        return x.tobytes()
    if qtype == 'f16':
        return x.astype('<f2').tobytes()
    out = bytearray()
    for b in x.reshape(-1, 32):
        if qtype == 'q8_0':
            amax = np.max(np.abs(b))
            d = np.float32(amax / np.float32(127))
            idv = np.float32(1) / d if d != 0 else np.float32(0)
            v = (b * idv).astype(np.float64)  # product rounded in float32, then exact
            q = np.sign(v) * np.floor(np.abs(v) + 0.5)  # roundf: half away from zero
            out += struct.pack('<e', float(d)) + q.astype(np.int8).tobytes()
        else:  # q4_0
            i = int(np.argmax(np.abs(b)))  # first of the largest magnitudes
            d = np.float32(b[i] / np.float32(-8))
            idv = np.float32(1) / d if d != 0 else np.float32(0)
            v = (b * idv).astype(np.float32) + np.float32(8.5)
            q = np.minimum(15, np.trunc(v).astype(np.int32))
            qs = (q[:16] | (q[16:] << 4)).astype(np.uint8)
            out += struct.pack('<e', float(d)) + qs.tobytes()
    return bytes(out)


def is_weight_matrix(name, ne):
    return name.endswith('.weight') and 'norm' not in name and len(ne) == 2 and ne[1] > 1


def check(path, like=None, qtype=None):
    kvs, order, names, tensors = read_gguf(path)
    if like is None:
        print('%s: ok, %d keys, %d tensors' % (path, len(kvs), len(tensors)))
        return
    rkvs, rorder, rnames, rtensors = read_gguf(like)
    skip = {'general.file_type', 'general.quantization_version'}
    for key in rorder:
        if key in skip:
            continue
        if key not in kvs or kvs[key] != rkvs[key]:
            raise Fail('%s: key %s differs from %s' % (path, key, like))
    extra = set(kvs) - set(rkvs) - skip
    if extra:
        raise Fail('%s: unexpected keys %s' % (path, sorted(extra)))
    if kvs.get('general.file_type', (4, -1))[1] != FILE_TYPE[qtype]:
        raise Fail('%s: general.file_type is not %s' % (path, qtype))
    if names != rnames:
        raise Fail('%s: tensor list/order differs' % path)
    for name in rnames:
        rtype, rne, rdata = rtensors[name]
        ttype, ne, data = tensors[name]
        if ne != rne:
            raise Fail('%s: %s shape %s vs %s' % (path, name, ne, rne))
        want_t, want = rtype, rdata
        if is_weight_matrix(name, rne) and rtype in (0, 1):
            t = qtype
            if t == 'q4_0' and name in ('token_embd.weight', 'output.weight'):
                t = 'q8_0'
            src = rdata
            if rtype == 1:  # F16 source: widen to F32 first (exact)
                import numpy as np
                src = np.frombuffer(rdata, dtype='<f2').astype('<f4').tobytes()
            want_t, want = TYPE_ID[t], (rdata if TYPE_ID[t] == rtype else quantize(src, rne, t))
        if ttype != want_t or data != want:
            raise Fail('%s: tensor %s (type %d) differs from the reference (type %d)'
                       % (path, name, ttype, want_t))
    print('%s: ok, matches %s converted to %s (%d tensors)' % (path, like, qtype, len(names)))


def main(argv):
    try:
        if len(argv) >= 2 and argv[0] == 'write-types':
            types_file(argv[1])
        elif len(argv) >= 2 and argv[0] == 'write-model':
            vocab = argv[argv.index('--vocab') + 1] if '--vocab' in argv else None
            arch = argv[2] if len(argv) > 2 and not argv[2].startswith('--') else 'llama'
            model_file(argv[1], arch, vocab, '--f16' in argv, '--chat' in argv)
        elif len(argv) >= 2 and argv[0] == 'check':
            like = argv[argv.index('--like') + 1] if '--like' in argv else None
            qtype = argv[argv.index('--quant') + 1] if '--quant' in argv else 'f32'
            check(argv[1], like, qtype)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Fail as e:
        print('gguf_reference: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
