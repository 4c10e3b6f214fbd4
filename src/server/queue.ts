/**
 * A bounded queue for requests that need the model: they run one at a time
 * (the model uses every core), at most `limit` wait, and the rest are refused
 * at once (the route answers 503 with Retry-After) instead of piling up.
 */
export class QueueFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`the server is busy (queue full); retry in ${retryAfterSeconds} s`);
  }
}

export class ModelQueue {
  private running = false;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  /** Requests waiting now. */
  get depth(): number {
    return this.waiting.length;
  }

  /**
   * Called by long work between its pieces (a sweep between generations):
   * every request waiting now runs first, then the work continues, so
   * interactive requests wait for one piece, not for the whole job.
   */
  async pause(): Promise<void> {
    if (!this.running || this.waiting.length === 0) return;
    const resume = new Promise<void>((r) => this.waiting.push(r));
    this.waiting.shift()!();
    await resume;
  }

  /** Runs `work` when the model is free; throws QueueFullError when too many wait. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running) {
      if (this.waiting.length >= this.limit) throw new QueueFullError(Math.max(1, Math.ceil(this.waiting.length / 4)));
      await new Promise<void>((r) => this.waiting.push(r));
    }
    this.running = true;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running = false;
    }
  }
}
