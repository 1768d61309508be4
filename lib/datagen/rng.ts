/**
 * Seeded, platform-independent randomness for the data generator: xoshiro128** seeded
 * through splitmix32, plus the few distributions the generator needs and Vose's alias
 * method for O(1) weighted sampling. No Math.random anywhere, so a seed fixes every byte.
 */

const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;

/** One step of splitmix32: a good 32-bit mixer for turning seeds into generator state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  /**
   * A generator for `seed` (any safe integer) and an optional list of stream numbers, so
   * independent parts of the generator (entities, day 17, ...) get independent streams.
   */
  constructor(seed: number, ...streams: number[]) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const st = { s: seed >>> 0 };
    let h = splitmix32(st) ^ Math.floor(seed / TWO_POW_32);
    for (const x of streams) {
      st.s = (h ^ Math.imul(x | 0, 0x27d4eb2d)) | 0;
      h = splitmix32(st);
    }
    st.s = h | 0;
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const s1 = this.b;
    const r = Math.imul(s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() * INV_TWO_POW_32;
  }

  /** Uniform in (0, 1): safe for log(). */
  nextOpen(): number {
    return (this.nextU32() + 0.5) * INV_TWO_POW_32;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box–Muller, caching the second value). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const r = Math.sqrt(-2 * Math.log(this.nextOpen()));
    const theta = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return r * Math.cos(theta);
  }

  /** exp(N(mu, sigma)). */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }

  /** Number of failures before the first success, success probability p. */
  geometric(p: number): number {
    return Math.floor(Math.log(this.nextOpen()) / Math.log(1 - p));
  }

  /** Poisson-distributed count (Knuth for small means, a rounded normal above 30). */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const l = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > l) {
      k++;
      p *= this.next();
    }
    return k;
  }
}

/** Vose's alias table: O(n) to build, O(1) to draw an index with probability ∝ weight. */
export class AliasTable {
  readonly size: number;
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    if (n === 0) throw new RangeError('an alias table needs at least one weight');
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i] as number;
      if (!(w >= 0) || !Number.isFinite(w))
        throw new RangeError(`weight ${i} is ${w}; weights must be finite and >= 0`);
      total += w;
    }
    if (total <= 0) throw new RangeError('an alias table needs a positive total weight');
    this.size = n;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      const s = ((weights[i] as number) * n) / total;
      scaled[i] = s;
      if (s < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns] as number;
      const l = large[--nl] as number;
      this.prob[s] = scaled[s] as number;
      this.alias[s] = l;
      const rest = (scaled[l] as number) + (scaled[s] as number) - 1;
      scaled[l] = rest;
      if (rest < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    while (nl > 0) {
      const l = large[--nl] as number;
      this.prob[l] = 1;
      this.alias[l] = l;
    }
    while (ns > 0) {
      const s = small[--ns] as number;
      this.prob[s] = 1;
      this.alias[s] = s;
    }
  }

  sample(rng: Rng): number {
    const i = Math.floor(rng.next() * this.size);
    return rng.next() < (this.prob[i] as number) ? i : (this.alias[i] as number);
  }
}
