#!/usr/bin/env python3
"""Independent check of a `disr eval` report directory (run by tests/e2e/eval.sh).

From outcomes.jsonl and records.jsonl alone, in plain Python, it
  * re-derives the deterministic routes (DiSRouter SFT/+RL on every chain, Oracle, Smallest,
    Largest) and checks every record of them agent by agent;
  * re-derives every learned baseline's route on the full chain from the fitted parameters the
    report writes (fitted.jsonl, summary.json's thresholds), and the kNN router's predictions
    themselves from its neighbours' training labels (a neighbour outside the training split, or
    a prediction that does not follow from the labels, is a leak): kNN and MLP routers pick
    argmax P(correct) - alpha * cost, the cascades stop at the first agent whose score reaches its
    threshold;
  * checks every record's cost and correctness against the outcome table;
  * recomputes every number of summary.json (utility, accuracy, cost, cost of calls, latency,
    routing share, easy/hard cost, modularity) and the in-domain utility table of report.md;
  * recounts each agent's forced accuracy per family and difficulty level from the outcome
    cells and compares it with summary.json (exact counts) and report.md (3 printed decimals).
Exits non-zero with a message on the first mismatch."""
import json
import math
import re
import struct
import sys
from collections import defaultdict

ALPHAS = [0.2, 0.5, 0.8]
TOL = 2e-6


def fail(msg):
    print("eval_check: " + msg, file=sys.stderr)
    sys.exit(1)


def close(a, b, tol=TOL):
    return abs(a - b) <= tol



def f32(x):
    """x rounded to a C float, as the report holds scores and predictions."""
    return struct.unpack("f", struct.pack("f", x))[0]


SCORE_OF = {"conf_cascade": "conf", "automix": "verify"}


def check_learned(d, cells, split_of, cost, K, groups, thresholds):
    """The learned baselines' routes on the full chain, from the parameters they were fitted to."""
    try:
        fitted = {o["qid"]: o for o in map(json.loads, open(f"{d}/fitted.jsonl"))}
    except FileNotFoundError:
        fail("no fitted.jsonl: the learned baselines' parameters are missing")
    train = [q for q in cells if split_of[q] == "train"]
    prior = [sum(bool(cells[q][a]["correct"]) for q in train) / len(train) for a in range(K)]
    widths = set()
    for q, o in fitted.items():
        nb, sim = o["knn_neighbours"], o["knn_sim"]
        widths.add(len(nb))
        if len(sim) != len(nb) or len(set(nb)) != len(nb) or not 0 < len(nb) <= len(train):
            fail(f"fitted {q}: {len(nb)} neighbours, {len(sim)} similarities")
        if any(split_of.get(n) != "train" for n in nb):
            fail(f"fitted {q}: a kNN neighbour outside the training split (a label leak): {nb}")
        if any(sim[j] < sim[j + 1] for j in range(len(sim) - 1)):
            fail(f"fitted {q}: neighbours not in order of similarity")
        for a in range(K):
            num, den = prior[a], 1.0
            for n, s in zip(nb, sim):
                w = max(s, 0.0) + 1e-3
                num += w * bool(cells[n][a]["correct"])
                den += w
            if abs(f32(num / den) - o["knn_p"][a]) > 1e-6:
                fail(f"fitted {q}: kNN P(agent {a} correct) {o['knn_p'][a]} does not follow from its "
                     f"neighbours' training labels ({num / den:.6f}): a label leak")
    if len(widths) > 1:
        fail(f"fitted.jsonl: the kNN router keeps {sorted(widths)} neighbours on different queries")
    full = list(range(K))
    routed = 0
    for (split, chain_s, method, alpha), recs in groups.items():
        if chain_s != ",".join(map(str, full)) or method not in (
                "knn_router", "mlp_router", "frugalgpt", "automix", "conf_cascade"):
            continue
        ai = ALPHAS.index(alpha)
        for r in recs:
            q = r["qid"]
            if q not in fitted:
                fail(f"fitted.jsonl: no line for {q}")
            if method in ("knn_router", "mlp_router"):
                p = fitted[q]["knn_p" if method == "knn_router" else "mlp_p"]
                want = max(full, key=lambda a: (p[a] - alpha * cost[a], -a))
            else:
                th = thresholds[method][f"{alpha:.1f}"]
                score = [f32(cells[q][a][SCORE_OF[method]]) if method in SCORE_OF
                         else fitted[q]["frugal_score"][a] for a in full[:-1]]
                want = next((a for a in full[:-1] if score[a] >= th[a]), full[-1])
            if r["agent"] != want:
                fail(f"record {r}: {method} routes {q} to agent {want} from its fitted parameters")
            routed += 1
    if routed == 0:
        fail("no learned baseline's records to recompute")
    return routed


def main(d):
    cells = defaultdict(dict)  # qid -> agent -> line
    split_of, cost, level_of = {}, {}, {}
    for line in open(f"{d}/outcomes.jsonl"):
        o = json.loads(line)
        cells[o["qid"]][o["agent"]] = o
        split_of[o["qid"]] = o["split"]
        cost[o["agent"]] = o["cost"]
        lv = o.get("difficulty", 0)
        if level_of.setdefault(o["qid"], lv) != lv:
            fail(f"query {o['qid']}: difficulty {lv} and {level_of[o['qid']]} on two lines")
    K = len(cost)
    easy = {q: any(cells[q][a]["correct"] for a in range(K - 1)) for q in cells}

    groups = defaultdict(list)
    for line in open(f"{d}/records.jsonl"):
        r = json.loads(line)
        groups[(r["split"], r["chain"], r["method"], r["alpha"])].append(r)

    def walk(q, chain, variant, ai):
        for j, a in enumerate(chain):
            c = cells[q][a]
            if j == len(chain) - 1:
                return a, bool(c["correct"])
            if c[variant + "_answer"][ai] == 1:
                return a, bool(c[variant + "_correct"][ai])
        raise AssertionError

    def expected(q, method, chain, ai):
        if method in ("disr_rl", "disr_sft"):
            return walk(q, chain, method[5:], ai)
        if method == "oracle":
            for a in chain:
                if cells[q][a]["correct"]:
                    return a, True
            return chain[0], False
        if method == "smallest":
            return chain[0], bool(cells[q][chain[0]]["correct"])
        if method == "largest":
            return chain[-1], bool(cells[q][chain[-1]]["correct"])
        return None

    n_split = defaultdict(int)
    for q, s in split_of.items():
        n_split[s] += 1

    recomputed = {}
    for (split, chain_s, method, alpha), recs in groups.items():
        chain = [int(x) for x in chain_s.split(",")]
        ai = ALPHAS.index(alpha)
        if len(recs) != n_split[split]:
            fail(f"{method} {split} {chain_s} {alpha}: {len(recs)} records, {n_split[split]} queries")
        if len({r["qid"] for r in recs}) != len(recs):
            fail(f"{method} {split} {alpha}: a query is routed twice")
        share = [0.0] * K
        easy_c, hard_c = [], []
        for r in recs:
            q, a = r["qid"], r["agent"]
            if split_of[q] != split or a not in chain:
                fail(f"record {r} is outside its split or chain")
            if not close(r["cost"], cost[a]):
                fail(f"record {r}: cost is not agent {a}'s cost {cost[a]}")
            exp = expected(q, method, chain, ai)
            if exp is not None and (exp[0] != a or exp[1] != bool(r["correct"])):
                fail(f"record {r}: expected agent {exp[0]} correct {exp[1]}")
            if exp is None and bool(r["correct"]) != bool(cells[q][a]["correct"]):
                fail(f"record {r}: correctness differs from the agent's forced answer")
            share[a] += 1 / len(recs)
            (easy_c if easy[q] else hard_c).append(r["cost"])
        n = len(recs)
        acc = sum(r["correct"] for r in recs) / n
        c = sum(r["cost"] for r in recs) / n
        recomputed[(split, chain_s, method, alpha)] = dict(
            n=n, accuracy=acc, cost=c, utility=acc - alpha * c,
            cost_calls=sum(r["cost_calls"] for r in recs) / n,
            latency=sum(r["latency"] for r in recs) / n, share=share,
            easy_cost=sum(easy_c) / len(easy_c) if easy_c else None,
            hard_cost=sum(hard_c) / len(hard_c) if hard_c else None)

    summary = json.load(open(f"{d}/summary.json"))
    learned = check_learned(d, cells, split_of, cost, K, groups, summary["thresholds"])
    full = ",".join(str(a) for a in range(K))
    checked = 0

    def compare(got, key, where):
        nonlocal checked
        want = recomputed.get(key)
        if want is None:
            fail(f"{where}: no records for {key}")
        for field in ("n", "accuracy", "cost", "utility", "cost_calls", "latency"):
            if not close(got[field], want[field], 1e-5):
                fail(f"{where} {field}: summary {got[field]} vs records {want[field]}")
        for a in range(K):
            if not close(got["share"][a], want["share"][a], 1e-6):
                fail(f"{where} share[{a}]: {got['share'][a]} vs {want['share'][a]}")
        for field in ("easy_cost", "hard_cost"):
            if (field in got) != (want[field] is not None) or (
                    field in got and not close(got[field], want[field], 1e-5)):
                fail(f"{where} {field}: {got.get(field)} vs {want[field]}")
        checked += 1

    for split, methods in summary["tables"].items():
        for method, per_alpha in methods.items():
            for a_s, got in per_alpha.items():
                compare(got, (split, full, method, float(a_s)), f"tables.{split}.{method}.{a_s}")
    for m in summary["modularity"]:
        compare(m, ("test", m["chain"], m["method"], m["alpha"]), f"modularity {m['chain']} {m['method']}")
    if checked < 30:
        fail(f"only {checked} summary entries checked")

    # Each agent's answer precision on the test split, with its Wilson interval, from the raw
    # outcome cells (a trained agent is graded on its own answer; confidence lets the forced one
    # through at the bar (1 - alpha)^0.5).
    def wilson(k, n, z=1.959964):
        if n == 0:
            return 0.0, 1.0
        p = k / n
        mid = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, mid - half), min(1.0, mid + half)

    test_q = [q for q in cells if split_of[q] == "test"]
    precision = summary.get("answer_precision", {})
    for key in ("disr_sft", "disr_rl", "confidence"):
        if key not in precision:
            fail(f"summary.json: no answer_precision.{key}")
        for ai, alpha in enumerate(ALPHAS):
            for a in range(K):
                got = precision[key][f"{alpha:.1f}"][a]
                if key == "confidence":
                    ans = [q for q in test_q if cells[q][a]["conf"] >= (1 - alpha) ** 0.5]
                    right = sum(bool(cells[q][a]["correct"]) for q in ans)
                else:
                    v = key[5:]
                    if any((cells[q][a].get(v + "_answer") or [-1] * 3)[ai] == -1 for q in test_q):
                        if got is not None:
                            fail(f"answer_precision.{key}[{alpha}][{a}]: {got} for unrecorded decisions")
                        continue
                    ans = [q for q in test_q if cells[q][a][v + "_answer"][ai] == 1]
                    right = sum(bool(cells[q][a][v + "_correct"][ai]) for q in ans)
                lo, hi = wilson(right, len(ans))
                if (got["answered"], got["right"]) != (len(ans), right) or not (
                        close(got["interval95"][0], lo, 1e-9) and close(got["interval95"][1], hi, 1e-9)):
                    fail(f"answer_precision.{key}[{alpha}][{a}]: {got} vs {right}/{len(ans)} {lo:.4f}-{hi:.4f}")
                checked += 1

    md = open(f"{d}/report.md").read()
    checked += check_levels(cells, split_of, level_of, K, summary, md)

    # The in-domain table of report.md shows summary.json's numbers (checked above against the
    # records), each rounded to the decimals it prints: within half a unit of its last digit.
    section = md.split("## In-domain test")[1].split("##")[0]
    names = {"DiSRouter (+RL)": "disr_rl", "DiSRouter (SFT)": "disr_sft", "Oracle (topline)": "oracle",
             "Smallest": "smallest", "Largest": "largest", "Random": "random", "kNN router": "knn_router",
             "MLP router": "mlp_router", "FrugalGPT (scorer)": "frugalgpt",
             "AutoMix (self-verify)": "automix", "Confidence cascade": "conf_cascade"}
    rows = 0
    for line in section.splitlines():
        cols = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if cols[0] not in names:
            continue
        for ai, alpha in enumerate(ALPHAS):
            want = summary["tables"]["test"][names[cols[0]]][f"{alpha:.1f}"]
            for k, field in enumerate(("utility", "accuracy", "cost")):
                text = cols[1 + 3 * ai + k]
                if abs(float(text) - want[field]) > printed_tol(text):
                    fail(f"report.md {cols[0]} alpha {alpha} {field}: {text} vs {want[field]!r}")
        rows += 1
    if rows < 5:
        fail(f"report.md: only {rows} rows of the in-domain table found")
    print(f"eval_check: {len(groups)} record groups, {learned} learned-baseline routes, {checked} summary "
          f"entries and {rows} table rows agree")


MAX_FAMILIES = 32  # rows of families in the report; the rest pool in one row
OTHER = "(other families)"


def printed_tol(text):
    """Half a unit of the last printed decimal (a correctly rounded number is at most that far from
    the exact value), plus a little for the binary value the printer rounded."""
    frac = text.strip().split(".")[1] if "." in text else ""
    return 0.5 * 10.0 ** -len(frac) + 1e-12


def check_levels(cells, split_of, level_of, K, summary, md):
    """Forced accuracy per family and difficulty level, recounted from the outcome cells (queries
    in order of first appearance in outcomes.jsonl, which is the table's order)."""
    got_json = summary.get("level_accuracy")
    if got_json is None:
        fail("summary.json: no level_accuracy")
    sec = md.split("## Forced accuracy per family and difficulty level")
    if len(sec) != 2:
        fail("report.md: no section 'Forced accuracy per family and difficulty level'")
    sec = sec[1].split("\n## ")[0]
    titles = {"test": "In-domain test", "ood": "Out-of-domain"}
    checked = 0
    any_level = False
    for split, title in titles.items():
        qs = [q for q in cells if split_of[q] == split]  # dicts keep insertion order
        if not qs:
            continue
        rows = {"all families": None}
        fams = []
        for q in qs:
            f = cells[q][0]["family"]
            if f not in fams:
                if len(fams) < MAX_FAMILIES - 1:
                    fams.append(f)
                else:
                    f = OTHER
                    if f not in fams:
                        fams.append(f)
            rows.setdefault(f, None)
        # counts[row][level] = [n, correct per agent]
        counts = {r: defaultdict(lambda: [0, [0] * K]) for r in rows}
        for q in qs:
            f = cells[q][0]["family"]
            f = f if f in fams else OTHER
            for r in ("all families", f):
                c = counts[r][level_of[q]]
                c[0] += 1
                for a in range(K):
                    c[1][a] += bool(cells[q][a]["correct"])
        levels = sorted(lv for lv in counts["all families"] if lv > 0)
        sub = sec.split(f"### {title}")
        if not levels:
            if split in got_json:
                fail(f"summary.json level_accuracy.{split} present for a split without levels")
            if len(sub) == 2 and "carry no difficulty level" not in sub[1].split("###")[0]:
                fail(f"report.md: {title} has no levels but the report does not say so")
            continue
        any_level = True
        # summary.json: exact counts
        js = got_json.get(split)
        if js is None or js["levels"] != levels:
            fail(f"level_accuracy.{split}: levels {js and js['levels']} vs {levels}")
        if js["no_level"] != counts["all families"][0][0]:
            fail(f"level_accuracy.{split}.no_level: {js['no_level']} vs {counts['all families'][0][0]}")
        if list(js["families"]) != fams:
            fail(f"level_accuracy.{split}.families: {list(js['families'])} vs {fams}")
        for r in rows:
            got = js["all"] if r == "all families" else js["families"][r]
            cr = counts[r]
            want_n = [cr[lv][0] if lv in cr else 0 for lv in levels]
            if got["n"] != want_n or got["n_all"] != sum(c[0] for c in cr.values()):
                fail(f"level_accuracy.{split}.{r}: n {got['n']} / {got['n_all']} vs {want_n}")
            for a in range(K):
                want_c = [cr[lv][1][a] if lv in cr else 0 for lv in levels]
                if got["correct"][a] != want_c:
                    fail(f"level_accuracy.{split}.{r} agent {a}: correct {got['correct'][a]} vs {want_c}")
                for j, lv in enumerate(levels):
                    acc = got["accuracy"][a][j]
                    if (acc is None) != (want_n[j] == 0) or (
                            acc is not None and not close(acc, want_c[j] / want_n[j], 1e-9)):
                        fail(f"level_accuracy.{split}.{r} agent {a} level {lv}: accuracy {acc}")
                if got["correct_all"][a] != sum(c[1][a] for c in cr.values()):
                    fail(f"level_accuracy.{split}.{r} agent {a}: correct_all {got['correct_all'][a]}")
            checked += 1
        # report.md: the same table, counts exact and accuracies to the printed precision
        if len(sub) != 2:
            fail(f"report.md: no '### {title}' in the per-level section")
        none = counts["all families"][0][0] > 0
        header = [f"level {lv}" for lv in levels] + (["no level"] if none else []) + ["all"]
        cols_of = levels + ([0] if none else []) + ["all"]
        lines = [ln for ln in sub[1].split("###")[0].splitlines() if ln.startswith("|")]
        head = [c.strip() for c in lines[0].strip().strip("|").split("|")]
        if head != ["Family", "Agent"] + header:
            fail(f"report.md {title}: header {head}")
        seen = 0
        for ln in lines[2:]:
            cols = [c.strip() for c in ln.strip().strip("|").split("|")]
            r, who, vals = cols[0], cols[1], cols[2:]
            if r not in counts or len(vals) != len(cols_of):
                fail(f"report.md {title}: unexpected row {ln}")
            cr = counts[r]
            for v, col in zip(vals, cols_of):
                if col == "all":
                    n = sum(c[0] for c in cr.values())
                    right = sum(c[1][int(who[6:])] for c in cr.values()) if who != "queries" else 0
                else:
                    n = cr[col][0] if col in cr else 0
                    right = cr[col][1][int(who[6:])] if who != "queries" and col in cr else 0
                if who == "queries":
                    ok = int(v) == n
                elif n == 0:
                    ok = v == "–"
                else:
                    ok = v != "–" and abs(float(v) - right / n) <= printed_tol(v)
                if not ok:
                    fail(f"report.md {title} {r} {who} column {col}: {v} vs {right}/{n}")
            seen += 1
        if seen != len(rows) * (K + 1):
            fail(f"report.md {title}: {seen} rows, expected {len(rows) * (K + 1)}")
        checked += seen
    if not any_level and "carry no difficulty level" not in sec:
        fail("report.md: no query has a level but the section does not say so")
    return checked


if __name__ == "__main__":
    main(sys.argv[1])
