// The official openai client's structured outputs and tool calls through the guardrail
// gateway (chat completions, built-in mock provider): a reply whose JSON holds an e-mail
// and a card number is redacted inside the JSON string values, so the SDK's parse()
// still parses it and the parsed fields hold the redaction tokens.
// Run: npm ci && GUARDRAIL_BIN=../../../build/guardrail node --test
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodResponseFormat, zodFunction } from 'openai/helpers/zod';
import { z } from 'zod';
import { startGateway, CARD, EMAIL } from './gateway.mjs';

let gw, client;

before(async () => {
  gw = await startGateway();
  client = new OpenAI({ baseURL: `${gw.root}/v1`, apiKey: 'sk-test', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

const Contact = z.object({ name: z.string(), email: z.string(), card: z.string(), note: z.string() });
const contactReply = JSON.stringify({
  name: 'Jo Doe', email: EMAIL, card: CARD, note: `Write to ${EMAIL} about card ${CARD}.`,
});
const contactRedacted = {
  name: 'Jo Doe', email: '[EMAIL]', card: '[CARD]', note: 'Write to [EMAIL] about card [CARD].',
};
const messages = [{ role: 'user', content: 'Give me the contact on file as JSON.' }];

test('parse() with a zod response_format: redacted JSON still parses', async () => {
  const r = await client.chat.completions.parse({
    model: 'mock-1', messages, response_format: zodResponseFormat(Contact, 'contact'),
    mock: { reply: contactReply },
  });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(m.content, JSON.stringify(contactRedacted));
  assert.deepEqual(m.parsed, contactRedacted);
});

test('parse() with a JSON-schema response_format: redacted JSON still parses', async () => {
  const r = await client.chat.completions.parse({
    model: 'mock-1', messages,
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'contact', strict: true,
        schema: {
          type: 'object', additionalProperties: false, required: ['name', 'email', 'card', 'note'],
          properties: { name: { type: 'string' }, email: { type: 'string' }, card: { type: 'string' },
            note: { type: 'string' } },
        },
      },
    },
    // pretty-printed, with an escaped quote next to the e-mail
    mock: { reply: JSON.stringify({ ...JSON.parse(contactReply), name: 'Jo "JD" Doe' }, null, 2) },
  });
  assert.deepEqual(r.choices[0].message.parsed, { ...contactRedacted, name: 'Jo "JD" Doe' });
});

test('stream() with a zod response_format: JSON redacted across chunks still parses', async () => {
  const stream = client.chat.completions.stream({
    model: 'mock-1', messages, response_format: zodResponseFormat(Contact, 'contact'),
    mock: { reply: contactReply, chunk: 3 },
  });
  const r = await stream.finalChatCompletion();
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].message.content, JSON.stringify(contactRedacted));
  assert.deepEqual(r.choices[0].message.parsed, contactRedacted);
});

const Lookup = z.object({ email: z.string(), order: z.number(), note: z.string() });
const lookupArgs = JSON.stringify({ email: EMAIL, order: 12345, note: `card ${CARD}` });
const lookupRedacted = { email: '[EMAIL]', order: 12345, note: 'card [CARD]' };

test('a tool call whose arguments hold an e-mail: arguments are redacted and still JSON', async () => {
  const r = await client.chat.completions.parse({
    model: 'mock-1', messages, tools: [zodFunction({ name: 'lookup', parameters: Lookup })],
    mock: { tool_arguments: lookupArgs },
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls.length, 1);
  const call = c.message.tool_calls[0];
  assert.equal(call.function.name, 'lookup');
  assert.equal(call.function.arguments, JSON.stringify(lookupRedacted));
  assert.deepEqual(JSON.parse(call.function.arguments), lookupRedacted);
  assert.deepEqual(call.function.parsed_arguments, lookupRedacted);
});

test('a streamed tool call: arguments redacted across chunks and still JSON', async () => {
  const stream = await client.chat.completions.create({
    model: 'mock-1', messages, stream: true,
    tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
    mock: { tool_arguments: lookupArgs, chunk: 3 },
  });
  let args = '';
  let finish = null;
  let pieces = 0;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      for (const t of c.delta?.tool_calls ?? []) {
        if (t.function?.arguments) {
          args += t.function.arguments;
          pieces++;
        }
      }
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(args, JSON.stringify(lookupRedacted));
  assert.deepEqual(JSON.parse(args), lookupRedacted);
  assert.ok(pieces >= 1);
});
