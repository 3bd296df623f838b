/* Exact money in the browser: amounts are decimal strings at the API and BigInt minor
 * units (fen, cents) here; never a float. Parsing follows the server's rules
 * (app/money.py: at most 15 integer digits, no leading zero, at most 3 decimals and no
 * more than the currency has unless they are zeros, no sign or exponent, below 10^15
 * minor units); tests/js/money.test.mjs and tests/unit/test_money_js_cases.py check
 * both sides against the same cases (tests/js/money_cases.json).
 *
 * The instalment split is the server's rule (app/services/agreements.py): each part is
 * floor(total / count), and the first (total mod count) parts carry one more minor unit,
 * so the parts sum to the total exactly. The server computes the same and its answer stands. */
const MAX_MINOR = 10n ** 15n;
const AMOUNT = /^(0|[1-9][0-9]{0,14})(?:\.([0-9]{1,3}))?$/;
const exponents = {};

/** The server's minor digits ({CNY: 2, KWD: 3, …} from the route): they win over Intl's. */
function useDigits(digits) {
  for (const [code, places] of Object.entries(digits || {})) exponents[code] = places;
}

function exponent(currency) {
  if (!(currency in exponents)) {
    exponents[currency] = new Intl.NumberFormat("en", { style: "currency", currency })
      .resolvedOptions().maximumFractionDigits;
  }
  return exponents[currency];
}

/** "1234.5" → 123450n (CNY); null when it is not an amount in that currency: exactly
 * what the server refuses (a form trims what was typed before asking). */
function toMinor(text, currency) {
  const places = exponent(currency);
  const match = AMOUNT.exec(String(text ?? ""));
  if (!match) return null;
  let fraction = match[2] || "";
  if (fraction.length > places) {
    if (!/^0*$/.test(fraction.slice(places))) return null;  // 12.345 yuan has no meaning
    fraction = fraction.slice(0, places);
  }
  const scale = 10n ** BigInt(places);
  const minor = BigInt(match[1]) * scale + (places ? BigInt(fraction.padEnd(places, "0")) : 0n);
  return minor < MAX_MINOR ? minor : null;
}

/** 123450n → "1234.50" (as many places as the currency has). */
function toDecimal(minor, currency) {
  const places = exponent(currency);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(places + 1, "0");
  const whole = places ? `${digits.slice(0, -places)}.${digits.slice(-places)}` : digits;
  return negative ? `-${whole}` : whole;
}

function split(totalMinor, count) {
  const n = BigInt(count);
  const base = totalMinor / n;  // BigInt division truncates: floor for a positive total
  const remainder = totalMinor % n;
  return Array.from({ length: count }, (_, i) => base + (BigInt(i) < remainder ? 1n : 0n));
}

function parseDate(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return { y, m, d };
}

function isoDate(y, m, d) {
  return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

function addDays(iso, days) {
  const { y, m, d } = parseDate(iso);
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return isoDate(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
}

function addMonths(iso, months) {
  // The same day of the month, or the month's last day when it is shorter (31 Jan → 28/29 Feb).
  const { y, m, d } = parseDate(iso);
  const index = m - 1 + months;
  const year = y + Math.floor(index / 12);
  const month = (index % 12) + 1;
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return isoDate(year, month, Math.min(d, last));
}

function dueDates(first, count, frequency) {
  return Array.from({ length: count }, (_, i) =>
    frequency === "weekly" ? addDays(first, 7 * i) : frequency === "fortnightly" ? addDays(first, 14 * i)
      : addMonths(first, i));
}

/** [{seq, due_date, minor, amount}] for a promise or an instalment plan. */
function schedule({ kind, totalMinor, currency, dueDate, firstDueDate, count, frequency }) {
  if (kind === "promise") return [{ seq: 1, due_date: dueDate, minor: totalMinor, amount: toDecimal(totalMinor, currency) }];
  const dates = dueDates(firstDueDate, count, frequency);
  return split(totalMinor, count).map((minor, i) => ({ seq: i + 1, due_date: dates[i], minor,
                                                       amount: toDecimal(minor, currency) }));
}

function sum(parts) { return parts.reduce((total, p) => total + p.minor, 0n); }

export { MAX_MINOR, useDigits, exponent, toMinor, toDecimal, split, dueDates, addDays, addMonths, schedule, sum };
