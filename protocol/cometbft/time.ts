/**
 * CometBFT's times: RFC 3339 text with up to nine fractional digits in its JSON, a
 * `google.protobuf.Timestamp` (seconds, nanos) in what it hashes and signs. No `Date`: it has
 * millisecond precision only, and reads years 0-99 as 1900-1999. Browser-safe.
 * @module
 */

import { COMET_TIME_SECONDS_MAX, COMET_ZERO_TIME, CometFormatError, type CometTime } from './types.js';

// Go's time.RFC3339Nano as CometBFT writes it (`types/canonical.go` TimeFormat, libs/json's UTC
// conversion): trailing zeros of the fraction are dropped, and a whole second has no fraction.
const RFC3339_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const NANOS_PER_SECOND = 1_000_000_000;

/** Days from 1970-01-01 to the proleptic Gregorian date y-m-d (H. Hinnant's days_from_civil). */
function days_from_civil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Days in `month` (1-12) of `year`, leap years as the Gregorian calendar has them. */
function days_in_month(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Throws {@link CometFormatError} naming `field` unless `t` is a time a `google.protobuf.Timestamp`
 * can hold (0001-01-01 to 9999-12-31, as gogoproto's StdTimeMarshal requires; nanos 0-999999999).
 */
export function check_time(t: CometTime, field: string): void {
  if (typeof t !== 'object' || t === null) throw new CometFormatError(field, 'a time {seconds, nanos}');
  if (
    typeof t.seconds !== 'bigint' ||
    t.seconds < COMET_ZERO_TIME.seconds ||
    t.seconds > COMET_TIME_SECONDS_MAX
  )
    throw new CometFormatError(`${field}.seconds`, 'a bigint from 0001-01-01 to 9999-12-31');
  if (!Number.isInteger(t.nanos) || t.nanos < 0 || t.nanos >= NANOS_PER_SECOND)
    throw new CometFormatError(`${field}.nanos`, 'an integer 0..999999999');
}

/**
 * Parses an RFC 3339 time as CometBFT's JSON writes it (Go's `time.RFC3339Nano`, e.g.
 * `2026-12-05T08:07:59.31420428Z`, or `0001-01-01T00:00:00Z` for an absent signature) to
 * nanosecond precision. Accepts `Z` or a `±hh:mm` offset (Go's parser does; CometBFT itself
 * always writes UTC, libs/json/encoder.go). Rejects what Go's `time.Parse(time.RFC3339Nano, …)`
 * rejects (no leap second, no day 31 of a 30-day month, no offset hour 24) and times a
 * Timestamp cannot hold. Throws {@link CometFormatError}.
 */
export function parse_time(rfc3339: string): CometTime {
  if (typeof rfc3339 !== 'string' || rfc3339.length > 40)
    throw new CometFormatError('time', 'an RFC 3339 text');
  const m = RFC3339_RE.exec(rfc3339);
  if (m === null) throw new CometFormatError('time', `an RFC 3339 text (got ${JSON.stringify(rfc3339)})`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
    throw new CometFormatError('time', `a valid date (got ${rfc3339})`);
  if (hour > 23 || minute > 59 || second > 59)
    throw new CometFormatError('time', `a valid time of day (got ${rfc3339})`);
  let offset = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) throw new CometFormatError('time', `a valid offset (got ${rfc3339})`);
    offset = (m[8] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  const nanos = m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0'));
  const t = { seconds: BigInt(seconds), nanos };
  check_time(t, 'time');
  return t;
}

/** `t` in milliseconds since 1970 (UTC), rounded down (toward the past, also before 1970). */
export function time_ms(t: CometTime): number {
  check_time(t, 'time');
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1_000_000);
}

/** True when `t` is Go's zero time (0001-01-01T00:00:00Z), the timestamp of an absent signature. */
export function is_zero_time(t: CometTime): boolean {
  return t.seconds === COMET_ZERO_TIME.seconds && t.nanos === 0;
}
