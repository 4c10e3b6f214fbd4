/**
 * Spearman's rank correlation with a two-sided p-value from the t
 * distribution with n - 2 degrees of freedom (exact enough for n >= 4).
 */

/** Ranks with ties averaged. */
export function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const r = new Array<number>(x.length);
  for (let a = 0; a < order.length; ) {
    let b = a;
    while (b + 1 < order.length && order[b + 1].v === order[a].v) b++;
    for (let k = a; k <= b; k++) r[order[k].i] = (a + b) / 2 + 1;
    a = b + 1;
  }
  return r;
}

/** Spearman's rho and its p-value. */
export function spearman(x: readonly number[], y: readonly number[]): { rho: number; p: number; n: number } {
  const n = x.length;
  if (n !== y.length) throw new Error('spearman: lengths differ');
  if (n < 3) return { rho: NaN, p: NaN, n };
  const rx = ranks(x);
  const ry = ranks(y);
  const mean = (n + 1) / 2;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) ** 2;
    syy += (ry[i] - mean) ** 2;
  }
  const rho = sxx && syy ? sxy / Math.sqrt(sxx * syy) : 0;
  if (Math.abs(rho) >= 1) return { rho, p: 0, n };
  const t = rho * Math.sqrt((n - 2) / (1 - rho * rho));
  const df = n - 2;
  return { rho, p: incompleteBeta(df / (df + t * t), df / 2, 0.5), n };
}

/** The regularized incomplete beta function I_x(a, b) (Numerical Recipes' continued fraction). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbeta = lgamma(a + b) - lgamma(a) - lgamma(b);
  const front = Math.exp(Math.log(x) * a + Math.log(1 - x) * b + lbeta);
  if (x < (a + 1) / (a + b + 2)) return (front * cf(x, a, b)) / a;
  return 1 - (Math.exp(Math.log(1 - x) * b + Math.log(x) * a + lbeta) * cf(1 - x, b, a)) / b;
}

function cf(x: number, a: number, b: number): number {
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < 1e-30 ? 1e-30 : d);
  let h = d;
  for (let m = 1; m <= 200; m++) {
    for (const num of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + num * d;
      d = 1 / (Math.abs(d) < 1e-30 ? 1e-30 : d);
      c = 1 + num / c;
      if (Math.abs(c) < 1e-30) c = 1e-30;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-12) break;
  }
  return h;
}

function lgamma(z: number): number {
  const g = [76.18009172947146, -86.50532032941678, 24.01409824083091, -1.231739572450155, 0.001208650973866179, -0.000005395239384953];
  const x = z;
  let y = z;
  let tmp = x + 5.5;
  tmp -= (x + 0.5) * Math.log(tmp);
  let ser = 1.00000000019;
  for (const c of g) ser += c / ++y;
  return -tmp + Math.log((2.5066282746310007 * ser) / x);
}
