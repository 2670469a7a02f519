"""Helpers for the end-to-end tests: start the real guardrail binary (and the mock
provider) on free loopback ports, speak HTTP to it with a real client, parse SSE."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("GUARDRAIL_BIN", os.path.join(HERE, "..", "..", "build", "guardrail"))
RULES = os.path.join(HERE, "rules")


_GIVEN = set()


def without_clock(text):
    """text with the providers' and the gateway's timestamps ("created", "created_at") zeroed,
    so that a test that looks for a leaked fragment of a card ("1111") does not find it in
    the clock (1796111115 holds one)."""
    return re.sub(r'("created(?:_at)?"\s*:\s*)\d+', r"\g<1>0", text)


def free_port():
    """A port nothing listens on, and one this process has not handed out before: a port
    is free again as soon as the probe closes, so two calls before either is bound could
    return the same one (a gateway and its admin listener once did)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def wait_banner(proc, pattern, timeout=90.0):
    """The first group of pattern in proc's output, once it is there: the port a process
    started on 127.0.0.1:0 says it bound (a port probed free can be taken before the process
    binds it; one the kernel picks at bind time cannot)."""
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = rx.search(proc.output())
        if m:
            return int(m.group(1))
        if proc.p.poll() is not None:
            raise RuntimeError("exited (%s) before listening:\n%s" % (proc.p.returncode,
                                                                       proc.output()[-3000:]))
        time.sleep(0.02)
    raise RuntimeError("no line matching %r:\n%s" % (pattern, proc.output()[-3000:]))


def wait_http(port, path, timeout=90.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("nothing answered 200 on port %d%s" % (port, path))


class Proc:
    def __init__(self, args, env=None, log_name="proc", preexec=None):
        self.log = tempfile.NamedTemporaryFile(prefix=log_name + "-", suffix=".log", delete=False)
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen([BINARY] + args, stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                  preexec_fn=preexec)

    def output(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class Mock(Proc):
    def __init__(self):
        super().__init__(["mock", "--listen", "127.0.0.1:0"], log_name="mock")
        self.port = wait_banner(self, r"mock provider listening on http://127\.0\.0\.1:(\d+)/v1")
        wait_http(self.port, "/v1/models")
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def stats(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/mock/stats")
        s = json.loads(c.getresponse().read())
        c.close()
        return s


class ScriptedProvider:
    """A provider that answers every chat call with the bytes set in .reply: for replies
    the mock cannot make (a key twice, an event over several lines, a null content)."""

    def __init__(self):
        self.reply = (200, "application/json", b"{}")
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                owner.body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.last = (self.command, self.path)
                status, ctype, body = owner.reply
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        self.last = None  # the method and path of the last call
        self.body = None  # and the body it sent
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v1" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, *events):
        """Answers with a stream of these events (dicts, or strings sent as they are)."""
        body = "".join("data: %s\n\n" % (e if isinstance(e, str) else json.dumps(e))
                       for e in events + ("[DONE]",))
        self.reply = (200, "text/event-stream", body.encode())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Gateway(Proc):
    def __init__(self, upstream, config_text="", workers=2, env=None, rules=RULES, admin=False,
                 dir=None, passthrough=("GET /v1/models",), preexec=None, extra_args=()):
        self.dir = dir or tempfile.mkdtemp(prefix="gw-")
        self.incidents = os.path.join(self.dir, "incidents.jsonl")
        self.db = os.path.join(self.dir, "kpi.db")
        cfg = os.path.join(self.dir, "gateway.yaml")
        with open(cfg, "w") as f:
            f.write("rules: %s\nincidents:\n  path: %s\n  hash_key: ${E2E_HASH_KEY}\n"
                    "passthrough:\n%s" % (rules, self.incidents,
                                          "".join("  - %s\n" % p for p in passthrough)))
            if admin:
                f.write("kpi:\n  db: %s\nadmin:\n  token: ${E2E_ADMIN_TOKEN}\n" % self.db)
            f.write(config_text)
        e = {"E2E_HASH_KEY": "test-key", "E2E_ADMIN_TOKEN": "admin-secret"}
        e.update(env or {})
        args = ["serve", "--config", cfg, "--listen", "127.0.0.1:0",
                "--workers", str(workers), "--upstream", upstream]
        if admin:
            args += ["--admin", "127.0.0.1:0"]
        args += list(extra_args)
        super().__init__(args, env=e, log_name="gateway", preexec=preexec)
        # both on ports the kernel picks, read from the start-up lines
        self.port = wait_banner(self, r"guardrail is screening on http://127\.0\.0\.1:(\d+)/v1")
        if admin:
            self.admin_port = wait_banner(
                self, r"The dashboard for the chatbot's owners: http://127\.0\.0\.1:(\d+)/")
        wait_http(self.port, "/readyz")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stops the gateway; it must exit 0 (a leak under ASan, a crash or a hang fails)."""
        rc = self.stop()
        if exc_type is None and rc != 0:
            raise AssertionError("gateway exited %s:\n%s" % (rc, self.output()[-3000:]))
        return False

    def admin_get(self, path, token="admin-secret"):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=15)
        c.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def conn(self, timeout=15):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def post(self, body, headers=None, path="/v1/chat/completions", raw=None):
        c = self.conn()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=raw if raw is not None else json.dumps(body), headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def chat(self, content, mock=None, stream=False, **extra):
        body = {"model": "mock-1", "messages": [{"role": "user", "content": content}]}
        if mock is not None:
            body["mock"] = mock
        if stream:
            body["stream"] = True
        body.update(extra)
        return self.post(body)

    def incident_lines(self, wait_for=1, timeout=5, until=None):
        """The incident log's lines, once there are wait_for of them (or until(lines) holds):
        the recorder writes in batches, a moment after the request."""
        deadline = time.time() + timeout
        lines = []
        while time.time() < deadline:
            if os.path.exists(self.incidents):
                with open(self.incidents) as f:
                    lines = [json.loads(l) for l in f if l.strip()]
                if (until(lines) if until else len(lines) >= wait_for):
                    break
            time.sleep(0.05)
        return lines


def recv_all(s):
    """Reads a socket until the other end closes it, then closes it."""
    got = b""
    while True:
        b = s.recv(8192)
        if not b:
            break
        got += b
    s.close()
    return got


def sse_events(data):
    """Splits an SSE body into its data payloads (strings), in order."""
    text = data.decode("utf-8")
    assert text.endswith("\n\n"), "stream does not end with a blank line: %r" % text[-80:]
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        payload = "\n".join(l[5:].lstrip(" ") for l in block.split("\n") if l.startswith("data:"))
        events.append(payload)
    return events


def stream_text(events):
    """The assistant text of a chat completion stream, and the last finish_reason."""
    text, finish = "", None
    for e in events:
        if e == "[DONE]":
            continue
        obj = json.loads(e)
        for ch in obj.get("choices", []):
            text += ch.get("delta", {}).get("content") or ""
            finish = ch.get("finish_reason") or finish
    return text, finish
