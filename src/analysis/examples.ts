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

/**
 * Keeps the k largest examples by activation (a min-heap), ties going to the
 * earlier (row, pos): a total order, so the kept set does not depend on the
 * order examples arrive in, and two heaps merge into the heap of the union.
 */
export class TopK {
  readonly items: Example[] = [];

  constructor(readonly k: number) {}

  /** Offers the example at (row, pos); `make` builds it only when it will be kept. */
  offer(act: number, row: number, pos: number, make: () => Example): void {
    const h = this.items;
    if (h.length >= this.k && !ranksBelow(h[0], act, row, pos)) return;
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
      if (!ranksBelow(h[i], h[p].act, h[p].row, h[p].pos)) break;
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
      if (l < h.length && ranksBelow(h[l], h[m].act, h[m].row, h[m].pos)) m = l;
      if (r < h.length && ranksBelow(h[r], h[m].act, h[m].row, h[m].pos)) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}

/** Whether example a ranks below (act, row, pos): a smaller activation, or the same one at a later (row, pos). Scalars, so the scan's hot path allocates nothing. */
function ranksBelow(a: Example, act: number, row: number, pos: number): boolean {
  return a.act < act || (a.act === act && (a.row > row || (a.row === row && a.pos > pos)));
}
