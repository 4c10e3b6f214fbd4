/**
 * HF `tokenizer.json` (+ `tokenizer_config.json`) through @huggingface/tokenizers.
 * BOS: when the tokenizer's own template adds it (Llama), it is kept; when it
 * does not (GPT-2, Pythia), it is prepended, as TransformerLens's
 * `prepend_bos=True` does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TextTokenizer } from './types.ts';
import { readJsonFile } from '../io/json.ts';

/** A tokenizer loaded from an HF model folder. */
export class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  private readonly templateAddsBos: boolean;

  private constructor(private readonly inner: Tokenizer, ids: { bos?: number; eos?: number }) {
    this.vocabSize = inner.get_vocab(true).size;
    this.bosId = ids.bos;
    this.eosId = ids.eos;
    const probe = inner.encode('a', { add_special_tokens: true }).ids;
    this.templateAddsBos = ids.bos !== undefined && probe[0] === ids.bos;
  }

  /** Loads `tokenizer.json` from `dir`; BOS/EOS from tokenizer_config.json, else the model config. */
  static fromFolder(dir: string, modelConfig: Readonly<Record<string, unknown>> = {}): HfTokenizer {
    const file = path.join(dir, 'tokenizer.json');
    if (!fs.existsSync(file)) throw new Error(`${dir}: no tokenizer.json`);
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    return HfTokenizer.fromJson(readJsonFile<object>(file), fs.existsSync(cfgFile) ? readJsonFile(cfgFile) : {}, modelConfig);
  }

  /** A tokenizer from the parsed `tokenizer.json` and `tokenizer_config.json` (no files: browsers, bundles). */
  static fromJson(json: object, cfg: Readonly<Record<string, unknown>>, modelConfig: Readonly<Record<string, unknown>> = {}): HfTokenizer {
    // Decode as the Rust tokenizers library and transformers v5 do: no space clean-up unless the folder asks for it
    // (@huggingface/tokenizers would otherwise default it on and turn "and !!" into "and!!").
    const inner = new Tokenizer(json, { clean_up_tokenization_spaces: false, ...cfg });
    const idOf = (tokenField: unknown, idField: unknown): number | undefined => {
      const content = typeof tokenField === 'string' ? tokenField : (tokenField as { content?: string } | undefined)?.content;
      const byToken = content !== undefined ? inner.token_to_id(content) : undefined;
      return byToken ?? (typeof idField === 'number' ? idField : undefined);
    };
    return new HfTokenizer(inner, {
      bos: idOf(cfg.bos_token, modelConfig.bos_token_id),
      eos: idOf(cfg.eos_token, modelConfig.eos_token_id),
    });
  }

  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const bos = opts.bos ?? true;
    const ids = this.inner.encode(text, { add_special_tokens: bos && this.templateAddsBos }).ids;
    if (bos && !this.templateAddsBos && this.bosId !== undefined) return [this.bosId, ...ids];
    return ids;
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.inner.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? true });
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }
}
