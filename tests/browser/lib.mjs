// What the browser tests share: the binary, starting it on ports it picks, free ports,
// waiting for a listener, a chat request through a gateway, and headless Chromium.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startListening as listening } from '../listening.mjs';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const bin = process.env.GUARDRAIL_BIN || path.join(here, '..', '..', 'build', 'guardrail');
export const e2eRules = path.join(here, '..', 'e2e', 'rules', 'e2e.yaml');

// A port nothing listens on and that this process has not handed out before: a port is
// free again once the probe closes, so two calls could otherwise return the same one.
const given = new Set();
const probe = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
export const freePort = async () => {
  for (;;) {
    const port = await probe();
    if (!given.has(port)) { given.add(port); return port; }
  }
};

// `guardrail ARGS` on ports it picks (see ../listening.mjs): { proc, port, admin }.
export const startListening = (args, env) => listening(bin, args, env);

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

// What must fit: every card inside the page's column, what each card holds inside the card
// (a table too wide shows as its box's scrollWidth past its clientWidth), no sideways
// scroll, and every chart's y labels inside its chart.
export async function overflows(page) {
  return page.evaluate(() => {
    const out = [];
    const main = document.querySelector('main').getBoundingClientRect();
    for (const e of document.querySelectorAll('.card')) {
      if (!e.offsetParent) continue; // not shown
      const r = e.getBoundingClientRect();
      if (r.left < main.left || r.right > main.right) out.push(`card ${e.id || e.querySelector('h2')?.textContent} runs past the page: ${r.right} > ${main.right}`);
    }
    for (const e of document.querySelectorAll('.card, .card > div, .tablebox'))
      if (e.scrollWidth > e.clientWidth) out.push(`${e.id || e.className} ${e.scrollWidth} > ${e.clientWidth}`);
    if (document.documentElement.scrollWidth > document.documentElement.clientWidth) out.push('the page scrolls sideways');
    for (const svg of document.querySelectorAll('.chart svg')) {
      const box = svg.getBoundingClientRect();
      for (const t of svg.querySelectorAll('text')) {
        const r = t.getBoundingClientRect();
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5) out.push(`label ${t.textContent} clipped`);
      }
    }
    return out;
  });
}
