"""End-to-end tests of the process: how `guardrail serve` starts, refuses to start, and
stops. Run: python3 -m unittest -v tests/e2e/test_process.py"""
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, RULES, free_port, wait_http


def config(text=""):
    d = tempfile.mkdtemp(prefix="gw-proc-")
    path = os.path.join(d, "gateway.yaml")
    with open(path, "w") as f:
        f.write("rules: %s\n%s" % (RULES, text))
    return path


def serve(*args, cfg=None):
    return subprocess.Popen([BINARY, "serve", "--config", cfg or config()] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class Start(unittest.TestCase):
    def test_a_second_gateway_on_a_port_in_use_refuses_to_start(self):
        # every worker's listener sets SO_REUSEPORT, which let a second gateway bind the
        # same port and silently take half of its traffic
        port = free_port()
        first = serve("--listen", "127.0.0.1:%d" % port, "--upstream", "http://127.0.0.1:1/v1")
        try:
            wait_http(port, "/readyz")
            second = serve("--listen", "127.0.0.1:%d" % port,
                           "--upstream", "http://127.0.0.1:1/v1")
            out, _ = second.communicate(timeout=30)
            self.assertEqual(second.returncode, 1)
            self.assertIn(b"another process already listens there", out)
        finally:
            first.send_signal(signal.SIGTERM)
            self.assertEqual(first.wait(30), 0)

    def test_a_taken_admin_port_is_an_error_at_start(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            admin = taken.getsockname()[1]
            p = serve("--listen", "127.0.0.1:%d" % free_port(), "--upstream",
                      "http://127.0.0.1:1/v1", "--admin", "127.0.0.1:%d" % admin,
                      cfg=config("admin:\n  token: t\n"))
            out, _ = p.communicate(timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"admin", out)

    def test_sigterm_stops_the_gateway_with_the_built_in_mock(self):
        port = free_port()
        p = serve("--listen", "127.0.0.1:%d" % port,
                  cfg=config("providers:\n  - {name: demo, type: mock}\n"))
        wait_http(port, "/readyz")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 0)
        self.assertLess(time.monotonic() - t0, 15)


if __name__ == "__main__":
    unittest.main()
