"""Our chat templates against the reference renderer (tests/e2e/chat_template_peer.sh): for every
case tests/peer/render_all.mjs rendered with @huggingface/jinja, `disr template` must print the
same text byte for byte, or fail where the reference raised. Arguments: DISR OUTDIR.
Prints a summary and each difference; exits 1 on any."""
import json
import subprocess
import sys


def main():
    disr, outdir = sys.argv[1:3]
    bad = n = raised = 0
    with open(f"{outdir}/cases.jsonl", encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    for c in cases:
        cmd = [disr, "template", "--template-file", f"{outdir}/{c['template']}.jinja",
               "--messages", f"{outdir}/conv{c['conv']}.json"]
        if c["bos"] is not None:
            cmd += ["--bos", c["bos"]]
        if c["eos"] is not None:
            cmd += ["--eos", c["eos"]]
        if not c["gen"]:
            cmd.append("--no-generation-prompt")
        r = subprocess.run(cmd, capture_output=True)
        ours = r.stdout.decode("utf-8")
        n += 1
        what = f"{c['template']} conversation {c['conv']} gen={c['gen']}"
        if "error" in c:
            raised += 1
            if r.returncode == 0:
                bad += 1
                print(f"{what}: the reference raised ({c['error']}), we printed {ours!r}")
        elif r.returncode != 0:
            bad += 1
            print(f"{what}: we failed: {r.stderr.decode('utf-8').strip()}")
        elif ours != c["out"]:
            bad += 1
            print(f"{what}: output differs\n  ours: {ours!r}\n  peer: {c['out']!r}")
    print(f"{n} renders ({raised} raise in both), {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
