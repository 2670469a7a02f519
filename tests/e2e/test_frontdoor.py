"""End-to-end tests of the front door: slow clients, the connection cap, running out of
file descriptors, the answers evhttp used to give itself, clients that leave early, and the
budget on replies read whole. Run: python3 -m unittest -v tests/e2e/test_frontdoor.py"""
import http.client
import json
import os
import re
import resource
import socket
import threading
import time
import unittest

from harness import Gateway, Mock, ScriptedProvider, free_port, wait_http


def read_answer(sock, timeout=10):
    """Reads one HTTP answer (until the peer closes, or Content-Length is met): the status
    and the body parsed as JSON, or None when the connection ended with no answer."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length: *(\d+)", head)
            if sep and m and len(body) >= int(m.group(1)):
                break
    except (ConnectionResetError, socket.timeout):
        pass
    if not data:
        return None, None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else None


def raw(port, data, timeout=10):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)
        return read_answer(s, timeout)


CHAT = json.dumps({"model": "mock-1", "messages": [{"role": "user", "content": "Hello"}]})


def slow_stream(words):
    """A streamed chat request whose reply comes 5 bytes every 50 ms."""
    return json.dumps({"model": "mock-1", "stream": True, "messages": [
        {"role": "user", "content": "Hello"}], "mock": {
            "reply": "word " * words, "chunk": 5, "chunk_delay_ms": 50}})


def post_raw(port, body, extra=b"", close=False):
    """Sends a POST of body to the chat route on a new socket (extra after it); returns it."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
               "application/json\r\n%sContent-Length: %d\r\n\r\n%s"
               % ("Connection: close\r\n" if close else "", len(body), body)).encode() + extra)
    return s


def read_all(s, timeout=20):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    return data


class SlowClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.gw = Gateway(cls.mock.url, workers=1, admin=True, config_text=(
            "limits:\n  header_timeout_s: 1\n  body_timeout_s: 1\n  idle_timeout_s: 30\n"))

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.mock.stop()

    def trickle(self, first, rest, gap=0.25):
        """Sends first, then rest a byte at a time; returns (answer, seconds to it)."""
        s = socket.create_connection(("127.0.0.1", self.gw.port))
        t0 = time.time()
        s.sendall(first)
        try:
            for b in rest:
                s.sendall(bytes([b]))
                time.sleep(gap)
                s.setblocking(False)
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        break
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(s, timeout=10)
        s.close()
        return answer, time.time() - t0

    def test_headers_sent_a_byte_at_a_time_get_408_at_the_deadline(self):
        # evhttp's one inactivity timer restarts with each byte: such a client used to keep
        # its connection for as long as it kept sending
        (status, body), took = self.trickle(b"POST /v1/chat/completions HTTP/1.1\r\n",
                                            b"X-Slow: " + b"a" * 200 + b"\r\n")
        self.assertEqual(status, 408)
        self.assertEqual(body["error"]["code"], "request_timeout")
        self.assertIn("headers", body["error"]["message"])
        self.assertLess(took, 4)

    def test_a_body_sent_a_byte_at_a_time_gets_408_at_the_deadline(self):
        head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                "application/json\r\nContent-Length: %d\r\n\r\n" % len(CHAT)).encode()
        (status, body), took = self.trickle(head, CHAT.encode())
        self.assertEqual(status, 408)
        self.assertIn("body", body["error"]["message"])
        self.assertLess(took, 4)

    def test_an_idle_keep_alive_connection_is_not_a_slow_request(self):
        c = self.gw.conn()
        c.request("POST", "/v1/chat/completions", body=CHAT,
                  headers={"Content-Type": "application/json"})
        self.assertEqual(c.getresponse().read() and 200, 200)
        time.sleep(2.2)  # past both deadlines, within idle_timeout_s
        c.request("POST", "/v1/chat/completions", body=CHAT,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        c.close()

    def test_a_request_sent_whole_is_answered(self):
        status, body = raw(self.gw.port, ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Type: application/json\r\nConnection: close"
                                          "\r\nContent-Length: %d\r\n\r\n%s"
                                          % (len(CHAT), CHAT)).encode())
        self.assertEqual(status, 200)
        self.assertEqual(body["object"], "chat.completion")

    def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(self):
        # an idle connection held the connection cap for the keep-alive timeout (60 s)
        s = socket.create_connection(("127.0.0.1", self.gw.port))
        s.settimeout(5)
        t0 = time.time()
        self.assertEqual(s.recv(100), b"")  # closed without an answer: it asked nothing
        self.assertLess(time.time() - t0, 4)
        s.close()

    def test_bytes_during_a_long_reply_do_not_cut_it_with_a_408(self):
        # a stray line break after the request armed the header deadline, and its 408 was
        # written into the middle of the streamed reply
        s = post_raw(self.gw.port, slow_stream(50), extra=b"\r\n", close=True)
        data = read_all(s)
        s.close()
        # the 408 as evhttp writes it: a second status line (the bare digits may be in the
        # reply's "created" clock or its random request id, as a CI run once found)
        self.assertNotIn(b"HTTP/1.1 408", data)
        self.assertNotIn(b"Request Timeout", data)
        self.assertEqual(data.count(b"HTTP/1."), 1, data[:300])
        self.assertIn(b"data: [DONE]", data)
        self.assertTrue(data.endswith(b"0\r\n\r\n"), data[-200:])

    def test_bytes_sent_during_a_reply_are_not_all_taken_into_memory(self):
        # nothing reads a connection's input while its reply goes out, and evhttp went on
        # reading: a client sending junk alongside a long stream grew the gateway by what it
        # sent (300 MB in a second)
        before = peak_rss_mb(self.gw.p.pid)
        s = post_raw(self.gw.port, slow_stream(60))
        s.settimeout(0.2)
        junk = b"x" * (1 << 20)
        sent, t0 = 0, time.time()
        while time.time() - t0 < 3 and sent < (200 << 20):
            try:
                sent += s.send(junk)
            except (socket.timeout, BlockingIOError):
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
        s.close()
        grown = peak_rss_mb(self.gw.p.pid) - before
        self.assertLess(grown, 48, "the gateway took %.0f MB of %d MB sent" % (grown, sent >> 20))

    def test_a_client_gone_mid_stream_is_counted_and_recorded_499(self):
        _, before = self.gw.admin_get("/metrics")
        n0 = int(re.search(rb"guardrail_client_gone_total (\d+)", before).group(1))
        s = post_raw(self.gw.port, slow_stream(100))
        s.settimeout(10)
        self.assertIn(b"200 OK", s.recv(4096))
        s.close()
        deadline = time.time() + 5
        n1 = n0
        while time.time() < deadline and n1 == n0:
            time.sleep(0.1)
            _, after = self.gw.admin_get("/metrics")
            n1 = int(re.search(rb"guardrail_client_gone_total (\d+)", after).group(1))
        self.assertEqual(n1, n0 + 1)
        self.assertRegex(after.decode(), r'guardrail_responses_total\{api="chat_completions",code="4xx"\} [1-9]')

    def test_the_timeouts_are_counted_in_metrics(self):
        answered = rb'guardrail_responses_total\{api="other",code="4xx"\} (\d+)'
        _, page = self.gw.admin_get("/metrics")
        m = re.search(answered, page)
        before = int(m.group(1)) if m else 0
        self.trickle(b"GET /healthz HTTP/1.1\r\n", b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n")
        _, page = self.gw.admin_get("/metrics")
        m = re.search(rb'guardrail_client_timeouts_total\{phase="headers"\} (\d+)', page)
        self.assertIsNotNone(m)
        self.assertGreaterEqual(int(m.group(1)), 1)
        # the 408 is an answer too (the path was not read: "other")
        self.assertGreaterEqual(int(re.search(answered, page).group(1)), before + 1)
        self.assertIn(b"guardrail_client_connections ", page)


class EvhttpsOwnAnswers(unittest.TestCase):
    """Answers evhttp used to give itself as an HTML page (or a reset)."""

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.gw = Gateway(cls.mock.url, workers=1, config_text="limits:\n  max_body_bytes: 1024\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.mock.stop()

    def test_a_body_over_the_hard_cap_is_a_json_413_the_client_reads(self):
        # over twice max_body_bytes (here 1 KiB + 1 MiB) evhttp closed the connection while
        # the client still sent: http.client (like the openai SDK) saw a broken pipe
        body = json.dumps({"model": "mock-1", "messages": [
            {"role": "user", "content": "x" * (3 << 20)}]})
        c = self.gw.conn(timeout=30)
        c.request("POST", "/v1/chat/completions", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        answer = json.loads(r.read())
        self.assertEqual(r.status, 413)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(answer["error"]["code"], "request_too_large")
        c.close()

    def test_a_body_over_the_limit_under_the_cap_is_a_json_413(self):
        r, data = self.gw.post(None, raw=json.dumps({"model": "mock-1", "messages": [
            {"role": "user", "content": "x" * 4096}]}))
        self.assertEqual(r.status, 413)
        self.assertIn("error", json.loads(data))

    def test_a_header_block_over_64_kb_is_a_json_431(self):
        status, body = raw(self.gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                           b"a" * (70 * 1024) + b"\r\n\r\n")
        self.assertEqual(status, 431)
        self.assertEqual(body["error"]["code"], "request_header_fields_too_large")

    def test_a_request_evhttp_cannot_read_is_a_json_400(self):
        for junk in (b"NONSENSE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n"):
            status, body = raw(self.gw.port, junk)
            self.assertEqual(status, 400, junk)
            self.assertEqual(body["error"]["code"], "invalid_request", junk)

    def test_a_request_hidden_in_a_refused_expect_body_never_runs(self):
        # libevent answers an Expect other than 100-continue with 417 before the body; the
        # connection must close, or the body is read as the next request
        hidden = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.gw.port)) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % len(hidden) + hidden)
            data = read_all(s, timeout=5)
        self.assertIn(b" 417 ", data.split(b"\r\n")[0])
        self.assertIn(b"expectation_failed", data)
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)

    def test_conflicting_content_lengths_are_refused_on_every_route(self):
        hidden = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        for path in (b"/healthz", b"/v1/models", b"/nowhere"):
            with socket.create_connection(("127.0.0.1", self.gw.port)) as s:
                s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden)
                status, body = read_answer(s)
                rest = b""
                try:
                    rest = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    pass
            self.assertEqual(status, 400, path)
            self.assertEqual(body["error"]["code"], "invalid_content_length", path)
            self.assertEqual(rest, b"", path)

    def test_head_answers_carry_no_body(self):
        with socket.create_connection(("127.0.0.1", self.gw.port)) as s:
            s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_all(s, timeout=5)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        self.assertEqual(body, b"")

    def test_every_method_gets_a_json_answer(self):
        # evhttp answered the methods it was not told to allow with an HTML 501
        for method in (b"TRACE", b"CONNECT", b"OPTIONS", b"BREW"):
            status, body = raw(self.gw.port, method + b" /v1/chat/completions HTTP/1.1\r\n"
                               b"Host: x\r\nConnection: close\r\n\r\n")
            self.assertIn(status, (404, 405), method)
            self.assertIn("message", body["error"], method)


class Connections(unittest.TestCase):
    def test_the_connection_cap_pauses_accepting_until_one_closes(self):
        mock = Mock()
        try:
            with Gateway(mock.url, workers=1, config_text=(
                    "limits:\n  max_connections: 3\n  header_timeout_s: 30\n")) as gw:
                held = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(3)]
                time.sleep(0.3)
                late = socket.create_connection(("127.0.0.1", gw.port))  # the backlog takes it
                late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                status, _ = read_answer(late, timeout=1.0)
                self.assertIsNone(status)  # not accepted while three are open
                held.pop().close()
                status, body = read_answer(late, timeout=5)
                self.assertEqual(status, 200)
                self.assertEqual(body, {"status": "ok"})
                late.close()
                for s in held:
                    s.close()
                self.assertIn("the cap (limits.max_connections)", gw.output())
        finally:
            mock.stop()

    def test_out_of_file_descriptors_the_listener_backs_off(self):
        # at the descriptor limit accept() failed on every loop turn: 100% CPU and a warning
        # per failure on stderr
        mock = Mock()

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

        try:
            with Gateway(mock.url, workers=1, preexec=low_limit, admin=True) as gw:
                held = []
                for _ in range(150):
                    held.append(socket.create_connection(("127.0.0.1", gw.port)))
                # the admin listener too (one scrape is enough), and it backs off the same
                held.append(socket.create_connection(("127.0.0.1", gw.admin_port)))
                time.sleep(0.5)
                cpu0 = cpu_seconds(gw.p.pid)
                time.sleep(3)
                used = cpu_seconds(gw.p.pid) - cpu0
                self.assertLess(used, 0.6, "the listener spins at the descriptor limit")
                out = gw.output()
                warnings = out.count("out of file descriptors") + out.count("accept failed")
                self.assertGreaterEqual(warnings, 1)
                self.assertLessEqual(warnings, 12)
                self.assertNotIn("Error from accept() call", out)
                for s in held:
                    s.close()
                deadline = time.time() + 10
                while time.time() < deadline:
                    try:
                        c = gw.conn(timeout=3)
                        c.request("GET", "/healthz")
                        if c.getresponse().status == 200:
                            break
                    except OSError:
                        time.sleep(0.2)
                else:
                    self.fail("the gateway did not accept again")
        finally:
            mock.stop()


class StreamsCutShort(unittest.TestCase):
    def test_a_chat_stream_that_ends_without_done_ends_with_an_error(self):
        # it reached the client as a success: the gateway added its own [DONE]
        provider = ScriptedProvider()
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Our store opens at"},
                              "finish_reason": None}]}
        provider.reply = (200, "text/event-stream", ("data: %s\n\n" % json.dumps(chunk)).encode())
        try:
            with Gateway(provider.url, workers=1) as gw:
                for path, body in (("/v1/chat/completions", {"model": "m", "stream": True,
                                    "messages": [{"role": "user", "content": "Hi"}]}),
                                   ("/v1/completions", {"model": "m", "stream": True,
                                                        "prompt": "Hi"})):
                    if path == "/v1/completions":
                        chunk["object"] = "text_completion"
                        chunk["choices"] = [{"index": 0, "text": "Our store opens at",
                                             "finish_reason": None}]
                        provider.reply = (200, "text/event-stream",
                                          ("data: %s\n\n" % json.dumps(chunk)).encode())
                    r, data = gw.post(body, path=path)
                    events = [l[6:] for l in data.decode().split("\n") if l.startswith("data: ")]
                    self.assertEqual(events[-1], "[DONE]", path)
                    self.assertEqual(events.count("[DONE]"), 1, path)
                    self.assertEqual(json.loads(events[-2])["error"]["code"],
                                     "provider_stream_error", path)
        finally:
            provider.stop()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ClientsThatLeave(unittest.TestCase):
    def test_a_client_gone_before_the_first_byte_cancels_the_provider_call(self):
        # the provider call (and its tokens) ran on until the reply was written
        mock = Mock()
        try:
            with Gateway(mock.url, workers=1, admin=True) as gw:
                s = post_raw(gw.port, json.dumps({"model": "mock-1", "mock": {"delay_ms": 8000},
                                                  "messages": [{"role": "user",
                                                                "content": "Hello"}]}))
                time.sleep(0.5)
                t0 = time.time()
                s.close()
                while time.time() - t0 < 3 and "client went away" not in gw.output():
                    time.sleep(0.05)
                self.assertIn("client went away", gw.output())
                self.assertLess(time.time() - t0, 3)
                _, page = gw.admin_get("/metrics")
                self.assertIn(b"guardrail_client_gone_total 1\n", page)
        finally:
            mock.stop()


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class RepliesReadWhole(unittest.TestCase):
    """Plain replies are read whole before they are screened, and then wait for the client:
    12 slow clients receiving 28 MB replies took the gateway from 49 MB to 1 GB."""

    def setUp(self):
        self.provider = ScriptedProvider()
        text = "Our store opens at nine and closes at six. " * (28 * 1024 * 1024 // 44)
        self.provider.reply = (200, "application/json", json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "mock-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}]}).encode())

    def tearDown(self):
        self.provider.stop()

    def test_slow_clients_of_large_replies_stay_within_the_budget(self):
        # ASan keeps freed memory in quarantine (256 MB by default): keep it small here, so
        # that the peak measures what the gateway holds
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}
        with Gateway(self.provider.url, workers=2, env=env, admin=True,
                     config_text="limits:\n  screen_budget_ms: 0\n") as gw:
            base = peak_rss_mb(gw.p.pid)
            clients = []
            for _ in range(12):
                clients.append(post_raw(gw.port, CHAT))
            time.sleep(8)  # the replies come in, are screened, and wait for the slow clients
            statuses = []
            for s in clients:
                status, _ = read_head_and_drain(s)
                statuses.append(status)
                s.close()
            peak = peak_rss_mb(gw.p.pid)
            _, page = gw.admin_get("/metrics")
        self.assertLess(peak, 256, "peak RSS %.0f MB (at start %.0f MB)" % (peak, base))
        self.assertIn(200, statuses)
        self.assertIn(503, statuses)
        self.assertEqual(set(statuses) - {200, 503}, set())
        self.assertRegex(page.decode(), r'guardrail_replies_refused_total\{reason="buffer_full"\} [1-9]')
        self.assertIn(b"guardrail_reply_buffer_bytes 0\n", page)

    def test_a_reply_over_max_reply_bytes_is_a_502_that_says_so(self):
        with Gateway(self.provider.url, workers=1,
                     config_text="limits:\n  max_reply_bytes: 1048576\n") as gw:
            r, data = gw.post(json.loads(CHAT))
            self.assertEqual(r.status, 502)
            self.assertEqual(json.loads(data)["error"]["code"], "reply_too_large")


def read_head_and_drain(sock):
    """Reads a whole answer, slowly enough to be a slow client at first; returns its status
    and its body's length."""
    sock.settimeout(60)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, 0
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    want = int(m.group(1)) if m else 0
    n = len(body)
    while n < want:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    return int(head.split(b" ", 2)[1]), n


if __name__ == "__main__":
    unittest.main()
