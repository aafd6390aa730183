/**
 * One check per kind of input (protocol/checks.ts): known-good and known-bad cases for each, the
 * typed errors naming the field, and every site that accepts a chain id or a validator set
 * (genesis, the enclave, the store, consensus shapes, the p2p handshake) agreeing with it case for
 * case, so the copies that once disagreed cannot come back apart.
 */

import { describe, expect, it } from 'vitest';
import {
  check_chain_id as enclave_chain_id,
  check_validators as enclave_validators,
} from '../../enclave/validate.js';
import { header_shape_error } from '../../node/consensus/shapes.js';
import { check_genesis } from '../../node/genesis.js';
import { is_key_hex, is_chain_id as p2p_is_chain_id } from '../../node/p2p/wire.js';
import { check_header, chain_id as store_chain_id } from '../../node/store/checks.js';
import {
  CHAIN_ID_CHARS_MAX,
  check_address_hex,
  check_chain_id,
  check_hex64,
  check_signature_hex,
  check_validator,
  check_validator_set,
  FieldRangeError,
  FieldTypeError,
  is_address_hex,
  is_chain_id,
  is_count,
  is_field_error,
  is_hex64,
  is_signature_hex,
  VALIDATOR_POWER_MAX,
  VALIDATORS_MAX,
} from '../../protocol/checks.js';
import { native_provider as p } from '../../protocol/providers/native.js';

const KEY = (c: string) => c.repeat(64);

/** Runs `f`; returns the error it threw, or null. */
function thrown(f: () => unknown): unknown {
  try {
    f();
    return null;
  } catch (error) {
    return error;
  }
}

describe('lowercase hex', () => {
  const cases: [string, (v: unknown) => boolean, (v: unknown, f: string) => string, number][] = [
    ['64', is_hex64, check_hex64, 64],
    ['40', is_address_hex, check_address_hex, 40],
    ['128', is_signature_hex, check_signature_hex, 128],
  ];
  it.each(cases)('%s-hex accepts exactly N lowercase hex characters', (_name, is, check, n) => {
    for (const good of ['0'.repeat(n), 'f'.repeat(n), '0123456789abcdef'.repeat(n / 8).slice(0, n)]) {
      expect(is(good)).toBe(true);
      expect(check(good, 'x')).toBe(good);
    }
    const bad: unknown[] = [
      'A'.repeat(n),
      'g'.repeat(n),
      '0'.repeat(n - 1),
      '0'.repeat(n + 1),
      ` ${'0'.repeat(n - 1)}`,
      `${'0'.repeat(n)}\n`,
      '',
      null,
      undefined,
      Number('1'.repeat(Math.min(n, 15))),
      ['0'.repeat(n)],
      { toString: () => '0'.repeat(n) },
    ];
    for (const value of bad) {
      expect(is(value)).toBe(false);
      const error = thrown(() => check(value, 'body.sender'));
      expect(error).toBeInstanceOf(FieldTypeError);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as FieldTypeError).field).toBe('body.sender');
      expect((error as Error).message).toBe(`body.sender must be ${n} lowercase hex characters`);
    }
  });
});

describe('counts', () => {
  it('are whole numbers ≥ 0 a JSON number holds exactly', () => {
    for (const good of [0, 1, 42, Number.MAX_SAFE_INTEGER]) expect(is_count(good)).toBe(true);
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity, '3', null, undefined, 3n])
      expect(is_count(bad)).toBe(false);
  });
});

describe('chain id', () => {
  const good = ['a', 'cloister-local-1', 'secret-4', 'A.b_c-9', 'x'.repeat(CHAIN_ID_CHARS_MAX)];
  const bad: unknown[] = [
    '',
    'x'.repeat(CHAIN_ID_CHARS_MAX + 1),
    'bad chain',
    'chain/1',
    'chain:1',
    'ch\u00e9',
    'chain\n',
    '\u{1F600}',
    1,
    null,
    undefined,
    ['a'],
  ];

  it('accepts 1-64 characters of [A-Za-z0-9._-] and nothing else', () => {
    for (const id of good) {
      expect(is_chain_id(id)).toBe(true);
      expect(check_chain_id(id)).toBe(id);
    }
    for (const id of bad) {
      expect(is_chain_id(id)).toBe(false);
      const error = thrown(() => check_chain_id(id, 'genesis.chain_id'));
      expect(error).toBeInstanceOf(FieldTypeError);
      expect((error as FieldTypeError).field).toBe('genesis.chain_id');
    }
  });

  it('every site agrees with it, case for case', () => {
    const header = {
      chain_id: 'c',
      height: 1,
      round: 0,
      time_ms: 0,
      proposer: KEY('a'),
      prev_block_hash: KEY('0'),
      txs_hash: KEY('1'),
      last_commit_hash: KEY('0'),
      result_hash: KEY('2'),
      exec_signature: '3'.repeat(128),
    };
    const sites: [string, (id: unknown) => boolean][] = [
      ['genesis', (id) => thrown(() => check_genesis(p, genesis({ chain_id: id }))) === null],
      ['enclave', (id) => thrown(() => enclave_chain_id(id)) === null],
      ['store', (id) => thrown(() => store_chain_id(id)) === null],
      ['store header', (id) => thrown(() => check_header({ ...header, chain_id: id })) === null],
      ['consensus header', (id) => header_shape_error({ ...header, chain_id: id }) === null],
      ['p2p handshake', (id) => p2p_is_chain_id(id)],
    ];
    for (const id of [...good, ...bad]) {
      for (const [site, accepts] of sites)
        expect([site, id, accepts(id)]).toEqual([site, id, is_chain_id(id)]);
    }
  });
});

/** A genesis that passes check_genesis, with `patch` applied. */
function genesis(patch: Record<string, unknown>): unknown {
  return {
    chain_id: 'c',
    genesis_time_ms: 0,
    validators: [{ pubkey: KEY('a'), power: 1, name: 'v0' }],
    io_pubkey: KEY('b'),
    seed_exchange_pubkey: KEY('c'),
    attestation: { roots: [], measurements: [] },
    codes: [],
    ...patch,
  };
}

describe('validator set', () => {
  const v = (c: string, power = 1) => ({ pubkey: KEY(c), power });
  const good: unknown[] = [
    [v('a')],
    [v('a', VALIDATOR_POWER_MAX), v('b', 2)],
    Array.from({ length: VALIDATORS_MAX }, (_, i) => ({
      pubkey: i.toString(16).padStart(64, '0'),
      power: 1,
    })),
    // Other properties (genesis names its validators) are left alone.
    [{ ...v('a'), name: 'v0' }],
  ];
  /** Bad sets with the error class and the field each must name. */
  const bad: [unknown, typeof FieldTypeError | typeof FieldRangeError, string][] = [
    [[], FieldTypeError, 'validators'],
    [null, FieldTypeError, 'validators'],
    [{ 0: v('a'), length: 1 }, FieldTypeError, 'validators'],
    [
      Array.from({ length: VALIDATORS_MAX + 1 }, (_, i) => ({
        pubkey: i.toString(16).padStart(64, '0'),
        power: 1,
      })),
      FieldRangeError,
      'validators',
    ],
    [[null], FieldTypeError, 'validators[0]'],
    [[[KEY('a'), 1]], FieldTypeError, 'validators[0]'],
    [[v('a'), { pubkey: KEY('A'), power: 1 }], FieldTypeError, 'validators[1].pubkey'],
    [[{ pubkey: 'a'.repeat(63), power: 1 }], FieldTypeError, 'validators[0].pubkey'],
    [[{ power: 1 }], FieldTypeError, 'validators[0].pubkey'],
    [[{ pubkey: KEY('a'), power: '1' }], FieldTypeError, 'validators[0].power'],
    [[{ pubkey: KEY('a'), power: 1.5 }], FieldTypeError, 'validators[0].power'],
    [[{ pubkey: KEY('a'), power: Number.NaN }], FieldTypeError, 'validators[0].power'],
    [[v('a', 0)], FieldRangeError, 'validators[0].power'],
    [[v('a', -1)], FieldRangeError, 'validators[0].power'],
    [[v('a', VALIDATOR_POWER_MAX + 1)], FieldRangeError, 'validators[0].power'],
    [[v('a'), v('b'), v('a', 2)], FieldRangeError, 'validators[2].pubkey'],
  ];

  it('accepts 1..100 validators with 64-hex keys, powers 1..1,000,000, no key twice', () => {
    for (const set of good) expect(check_validator_set(set)).toBe(set);
    expect(check_validator(v('a'), 'v')).toEqual(v('a'));
  });

  it.each(bad.map((c, i) => [i, ...c] as const))(
    'refuses bad set #%i naming the field',
    (_i, set, kind, field) => {
      const error = thrown(() => check_validator_set(set));
      expect(error).toBeInstanceOf(kind);
      expect(is_field_error(error)).toBe(true);
      expect((error as FieldTypeError).field).toBe(field);
      expect((error as Error).message.startsWith(`${field} must be `)).toBe(true);
    },
  );

  it('keeps total power × 3 exact in integer arithmetic', () => {
    expect(Number.isSafeInteger(3 * VALIDATORS_MAX * VALIDATOR_POWER_MAX)).toBe(true);
  });

  it('genesis and the enclave accept and refuse the same sets', () => {
    const named = (set: unknown) =>
      Array.isArray(set)
        ? set.map((x, i) =>
            typeof x === 'object' && x !== null && !Array.isArray(x) ? { name: `v${i}`, ...x } : x,
          )
        : set;
    for (const set of [...good, ...bad.map((c) => c[0])]) {
      const expected = thrown(() => check_validator_set(set)) === null;
      expect(thrown(() => check_genesis(p, genesis({ validators: named(set) }))) === null).toBe(expected);
      expect(thrown(() => enclave_validators(set)) === null).toBe(expected);
    }
  });

  it('a site with its own error type gets the shared message', () => {
    expect(() => check_genesis(p, genesis({ validators: [v('a', 0)] }))).toThrow(
      'genesis: validators[0].power must be 1..1000000',
    );
    expect(() => enclave_validators([v('a'), v('a')])).toThrow('validators[1].pubkey must be listed once');
  });
});

describe('the p2p key check is the shared one', () => {
  it('accepts and refuses as is_hex64', () => {
    for (const value of [KEY('a'), KEY('A'), 'a'.repeat(63), 7, null])
      expect(is_key_hex(value)).toBe(is_hex64(value));
  });
});
