// Starts the real guardrail binary for one test file: a YAML config with the built-in mock
// provider (`type: mock`, which speaks chat completions, Anthropic Messages and the
// Responses API) and the end-to-end rules (tests/e2e/rules), on a loopback port it picks
// itself (../../listening.mjs).
// Not a test file itself (node --test runs only *.test.mjs here).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startListening, waitFor } from '../../listening.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.GUARDRAIL_BIN || path.join(here, '..', '..', '..', 'build', 'guardrail');
const rules = path.join(here, '..', 'rules');
const STOP_WAIT_MS = 20000;

// What the rules in tests/e2e/rules/e2e.yaml answer with.
export const OVERRIDE_MESSAGE = 'I can only help with questions about your Acme Outfitters order.';
export const GUARANTEE_MESSAGE = 'Let me connect you with our team for the details of our guarantees.';
export const CARD = '4111 1111 1111 1111';
export const EMAIL = 'ops@example.com';

// Starts `guardrail serve --config FILE`; returns { root, stop } where root is
// http://127.0.0.1:PORT (no /v1) and stop() ends it and checks it exits 0.
export async function startGateway() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guardrail-sdk-'));
  const config = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(config, [
    'listen: 127.0.0.1:0',
    'workers: 1',
    `rules: ${JSON.stringify(rules)}`,
    'providers:',
    '  - name: mock',
    '    type: mock',
    'policy:',
    '  fail_mode: closed',
    '  screen_roles: [user]',
    '  screen_replies: true',
    '  block_style: completion',
    'log_level: warn',
    '',
  ].join('\n'));
  const { proc, port } = await startListening(bin, ['serve', '--config', config]);
  const root = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${root}/readyz`, proc);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return {
    root,
    // SIGTERM, then at most STOP_WAIT_MS for the process to exit (drain_timeout_s is 10 s);
    // past that it is killed and the test fails: a gateway must exit 0 on SIGTERM.
    async stop() {
      const exited = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve()
        : new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      let timer;
      const hung = await Promise.race([
        exited.then(() => false),
        new Promise((r) => { timer = setTimeout(() => r(true), STOP_WAIT_MS); }),
      ]);
      clearTimeout(timer);
      if (hung) {
        proc.kill('SIGKILL');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
      assert.ok(!hung, `guardrail did not exit within ${STOP_WAIT_MS} ms of SIGTERM`);
      assert.deepEqual({ code: proc.exitCode, signal: proc.signalCode }, { code: 0, signal: null },
        'guardrail exits 0 on SIGTERM');
    },
  };
}
