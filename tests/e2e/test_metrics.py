"""End-to-end tests of /metrics: every answer counted by API and status class (the ones the
gateway gives before calling the provider included), reloads, the loaded rules, the build,
the process, streams' first byte; and the whole page passed by promtool (issue 14)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import RULES, Gateway, Mock

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def samples(gw):
    r, data = gw.admin_get("/metrics")
    assert r.status == 200, data
    out = {}
    for line in data.decode().splitlines():
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out, data


def answers(s, api, code):
    return s.get(("guardrail_responses_total", '{api="%s",code="%s"}' % (api, code)), 0)


def raw(gw, data):
    """Sends bytes as they are and reads the answer's status line."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=15) as c:
        c.sendall(data)
        got = b""
        while b"\r\n" not in got:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
    return int(got.split(b" ")[1])


def wait_for(gw, pred, timeout=30):
    deadline = time.time() + timeout
    while True:
        s, _ = samples(gw)
        if pred(s) or time.time() > deadline:
            return s
        time.sleep(0.1)


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.rules = tempfile.mkdtemp(prefix="gw-rules-")
        shutil.copy(os.path.join(RULES, "e2e.yaml"), cls.rules)
        cls.gw = Gateway(cls.mock.url, admin=True, workers=2, rules=cls.rules,
                         config_text="limits:\n  max_body_bytes: 4096\n")

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.mock.stop()
        shutil.rmtree(cls.rules, ignore_errors=True)
        assert rc == 0, cls.gw.output()[-3000:]

    def test_every_answer_is_counted_by_api_and_class_early_ones_included(self):
        gw = self.gw
        before, _ = samples(gw)
        self.assertEqual(gw.chat("hello")[0].status, 200)
        self.assertEqual(gw.post(None, raw="{not json")[0].status, 400)
        self.assertEqual(gw.post(None, raw="{}", headers={"Content-Type": "text/plain"})[0].status,
                         415)
        self.assertEqual(gw.post({"model": "m", "messages": [], "pad": "x" * 8000})[0].status, 413)
        c = gw.conn()
        c.request("GET", "/v1/chat/completions")
        self.assertEqual(c.getresponse().status, 405)
        c.close()
        # no Anthropic provider configured: 404 in the Messages API's shape
        self.assertEqual(gw.post({"model": "m"}, path="/v1/messages")[0].status, 404)
        c = gw.conn()
        c.request("GET", "/no/such/endpoint")
        self.assertEqual(c.getresponse().status, 404)
        c.close()
        c = gw.conn()
        c.request("GET", "/healthz")
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        self.assertEqual(raw(gw, b"NOT HTTP AT ALL\r\n\r\n"), 400)  # evhttp's own answer
        after = wait_for(gw, lambda s: answers(s, "other", "4xx") - answers(before, "other", "4xx") >= 2)
        delta = {(api, code): answers(after, api, code) - answers(before, api, code)
                 for api in ("chat_completions", "messages", "responses", "completions",
                             "embeddings", "other")
                 for code in ("1xx", "2xx", "3xx", "4xx", "5xx")}
        want = {k: 0 for k in delta}
        want[("chat_completions", "2xx")] = 1
        want[("chat_completions", "4xx")] = 4  # 400, 415, 413, 405
        want[("messages", "4xx")] = 1
        want[("other", "4xx")] = 2  # the 404 and the request evhttp could not read
        want[("other", "2xx")] = 1  # /healthz
        self.assertEqual(delta, want)

    def test_a_stream_counts_its_first_byte(self):
        before, _ = samples(self.gw)
        r, _ = self.gw.chat("hello", stream=True)
        self.assertEqual(r.status, 200)
        name = "guardrail_stream_first_byte_seconds_count"
        after = wait_for(self.gw, lambda s: s.get((name, ""), 0) > before.get((name, ""), 0))
        self.assertEqual(after[(name, "")] - before.get((name, ""), 0), 1)
        self.assertIn(("guardrail_stream_first_byte_seconds_bucket", '{le="120"}'), after)

    def test_provider_latency_buckets_reach_the_timeout(self):
        s, _ = samples(self.gw)
        self.assertIn(("guardrail_provider_latency_seconds_bucket", '{le="60"}'), s)
        self.assertIn(("guardrail_provider_latency_seconds_bucket", '{le="120"}'), s)

    def test_build_process_and_rules_are_described(self):
        s, _ = samples(self.gw)
        build = [l for (n, l) in s if n == "guardrail_build_info"]
        self.assertEqual(len(build), 1)
        self.assertRegex(build[0], r'^\{version="[0-9.]+",commit="[^"]+"\}$')
        for name in ("process_resident_memory_bytes", "process_open_fds",
                     "process_cpu_seconds_total", "process_start_time_seconds"):
            self.assertGreater(s[(name, "")], 0, name)
        self.assertLess(abs(s[("process_start_time_seconds", "")] - time.time()), 3600)
        info = [l for (n, l) in s if n == "guardrail_rules_info"]
        self.assertEqual(len(info), 1)
        self.assertRegex(info[0], r'^\{hash="[0-9a-f]{16}"\}$')

    def test_reloads_are_counted_by_result_and_the_rules_hash_follows_them(self):
        gw = self.gw
        s0, _ = samples(gw)
        hash0 = [l for (n, l) in s0 if n == "guardrail_rules_info"][0]
        loaded = ("guardrail_reloads_total", '{result="loaded"}')
        failed = ("guardrail_reloads_total", '{result="failed"}')
        bad = os.path.join(self.rules, "broken.yaml")
        with open(bad, "w") as f:
            f.write("name: broken\nrules:\n  - id: broken.x\n    category: brand\n"
                    "    severity: low\n    applies_to: prompt\n    action: flag\n"
                    "    patterns: ['(unclosed']\n")
        try:
            gw.p.send_signal(signal.SIGHUP)
            s1 = wait_for(gw, lambda s: s.get(failed, 0) > s0.get(failed, 0))
        finally:
            os.unlink(bad)
        self.assertEqual(s1[failed] - s0.get(failed, 0), 1)
        self.assertEqual(s1[loaded], s0[loaded])
        self.assertIn(("guardrail_rules_info", hash0), s1)  # the old rules stay
        with open(os.path.join(self.rules, "more.yaml"), "w") as f:
            f.write("name: more\nrules:\n  - id: more.word\n    category: brand\n"
                    "    severity: low\n    applies_to: prompt\n    action: flag\n"
                    "    patterns: ['zyzzyva']\n"
                    "    examples: {match: ['a zyzzyva'], no_match: ['none']}\n")
        try:
            gw.p.send_signal(signal.SIGHUP)
            s2 = wait_for(gw, lambda s: s.get(loaded, 0) > s0[loaded])
        finally:
            os.unlink(os.path.join(self.rules, "more.yaml"))
        self.assertEqual(s2[loaded] - s0[loaded], 1, gw.output()[-2000:])
        self.assertNotIn(("guardrail_rules_info", hash0), s2)
        gw.p.send_signal(signal.SIGHUP)
        s3 = wait_for(gw, lambda s: s.get(loaded, 0) > s2[loaded])
        self.assertIn(("guardrail_rules_info", hash0), s3)  # the same rules, the same hash

    def test_the_whole_page_passes_promtool(self):
        self.gw.chat("hello")
        _, data = samples(self.gw)
        for family in ("guardrail_responses_total", "guardrail_reloads_total",
                       "guardrail_rules_info", "guardrail_build_info",
                       "guardrail_stream_first_byte_seconds", "process_open_fds"):
            self.assertIn(b"# TYPE " + family.encode() + b" ", data)
        if not shutil.which("promtool"):
            self.skipTest("promtool is not installed (make deps installs it: Debian prometheus)")
        p = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())


if __name__ == "__main__":
    unittest.main()
