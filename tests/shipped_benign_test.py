#!/usr/bin/env python3
"""The shipped packs (rules and model) on the development benign rows the model never trained
on (the sources scripts/train-model.sh excludes: ToxicChat and Alpaca): they block no more
of them than the budget the model's thresholds were picked for (0.45%, rules and model
together). A threshold copied into rules/model.yaml rounded down lets more through than
`guardrail train` picked; this fails then.

usage: tests/shipped_benign_test.py GUARDRAIL RULES_DIR BENIGN.jsonl
"""
import json
import math
import subprocess
import sys

EXCLUDED = ("toxic-chat", "alpaca")  # as scripts/train-model.sh's --exclude-source
BUDGET = 0.0045                       # as its --block-rate


def main():
    binary, rules, path = sys.argv[1:4]
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    rows = [r for r in rows if r.get("source", "").startswith(EXCLUDED)]
    payload = "".join(json.dumps({"id": str(i), "text": r["text"], "direction": "prompt"}) + "\n"
                      for i, r in enumerate(rows))
    p = subprocess.run([binary, "scan", "--rules", rules], input=payload.encode(),
                       stdout=subprocess.PIPE, check=True)
    out = [json.loads(line) for line in p.stdout.decode().splitlines()]
    if len(out) != len(rows):
        sys.exit("guardrail scan answered %d lines for %d rows" % (len(out), len(rows)))
    blocked = sum(o["verdict"] == "block" for o in out)
    allowed = math.floor(BUDGET * len(rows) + 1e-9)
    ok = blocked <= allowed
    print("%s %d of %d benign rows never trained on are blocked (at most %d: %.2f%%)"
          % ("ok  " if ok else "FAIL", blocked, len(rows), allowed, 100 * BUDGET))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
