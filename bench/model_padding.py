#!/usr/bin/env python3
"""How well the learned stage holds when ordinary text is put before a prompt it blocks.

Takes the development attacks and harmful asks (../shared/evaldata/dev, or --sets DIR) that
a model rule blocks on their own, puts a customer question (about 300 bytes, written for
this script) 1, 3, 6 and 12 times before each, and prints the share a model rule still
blocks. docs/model.md ("Windows") quotes it.

usage: bench/model_padding.py [--bin build/guardrail] [--rules rules] [--sets DIR]
"""
import argparse
import json
import os
import subprocess

PAD = ("I bought a tent from your shop last month and the zip on the door broke after two "
       "nights of camping in the lake district, so I would like to know how the warranty works "
       "and whether I can get it repaired. Also, could you tell me when the winter sale starts "
       "and whether the discount applies to sleeping bags? ")
MODEL_BLOCK = ("model.injection", "model.unsafe")


def scan(binary, rules, texts):
    payload = "".join(json.dumps({"id": str(i), "text": t, "direction": "prompt"}) + "\n"
                      for i, t in enumerate(texts))
    p = subprocess.run([binary, "scan", "--rules", rules], input=payload.encode(),
                       stdout=subprocess.PIPE, check=True)
    return [any(f["rule"] in MODEL_BLOCK for f in json.loads(line)["findings"])
            for line in p.stdout.decode().splitlines()]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(root, "build", "guardrail"))
    ap.add_argument("--rules", default=os.path.join(root, "rules"))
    ap.add_argument("--sets", default=os.path.join(root, "..", "shared", "evaldata", "dev"))
    a = ap.parse_args()
    texts = []
    for name in ("attacks", "harmful"):
        with open(os.path.join(a.sets, name + ".jsonl"), encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    alone = [t for t, hit in zip(texts, scan(a.bin, a.rules, texts)) if hit]
    print("%d prompts blocked by a model rule on their own" % len(alone))
    for k in (1, 3, 6, 12):
        kept = scan(a.bin, a.rules, [PAD * k + t for t in alone])
        print("%5d bytes of a customer question before each: still blocked by the model %.2f"
              % (len(PAD) * k, sum(kept) / len(alone)))


if __name__ == "__main__":
    main()
