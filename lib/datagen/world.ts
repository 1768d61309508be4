/**
 * The entities of the synthetic world, held in typed arrays (no per-entity objects):
 * customers with a home country, 1–3 cards each, merchants with an MCC and a country,
 * each card's favourite merchants, travel state and the merchant compromise schedule.
 */
import { COUNTRIES, MCCS } from './catalog';
import { AliasTable, type Rng } from './rng';

/** Favourite merchants kept per card. */
export const FAVOURITES = 6;
const NO_TRAVEL = 255;

/** A weighted set of ids, sampled in O(1). */
export class WeightedIds {
  constructor(
    readonly ids: Int32Array,
    private readonly table: AliasTable,
  ) {}

  static of(ids: number[], weights: number[]): WeightedIds | undefined {
    if (ids.length === 0) return undefined;
    return new WeightedIds(Int32Array.from(ids), new AliasTable(weights));
  }

  sample(rng: Rng): number {
    return this.ids[this.table.sample(rng)] as number;
  }
}

type WorldSize = { cards: number; merchants: number };

/** How many cards and merchants a dataset of `events` over `days` gets. */
export function worldSize(events: number, days: number): WorldSize {
  const perDay = events / days;
  return {
    // a card pays about 0.67 times a day on average (skewed: some daily, many weekly)
    cards: Math.max(200, Math.round(perDay * 1.5)),
    merchants: Math.min(60_000, Math.max(100, Math.round(Math.sqrt(events) * 2))),
  };
}

export class World {
  readonly nCards: number;
  readonly nCustomers: number;
  readonly nMerchants: number;

  readonly cardCustomer: Int32Array;
  readonly cardCountry: Uint8Array;
  /** log-scale shift of the card holder's spending */
  readonly cardSpend: Float32Array;
  readonly cardFavourites: Int32Array;
  readonly cardActivity: AliasTable;
  readonly travelCountry: Uint8Array;
  readonly travelUntil: Int32Array;

  readonly merchantCountry: Uint8Array;
  readonly merchantMcc: Uint8Array;
  readonly merchantEcommerce: Float32Array;
  /** log-scale shift of the merchant's prices */
  readonly merchantShift: Float32Array;
  /** first and last day (inclusive) a merchant is compromised; from > until when never */
  readonly compromisedFrom: Int32Array;
  readonly compromisedUntil: Int32Array;

  readonly merchantsByCountry: WeightedIds[];
  readonly highTicketByCountry: (WeightedIds | undefined)[];
  readonly highTicket: WeightedIds;
  readonly allMerchants: WeightedIds;
  /** a few weak online merchants where stolen cards get tested */
  readonly testingTargets: Int32Array;
  /** compromise episodes, [merchant, from, until] */
  readonly compromises: [number, number, number][];

  readonly countryAlias: AliasTable;
  readonly fraudOrigin: AliasTable;
  readonly travelDestination: AliasTable;
  /** log of each MCC's median amount */
  readonly mccMu: Float64Array;
  readonly mccSigma: Float64Array;

  constructor(rng: Rng, size: WorldSize, days: number) {
    this.countryAlias = new AliasTable(COUNTRIES.map((c) => c.customers));
    this.fraudOrigin = new AliasTable(COUNTRIES.map((c) => c.fraudOrigin));
    this.travelDestination = new AliasTable(COUNTRIES.map((c) => c.travel));
    this.mccMu = Float64Array.from(MCCS.map((m) => Math.log(m.median)));
    this.mccSigma = Float64Array.from(MCCS.map((m) => m.sigma));

    const merchants = createMerchants(rng, size.merchants);
    this.nMerchants = size.merchants;
    this.merchantCountry = merchants.country;
    this.merchantMcc = merchants.mcc;
    this.merchantEcommerce = merchants.ecommerce;
    this.merchantShift = merchants.shift;
    this.compromisedFrom = new Int32Array(size.merchants).fill(1 << 30);
    this.compromisedUntil = new Int32Array(size.merchants).fill(-1);

    const sets = merchantSets(rng, merchants);
    this.merchantsByCountry = sets.byCountry;
    this.highTicketByCountry = sets.highTicketByCountry;
    this.highTicket = sets.highTicket;
    this.allMerchants = sets.all;
    this.testingTargets = sets.testingTargets;

    const cards = createCards(rng, size.cards, this.countryAlias, this.merchantsByCountry);
    this.nCards = size.cards;
    this.nCustomers = cards.customers;
    this.cardCustomer = cards.customer;
    this.cardCountry = cards.country;
    this.cardSpend = cards.spend;
    this.cardFavourites = cards.favourites;
    this.cardActivity = cards.activity;
    this.travelCountry = new Uint8Array(size.cards).fill(NO_TRAVEL);
    this.travelUntil = new Int32Array(size.cards).fill(-1);

    const episodes = compromiseEpisodes(rng, days, merchants, this.allMerchants);
    for (const [m, from, until] of episodes) {
      this.compromisedFrom[m] = from;
      this.compromisedUntil[m] = until;
    }
    this.compromises = episodes.sort((x, y) => x[1] - y[1] || x[0] - y[0]);
  }

  /** Where the card is today: its travel country while travelling, else home. */
  location(card: number, day: number): number {
    return (this.travelUntil[card] as number) >= day
      ? (this.travelCountry[card] as number)
      : (this.cardCountry[card] as number);
  }

  isCompromised(merchant: number, day: number): boolean {
    return (this.compromisedFrom[merchant] as number) <= day && day <= (this.compromisedUntil[merchant] as number);
  }

  isFavourite(card: number, merchant: number): boolean {
    const base = card * FAVOURITES;
    for (let f = 0; f < FAVOURITES; f++) if (this.cardFavourites[base + f] === merchant) return true;
    return false;
  }

  /** A country other than `not` (and `alsoNot`), weighted as an origin of fraud. */
  foreignFraudCountry(rng: Rng, not: number, alsoNot = -1): number {
    for (;;) {
      const c = this.fraudOrigin.sample(rng);
      if (c !== not && c !== alsoNot) return c;
    }
  }

  /** Starts new trips: a small share of cards travel abroad for 2–14 days. */
  startTrips(rng: Rng, day: number): void {
    const trips = rng.poisson(this.nCards * 0.0015);
    for (let t = 0; t < trips; t++) {
      const card = rng.int(this.nCards);
      if ((this.travelUntil[card] as number) >= day) continue;
      const home = this.cardCountry[card] as number;
      let dest = this.travelDestination.sample(rng);
      if (dest === home) dest = this.travelDestination.sample(rng);
      if (dest === home) continue;
      this.travelCountry[card] = dest;
      this.travelUntil[card] = day + rng.range(1, 13);
    }
  }
}

/** The merchants' own attributes, and how popular each is (the weight of its visits). */
type Merchants = {
  country: Uint8Array;
  mcc: Uint8Array;
  ecommerce: Float32Array;
  shift: Float32Array;
  popularity: Float64Array;
};

/** Merchants: at least 2 per country, the rest by share (largest remainder). */
function createMerchants(rng: Rng, nm: number): Merchants {
  const perCountry = apportion(
    COUNTRIES.map((c) => c.merchants),
    nm,
    2,
  );
  const out: Merchants = {
    country: new Uint8Array(nm),
    mcc: new Uint8Array(nm),
    ecommerce: new Float32Array(nm),
    shift: new Float32Array(nm),
    popularity: new Float64Array(nm),
  };
  const mccAlias = new AliasTable(MCCS.map((m) => m.merchants));
  let m = 0;
  for (let c = 0; c < COUNTRIES.length; c++) {
    const count = perCountry[c] as number;
    for (let k = 0; k < count; k++, m++) {
      out.country[m] = c;
      // the first merchants of a country cover the everyday categories
      const mcc = k < 3 ? k : mccAlias.sample(rng);
      const info = MCCS[mcc] as (typeof MCCS)[number];
      out.mcc[m] = mcc;
      const e = info.ecommerce;
      out.ecommerce[m] = e === 0 || e === 1 ? e : Math.min(1, Math.max(0, e + 0.15 * rng.normal()));
      out.shift[m] = 0.25 * rng.normal();
      out.popularity[m] = info.visits * rng.logNormal(0, 1.1);
    }
  }
  return out;
}

type MerchantSets = {
  byCountry: WeightedIds[];
  highTicketByCountry: (WeightedIds | undefined)[];
  highTicket: WeightedIds;
  all: WeightedIds;
  testingTargets: Int32Array;
};

/** The sets payments draw merchants from: by country, high-ticket ones, all, and card-testing targets. */
function merchantSets(rng: Rng, merchants: Merchants): MerchantSets {
  const nc = COUNTRIES.length;
  const nm = merchants.country.length;
  const byCountry: number[][] = Array.from({ length: nc }, () => []);
  const byCountryW: number[][] = Array.from({ length: nc }, () => []);
  const hiByCountry: number[][] = Array.from({ length: nc }, () => []);
  const hiByCountryW: number[][] = Array.from({ length: nc }, () => []);
  const hi: number[] = [];
  const hiW: number[] = [];
  const testing: number[] = [];
  for (let i = 0; i < nm; i++) {
    const c = merchants.country[i] as number;
    const info = MCCS[merchants.mcc[i] as number] as (typeof MCCS)[number];
    const w = merchants.popularity[i] as number;
    (byCountry[c] as number[]).push(i);
    (byCountryW[c] as number[]).push(w);
    if (info.highTicket) {
      (hiByCountry[c] as number[]).push(i);
      (hiByCountryW[c] as number[]).push(1);
      hi.push(i);
      hiW.push(1);
    }
    if (info.testing) testing.push(i);
  }
  if (hi.length === 0) {
    // tiny worlds: make sure there is somewhere to cash out
    const i = nm - 1;
    merchants.mcc[i] = MCCS.findIndex((x) => x.highTicket);
    hi.push(i);
    hiW.push(1);
  }
  if (testing.length === 0) testing.push(nm - 2);
  return {
    byCountry: byCountry.map((ids, c) => WeightedIds.of(ids, byCountryW[c] as number[]) as WeightedIds),
    highTicketByCountry: hiByCountry.map((ids, c) => WeightedIds.of(ids, hiByCountryW[c] as number[])),
    highTicket: WeightedIds.of(hi, hiW) as WeightedIds,
    all: new WeightedIds(
      Int32Array.from({ length: nm }, (_, i) => i),
      new AliasTable(merchants.popularity),
    ),
    testingTargets: testingTargets(rng, testing),
  };
}

/** A few weak online merchants (about 5% of those that could be, at least 3) where stolen cards get tested. */
function testingTargets(rng: Rng, testing: number[]): Int32Array {
  const nTargets = Math.max(3, Math.min(testing.length, Math.round(testing.length * 0.05)));
  const targets = new Int32Array(nTargets);
  for (let i = 0; i < nTargets; i++) targets[i] = testing[rng.int(testing.length)] as number;
  return targets;
}

type Cards = {
  customers: number;
  customer: Int32Array;
  country: Uint8Array;
  spend: Float32Array;
  favourites: Int32Array;
  activity: AliasTable;
};

/** Customers with 1-3 cards each; a card's favourite merchants are local ones. */
function createCards(
  rng: Rng,
  ncards: number,
  countryAlias: AliasTable,
  merchantsByCountry: readonly WeightedIds[],
): Cards {
  const out = {
    customer: new Int32Array(ncards),
    country: new Uint8Array(ncards),
    spend: new Float32Array(ncards),
    favourites: new Int32Array(ncards * FAVOURITES),
  };
  const activity = new Float64Array(ncards);
  let customer = 0;
  for (let card = 0; card < ncards; customer++) {
    const country = countryAlias.sample(rng);
    const u = rng.next();
    const nCardsHere = u < 0.62 ? 1 : u < 0.9 ? 2 : 3;
    const spend = 0.35 * rng.normal();
    const busy = rng.logNormal(0, 0.9);
    for (let k = 0; k < nCardsHere && card < ncards; k++, card++) {
      out.customer[card] = customer;
      out.country[card] = country;
      out.spend[card] = spend + 0.1 * rng.normal();
      // the first card of a customer is the main one
      activity[card] = busy * (k === 0 ? 1 : 0.35);
      const local = merchantsByCountry[country] as WeightedIds;
      for (let f = 0; f < FAVOURITES; f++) out.favourites[card * FAVOURITES + f] = local.sample(rng);
    }
  }
  return { ...out, customers: customer, activity: new AliasTable(activity) };
}

/**
 * Compromise episodes, [merchant, from, until] in the order drawn: the first early on, then about one
 * per eight days, each at another merchant (a busy one with terminals: the busiest of five draws).
 */
function compromiseEpisodes(
  rng: Rng,
  days: number,
  merchants: Merchants,
  allMerchants: WeightedIds,
): [number, number, number][] {
  const { ecommerce, popularity } = merchants;
  const candidates: number[] = [];
  const candidateW: number[] = [];
  for (let i = 0; i < ecommerce.length; i++) {
    if ((ecommerce[i] as number) < 0.3) {
      candidates.push(i);
      candidateW.push(popularity[i] as number);
    }
  }
  const pick = WeightedIds.of(candidates, candidateW) ?? allMerchants;
  const episodes = Math.min(Math.max(1, Math.round(days / 8)), Math.max(1, Math.floor(candidates.length / 2)));
  const used = new Set<number>();
  const out: [number, number, number][] = [];
  for (let e = 0; e < episodes; e++) {
    const from = e === 0 ? Math.floor(days * 0.1) : rng.int(days);
    const until = from + rng.range(1, 4);
    let mm = -1;
    for (let t = 0; t < 5; t++) {
      const other = pick.sample(rng);
      if (!used.has(other) && (mm < 0 || (popularity[other] as number) > (popularity[mm] as number))) mm = other;
    }
    if (mm < 0) mm = candidates.find((c) => !used.has(c)) ?? pick.sample(rng);
    used.add(mm);
    out.push([mm, from, until]);
  }
  return out;
}

/** Splits `total` into integer parts ∝ weights, each at least `min` (largest remainder). */
export function apportion(weights: readonly number[], total: number, min = 0): number[] {
  const n = weights.length;
  const base = Math.min(min, Math.floor(total / n));
  const rest = total - base * n;
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * rest);
  const parts = exact.map((x) => base + Math.floor(x));
  let left = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k = (k + 1) % n, left--) {
    const i = (order[k] as readonly [number, number])[1];
    parts[i] = (parts[i] as number) + 1;
  }
  return parts;
}
