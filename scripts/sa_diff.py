#!/usr/bin/env python3
"""Which queries a trained version of each agent dropped or took up against another, and what
that did to its self-assessment F1 and mean reward.

Input: the per-query records of one `disr sa-report --agents NEW --compare OLD --base BASE
--queries FILE` run (e.g. NEW = the RL agents, OLD = the SFT agents). F1 is the report's: the
reject as a predictor of the base agent's forced answer being wrong. Per agent and scenario:

  dropped     OLD answered, NEW rejects: a base-right one is a new false reject (F1 falls),
              a base-wrong one a new true reject (F1 rises)
  taken up    OLD rejected, NEW answers: the reverse
  reward      the paper's, 1 right / 0 wrong / (1 - alpha)^0.5 reject, averaged over queries

Usage: scripts/sa_diff.py QUERIES.jsonl
"""
import json
import sys

SCENARIOS = (("performance", 0.2), ("balance", 0.5), ("cost", 0.8))


def by_set(records):
    """{set: [(agent, [records in query order]), ...]}: the report writes each agent's queries
    as one block, in order, and every block holds the same queries."""
    n = next((i for i, r in enumerate(records) if i and r["id"] == records[0]["id"]), len(records))
    if len(records) % n:
        sys.exit(f"{len(records)} records do not split into blocks of {n} queries")
    sets = {}
    for b in range(0, len(records), n):
        block = records[b : b + n]
        if [r["id"] for r in block] != [r["id"] for r in records[:n]]:
            sys.exit(f"records {b}..{b + n - 1} are not the same queries as the first block")
        sets.setdefault(block[0]["set"], []).append((block[0]["agent"], block))
    return sets


def f1(decisions, base_right):
    tp = sum(d == "reject" and not b for d, b in zip(decisions, base_right))
    fp = sum(d == "reject" and b for d, b in zip(decisions, base_right))
    fn = sum(d != "reject" and not b for d, b in zip(decisions, base_right))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def reward(decisions, alpha):
    bar = (1 - alpha) ** 0.5
    return sum(bar if d == "reject" else d == "right" for d in decisions) / len(decisions)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    if not records:
        sys.exit(f"{sys.argv[1]}: no records")
    sets = by_set(records)
    for need in ("agents", "compare", "base"):
        if need not in sets:
            sys.exit(f"{sys.argv[1]}: no '{need}' records (run sa-report with --compare and --base)")
    new, old, base = sets["agents"], sets["compare"], sets["base"]
    if not len(new) == len(old) == len(base):
        sys.exit("agents, compare and base list different numbers of agents")
    print("| agent (new vs old) | scenario | dropped: base right / wrong | taken up: right / wrong"
          " | F1 old → new | reward old → new |")
    print("|---|---|---|---|---|---|")
    for (nname, nrec), (oname, orec), (_, brec) in zip(new, old, base):
        right = [b["forced_right"] for b in brec]
        for s, alpha in SCENARIOS:
            nd, od = [r[s] for r in nrec], [r[s] for r in orec]
            dropped = [b for n, o, b in zip(nd, od, right) if o != "reject" and n == "reject"]
            taken = [n for n, o in zip(nd, od) if o == "reject" and n != "reject"]
            print(f"| {nname} vs {oname} | {s} | {sum(dropped)} / {len(dropped) - sum(dropped)} "
                  f"| {taken.count('right')} / {taken.count('wrong')} "
                  f"| {f1(od, right):.3f} → {f1(nd, right):.3f} "
                  f"| {reward(od, alpha):.3f} → {reward(nd, alpha):.3f} |")


if __name__ == "__main__":
    main()
