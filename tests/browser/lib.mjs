// What the browser tests share: the binary, free ports, waiting for a listener, a chat
// request through a gateway, and headless Chromium.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const bin = process.env.GUARDRAIL_BIN || path.join(here, '..', '..', 'build', 'guardrail');
export const e2eRules = path.join(here, '..', 'e2e', 'rules', 'e2e.yaml');

export const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

export async function waitFor(url, ok = (r) => r.ok) {
  for (let i = 0; i < 600; i++) {
    try {
      if (ok(await fetch(url))) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nothing answered at ' + url);
}

// One chat completion through the gateway on port; it must be answered 200.
export async function chat(port, text, tenant, reply) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'x-guardrail-tenant': tenant },
    body: JSON.stringify({ model: 'mock-1', messages: [{ role: 'user', content: text }],
      mock: reply ? { reply } : undefined }),
  });
  assert.equal(r.status, 200);
  await r.text();
}

export const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// Stops the processes, last started first, each waited for.
export async function stopAll(procs) {
  for (const p of [...procs].reverse()) {
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await done;
  }
}
