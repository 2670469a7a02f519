#!/usr/bin/env python3
"""Resident memory of the gateway (default packs, 1 worker): at idle, with N idle keep-alive
clients (each has made one request), and while wrk drives 256 connections.

usage: bench/memory.py [--bin build-bench/guardrail] [--clients 1000]"""
import argparse, json, os, resource, shutil, socket, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build-bench", "guardrail"))
ap.add_argument("--clients", type=int, default=1000)
args = ap.parse_args()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients + 512)), hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait(port):
    # a fresh cache: the gateway compiles the default packs first (a minute or more on
    # 2 cores since they reached 850 patterns)
    for _ in range(3000):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("nothing on port %d" % port)


mock_port, gw_port = free_port(), free_port()
env = dict(os.environ, GUARDRAIL_CACHE_DIR=tempfile.mkdtemp())
limits = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
limits.write("limits:\n  idle_timeout_s: 600\n")
limits.close()
mock = subprocess.Popen([args.bin, "mock", "--listen", "127.0.0.1:%d" % mock_port], stderr=subprocess.DEVNULL)
gw = subprocess.Popen([args.bin, "serve", "--config", limits.name, "--listen", "127.0.0.1:%d" % gw_port,
                       "--workers", "1", "--rules", "rules", "--upstream", "http://127.0.0.1:%d/v1" % mock_port],
                      stderr=subprocess.DEVNULL, env=env)
try:
    wait(mock_port)
    wait(gw_port)
    time.sleep(1)
    body = json.dumps({"model": "mock-1", "messages": [{"role": "user", "content": "hello, where is my order?"}]}).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    # warm: one request so that the provider connection and buffers exist
    s = socket.create_connection(("127.0.0.1", gw_port)); s.sendall(req); s.recv(65536); s.close()
    idle = rss_mb(gw.pid)
    socks = []
    for i in range(args.clients):
        s = socket.create_connection(("127.0.0.1", gw_port))
        s.sendall(req)
        socks.append(s)
    for s in socks:
        got = b""
        while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
            got += s.recv(65536)
    time.sleep(0.5)
    keepalive = rss_mb(gw.pid)
    for s in socks:
        s.close()
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(gw.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample)
    t.start()
    if shutil.which("wrk"):
        subprocess.run(["wrk", "-t1", "-c256", "-d8s", "-s", os.path.join(os.path.dirname(__file__), "chat.lua"),
                        "http://127.0.0.1:%d/v1/chat/completions" % gw_port], capture_output=True)
    stop.set()
    t.join()
    print("\nGateway resident memory (1 worker, default packs)\n")
    print("| state | RSS MB |")
    print("|---|---:|")
    print("| idle, after one request | %.1f |" % idle)
    print("| %d idle keep-alive clients | %.1f |" % (args.clients, keepalive))
    print("| peak during wrk -c256 (8 s) | %s |" % ("%.1f" % peak[0] if shutil.which("wrk") else "wrk missing"))
finally:
    for p in (gw, mock):
        p.terminate()
        p.wait()
    os.unlink(limits.name)
