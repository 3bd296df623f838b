// Exact money in the browser (app/static/js/money.js) against the server's rules: the
// cases in money_cases.json are what app/money.py answers (tests/unit/test_money_js_cases.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as money from "../../app/static/js/money.js";

const CASES = JSON.parse(readFileSync(new URL("./money_cases.json", import.meta.url), "utf8"));
money.useDigits(CASES.digits);

test("an amount is taken or refused exactly as the server takes or refuses it", () => {
  for (const { text, currency, minor } of CASES.to_minor) {
    const got = money.toMinor(text, currency);
    assert.equal(got === null ? null : got.toString(), minor, `${JSON.stringify(text)} ${currency}`);
  }
});

test("minor units are written back with the currency's own number of places", () => {
  for (const { minor, currency, text } of CASES.to_decimal) assert.equal(money.toDecimal(BigInt(minor), currency), text);
  assert.equal(money.toDecimal(-5n, "CNY"), "-0.05");
});

test("the server's minor digits win over the browser's own idea of a currency", () => {
  money.useDigits({ XTS: 3 });
  assert.equal(money.toMinor("1.5", "XTS"), 1500n);
  assert.equal(money.toDecimal(1500n, "XTS"), "1.500");
});

test("an instalment plan splits the total exactly, the first parts carrying the remainder", () => {
  const parts = money.schedule({ kind: "instalment", totalMinor: 100000n, currency: "CNY",
                                 firstDueDate: "2026-01-31", count: 3, frequency: "monthly" });
  assert.deepEqual(parts.map((p) => [p.seq, p.due_date, p.amount]),
                   [[1, "2026-01-31", "333.34"], [2, "2026-02-28", "333.33"], [3, "2026-03-31", "333.33"]]);
  assert.equal(money.sum(parts), 100000n);
  for (const [total, count] of [[1n, 60], [999_999_999_999_99n, 7], [12345n, 12]]) {
    const split = money.split(total, count);
    assert.equal(split.reduce((a, b) => a + b, 0n), total);
    assert.ok(split[0] - split[count - 1] <= 1n);
  }
});

test("a promise is one payment of the whole amount on its day", () => {
  assert.deepEqual(money.schedule({ kind: "promise", totalMinor: 12050n, currency: "CNY", dueDate: "2026-03-01" }),
                   [{ seq: 1, due_date: "2026-03-01", minor: 12050n, amount: "120.50" }]);
});

test("due dates step by week, fortnight or month, a short month taking its last day", () => {
  assert.deepEqual(money.dueDates("2028-01-31", 3, "monthly"), ["2028-01-31", "2028-02-29", "2028-03-31"]);
  assert.deepEqual(money.dueDates("2026-12-28", 2, "weekly"), ["2026-12-28", "2027-01-04"]);
  assert.deepEqual(money.dueDates("2026-12-28", 2, "fortnightly"), ["2026-12-28", "2027-01-11"]);
});
