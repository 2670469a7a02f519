#!/usr/bin/env python3
"""What reading replies as rendered costs (docs/internals.md, the render view): support
replies with markdown (bold, italics, links, code spans), generated with a fixed seed,
screened as replies by `guardrail scan` of two builds, alternately, in one run.

    bench/markdown_replies.py OLD_BINARY NEW_BINARY [--rules DIR] [--rounds N] [--copies N]

Each round times each binary on the corpus and on no input (its start-up: loading the
packs), and prints microseconds a reply with the start-up taken off. Both binaries read
the same packs (give an older build packs it can load)."""
import argparse
import json
import os
import random
import subprocess
import tempfile
import time

WORDS = ("order shipping refund account delivery parcel return exchange warranty size colour "
         "store payment invoice support please thanks today tomorrow week item product").split()


def corpus(n, seed=7):
    rnd = random.Random(seed)
    lines = []
    for i in range(n):
        parts = []
        for _ in range(rnd.randint(3, 6)):
            sent = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14)))
            style = rnd.random()
            if style < 0.3:
                sent = "**" + sent.split()[0] + "** " + sent
            elif style < 0.5:
                sent = "- " + sent + " _" + rnd.choice(WORDS) + "_"
            elif style < 0.6:
                sent += " (see [the FAQ](https://shop.example/faq/%d))" % i
            elif style < 0.7:
                sent = "`order_%d` " % rnd.randint(1000, 9999) + sent
            parts.append(sent.capitalize() + ".")
        lines.append(json.dumps({"id": i, "text": "\n".join(parts), "direction": "reply"}))
    return "\n".join(lines) + "\n"


def timed(binary, rules, path):
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        subprocess.run([binary, "scan", "--rules", rules], stdin=f, stdout=subprocess.DEVNULL,
                       check=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rules", default="rules")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--copies", type=int, default=24000, help="replies in the corpus")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        data, empty = os.path.join(d, "replies.jsonl"), os.path.join(d, "empty")
        with open(data, "w") as f:
            f.write(corpus(a.copies))
        open(empty, "w").close()
        print("%d markdown replies, %.1f MB" % (a.copies, os.path.getsize(data) / 1e6))
        for r in range(a.rounds):
            for name in ("old", "new"):
                b = getattr(a, name)
                us = (timed(b, a.rules, data) - timed(b, a.rules, empty)) / a.copies * 1e6
                print("round %d  %s  %.1f us a reply" % (r + 1, name, us), flush=True)


if __name__ == "__main__":
    main()
