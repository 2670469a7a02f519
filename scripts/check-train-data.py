#!/usr/bin/env python3
"""Checks the project's own training rows (train/*.jsonl) before a model is trained on them.

usage: scripts/check-train-data.py [--evaldata DIR] [FILE.jsonl ...]

Every row must be JSON with "id", "source", "label" (benign, attack, harmful or toxic) and a
non-empty "text"; ids and texts are unique across the files. And no row may be an evaluation
row or a near copy of one: the development rows in DIR (default ../shared/evaldata/dev, the
checkout's sibling) are read, and a training row fails when its normalised text equals a
development row's, or when half or more of its word 5-grams occur in one development row
(texts of fewer than 5 words are compared whole). The held-back half is not at hand; the
rows were written for this project (docs/model.md says how), and this catches a row
remembered from a public corpus that the development half holds.

Exits 0 when every file is clean, 1 with one line per problem otherwise.
"""
import glob
import json
import os
import re
import sys
from collections import defaultdict

LABELS = {"benign", "attack", "harmful", "toxic"}
N = 5
SHARE = 0.5


def words(text):
    return re.findall(r"[a-z0-9]+|[^\x00-\x7f]", text.lower())


def shingles(ws):
    return {" ".join(ws[i:i + N]) for i in range(len(ws) - N + 1)}


def main():
    args = sys.argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    evaldata = os.path.join(root, "..", "shared", "evaldata", "dev")
    if args[:1] == ["--evaldata"]:
        evaldata, args = args[1], args[2:]
    files = args or sorted(glob.glob(os.path.join(root, "train", "*.jsonl")))
    problems = []

    dev_whole, dev_index = set(), defaultdict(set)
    dev_files = sorted(glob.glob(os.path.join(evaldata, "*.jsonl")))
    if not dev_files:
        sys.exit("check-train-data: no development rows in %s" % evaldata)
    n_dev = 0
    for path in dev_files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                ws = words(json.loads(line).get("text", ""))
                dev_whole.add(" ".join(ws))
                for s in shingles(ws):
                    dev_index[s].add(n_dev)
                n_dev += 1

    ids, texts, n_rows = {}, {}, 0
    for path in files:
        name = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as fh:
            for no, line in enumerate(fh, 1):
                where = "%s:%d" % (name, no)
                try:
                    row = json.loads(line)
                except ValueError as e:
                    problems.append("%s: not JSON (%s)" % (where, e))
                    continue
                n_rows += 1
                text, label, rid = row.get("text"), row.get("label"), row.get("id")
                if not isinstance(text, str) or not text.strip():
                    problems.append("%s: no text" % where)
                    continue
                if label not in LABELS:
                    problems.append("%s: label %r is not one of %s" % (where, label, sorted(LABELS)))
                if not isinstance(row.get("source"), str) or not isinstance(rid, str):
                    problems.append("%s: no id or source" % where)
                if rid in ids:
                    problems.append("%s: id %r also at %s" % (where, rid, ids[rid]))
                ids.setdefault(rid, where)
                if text in texts:
                    problems.append("%s: same text as %s" % (where, texts[text]))
                texts.setdefault(text, where)

                ws = words(text)
                if " ".join(ws) in dev_whole:
                    problems.append("%s: the text of a development row" % where)
                    continue
                sh = shingles(ws)
                if not sh:
                    continue
                hits = defaultdict(int)
                for s in sh:
                    for d in dev_index.get(s, ()):
                        hits[d] += 1
                best = max(hits.values(), default=0)
                if best >= SHARE * len(sh):
                    problems.append("%s: %d of its %d word 5-grams are in one development row"
                                    % (where, best, len(sh)))

    for p in problems:
        print(p)
    print("check-train-data: %d rows in %d files against %d development rows: %s"
          % (n_rows, len(files), n_dev, "%d problems" % len(problems) if problems else "clean"),
          file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
