// Starts what both test files here need: the built-in mock provider, and the gateway in
// front of it with the end-to-end rules, each on a port it picks (../../listening.mjs):
// node --test runs the files side by side, and a port probed free can be taken before it
// is bound. Not a test file itself (node --test runs only *.test.mjs here).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startListening, waitFor } from '../../listening.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.GUARDRAIL_BIN || path.join(here, '..', '..', '..', 'build', 'guardrail');
const rules = path.join(here, '..', 'rules');

// { mock, gateway, baseURL }: the two processes and the gateway's /v1 address.
export async function startGateway() {
  const mock = await startListening(bin, ['mock', '--listen', '127.0.0.1:0']);
  const upstream = `http://127.0.0.1:${mock.port}/v1`;
  await waitFor(`${upstream}/models`);
  const gw = await startListening(bin, ['serve', '--listen', '127.0.0.1:0', '--workers', '1',
    '--rules', rules, '--upstream', upstream]);
  await waitFor(`http://127.0.0.1:${gw.port}/readyz`);
  return { mock: mock.proc, gateway: gw.proc, baseURL: `http://127.0.0.1:${gw.port}/v1` };
}
