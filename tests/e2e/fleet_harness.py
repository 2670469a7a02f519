"""Helpers for the fleet tests: a PostgreSQL to share (the CTest fixture `pg`, or one of the
test's own from scripts/pg.sh), and the fleet of config/fleet/ as shipped (two gateways
behind nginx), its ports and paths rewritten to free ones and its kpi.db to a database."""
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import HERE, Mock, Proc, free_port, wait_http

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FLEET = os.path.join(ROOT, "config", "fleet")
PG_SH = os.path.join(ROOT, "scripts", "pg.sh")
SHIPPED_DB = "postgresql://guardrail@127.0.0.1:5432/guardrail"  # kpi.db in gateway-N.yaml
ADMIN_TOKEN = "fleet-token"


def read(name):
    with open(os.path.join(FLEET, name)) as f:
        return f.read()


def render(text, pairs):
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def psql(url, sql):
    """Runs SQL at url; returns its output, unaligned."""
    p = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("psql: %s" % p.stderr.strip())
    return p.stdout.strip()


def fixture_url():
    """The CTest fixture's server (tests/pg_fixture.sh), or None when run outside CTest."""
    url = os.environ.get("GW_TEST_PG_URL")
    path = os.environ.get("GW_PG_URL_FILE")
    if not url and path and os.path.exists(path):
        with open(path) as f:
            url = f.read().strip()
    return url or None


class Postgres:
    """A PostgreSQL server: the fixture's when there is one and own is False, else one of
    this object's own (scripts/pg.sh), which down() and up() stop and start again."""

    def __init__(self, own=False):
        self.dir = None
        self.url = None if own else fixture_url()
        if self.url:
            return
        parent = tempfile.mkdtemp(prefix="gw-pg-")
        os.chmod(parent, 0o755)  # as root, the server runs as another user
        self.dir = os.path.join(parent, "cluster")
        for _ in range(8):
            p = subprocess.run([PG_SH, "start", self.dir, str(free_port())],
                               capture_output=True, text=True, timeout=120)
            if p.returncode == 0:
                self.url = p.stdout.strip()
                return
            subprocess.run([PG_SH, "stop", self.dir], capture_output=True)
            if p.returncode != 3:  # 3: the port was taken; anything else is an error
                break
        raise RuntimeError("scripts/pg.sh start failed: %s" % p.stderr.strip())

    def database(self, name):
        """A new, empty database of that name; its URL."""
        psql(self.url, 'DROP DATABASE IF EXISTS "%s"' % name)
        psql(self.url, 'CREATE DATABASE "%s"' % name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def down(self):
        subprocess.run([PG_SH, "down", self.dir], check=True, timeout=60)

    def up(self):
        subprocess.run([PG_SH, "up", self.dir], check=True, timeout=120)

    def stop(self):
        if self.dir:
            subprocess.run([PG_SH, "stop", self.dir], timeout=60)
            shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)


class Fleet:
    """The shipped fleet: the mock provider, gateway-1.yaml and gateway-2.yaml (kpi.db
    replaced by db, a database URL or a file path), nginx.conf in front. extra: more
    (old, new) replacements in the gateways' configs."""

    def __init__(self, db, env=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="gw-fleet-")
        self.ports = {"127.0.0.1:%d" % p: "127.0.0.1:%d" % free_port()
                      for p in (8080, 8081, 8082, 9091, 9092)}
        self.mock = Mock()
        self.gateways = []
        self.env = {"OPENAI_API_KEY": "sk-test", "GUARDRAIL_HASH_KEY": "fleet-key",
                    "GUARDRAIL_ADMIN_TOKEN": ADMIN_TOKEN}
        self.env.update(env or {})
        self.db = db
        pairs = list(self.ports.items()) + [
            ("/etc/guardrail/rules", os.path.join(ROOT, "rules")),
            ("/var/lib/guardrail", self.dir),
            ("https://api.openai.com/v1", self.mock.url),
            (SHIPPED_DB, db)] + list(extra)
        try:
            # one after the other: the second finds the first's compiled rules in the
            # cache (GUARDRAIL_CACHE_DIR); the default packs take long to compile under
            # the sanitizers, and two at once on two busy cores took more than a minute
            for i in (1, 2):
                cfg = os.path.join(self.dir, "gateway-%d.yaml" % i)
                with open(cfg, "w") as f:
                    f.write(render(read("gateway-%d.yaml" % i), pairs))
                self.gateways.append(Proc(["serve", "--config", cfg, "--workers", "1"],
                                          env=self.env, log_name="fleet-gw%d" % i))
                wait_http(self.port("127.0.0.1:808%d" % i), "/readyz", timeout=300)
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(render(read("nginx.conf"), self.ports.items()))
            self.nginx = subprocess.Popen([nginx, "-p", self.dir, "-c", conf, "-g", "daemon off;"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_http(self.port("127.0.0.1:8080"), "/healthz")
        except Exception:
            self.stop()
            raise

    def stop(self):
        """Stops it all; the gateways' exit codes, in order."""
        if getattr(self, "nginx", None):
            self.nginx.terminate()
            self.nginx.wait(10)
        codes = [g.stop() for g in self.gateways]
        self.mock.stop()
        return codes

    def port(self, shipped):
        return int(self.ports[shipped].rsplit(":", 1)[1])

    def admin(self, i):
        """Gateway i's (1 or 2) admin port."""
        return self.port("127.0.0.1:909%d" % i)

    def post(self, body, port_of="127.0.0.1:8080", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port(port_of), timeout=15)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def admin_get(self, i, path):
        c = http.client.HTTPConnection("127.0.0.1", self.admin(i), timeout=15)
        c.request("GET", path, headers={"Authorization": "Bearer " + ADMIN_TOKEN})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def admin_json(self, i, path):
        r, data = self.admin_get(i, path)
        if r.status != 200:
            raise AssertionError("%s on gateway %d: %d %s" % (path, i, r.status, data[:300]))
        return json.loads(data)

    def metrics(self, i):
        """Gateway i's /metrics: {name: sum of its samples}, and the page."""
        r, data = self.admin_get(i, "/metrics")
        page = data.decode()
        out = {}
        for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? (\S+)$", page, re.M):
            out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
        return out, page


def wait_until(pred, timeout=30, every=0.1):
    """Polls pred() until it returns a true value (returned) or timeout passes (the last
    value returned, false)."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(every)
