"""Screens texts as prompts with the guardrail binary, for the corpus checks in tests/."""
import json
import subprocess
import sys


def scan_prompts(guardrail, rules, texts):
    """guardrail scan's result for each text, in order; exits on a failed scan."""
    payload = "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n"
                      for i, t in enumerate(texts))
    p = subprocess.run([guardrail, "scan", "--rules", rules, "--direction", "prompt"],
                       input=payload.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("guardrail scan failed (%d): %s" % (p.returncode, p.stderr.decode()[-2000:]))
    out = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    if len(out) != len(texts):
        sys.exit("guardrail answered %d lines for %d inputs" % (len(out), len(texts)))
    return out
