#!/usr/bin/env python3
"""The block thresholds `guardrail eval` picked are the best split of its false-block budget.

Reads the file `guardrail eval --scores` wrote and tries every split of the budget between
the blocking heads (each head's threshold just above one of the benign rows' scores that the
rules let through, highest first), as eval counts them: a benign row the rules or any head
block spends the budget once; attacks and harmful asks stopped, summed, are the gain. Fails
when some split stops more than eval's pick (its "both" column) does.

usage: tests/eval_pick_test.py SCORES.jsonl BLOCK_RATE HEAD...   (the heads that block)
"""
import json
import math
import sys


def main():
    path, rate, heads = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    benign = [r for r in rows if r["label"] == "benign"]
    pos = {lab: [r for r in rows if r["label"] == lab] for lab in ("attack", "harmful")}
    budget = math.floor(rate * len(benign) + 1e-9)
    free = [r for r in benign if r["rules"] != "block"]
    neg = {h: sorted((r["scores"][h][0] for r in free), reverse=True) for h in heads}

    def blocked(r, at):
        return r["rules"] == "block" or any(r["scores"][h][0] >= at.get(h, 2.0) for h in heads)

    def gain(pick):
        return sum(sum(map(pick, v)) / len(v) for v in pos.values() if v)

    def fb(at):
        return sum(blocked(r, at) for r in benign)

    got = gain(lambda r: r["both"] == "block")
    got_fb = sum(r["both"] == "block" for r in benign)
    best, best_at = got, None

    def search(k, at):
        nonlocal best, best_at
        if k == len(heads):
            g = gain(lambda r: blocked(r, at))
            if g > best + 1e-9:
                best, best_at = g, dict(at)
            return
        h = heads[k]
        for a in range(len(neg[h]) + 1):
            # a benign rows over head h's threshold: none, or down to the a-th highest score
            at[h] = 2.0 if a == 0 else neg[h][a - 1]
            if fb(at) > budget:
                break
            search(k + 1, at)
        at.pop(h, None)

    search(0, {})
    print("eval's pick: gain %.4f, %d benign rows blocked (budget %d); the best split: %.4f"
          % (got, got_fb, budget, best))
    if got_fb > budget:
        print("FAIL: eval's pick blocks more benign rows than its budget")
        return 1
    if best_at is not None:
        print("FAIL: a split of the budget stops more: %s" % best_at)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
