"""Policies per tenant and rules in shadow (issue 16), through the real gateway: two brands
with their own packs and their own voice behind one gateway, a rule in shadow that is
recorded and never acts (plain and streamed replies), its promotion by a reload, and a
reload refused when a policy names a pack that is gone.
Run: python3 -m unittest -v tests/e2e/test_policies.py"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, Gateway, Mock, sse_events, stream_text

BASE = """name: base
rules:
  - id: base.email
    title: E-mail address
    category: pii
    severity: high
    applies_to: both
    action: redact
    replacement: '[EMAIL]'
    patterns: ['\\b[a-z]+@[a-z]+\\.(?:com|org)\\b']
"""

BRAND_A = """name: brand-a
rules:
  - id: brand-a.cheapest
    title: Cheapest claim
    category: brand
    severity: medium
    applies_to: reply
    action: block
    phrases: [cheapest on the market]
"""

BRAND_B = """name: brand-b
rules:
  - id: brand-b.warranty
    title: Lifetime warranty promise
    category: brand
    severity: medium
    applies_to: reply
    action: block
    phrases: [lifetime warranty]
"""

# the rule brand B is trying out: evaluated, recorded, never acting
CANDIDATE = """name: brand-b-next
shadow: %s
rules:
  - id: brand-b-next.forever
    title: Forever promise
    category: brand
    severity: medium
    applies_to: reply
    action: block
    phrases: [guaranteed forever]
"""

SKU_CANDIDATE = """name: next
rules:
  - id: next.sku
    category: pii
    severity: low
    applies_to: reply
    action: redact
    patterns: ['\\bSKU\\d{3}\\b']
"""

POLICIES = """policies:
  brand-a:
    tenants: [web-a]
    keys: ['${E2E_BRAND_A_KEY}']
    models: [mock-1]
    packs: [base, brand-a]
    block_message: 'Brand A cannot say that. How else can I help?'
  brand-b:
    tenants: [web-b, whatsapp-b]
    keys: ['${E2E_BRAND_B_KEY}']
    packs: [base, brand-b, brand-b-next]
    messages: {brand-b: 'Brand B would rather not promise that.'}
  default:
    packs: [base]
"""


def user_body(prompt):
    return {"model": "mock-1", "messages": [{"role": "user", "content": prompt}]}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def reload_and_wait(gw, line, count):
    """Sends SIGHUP and waits until line is in the gateway's log count times."""
    gw.p.send_signal(signal.SIGHUP)
    deadline = time.time() + 60
    while gw.output().count(line) < count and time.time() < deadline:
        time.sleep(0.1)
    return gw.output().count(line) >= count


class Policies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rules = tempfile.mkdtemp(prefix="gw-policies-")
        write(os.path.join(cls.rules, "base.yaml"), BASE)
        write(os.path.join(cls.rules, "brand-a.yaml"), BRAND_A)
        write(os.path.join(cls.rules, "brand-b.yaml"), BRAND_B)
        write(os.path.join(cls.rules, "brand-b-next.yaml"), CANDIDATE % "true")
        cls.mock = Mock()
        cls.gw = Gateway(cls.mock.url, config_text=POLICIES, rules=cls.rules, admin=True,
                         env={"E2E_BRAND_B_KEY": "sk-brand-b-e2e",
                              "E2E_BRAND_A_KEY": "sk-brand-a-e2e"})
        cls.reloads = 0
        cls.sent = 0  # requests sent: the KPIs are read once they count all of them

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.mock.stop()
        shutil.rmtree(cls.rules, ignore_errors=True)
        assert rc == 0, cls.gw.output()[-3000:]

    def ask(self, tenant, reply, prompt="tell me about it", stream=False, key=None, headers=()):
        body = {"model": "mock-1", "messages": [{"role": "user", "content": prompt}],
                "mock": {"reply": reply}, "stream": stream}
        h = {"x-guardrail-tenant": tenant}
        if key:
            h["Authorization"] = "Bearer " + key
        h.update(headers)
        r, data = self.gw.post(body, headers=h)
        self.assertEqual(r.status, 200, data[:300])
        Policies.sent += 1
        if stream:
            return r, stream_text(sse_events(data))[0]
        return r, json.loads(data)["choices"][0]["message"]["content"]

    def kpis(self, want_requests):
        deadline = time.time() + 10
        while True:
            r, data = self.gw.admin_get("/api/kpis")
            k = json.loads(data)
            if k["current"]["requests"] >= want_requests or time.time() > deadline:
                return k
            time.sleep(0.1)

    def test_1_each_brand_gets_its_own_packs_and_its_own_voice(self):
        r, text = self.ask("web-a", "It is the cheapest on the market.")
        self.assertEqual(text, "Brand A cannot say that. How else can I help?")
        self.assertEqual(r.getheader("x-guardrail-rule"), "brand-a.cheapest")
        # brand B does not have brand A's pack: the same reply goes out
        _, text = self.ask("web-b", "It is the cheapest on the market.")
        self.assertEqual(text, "It is the cheapest on the market.")
        _, text = self.ask("whatsapp-b", "It comes with a lifetime warranty.")
        self.assertEqual(text, "Brand B would rather not promise that.")
        _, text = self.ask("web-a", "It comes with a lifetime warranty.")
        self.assertEqual(text, "It comes with a lifetime warranty.")
        # the key brand B's chatbot calls with picks its policy, whatever the header says
        _, text = self.ask("web-a", "It comes with a lifetime warranty.", key="sk-brand-b-e2e")
        self.assertEqual(text, "Brand B would rather not promise that.")
        _, text = self.ask("web-a", "It comes with a lifetime warranty.", key="sk-someone-else")
        self.assertEqual(text, "It comes with a lifetime warranty.")
        # an unknown tenant gets the default policy: the base pack, no brand pack
        _, text = self.ask("kiosk", "It is the cheapest on the market, mail ann@shop.com")
        self.assertEqual(text, "It is the cheapest on the market, mail [EMAIL]")

    def test_1a_a_bound_key_picks_its_policy_in_either_header(self):
        # review 29: the key was read from Authorization alone when it was there, and not
        # after two spaces; the provider may take either header
        promise, b = "It comes with a lifetime warranty.", "Brand B would rather not promise that."
        for headers in ({"x-api-key": "sk-brand-b-e2e", "Authorization": "Bearer junk"},
                        {"Authorization": "Bearer  sk-brand-b-e2e"},
                        {"Authorization": "bearer\tsk-brand-b-e2e"},
                        {"Authorization": "\tBearer sk-brand-b-e2e"},  # review 31
                        {"Authorization": "Basic eDp5", "x-api-key": "sk-brand-b-e2e"}):
            _, text = self.ask("web-a", promise, headers=headers)
            self.assertEqual(text, b, headers)
        # keys of two policies in one request: which one the provider takes is its choice
        r, data = self.gw.post(user_body("hi"), headers={
            "x-api-key": "sk-brand-b-e2e", "Authorization": "Bearer sk-brand-a-e2e"})
        self.assertEqual((r.status, json.loads(data)["error"]["code"]), (400, "conflicting_keys"))
        # and on a stored response's route too (review 30: it fell back to the tenant header)
        c = self.gw.conn()
        c.request("GET", "/v1/responses/resp_1", headers={
            "x-api-key": "sk-brand-b-e2e", "Authorization": "Bearer sk-brand-a-e2e"})
        got = c.getresponse()
        self.assertEqual((got.status, json.loads(got.read())["error"]["code"]),
                         (400, "conflicting_keys"))
        c.close()
        _, text = self.ask("web-a", promise, headers={"x-api-key": "sk-brand-a-e2e",
                                                      "Authorization": "Bearer sk-brand-a-e2e"})
        self.assertEqual(text, promise)

    def test_1b_a_policy_s_chatbots_call_only_its_models(self):
        def call(tenant, **extra):
            body = dict(user_body("hi"), **extra)
            r, data = self.gw.post(body, headers={"x-guardrail-tenant": tenant})
            return r.status, json.loads(data)
        status, got = call("web-a", model="mock-2")
        self.assertEqual((status, got["error"]["code"]), (400, "model_not_allowed"))
        self.assertIn("'mock-2'", got["error"]["message"])
        status, got = call("web-a", models=["mock-1", "mock-3"])  # a fallback too
        self.assertEqual((status, got["error"]["code"]), (400, "model_not_allowed"))
        status, _ = call("web-b", model="mock-2")  # brand B lists none: any model
        Policies.sent += 1
        self.assertEqual(status, 200)
        status, _ = call("web-a")
        Policies.sent += 1
        self.assertEqual(status, 200)

    def test_2_a_rule_in_shadow_records_and_never_acts(self):
        before = self.kpis(Policies.sent)["current"]
        reply = "Our boots are guaranteed forever."
        _, text = self.ask("web-b", reply)
        self.assertEqual(text, reply)
        _, text = self.ask("web-b", reply, stream=True)
        self.assertEqual(text, reply)
        k = self.kpis(before["requests"] + 2)["current"]
        self.assertEqual(k["replies"]["blocked"], before["replies"]["blocked"])
        shadow = {s["rule"]: s for s in k["shadow_rules"]}
        self.assertIn("brand-b-next.forever", shadow)
        s = shadow["brand-b-next.forever"]
        self.assertEqual(s["title"], "Forever promise")
        self.assertEqual(s["direction"], "reply")
        self.assertEqual(s["blocked"], 2)  # would have blocked both replies
        self.assertNotIn("brand-b-next.forever", {x["rule"] for x in k["rules"]})
        r, data = self.gw.admin_get("/api/incidents?shadow=true")
        inc = json.loads(data)["incidents"]
        self.assertTrue(inc and all(i["shadow"] for i in inc))
        self.assertEqual(inc[0]["rule"], "brand-b-next.forever")
        self.assertEqual(inc[0]["action"], "block")
        r, data = self.gw.admin_get("/api/incidents?shadow=false")
        self.assertFalse(any(i["shadow"] for i in json.loads(data)["incidents"]))
        # brand A's policy does not list the candidate pack: nothing recorded for it
        self.ask("web-a", reply)

    def test_3_promoted_by_a_reload_it_acts(self):
        write(os.path.join(self.rules, "brand-b-next.yaml"), CANDIDATE % "false")
        Policies.reloads += 1
        self.assertTrue(reload_and_wait(self.gw, "rules reloaded", Policies.reloads),
                        self.gw.output()[-2000:])
        r, text = self.ask("web-b", "Our boots are guaranteed forever.")
        self.assertEqual(r.getheader("x-guardrail-rule"), "brand-b-next.forever")
        self.assertNotIn("guaranteed forever", text)

    def test_4_a_reload_that_takes_a_policys_pack_away_is_refused(self):
        os.rename(os.path.join(self.rules, "brand-a.yaml"), os.path.join(self.rules, "a.off"))
        try:
            self.gw.p.send_signal(signal.SIGHUP)
            deadline = time.time() + 60
            want = "policies.brand-a.packs: the rules have no pack or rule 'brand-a'"
            while want not in self.gw.output() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn(want, self.gw.output())
            self.assertIn("keeping the old rules", self.gw.output())
            _, text = self.ask("web-a", "It is the cheapest on the market.")
            self.assertEqual(text, "Brand A cannot say that. How else can I help?")
        finally:
            os.rename(os.path.join(self.rules, "a.off"), os.path.join(self.rules, "brand-a.yaml"))

    def test_5_guardrail_try_shows_what_a_brand_would_meet(self):
        """What a brand manager runs before a reload: one sentence, both directions, under
        a tenant's policy, with the rule's plain name and the brand's answer."""
        cfg = os.path.join(self.gw.dir, "gateway.yaml")
        # a brand manager has the gateway's config, not its secrets: try runs without them
        env = {k: v for k, v in os.environ.items() if not k.startswith("E2E_")}
        run = subprocess.run([BINARY, "try", "--config", cfg, "--tenant", "web-b",
                              "It has a lifetime warranty, mail ann@shop.com"],
                             capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = run.stdout
        self.assertIn("policy: brand-b\n", out)
        self.assertIn("  as a question: passes with parts hidden\n", out)
        self.assertIn("    goes out as: It has a lifetime warranty, mail [EMAIL]\n", out)
        self.assertIn("  as a reply: BLOCKED\n", out)
        self.assertIn('    - Lifetime warranty promise (brand-b.warranty): blocks "lifetime warranty"\n',
                      out)
        self.assertIn("    the customer gets: Brand B would rather not promise that.\n", out)
        # brand A's policy has no warranty rule; a tenant in no policy gets the default
        run = subprocess.run([BINARY, "try", "--config", cfg, "--tenant", "web-a",
                              "--direction", "reply", "It has a lifetime warranty"],
                             capture_output=True, text=True, env=env, timeout=60)
        self.assertIn("policy: brand-a\n", run.stdout)
        self.assertIn("  as a reply: passes, nothing found\n", run.stdout)
        self.assertNotIn("as a question", run.stdout)
        run = subprocess.run([BINARY, "try", "--config", cfg, "--tenant", "kiosk"],
                             input="guaranteed forever\n", capture_output=True, text=True,
                             env=env, timeout=60)
        self.assertIn("policy: default (the tenant is in no policy)\n", run.stdout)
        # what serve does, try says: a policy that does not screen replies
        quiet = os.path.join(self.gw.dir, "quiet.yaml")
        write(quiet, "rules: %s\npolicies:\n  q:\n    tenants: [tq]\n    screen_replies: false\n"
              % self.rules)
        run = subprocess.run([BINARY, "try", "--config", quiet, "--tenant", "tq",
                              "It has a lifetime warranty"], capture_output=True, text=True,
                             timeout=60)
        self.assertIn("  as a reply: not screened (screen_replies is off for this policy)\n",
                      run.stdout, run.stderr)
        run = subprocess.run([BINARY, "try", "--direction", "sideways", "x"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 2)
        self.assertIn("--direction must be prompt, reply or both", run.stderr)


class CandidateRules(unittest.TestCase):
    def test_serve_shadow_rules_runs_a_candidate_folder_beside_the_live_one(self):
        """guardrail serve --shadow-rules DIR: every rule of DIR in shadow, the live rules as
        they are; a candidate with a live rule's id is refused by name."""
        live = tempfile.mkdtemp(prefix="gw-live-")
        cand = tempfile.mkdtemp(prefix="gw-cand-")
        write(os.path.join(live, "brand-b.yaml"), BRAND_B)
        write(os.path.join(cand, "next.yaml"), BRAND_A.replace("brand-a", "next"))
        mock = Mock()
        try:
            gw = Gateway(mock.url, rules=live, admin=True, extra_args=["--shadow-rules", cand])
            with gw:
                r, data = gw.post({"model": "mock-1", "messages": [{"role": "user", "content": "hi"}],
                                   "mock": {"reply": "The cheapest on the market, with a lifetime warranty."}})
                text = json.loads(data)["choices"][0]["message"]["content"]
                self.assertEqual(r.getheader("x-guardrail-rule"), "brand-b.warranty")  # live
                self.assertNotIn("lifetime warranty", text)
                deadline = time.time() + 10
                while time.time() < deadline:
                    k = json.loads(gw.admin_get("/api/kpis")[1])["current"]
                    if k["requests"] >= 1:
                        break
                    time.sleep(0.1)
                self.assertEqual([s["rule"] for s in k["shadow_rules"]], ["next.cheapest"])
                self.assertEqual([x["rule"] for x in k["rules"]], ["brand-b.warranty"])
                # the candidate's wider phrase does not make live streams hold back more
                self.assertIn("streamed replies hold back 17 bytes", gw.output())
            # a candidate that fires everywhere does not push the live rule's finding out of
            # the record (findings in shadow have a cap of their own)
            write(os.path.join(cand, "next.yaml"), SKU_CANDIDATE)
            gw = Gateway(mock.url, rules=live, admin=True, extra_args=["--shadow-rules", cand])
            with gw:
                reply = "SKU123 " * 70 + "with a lifetime warranty"
                r, _ = gw.post({"model": "mock-1", "messages": [{"role": "user", "content": "x"}],
                                "mock": {"reply": reply}})
                self.assertEqual(r.getheader("x-guardrail-rule"), "brand-b.warranty")
                deadline = time.time() + 10
                while time.time() < deadline:
                    inc = json.loads(gw.admin_get("/api/incidents?shadow=false")[1])["incidents"]
                    if inc:
                        break
                    time.sleep(0.1)
                self.assertEqual([i["rule"] for i in inc], ["brand-b.warranty"])
                k = json.loads(gw.admin_get("/api/kpis")[1])["current"]
                self.assertEqual(k["replies"]["blocked"], 1)
                self.assertEqual(k["clean"], 0)
                self.assertEqual(k["shadow_rules"][0]["rule"], "next.sku")
                self.assertEqual(k["shadow_rules"][0]["findings"], 70)
            # a live rules folder inside the candidates' folder stays live
            parent = tempfile.mkdtemp(prefix="gw-parent-")
            os.rename(live, os.path.join(parent, "live"))
            live = os.path.join(parent, "live")
            write(os.path.join(parent, "next.yaml"), BRAND_A.replace("brand-a", "next"))
            gw = Gateway(mock.url, rules=live, extra_args=["--shadow-rules", parent])
            with gw:
                r, _ = gw.post({"model": "mock-1", "messages": [{"role": "user", "content": "x"}],
                                "mock": {"reply": "a lifetime warranty"}})
                self.assertEqual(r.getheader("x-guardrail-rule"), "brand-b.warranty")
            # a candidate that reuses a live rule's id
            write(os.path.join(cand, "next.yaml"), BRAND_B)
            g = subprocess.run([BINARY, "serve", "--rules", live, "--shadow-rules", cand,
                                "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                               timeout=60)
            self.assertNotEqual(g.returncode, 0)
            self.assertIn("duplicate rule id 'brand-b.warranty'", g.stderr)
        finally:
            mock.stop()
            shutil.rmtree(live, ignore_errors=True)
            shutil.rmtree(cand, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
