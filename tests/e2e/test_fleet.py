"""The fleet configs shipped in config/fleet/ (docs/deploy.md), as an operator would run
them: two gateways from gateway-1.yaml and gateway-2.yaml behind nginx.conf, the Prometheus
scrape config checked by promtool, the HAProxy config by haproxy -c, the systemd unit by
systemd-analyze. Ports and paths are rewritten to free ones; nothing else is changed.
Run: python3 -m unittest -v tests/e2e/test_fleet.py"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import http.client

from harness import BINARY, HERE, Mock, Proc, free_port, wait_http

FLEET = os.path.join(HERE, "..", "..", "config", "fleet")
RULES_DIR = os.path.join(HERE, "..", "..", "rules")


def read(name):
    with open(os.path.join(FLEET, name)) as f:
        return f.read()


def render(text, ports, extra=()):
    for old, new in list(ports.items()) + list(extra):
        text = text.replace(old, new)
    return text


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gw-fleet-")
        cls.ports = {"127.0.0.1:%d" % p: "127.0.0.1:%d" % free_port()
                     for p in (8080, 8081, 8082, 9091, 9092)}
        cls.mock = Mock()
        cls.gateways = []
        env = {"OPENAI_API_KEY": "sk-test", "GUARDRAIL_HASH_KEY": "fleet-key",
               "GUARDRAIL_ADMIN_TOKEN": "fleet-token"}
        for i in (1, 2):
            cfg = os.path.join(cls.dir, "gateway-%d.yaml" % i)
            with open(cfg, "w") as f:
                f.write(render(read("gateway-%d.yaml" % i), cls.ports, (
                    ("/etc/guardrail/rules", os.path.abspath(RULES_DIR)),
                    ("/var/lib/guardrail", cls.dir),
                    ("https://api.openai.com/v1", cls.mock.url))))
            g = Proc(["serve", "--config", cfg, "--workers", "1"], env=env,
                     log_name="fleet-gw%d" % i)
            cls.gateways.append(g)
        for i in (1, 2):
            wait_http(int(cls.port("127.0.0.1:808%d" % i)), "/readyz")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = os.path.join(cls.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(render(read("nginx.conf"), cls.ports))
        cls.nginx = subprocess.Popen([nginx, "-p", cls.dir, "-c", conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_http(int(cls.port("127.0.0.1:8080")), "/healthz")

    @classmethod
    def tearDownClass(cls):
        cls.nginx.terminate()
        cls.nginx.wait(10)
        for g in cls.gateways:
            assert g.stop() == 0, g.output()[-2000:]
        cls.mock.stop()

    @classmethod
    def port(cls, shipped):
        return cls.ports[shipped].rsplit(":", 1)[1]

    def post(self, body, port_of="127.0.0.1:8080"):
        c = http.client.HTTPConnection("127.0.0.1", int(self.port(port_of)), timeout=15)
        c.request("POST", "/v1/chat/completions", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def requests_of(self, admin):
        c = http.client.HTTPConnection("127.0.0.1", int(self.port(admin)), timeout=15)
        c.request("GET", "/metrics", headers={"Authorization": "Bearer fleet-token"})
        page = c.getresponse().read().decode()
        c.close()
        return sum(int(n) for n in re.findall(r"^guardrail_requests_total\{[^}]*\} (\d+)$",
                                              page, re.M))

    def test_nginx_spreads_requests_over_both_gateways_and_passes_their_verdicts(self):
        for _ in range(20):
            r, data = self.post({"model": "mock-1", "messages": [
                {"role": "user", "content": "Hello there"}]})
            self.assertEqual(r.status, 200, data)
        r, data = self.post({"model": "mock-1", "messages": [
            {"role": "user", "content": "My card is 4111 1111 1111 1111"}]})
        self.assertEqual(r.getheader("x-guardrail-verdict"), "redact")
        self.assertNotIn(b"4111 1111 1111 1111", data)
        self.assertGreater(self.requests_of("127.0.0.1:9091"), 0)
        self.assertGreater(self.requests_of("127.0.0.1:9092"), 0)

    def test_a_stream_passes_nginx_as_it_is_screened(self):
        r, data = self.post({"model": "mock-1", "stream": True, "messages": [
            {"role": "user", "content": "Hello"}]})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/event-stream"))
        self.assertTrue(data.rstrip().endswith(b"data: [DONE]"), data[-200:])


class MakeFleet(unittest.TestCase):
    def test_make_fleet_starts_the_fleet_and_sends_traffic_through_nginx(self):
        script = os.path.join(HERE, "..", "..", "scripts", "fleet.sh")
        for attempt in range(3):  # its ports are fixed offsets from a base: retry on a clash
            base = 20000 + (os.getpid() * 7 + attempt * 1009) % 20000
            p = subprocess.run([script, "--check"], capture_output=True, text=True, timeout=180,
                               env=dict(os.environ, FLEET_PORT_BASE=str(base),
                                        GUARDRAIL_BIN=os.path.abspath(BINARY)))
            if p.returncode == 0 or "nothing answered" not in p.stderr:
                break
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"gateway 1 screened [1-9]")
        self.assertRegex(p.stdout, r"gateway 2 screened [1-9]")


class ShippedConfigs(unittest.TestCase):
    def test_the_prometheus_scrape_config_passes_promtool(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian package prometheus)")
        d = tempfile.mkdtemp(prefix="gw-prom-")
        token = os.path.join(d, "admin-token")
        with open(token, "w") as f:
            f.write("fleet-token\n")
        path = os.path.join(d, "prometheus.yml")
        with open(path, "w") as f:
            f.write(read("prometheus.yml").replace("/etc/guardrail/admin-token", token))
        p = subprocess.run([promtool, "check", "config", path], capture_output=True, text=True)
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
