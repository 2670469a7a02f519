#!/usr/bin/env python3
"""Screens the multilingual corpora as prompts and checks the injection rules on them.

usage: multilingual_check.py GUARDRAIL RULES_DIR DATA_DIR

Every line of DATA_DIR/injection_multilingual.txt must get an injection finding and no line
of DATA_DIR/benign_multilingual.txt may get one. Prints per-language recall and false
positives, then each line that failed (file:line, language, rules, text); exits 1 on any.
Corpus format: one message per line, "# lang: xx" starts a language, other lines starting
with "#" and blank lines are skipped.
"""
import os
import sys
from collections import OrderedDict

from prompt_scan import scan_prompts


def load(path):
    rows, lang = [], "?"
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if line.startswith("# lang:"):
                lang = line.split(":", 1)[1].strip()
            elif line.strip() and not line.startswith("#"):
                rows.append((n, lang, line))
    return rows


def injection_rules(guardrail, rules, rows):
    """The injection rules that fire on each row's text, in order."""
    out = scan_prompts(guardrail, rules, [t for _, _, t in rows])
    return [[f["rule"] for f in o.get("findings", []) if f.get("category") == "injection"]
            for o in out]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    guardrail, rules, data = sys.argv[1:]
    failures, stats = [], OrderedDict()
    for name, want in (("injection_multilingual.txt", True), ("benign_multilingual.txt", False)):
        path = os.path.join(data, name)
        rows = load(path)
        for (n, lang, text), found in zip(rows, injection_rules(guardrail, rules, rows)):
            s = stats.setdefault(lang, {"attacks": 0, "caught": 0, "benign": 0, "false": 0})
            if want:
                s["attacks"] += 1
                s["caught"] += bool(found)
            else:
                s["benign"] += 1
                s["false"] += bool(found)
            if bool(found) != want:
                failures.append("%s:%d: [%s] %s: %s" % (name, n, lang,
                                ",".join(found) if found else "not caught", text))
    print("lang  recall          false positives")
    for lang, s in stats.items():
        print("%-5s %3d/%-3d %5.2f   %d/%d" % (lang, s["caught"], s["attacks"],
              s["caught"] / s["attacks"] if s["attacks"] else 0.0, s["false"], s["benign"]))
    for f in failures:
        print("FAILED " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
