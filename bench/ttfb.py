#!/usr/bin/env python3
"""Time to first byte of a streamed reply, straight from the provider and through the
gateway, measured alternately in one run (the guardrail mock provider streams the reply).

Two figures per path: the first byte of the response (status line) and the first byte of
reply text. The reply's first delta is larger than the gateway's hold-back, so text can be
released at once: the difference is what the gateway adds beyond the hold-back. A second
run with small deltas shows the hold-back itself (the gateway waits for enough text).

usage: bench/ttfb.py [--bin build-bench/guardrail] [-n 200]"""
import argparse, http.client, json, os, socket, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build-bench", "guardrail"))
ap.add_argument("-n", type=int, default=200)
args = ap.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port, path):
    # a fresh cache: the gateway compiles the default packs first (a minute or more on
    # 2 cores since they reached 850 patterns)
    for _ in range(3000):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("nothing on port %d" % port)


def measure(port, reply, chunk, delay_ms):
    body = json.dumps({"model": "mock-1", "stream": True, "messages": [{"role": "user", "content": "hello there"}],
                       "mock": {"reply": reply, "chunk": chunk, "chunk_delay_ms": delay_ms}}).encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    t0 = time.perf_counter()
    s.sendall(req)
    first = text = None
    buf = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        now = time.perf_counter()
        first = first or now
        buf += b
        if text is None and b'"content":"' in buf.replace(b'"content":""', b""):
            text = now
            break
    s.close()
    return (first - t0) * 1e3, ((text or now) - t0) * 1e3


mock_port, gw_port = free_port(), free_port()
cache = tempfile.mkdtemp()
env = dict(os.environ, GUARDRAIL_CACHE_DIR=cache)
mock = subprocess.Popen([args.bin, "mock", "--listen", "127.0.0.1:%d" % mock_port], stderr=subprocess.DEVNULL)
gw = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:%d" % gw_port, "--workers", "1",
                       "--rules", "rules", "--upstream", "http://127.0.0.1:%d/v1" % mock_port],
                      stderr=subprocess.DEVNULL, env=env)
try:
    wait(mock_port, "/v1/models")
    wait(gw_port, "/readyz")
    big = "Thanks for getting in touch with Acme Outfitters about your order. " * 6  # > hold-back
    small = "Thanks for getting in touch with Acme Outfitters about your order today."
    rows = []
    for label, reply, chunk, delay in (("first delta larger than the hold-back", big, 400, 20),
                                       ("4-byte deltas every 5 ms (token-like)", small * 3, 4, 5)):
        d, g = [], []
        for i in range(args.n):
            d.append(measure(mock_port, reply, chunk, delay))
            g.append(measure(gw_port, reply, chunk, delay))
        med = lambda xs, k: statistics.median(x[k] for x in xs)
        rows.append((label, med(d, 0), med(g, 0), med(d, 1), med(g, 1)))
    print("\nStreamed reply, median of %d requests each, alternating (ms)\n" % args.n)
    print("| reply | first byte direct | first byte via gateway | first text direct | first text via gateway | added to first text |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, fd, fg, td, tg in rows:
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.3f |" % (label, fd, fg, td, tg, tg - td))
finally:
    for p in (gw, mock):
        p.terminate()
        p.wait()
