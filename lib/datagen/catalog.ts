/**
 * The fixed vocabularies of the synthetic payments world: countries, merchant category
 * codes (with their amount distributions and online share), channels, fraud patterns and
 * the daily and weekly rhythm. The order of each list is the dictionary order written to
 * the Arrow files, so changing an order changes the data (bump GENERATOR_VERSION).
 */

type CountryInfo = {
  code: string;
  /** share of customers (card holders) living there */
  customers: number;
  /** share of merchants located there */
  merchants: number;
  /** relative weight as the origin of fraud from abroad */
  fraudOrigin: number;
  /** relative weight as a travel destination */
  travel: number;
};

export const COUNTRIES: readonly CountryInfo[] = [
  { code: 'US', customers: 0.26, merchants: 0.24, fraudOrigin: 1.0, travel: 1.2 },
  { code: 'GB', customers: 0.09, merchants: 0.09, fraudOrigin: 0.8, travel: 1.0 },
  { code: 'DE', customers: 0.08, merchants: 0.08, fraudOrigin: 0.4, travel: 0.6 },
  { code: 'FR', customers: 0.07, merchants: 0.07, fraudOrigin: 0.4, travel: 1.3 },
  { code: 'ES', customers: 0.05, merchants: 0.05, fraudOrigin: 0.4, travel: 1.4 },
  { code: 'IT', customers: 0.05, merchants: 0.05, fraudOrigin: 0.4, travel: 1.2 },
  { code: 'NL', customers: 0.03, merchants: 0.03, fraudOrigin: 0.3, travel: 0.5 },
  { code: 'SE', customers: 0.02, merchants: 0.02, fraudOrigin: 0.2, travel: 0.3 },
  { code: 'PL', customers: 0.03, merchants: 0.03, fraudOrigin: 0.5, travel: 0.3 },
  { code: 'CA', customers: 0.04, merchants: 0.04, fraudOrigin: 0.5, travel: 0.6 },
  { code: 'MX', customers: 0.04, merchants: 0.04, fraudOrigin: 0.8, travel: 1.0 },
  { code: 'BR', customers: 0.05, merchants: 0.05, fraudOrigin: 1.6, travel: 0.4 },
  { code: 'IN', customers: 0.04, merchants: 0.04, fraudOrigin: 1.0, travel: 0.4 },
  { code: 'JP', customers: 0.03, merchants: 0.04, fraudOrigin: 0.2, travel: 0.8 },
  { code: 'AU', customers: 0.03, merchants: 0.03, fraudOrigin: 0.3, travel: 0.5 },
  { code: 'AE', customers: 0.01, merchants: 0.02, fraudOrigin: 0.5, travel: 0.7 },
  { code: 'NG', customers: 0.02, merchants: 0.02, fraudOrigin: 3.0, travel: 0.1 },
  { code: 'RO', customers: 0.02, merchants: 0.02, fraudOrigin: 2.0, travel: 0.2 },
  { code: 'ID', customers: 0.02, merchants: 0.02, fraudOrigin: 1.5, travel: 0.5 },
  { code: 'VN', customers: 0.01, merchants: 0.02, fraudOrigin: 1.5, travel: 0.4 },
  { code: 'PH', customers: 0.02, merchants: 0.02, fraudOrigin: 1.2, travel: 0.4 },
];

type MccInfo = {
  code: string;
  description: string;
  /** median payment amount */
  median: number;
  /** log-normal sigma of the amount */
  sigma: number;
  /** typical share of online (ecommerce) payments at a merchant of this category */
  ecommerce: number;
  /** share of merchants in this category */
  merchants: number;
  /** how often a card visits a merchant of this category, relative */
  visits: number;
  /** high-ticket goods that fraudsters cash out on */
  highTicket: boolean;
  /** online merchants with weak checks, where stolen cards get tested */
  testing: boolean;
};

export const MCCS: readonly MccInfo[] = [
  {
    code: '5411',
    description: 'grocery stores',
    median: 42,
    sigma: 0.65,
    ecommerce: 0.08,
    merchants: 0.14,
    visits: 2.2,
    highTicket: false,
    testing: false,
  },
  {
    code: '5812',
    description: 'restaurants',
    median: 38,
    sigma: 0.6,
    ecommerce: 0.05,
    merchants: 0.14,
    visits: 1.6,
    highTicket: false,
    testing: false,
  },
  {
    code: '5814',
    description: 'fast food',
    median: 12,
    sigma: 0.5,
    ecommerce: 0.1,
    merchants: 0.08,
    visits: 2.0,
    highTicket: false,
    testing: false,
  },
  {
    code: '5541',
    description: 'fuel',
    median: 48,
    sigma: 0.45,
    ecommerce: 0,
    merchants: 0.06,
    visits: 1.3,
    highTicket: false,
    testing: false,
  },
  {
    code: '5912',
    description: 'drug stores',
    median: 24,
    sigma: 0.65,
    ecommerce: 0.1,
    merchants: 0.05,
    visits: 1.0,
    highTicket: false,
    testing: false,
  },
  {
    code: '5311',
    description: 'department stores',
    median: 75,
    sigma: 0.85,
    ecommerce: 0.35,
    merchants: 0.04,
    visits: 0.9,
    highTicket: false,
    testing: false,
  },
  {
    code: '5691',
    description: 'clothing',
    median: 68,
    sigma: 0.75,
    ecommerce: 0.45,
    merchants: 0.07,
    visits: 0.8,
    highTicket: false,
    testing: false,
  },
  {
    code: '5732',
    description: 'electronics',
    median: 210,
    sigma: 0.95,
    ecommerce: 0.55,
    merchants: 0.04,
    visits: 0.5,
    highTicket: true,
    testing: false,
  },
  {
    code: '5944',
    description: 'jewelry',
    median: 320,
    sigma: 1.0,
    ecommerce: 0.25,
    merchants: 0.02,
    visits: 0.15,
    highTicket: true,
    testing: false,
  },
  {
    code: '5999',
    description: 'miscellaneous retail',
    median: 36,
    sigma: 0.9,
    ecommerce: 0.55,
    merchants: 0.08,
    visits: 0.8,
    highTicket: false,
    testing: true,
  },
  {
    code: '4121',
    description: 'taxis and ride hailing',
    median: 21,
    sigma: 0.55,
    ecommerce: 0.85,
    merchants: 0.04,
    visits: 1.2,
    highTicket: false,
    testing: false,
  },
  {
    code: '4511',
    description: 'airlines',
    median: 380,
    sigma: 0.65,
    ecommerce: 0.92,
    merchants: 0.02,
    visits: 0.2,
    highTicket: true,
    testing: false,
  },
  {
    code: '7011',
    description: 'hotels',
    median: 210,
    sigma: 0.65,
    ecommerce: 0.55,
    merchants: 0.03,
    visits: 0.25,
    highTicket: false,
    testing: false,
  },
  {
    code: '4899',
    description: 'cable and streaming',
    median: 14,
    sigma: 0.35,
    ecommerce: 1,
    merchants: 0.03,
    visits: 0.5,
    highTicket: false,
    testing: true,
  },
  {
    code: '5815',
    description: 'digital media',
    median: 8,
    sigma: 0.75,
    ecommerce: 1,
    merchants: 0.03,
    visits: 0.7,
    highTicket: false,
    testing: true,
  },
  {
    code: '5816',
    description: 'digital games',
    median: 16,
    sigma: 0.85,
    ecommerce: 1,
    merchants: 0.02,
    visits: 0.4,
    highTicket: false,
    testing: true,
  },
  {
    code: '6051',
    description: 'quasi-cash and crypto',
    median: 180,
    sigma: 1.0,
    ecommerce: 1,
    merchants: 0.015,
    visits: 0.1,
    highTicket: true,
    testing: false,
  },
  {
    code: '5967',
    description: 'direct marketing',
    median: 28,
    sigma: 0.8,
    ecommerce: 1,
    merchants: 0.02,
    visits: 0.2,
    highTicket: false,
    testing: true,
  },
];

export const CHANNELS = ['card_present', 'ecommerce'] as const;
export const CHANNEL_CARD_PRESENT = 0;
export const CHANNEL_ECOMMERCE = 1;

/** Fraud patterns, by code (0 is "legitimate"); the chargeback `reason` is the name. */
const FRAUD_PATTERNS = ['card_testing', 'geo_change', 'new_merchant_high_amount', 'compromised_merchant'] as const;
export type FraudPattern = (typeof FRAUD_PATTERNS)[number];
export const LEGIT = 0;
export const CARD_TESTING = 1;
export const GEO_CHANGE = 2;
export const NEW_MERCHANT_HIGH_AMOUNT = 3;
export const COMPROMISED_MERCHANT = 4;
/** chargeback reason of a legitimate payment the card holder disputes anyway */
export const FRIENDLY_FRAUD = 5;

/** Chargeback reasons by code - 1 (codes 1..5). */
export const CHARGEBACK_REASONS = [...FRAUD_PATTERNS, 'friendly_fraud'] as const;
export type ChargebackReason = (typeof CHARGEBACK_REASONS)[number];

/** Relative payment volume per UTC hour: quiet nights, a lunch and an evening peak. */
export const HOUR_WEIGHTS: readonly number[] = [
  0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.05, 1.15, 1.25, 1.4, 1.35, 1.2, 1.15, 1.2, 1.35, 1.5, 1.45, 1.25,
  1.0, 0.75, 0.45,
];

/** Relative payment volume per weekday, Sunday first (Date.getUTCDay order). */
export const WEEKDAY_WEIGHTS: readonly number[] = [0.9, 0.95, 0.97, 1.0, 1.02, 1.12, 1.04];
