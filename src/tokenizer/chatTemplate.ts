/**
 * Chat templates as HF's `apply_chat_template` renders them: the Jinja
 * template from `chat_template.jinja` or `tokenizer_config.json`'s
 * `chat_template` (a string, or a list of named templates: `default` is
 * used), rendered by @huggingface/jinja with `messages`,
 * `add_generation_prompt` and the special tokens (`bos_token`, `eos_token`,
 * `unk_token`, `pad_token`) as strings. The rendered text carries its own
 * special tokens, so it is tokenized without adding BOS (HF tokenizes it with
 * add_special_tokens=False).
 *
 * A template is code from the model's folder, so rendering has a budget: the
 * numbers it may write are at most MAX_LITERAL (refused at load), `range()`
 * yields at most MAX_RANGE_ITEMS items over a whole render (nested loops
 * included), and the output is at most MAX_OUTPUT_CHARS; what passes these
 * renders in milliseconds, so a server stays responsive whatever a template
 * does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment, Interpreter, Template, tokenize } from '@huggingface/jinja';
import { readJsonFile } from '../io/json.ts';

/** One chat turn. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | string;
  readonly content: string;
}

/** Largest number a template may write, items `range()` may yield in one render, and characters it may render. */
export const MAX_LITERAL = 1_000_000;
export const MAX_RANGE_ITEMS = 100_000;
export const MAX_OUTPUT_CHARS = 1_000_000;
/** Longest template source accepted (characters). */
const MAX_SOURCE_CHARS = 1_000_000;

export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string, private readonly specials: Readonly<Record<string, string>>, readonly where: string) {
    if (source.length > MAX_SOURCE_CHARS) throw new Error(`${where}: the chat template has ${source.length} characters; the limit is ${MAX_SOURCE_CHARS}`);
    try {
      const big = tokenize(source).find((t: { type: string; value: string }) => t.type === 'NumericLiteral' && Math.abs(Number(t.value)) > MAX_LITERAL);
      if (big) throw new Error(`it writes the number ${big.value}, over the ${MAX_LITERAL} a chat template may use (a loop or padding that large is not a chat format)`);
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
    let budget = MAX_RANGE_ITEMS;
    // Python's range, drawing on one budget for the whole render.
    const range = (start: number, stop?: number, step = 1): number[] => {
      if (stop === undefined) [start, stop] = [0, start];
      if (step === 0) throw new Error('range() step must not be zero');
      const n = Math.max(0, Math.ceil((stop - start) / step));
      if (!Number.isFinite(n) || n > budget) throw new Error(`range() would yield ${n} items, past the ${MAX_RANGE_ITEMS} a chat template may use in one render`);
      budget -= n;
      return Array.from({ length: n }, (_, i) => start + i * step);
    };
    let out: string;
    try {
      // The globals Template.render sets, with the budgeted range in place of the library's.
      const env = new Environment();
      const globals: Record<string, unknown> = {
        false: false, true: true, none: null, True: true, False: false, None: null, range, strftime_now: strftimeNow,
        raise_exception: (m: string) => {
          throw new Error(m);
        },
        messages: messages.map((m) => ({ ...m })), add_generation_prompt: addGenerationPrompt, ...this.specials,
      };
      for (const [k, v] of Object.entries(globals)) env.set(k, v);
      out = new Interpreter(env).run(this.template.parsed).value as string;
    } catch (e) {
      const msg = e instanceof RangeError ? `it ran out of room (${e.message})` : (e as Error).message;
      throw new Error(`${this.where}: the chat template refused the conversation: ${msg}`);
    }
    if (out.length > MAX_OUTPUT_CHARS) throw new Error(`${this.where}: the chat template rendered ${out.length} characters, past the ${MAX_OUTPUT_CHARS} limit`);
    if (!out.trim()) throw new Error(`${this.where}: the chat template rendered nothing for this conversation`);
    return out;
  }
}

/** Python's strftime on the current date for the codes chat templates use (%Y %m %d %b %B %H %M %%), as @huggingface/jinja renders them. */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat(undefined, { month: style }).format(d);
  const codes: Record<string, () => string> = {
    '%Y': () => String(d.getFullYear()), '%m': () => pad(d.getMonth() + 1), '%d': () => pad(d.getDate()), '%b': () => month('short'),
    '%B': () => month('long'), '%H': () => pad(d.getHours()), '%M': () => pad(d.getMinutes()), '%%': () => '%',
  };
  return format.replace(/%[YmdbBHM%]/g, (c) => codes[c]());
}
