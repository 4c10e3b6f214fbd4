/**
 * Chat templates render what HF's apply_chat_template renders (a fixture of
 * expected strings for google/gemma-2b-it's template, fields copied from its
 * tokenizer_config.json), and --chat wraps prompts on generate, steer and sweep.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ChatTemplate, type ChatMessage } from '../src/tokenizer/chatTemplate.ts';
import { loadModel } from '../src/model/load.ts';
import { fixtures, needsShared, root, tinyStories, tmpDir } from './helpers.ts';

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
function chatModel(): string {
  const dir = tmpDir();
  for (const f of fs.readdirSync(tinyStories)) fs.copyFileSync(path.join(tinyStories, f), path.join(dir, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  cfg.chat_template = "{{ bos_token }}{% for m in messages %}{{ m['content'] | trim }}{% endfor %}{% if add_generation_prompt %}{{ ' Once' }}{% endif %}";
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
