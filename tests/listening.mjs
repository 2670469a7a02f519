// Starting the real binary on ports it picks itself, for the node test suites
// (tests/e2e/sdk, tests/e2e/openai, tests/browser). node --test runs a suite's files
// side by side, and a port probed free was once taken (by another file's client
// connection) before the gateway bound it, which then refused to start; a port the
// kernel picks at bind time cannot be taken. No dependencies: each suite has its own
// node_modules.
import { spawn } from 'node:child_process';

// What guardrail prints once it listens: `serve` (and its admin listener) and `mock`.
const LISTENING = {
  port: /(?:guardrail is screening|mock provider listening) on http:\/\/127\.0\.0\.1:(\d+)\/v1/,
  admin: /The dashboard for the chatbot's owners: http:\/\/127\.0\.0\.1:(\d+)\/dashboard/,
};

// Starts `bin ARGS`, which must listen on 127.0.0.1:0 (and, with --admin, have its admin
// listener there too), and resolves with { proc, port, admin }: the ports its start-up
// lines name. Its stderr is passed on to ours as it comes.
export function startListening(bin, args, env = process.env) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const wanted = args.includes('--admin') ? ['port', 'admin'] : ['port'];
  return new Promise((resolve, reject) => {
    const got = { proc };
    let seen = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      if (seen === null) return;
      seen += chunk;
      for (const k of wanted) {
        const m = LISTENING[k].exec(seen);
        if (m) got[k] = Number(m[1]);
      }
      if (wanted.every((k) => got[k])) {
        seen = null;
        resolve(got);
      }
    });
    proc.once('exit', (code, signal) => {
      if (seen !== null) reject(new Error(`guardrail ${args[0]} exited (${code ?? signal}) before listening`));
    });
  });
}

// Resolves once url answers 2xx (within 30 s); fails at once if proc, when given, exits.
export async function waitFor(url, proc) {
  for (let i = 0; i < 600; i++) {
    if (proc && proc.exitCode !== null) throw new Error(`guardrail exited with ${proc.exitCode} before ready`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nothing answered at ' + url);
}
