#!/usr/bin/env python3
"""Screens the look-alike corpus as prompts and checks which rules block it.

usage: lookalikes_check.py GUARDRAIL RULES_DIR CORPUS [--update]

CORPUS (tests/data/lookalikes.jsonl) holds ordinary customer messages that share words or
shapes with what the rules block ("help me shoot them an email", "list the previous
instructions again, I missed a step", "is this gas mask rated against chemical warfare
agents?"), written by the blind reviews of the rule packs (docs/rules.md). Each row is
{"text", "source"} and, where the packs block it today, "blocked": the rules that do, as
a known cost (most of them contrived, or the very shape of an attack).

The check fails when a row is blocked by a rule it does not name (a new false block) or
is no longer blocked by one it names (a fix: the corpus should say so, so that the block
cannot come back unnoticed). --update rewrites the "blocked" fields to what the packs do
now. Model findings are counted and printed, not checked: the model is retrained often,
and its budget of false blocks is checked on the development data (model_shipped_benign).
"""
import json
import sys

from prompt_scan import scan_prompts


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    update = "--update" in sys.argv[1:]
    if len(args) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    guardrail, rules, corpus = args
    with open(corpus, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    out = scan_prompts(guardrail, rules, [r["text"] for r in rows])
    new, fixed, model_only = [], [], 0
    for n, (row, res) in enumerate(zip(rows, out), 1):
        blocks = {f["rule"] for f in res["findings"] if f["action"] == "block"}
        by_rules = ",".join(sorted(b for b in blocks if not b.startswith("model.")))
        model_only += bool(blocks) and not by_rules
        known = row.get("blocked", "")
        if by_rules != known:
            (new if by_rules else fixed).append((n, known, by_rules, row["text"]))
        if update:
            row.pop("blocked", None)
            if by_rules:
                row["blocked"] = by_rules
    blocked = sum(1 for r in out if any(f["action"] == "block" and
                                         not f["rule"].startswith("model.")
                                         for f in r["findings"]))
    print("%d look-alike messages: %d blocked by rules (%.1f%%), %d more by the model alone"
          % (len(rows), blocked, 100.0 * blocked / len(rows), model_only))
    for n, known, now, text in new:
        print("NEW BLOCK   %s:%d [%s -> %s] %s" % (corpus, n, known or "-", now, text[:160]))
    for n, known, now, text in fixed:
        print("NOW PASSES  %s:%d [%s -> %s] %s" % (corpus, n, known, now or "-", text[:160]))
    if update:
        with open(corpus, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print("updated %s" % corpus)
        return 0
    if new or fixed:
        print("%d new blocks, %d rows no longer blocked: fix the rules, or run with --update "
              "to record what they do now" % (len(new), len(fixed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
