/**
 * Chat templates as HF's `apply_chat_template` renders them: the Jinja
 * template from `chat_template.jinja` or `tokenizer_config.json`'s
 * `chat_template` (a string, or a list of named templates: `default` is
 * used), rendered by @huggingface/jinja with `messages`,
 * `add_generation_prompt` and the special tokens (`bos_token`, `eos_token`,
 * `unk_token`, `pad_token`) as strings. The rendered text carries its own
 * special tokens, so it is tokenized without adding BOS (HF tokenizes it with
 * add_special_tokens=False).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { readJsonFile } from '../io/json.ts';

/** One chat turn. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | string;
  readonly content: string;
}

export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string, private readonly specials: Readonly<Record<string, string>>, readonly where: string) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new Error(`${where}: the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** The model folder's template, or undefined when it has none. */
  static fromFolder(dir: string): ChatTemplate | undefined {
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgFile) ? readJsonFile(cfgFile) : {};
    const specials: Record<string, string> = {};
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const v = cfg[k];
      const s = typeof v === 'string' ? v : (v as { content?: unknown } | null | undefined)?.content;
      if (typeof s === 'string') specials[k] = s;
    }
    const jinjaFile = path.join(dir, 'chat_template.jinja');
    if (fs.existsSync(jinjaFile)) return new ChatTemplate(fs.readFileSync(jinjaFile, 'utf8'), specials, jinjaFile);
    let t = cfg.chat_template;
    if (Array.isArray(t)) t = (t.find((x: { name?: string }) => x?.name === 'default') as { template?: string } | undefined)?.template;
    if (typeof t !== 'string' || !t) return undefined;
    return new ChatTemplate(t, specials, cfgFile);
  }

  /** Renders `messages`; `addGenerationPrompt` opens the assistant's turn. Template errors (raise_exception) name the file. */
  render(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({ messages: messages.map((m) => ({ ...m })), add_generation_prompt: addGenerationPrompt, ...this.specials });
    } catch (e) {
      throw new Error(`${this.where}: the chat template refused the conversation: ${(e as Error).message}`);
    }
  }
}
