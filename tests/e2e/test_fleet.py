"""The fleet configs shipped in config/fleet/ (docs/deploy.md), as an operator would run
them: two gateways from gateway-1.yaml and gateway-2.yaml behind nginx.conf, the Prometheus
scrape config checked by promtool, the HAProxy config by haproxy -c, the systemd unit by
systemd-analyze. Ports and paths are rewritten to free ones; nothing else is changed.
Run: python3 -m unittest -v tests/e2e/test_fleet.py"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BINARY, HERE
from fleet_harness import ADMIN_TOKEN, Fleet, Postgres, read, FLEET


class FleetBehindNginx(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres()  # the shipped configs share one KPI store in PostgreSQL
        try:
            cls.fleet = Fleet(cls.pg.database("e2e_fleet"))
        except Exception:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        codes = cls.fleet.stop()
        cls.pg.stop()
        assert codes == [0, 0], [g.output()[-2000:] for g in cls.fleet.gateways]

    def requests_of(self, i):
        _, page = self.fleet.metrics(i)
        return sum(int(n) for n in re.findall(r"^guardrail_requests_total\{[^}]*\} (\d+)$",
                                              page, re.M))

    def test_nginx_spreads_requests_over_both_gateways_and_passes_their_verdicts(self):
        for _ in range(20):
            r, data = self.fleet.post({"model": "mock-1", "messages": [
                {"role": "user", "content": "Hello there"}]})
            self.assertEqual(r.status, 200, data)
        r, data = self.fleet.post({"model": "mock-1", "messages": [
            {"role": "user", "content": "My card is 4111 1111 1111 1111"}]})
        self.assertEqual(r.getheader("x-guardrail-verdict"), "redact")
        self.assertNotIn(b"4111 1111 1111 1111", data)
        self.assertGreater(self.requests_of(1), 0)
        self.assertGreater(self.requests_of(2), 0)

    def test_a_stream_passes_nginx_as_it_is_screened(self):
        r, data = self.fleet.post({"model": "mock-1", "stream": True, "messages": [
            {"role": "user", "content": "Hello"}]})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/event-stream"))
        self.assertTrue(data.rstrip().endswith(b"data: [DONE]"), data[-200:])


class MakeFleet(unittest.TestCase):
    def test_make_fleet_starts_the_fleet_and_its_database_and_both_show_the_fleet_total(self):
        script = os.path.join(HERE, "..", "..", "scripts", "fleet.sh")
        for attempt in range(3):  # its ports are fixed offsets from a base: retry on a clash
            base = 20000 + (os.getpid() * 7 + attempt * 1009) % 20000
            p = subprocess.run([script, "--check"], capture_output=True, text=True, timeout=180,
                               env=dict(os.environ, FLEET_PORT_BASE=str(base),
                                        GUARDRAIL_BIN=os.path.abspath(BINARY)))
            if p.returncode == 0 or not ("nothing answered" in p.stderr or
                                         "is taken" in p.stderr):
                break
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"gateway 1 screened [1-9]")
        self.assertRegex(p.stdout, r"gateway 2 screened [1-9]")
        # one KPI store: both gateways' /api/kpis count every request sent through nginx
        self.assertRegex(p.stdout, r"fleet KPIs: gateway 1 shows 8 requests, gateway 2 shows 8, "
                                   r"of 8 sent")


class ShippedConfigs(unittest.TestCase):
    def test_the_prometheus_scrape_config_passes_promtool(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian package prometheus)")
        d = tempfile.mkdtemp(prefix="gw-prom-")
        token = os.path.join(d, "admin-token")
        with open(token, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        path = os.path.join(d, "prometheus.yml")
        with open(path, "w") as f:
            f.write(read("prometheus.yml").replace("/etc/guardrail/admin-token", token))
        shutil.copy(os.path.join(FLEET, "alerts.yml"), d)  # its rule_files
        p = subprocess.run([promtool, "check", "config", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS: 5 rules found", p.stdout + p.stderr)

    def test_the_alert_rules_pass_promtool_and_fire_as_their_tests_say(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian package prometheus)")
        for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
            p = subprocess.run([promtool] + args, capture_output=True, text=True, cwd=FLEET)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_the_haproxy_config_passes_haproxy_c(self):
        haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if not haproxy:
            self.skipTest("haproxy is not installed")
        p = subprocess.run([haproxy, "-c", "-f", os.path.join(FLEET, "haproxy.cfg")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_the_systemd_unit_passes_systemd_analyze(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed")
        d = tempfile.mkdtemp(prefix="gw-unit-")
        unit = os.path.join(d, "guardrail@.service")
        with open(unit, "w") as f:  # the binary where this build has it; the user root
            f.write(read("guardrail@.service")
                    .replace("/usr/local/bin/guardrail", os.path.abspath(BINARY))
                    .replace("User=guardrail", "User=root").replace("Group=guardrail",
                                                                    "Group=root"))
        p = subprocess.run([analyze, "verify", os.path.join(d, "guardrail@1.service")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
