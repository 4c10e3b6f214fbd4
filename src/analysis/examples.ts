/**
 * Activating examples: a token position in a corpus row with a window of
 * context (token ids and this feature's activation at each), and the bounded
 * min-heap that keeps a feature's top k of them.
 */

/** One activating example. */
export interface Example {
  /** The feature's activation at `pos`. */
  readonly act: number;
  /** Index of the packed corpus row. */
  readonly row: number;
  /** Token position in the row. */
  readonly pos: number;
  /** Position of the window's first token in the row. */
  readonly start: number;
  /** Token ids of the window. */
  readonly ids: readonly number[];
  /** The feature's activation at each window token. */
  readonly acts: readonly number[];
}

/** Keeps the k largest examples by activation (a min-heap on `act`). */
export class TopK {
  readonly items: Example[] = [];

  constructor(readonly k: number) {}

  /** The smallest activation kept, or -Infinity while not full. */
  get floor(): number {
    return this.items.length < this.k ? -Infinity : this.items[0].act;
  }

  /** Offers an example; `make` builds it only when it will be kept. */
  offer(act: number, make: () => Example): void {
    if (act <= this.floor) return;
    const h = this.items;
    if (h.length < this.k) {
      h.push(make());
      this.up(h.length - 1);
    } else {
      h[0] = make();
      this.down(0);
    }
  }

  /** Examples, largest first. */
  sorted(): Example[] {
    return [...this.items].sort((a, b) => b.act - a.act || a.row - b.row || a.pos - b.pos);
  }

  private up(i: number): void {
    const h = this.items;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].act <= h[i].act) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].act < h[m].act) m = l;
      if (r < h.length && h[r].act < h[m].act) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}
