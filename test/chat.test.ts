/**
 * Chat templates render what HF's apply_chat_template renders (a fixture of
 * expected strings for google/gemma-2b-it's template, fields copied from its
 * tokenizer_config.json), and --chat wraps prompts on generate, steer and sweep.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { buildServer } from '../src/server/app.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ChatTemplate, type ChatMessage } from '../src/tokenizer/chatTemplate.ts';
import { loadModel } from '../src/model/load.ts';
import { fixtures, needsShared, root, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const gemmaDir = path.join(fixtures, 'chat-gemma-2b-it');
const skip = needsShared();

test("gemma-2b-it's chat template renders exactly what apply_chat_template renders", () => {
  const t = ChatTemplate.fromFolder(gemmaDir)!;
  const { cases } = JSON.parse(fs.readFileSync(path.join(gemmaDir, 'expected.json'), 'utf8')) as { cases: { messages: ChatMessage[]; add_generation_prompt: boolean; expected: string }[] };
  for (const c of cases) assert.equal(t.render(c.messages, c.add_generation_prompt), c.expected);
  assert.throws(() => t.render([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }]), /tokenizer_config\.json: the chat template refused the conversation: .*System role not supported/);
});

test('a template list picks "default"; chat_template.jinja wins; no template is undefined', () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: { content: '<s>' }, chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: '{{ bos_token }}[{{ messages[0].content }}]' }] }));
  assert.equal(ChatTemplate.fromFolder(dir)!.render([{ role: 'user', content: 'x' }]), '<s>[x]');
  fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{{ messages[0].content }}!');
  assert.equal(ChatTemplate.fromFolder(dir)!.render([{ role: 'user', content: 'x' }]), 'x!');
  const none = tmpDir();
  fs.writeFileSync(path.join(none, 'tokenizer_config.json'), '{}');
  assert.equal(ChatTemplate.fromFolder(none), undefined);
});

/** TinyStories-656K with gemma's template shape over its own special tokens. */
function chatModel(template = "{{ bos_token }}{% for m in messages %}{{ m['content'] | trim }}{% endfor %}{% if add_generation_prompt %}{{ ' Once' }}{% endif %}"): string {
  const dir = tmpDir();
  for (const f of fs.readdirSync(tinyStories)) fs.copyFileSync(path.join(tinyStories, f), path.join(dir, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  cfg.chat_template = template;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  return dir;
}

test('--chat wraps the prompt as a user turn (no second BOS); without a template it is a clear error', { skip }, async () => {
  const dir = chatModel();
  const model = await loadModel(dir);
  const ids = model.chatPrompt('  upon a time,');
  // HF tokenizes the rendered text with add_special_tokens=False: the template's own BOS, once.
  assert.deepEqual(ids, model.tokenizer!.encode('<|start_story|>upon a time, Once', { bos: false }));
  assert.equal(ids[0], model.spec.bosTokenId ?? 1);
  assert.equal(ids.filter((i) => i === ids[0]).length, 1);
  const cli = (args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = JSON.parse(cli(['generate', '--model', dir, '--chat', '--temperature', '0', '--max-new-tokens', '5', '--json', 'upon a time,']));
  assert.deepEqual(out.promptIds, ids);
  assert.throws(() => cli(['generate', '--model', tinyStories, '--chat', '--max-new-tokens', '2', 'hi']), /has no chat template .*--chat needs an instruct model's template/);
  const plain = await loadModel(tinyStories);
  assert.equal(plain.hasChatTemplate, false);
  assert.equal(model.hasChatTemplate, true);
});

test('a chat template is bounded: huge numbers are refused at load, range() has one budget per render (nested loops too), an empty render names the template', async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  assert.throws(() => new ChatTemplate('{% for i in range(100000000) %}x{% endfor %}', {}, 'bomb.jinja'), /bomb\.jinja: the chat template does not parse: it writes the number 100000000, over the 1000000/);
  const nested = new ChatTemplate('{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}', {}, 'nested.jinja');
  assert.throws(() => nested.render(msgs), /nested\.jinja: the chat template refused the conversation: range\(\) would yield 100000 items, past the 100000/);
  // Within the budget it renders as Python's range would.
  assert.equal(new ChatTemplate('{% for i in range(2, 11, 3) %}{{ i }},{% endfor %}{{ messages[0].content }}', {}, 'ok.jinja').render(msgs), '2,5,8,hi');
  assert.equal(new ChatTemplate('{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}', {}, 'down.jinja').render(msgs), '321');
  assert.throws(() => new ChatTemplate('{% if false %}x{% endif %}', {}, 'empty.jinja').render(msgs), /empty\.jinja: the chat template rendered nothing for this conversation/);
  // Many budgeted loops add up to the budget, not past it.
  const many = new ChatTemplate(`${'{% for i in range(60000) %}{% endfor %}'.repeat(2)}x`, {}, 'many.jinja');
  assert.throws(() => many.render(msgs), /range\(\) would yield 60000 items/);
});

test('a looping template on the CLI and on the server: a clear error, and the server answers other requests', { skip }, async () => {
  const dir = chatModel('{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}');
  const cli = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'generate', '--model', dir, '--chat', '--max-new-tokens', '2', 'hi'], { encoding: 'utf8', timeout: 120_000 });
  assert.notEqual(cli.status, 0);
  assert.match(cli.stderr, /tokenizer_config\.json: the chat template refused the conversation: range\(\) would yield 100000 items/);
  const model = await loadModel(dir);
  const data = tmpDir();
  const { app } = await buildServer(model, { saes: [{ dir: await trainedSae(), name: 'ts' }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  try {
    const h = { host: '127.0.0.1', 'content-type': 'application/json' };
    const [steered, info] = await Promise.all([
      app.inject({ method: 'POST', url: '/api/steer', headers: h, payload: JSON.stringify({ sae: 'ts', prompt: 'hi', chat: true, features: [{ feature: 1, strength: 1 }], maxNewTokens: 2 }) }),
      app.inject({ method: 'GET', url: '/api/info', headers: h }),
    ]);
    assert.equal(info.statusCode, 200);
    assert.match(steered.body, /"kind":"error".*the chat template refused the conversation: range\(\) would yield/);
    assert.equal((await app.inject({ method: 'GET', url: '/api/info', headers: h })).statusCode, 200, 'the server still answers');
  } finally {
    await app.close();
  }
});
