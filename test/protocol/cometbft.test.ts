/**
 * CometBFT v0.38 commit verification in pure TypeScript (protocol/cometbft/, issue #17), against
 * what CometBFT v0.38.17 itself produced (test/vectors/cometbft/README.md says how): the `/commit`,
 * `/block` and `/validators` answers of a one-validator and a four-validator network, and known
 * answers of CometBFT's own Go code (Merkle roots, sign bytes, set hash, an unusual header, times).
 * Every real commit must verify with both providers; every change a host could make to one must
 * give a reason, and every malformed field a CometFormatError naming it.
 */

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { from_base64, from_hex, to_base64, to_hex } from '../../protocol/bytes.js';
import {
  BLOCK_ID_FLAG,
  COMET_ZERO_TIME,
  type CometCommit,
  CometFormatError,
  type CometHeader,
  type CometValidator,
  commit_hash,
  header_hash,
  merkle_root,
  parse_signed_header,
  parse_time,
  parse_validators,
  precommit_sign_bytes,
  sorted_validators,
  time_ms,
  txs_data_hash,
  validator_address,
  validator_set_hash,
  verify_comet_commit,
} from '../../protocol/cometbft/index.js';
import { native_provider } from '../../protocol/providers/native.js';
import { noble_provider } from '../../protocol/providers/noble.js';
import { load_vectors, PROVIDERS } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: the vectors are CometBFT's JSON, read and edited by shape
type Json = Record<string, any>;

/** Lowercase hex of CometBFT's upper-case hex. */
const hex = (upper: string): Uint8Array => from_hex(upper.toLowerCase());

/** Saved answers per network and height: `<net>.commit.<h>.json` with its `.block.` and `.validators.`. */
const SCENARIOS = readdirSync(new URL('../vectors/cometbft/', import.meta.url))
  .map((f) => /^(one_node|four_nodes)\.commit\.(\d+)\.json$/.exec(f))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => `${m[1]}.${m[2]}`)
  .sort();

interface Scenario {
  name: string;
  signed_header: Json;
  block: Json;
  validators_json: Json;
  chain_id: string;
}

function scenario(name: string): Scenario {
  const [net, height] = name.split('.') as [string, string];
  const commit = load_vectors<Json>(`cometbft/${net}.commit.${height}.json`);
  return {
    name,
    signed_header: commit['result']['signed_header'],
    block: load_vectors<Json>(`cometbft/${net}.block.${height}.json`)['result'],
    validators_json: load_vectors<Json>(`cometbft/${net}.validators.${height}.json`)['result'],
    chain_id: commit['result']['signed_header']['header']['chain_id'],
  };
}

/** A fresh parse of a scenario, to change freely. */
function parsed(name: string): {
  chain_id: string;
  header: CometHeader;
  commit: CometCommit;
  validators: CometValidator[];
} {
  const s = scenario(name);
  return {
    chain_id: s.chain_id,
    ...parse_signed_header(s.signed_header),
    validators: parse_validators(native_provider, s.validators_json),
  };
}

/** The error `f` throws (failing the test if it throws none). */
function error_of(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Asserts that `f` throws a CometFormatError whose field starts with `field`. */
function expect_format_error(f: () => unknown, field: string): void {
  const error = error_of(f);
  expect(error).toBeInstanceOf(CometFormatError);
  expect((error as CometFormatError).field.startsWith(field), (error as Error).message).toBe(true);
}

describe('the saved vectors', () => {
  it('hold the commits the README promises', () => {
    expect(SCENARIOS).toEqual(['four_nodes.4', 'four_nodes.7', 'one_node.4', 'one_node.5', 'one_node.6']);
    const flags = (name: string) =>
      scenario(name).signed_header['commit']['signatures'].map((s: Json) => s['block_id_flag']);
    expect(flags('four_nodes.4')).toEqual([2, 2, 2, 2]);
    expect(flags('four_nodes.7')).toEqual([2, 2, 2, 1]);
    expect(scenario('four_nodes.7').signed_header['commit']['round']).toBe(1);
    expect(scenario('one_node.5').block['block']['data']['txs']).toHaveLength(3);
    expect(scenario('one_node.6').block['block']['data']['txs']).toHaveLength(0);
  });
});

describe.each(PROVIDERS)('real CometBFT v0.38.17 commits (%s)', (_name, p) => {
  describe.each(SCENARIOS)('%s', (name) => {
    const s = scenario(name);
    const { header, commit } = parse_signed_header(s.signed_header);
    const validators = parse_validators(p, s.validators_json);

    it("header_hash is the commit's block_id.hash and /block's block_id.hash", () => {
      const hash = header_hash(p, header);
      expect(to_hex(hash)).toBe(to_hex(commit.block_id.hash));
      expect(to_hex(hash).toUpperCase()).toBe(s.block['block_id']['hash']);
      // /block's header is the same header, read through the same parser.
      const block_header = parse_signed_header({
        header: s.block['block']['header'],
        commit: s.signed_header['commit'],
      }).header;
      expect(to_hex(header_hash(p, block_header))).toBe(to_hex(hash));
    });

    it("txs_data_hash of /block's transactions is header.data_hash", () => {
      const txs = (s.block['block']['data']['txs'] as string[]).map(from_base64);
      expect(to_hex(txs_data_hash(p, txs))).toBe(to_hex(header.data_hash));
    });

    it('validator_set_hash of /validators is header.validators_hash, in any order given', () => {
      expect(to_hex(validator_set_hash(p, validators))).toBe(to_hex(header.validators_hash));
      expect(to_hex(validator_set_hash(p, [...validators].reverse()))).toBe(to_hex(header.validators_hash));
      expect(to_hex(header.next_validators_hash)).toBe(to_hex(header.validators_hash));
    });

    it('verify_comet_commit accepts the commit', () => {
      expect(verify_comet_commit(p, s.chain_id, validators, header, commit)).toBeNull();
      expect(verify_comet_commit(p, s.chain_id, [...validators].reverse(), header, commit)).toBeNull();
    });

    it("commit_hash of /block's last_commit is its header's last_commit_hash", () => {
      const last = parse_signed_header({
        header: s.block['block']['header'],
        commit: s.block['block']['last_commit'],
      });
      expect(to_hex(commit_hash(p, last.commit))).toBe(to_hex(last.header.last_commit_hash));
    });

    it('the proposer is a validator of the set; times read to the nanosecond', () => {
      const addresses = validators.map((v) => to_hex(validator_address(p, v.pubkey)));
      expect(addresses).toContain(to_hex(header.proposer_address));
      const text: string = s.signed_header['header']['time'];
      const fraction = /\.(\d+)Z$/.exec(text)?.[1] ?? '';
      expect(header.time.nanos).toBe(Number(fraction.padEnd(9, '0')));
      expect(time_ms(header.time)).toBe(
        Number(header.time.seconds) * 1000 + Math.floor(header.time.nanos / 1e6),
      );
    });
  });

  it("the one validator's key file and genesis give the set /validators gives", () => {
    const key = load_vectors<Json>('cometbft/one_node.priv_validator_pub_key.json');
    const genesis = load_vectors<Json>('cometbft/one_node.genesis.json');
    const pubkey = from_base64(key['value']);
    const v = genesis['validators'][0];
    expect(to_hex(validator_address(p, pubkey)).toUpperCase()).toBe(v['address']);
    const set = [{ pubkey, power: BigInt(v['power']) }];
    const { header } = parsed('one_node.4');
    expect(to_hex(validator_set_hash(p, set))).toBe(to_hex(header.validators_hash));
    expect(genesis['chain_id']).toBe(header.chain_id);
  });

  it("the four validators' genesis, in genesis order, hashes to the header's validators_hash", () => {
    const genesis = load_vectors<Json>('cometbft/four_nodes.genesis.json');
    const set: CometValidator[] = genesis['validators'].map((v: Json) => ({
      pubkey: from_base64(v['pub_key']['value']),
      power: BigInt(v['power']),
    }));
    expect(set.map((v) => v.power)).toEqual([10n, 10n, 30n, 40n]);
    const { header } = parsed('four_nodes.4');
    expect(to_hex(validator_set_hash(p, set))).toBe(to_hex(header.validators_hash));
  });
});

describe('verify_comet_commit refuses every change a host could make', () => {
  const p = native_provider;
  const FOUR = 'four_nodes.4'; // powers 40, 30, 10, 10 in CometBFT's order, all four signed
  const ABSENT = 'four_nodes.7'; // round 1, the last slot (power 10) absent

  /** verify_comet_commit of `name` after `change`. */
  function verify_changed(name: string, change: (x: ReturnType<typeof parsed>) => void): string | null {
    const x = parsed(name);
    change(x);
    return verify_comet_commit(p, x.chain_id, x.validators, x.header, x.commit);
  }

  it.each<[string, (string | null)[]]>([
    // Powers 40, 30, 10, 10 in CometBFT's order (total 90): a bad 40 or 30 leaves 50 or 60, not
    // more than 2/3; a bad 10 leaves 80 counted, and the commit stands on the other three.
    [FOUR, ['50 of 90', '60 of 90', null, null]],
    // The last 10 absent already: 40 or 50 left is too little, 70 is enough.
    [ABSENT, ['40 of 90', '50 of 90', null]],
    ['one_node.5', ['0 of 10']],
  ])('%s: one flipped signature byte counts for nothing', (name, outcome) => {
    outcome.forEach((expected, i) => {
      const why = verify_changed(name, (x) => {
        x.commit.signatures[i]!.signature[7]! ^= 1;
      });
      if (expected === null) expect(why).toBeNull();
      else
        expect(why).toBe(
          `commit has ${expected} voting power in valid signatures, not more than 2/3 (not counted: signature ${i} does not verify)`,
        );
    });
  });

  it('an absent slot turned into a COMMIT one', () => {
    expect(
      verify_changed(ABSENT, (x) => {
        x.commit.signatures[3]!.block_id_flag = BLOCK_ID_FLAG.COMMIT;
      }),
    ).toMatch(/malformed input: commit.signatures\[3\].validator_address/);
  });

  it('a changed header field: app_hash, height, time nanos, data_hash, version', () => {
    expect(
      verify_changed(FOUR, (x) => {
        x.header.app_hash[0]! ^= 1;
      }),
    ).toMatch(/another block/);
    expect(
      verify_changed(FOUR, (x) => {
        x.header.height += 1n;
      }),
    ).toMatch(/height/);
    expect(
      verify_changed(FOUR, (x) => {
        x.header.height += 1n;
        x.commit.height += 1n;
      }),
    ).toMatch(/another block/);
    expect(
      verify_changed(FOUR, (x) => {
        x.header.time.nanos += 1;
      }),
    ).toMatch(/another block/);
    expect(
      verify_changed(FOUR, (x) => {
        x.header.data_hash[31]! ^= 1;
      }),
    ).toMatch(/another block/);
    expect(
      verify_changed(FOUR, (x) => {
        x.header.version.block = 12n;
      }),
    ).toMatch(/block protocol/);
  });

  it('a changed commit field: round, part set header, a timestamp', () => {
    expect(
      verify_changed(FOUR, (x) => {
        x.commit.round = 1;
      }),
    ).toMatch(/does not verify/);
    expect(
      verify_changed(ABSENT, (x) => {
        x.commit.round = 0;
      }),
    ).toMatch(/does not verify/);
    expect(
      verify_changed(FOUR, (x) => {
        x.commit.block_id.part_set_header.total += 1;
      }),
    ).toMatch(/does not verify/);
    expect(
      verify_changed(FOUR, (x) => {
        x.commit.signatures[0]!.timestamp.nanos ^= 1;
      }),
    ).toMatch(/50 of 90 .*signature 0 does not verify/);
    expect(
      verify_changed(FOUR, (x) => {
        x.commit.signatures[2]!.timestamp.nanos ^= 1;
      }),
    ).toBeNull();
  });

  it('the wrong chain id', () => {
    const x = parsed(FOUR);
    expect(verify_comet_commit(p, `${x.chain_id}x`, x.validators, x.header, x.commit)).toMatch(
      /another chain|chain/,
    );
    expect(verify_comet_commit(p, 'cloister-1', x.validators, x.header, x.commit)).toMatch(/chain/);
  });

  it('a validator set with a changed power, a validator more or less, or a key twice', () => {
    expect(
      verify_changed(FOUR, (x) => {
        x.validators[1]!.power += 1n;
      }),
    ).toMatch(/validators_hash/);
    expect(verify_changed(FOUR, (x) => void x.validators.pop())).toMatch(/validators_hash/);
    const extra = { pubkey: new Uint8Array(32).fill(9), power: 1n };
    expect(verify_changed(FOUR, (x) => void x.validators.push(extra))).toMatch(/validators_hash/);
    expect(verify_changed(FOUR, (x) => void x.validators.push({ ...x.validators[0]! }))).toMatch(
      /listed once/,
    );
    expect(
      verify_changed(FOUR, (x) => {
        x.validators.length = 0;
      }),
    ).toMatch(/malformed input/);
  });

  it('duplicated signatures: a slot copied over another, or appended', () => {
    expect(
      verify_changed(FOUR, (x) => {
        x.commit.signatures[1] = x.commit.signatures[0]!;
      }),
    ).toMatch(/signature 1 names .* not validator 1/);
    expect(verify_changed(FOUR, (x) => void x.commit.signatures.push(x.commit.signatures[0]!))).toMatch(
      /5 signature slots for 4 validators/,
    );
  });

  it('signatures reordered', () => {
    expect(
      verify_changed(FOUR, (x) => {
        const s = x.commit.signatures;
        [s[0], s[1]] = [s[1]!, s[0]!];
      }),
    ).toMatch(/signature 0 names/);
    expect(verify_changed(FOUR, (x) => void x.commit.signatures.reverse())).toMatch(/signature 0 names/);
  });

  /** Turns slot `i` into an absent one, as CometBFT writes a validator it did not hear from. */
  function absent(x: ReturnType<typeof parsed>, i: number): void {
    x.commit.signatures[i] = {
      block_id_flag: BLOCK_ID_FLAG.ABSENT,
      validator_address: new Uint8Array(0),
      timestamp: { ...COMET_ZERO_TIME },
      signature: new Uint8Array(0),
    };
  }

  it('too few signers: 2/3 exactly is not enough, more than 2/3 is', () => {
    // Powers 40, 30, 10, 10 (total 90): without the 30, 60 signed = exactly 2/3, refused.
    expect(verify_changed(FOUR, (x) => absent(x, 1))).toBe(
      'commit has 60 of 90 voting power in valid signatures, not more than 2/3',
    );
    // Without one 10, 80 signed > 60: still CometBFT's commit.
    expect(verify_changed(FOUR, (x) => absent(x, 3))).toBeNull();
    // The round-1 commit lacks the last 10 already: 70 of 90 still passes, 50 of 90 does not.
    expect(verify_changed(ABSENT, (x) => absent(x, 2))).toBeNull();
    expect(verify_changed(ABSENT, (x) => absent(x, 1))).toBe(
      'commit has 50 of 90 voting power in valid signatures, not more than 2/3',
    );
    // A slot removed instead of marked absent.
    expect(verify_changed(FOUR, (x) => void x.commit.signatures.pop())).toMatch(/3 signature slots for 4/);
  });

  it('an absent slot that is not empty, or a present one marked absent', () => {
    expect(
      verify_changed(ABSENT, (x) => {
        x.commit.signatures[3]!.signature = new Uint8Array(64);
      }),
    ).toMatch(/malformed input: commit.signatures\[3\].signature/);
    expect(
      verify_changed(FOUR, (x) => {
        x.commit.signatures[0]!.block_id_flag = BLOCK_ID_FLAG.ABSENT;
      }),
    ).toMatch(/malformed input/);
  });

  it('never throws on garbage', () => {
    const x = parsed(FOUR);
    const garbage: unknown[] = [null, undefined, 1, 'x', [], {}, { signatures: [null] }];
    for (const g of garbage) {
      expect(verify_comet_commit(p, x.chain_id, x.validators, g as CometHeader, x.commit)).toMatch(
        /malformed/,
      );
      expect(verify_comet_commit(p, x.chain_id, x.validators, x.header, g as CometCommit)).toMatch(
        /malformed/,
      );
      expect(verify_comet_commit(p, x.chain_id, g as CometValidator[], x.header, x.commit)).toMatch(
        /malformed/,
      );
    }
  });
});

describe('nil votes (flag 3), on a set signed here: CometBFT verifies them but does not count them', () => {
  const p = noble_provider;
  const keys = [1, 2, 3, 4].map((i) => new Uint8Array(32).fill(i));
  const powers = [10n, 10n, 10n, 1n];
  const validators = keys.map((sk, i) => ({ pubkey: p.ed25519_public(sk), power: powers[i]! }));
  const order = keys
    .map((sk, i) => ({ sk, v: validators[i]!, address: validator_address(p, validators[i]!.pubkey) }))
    .sort((a, b) =>
      a.v.power !== b.v.power
        ? a.v.power > b.v.power
          ? -1
          : 1
        : to_hex(a.address) < to_hex(b.address)
          ? -1
          : 1,
    );

  function signed(flags: number[]): { header: CometHeader; commit: CometCommit } {
    const { header } = parse_signed_header(scenario('four_nodes.4').signed_header);
    header.chain_id = 'cloister-comet';
    header.validators_hash = validator_set_hash(p, validators);
    const commit: CometCommit = {
      height: header.height,
      round: 2,
      block_id: {
        hash: header_hash(p, header),
        part_set_header: { total: 1, hash: new Uint8Array(32).fill(7) },
      },
      signatures: order.map((o, i) => ({
        block_id_flag: flags[i]!,
        validator_address: o.address,
        timestamp: { seconds: 1_796_457_600n + BigInt(i), nanos: 1000 * i },
        signature: new Uint8Array(64),
      })),
    };
    commit.signatures.forEach((s, i) => {
      s.signature = p.ed25519_sign(order[i]!.sk, precommit_sign_bytes(header.chain_id, commit, i));
    });
    return { header, commit };
  }

  it('counts only COMMIT power: 30 of 31, and 21 of 31 (63 > 62), pass; 11 of 31 does not', () => {
    for (const [flags, ok] of [
      [[2, 2, 2, 3], true],
      [[2, 2, 3, 2], true],
      [[2, 3, 3, 2], false],
      [[3, 3, 3, 3], false],
    ] as const) {
      const { header, commit } = signed([...flags]);
      const why = verify_comet_commit(p, 'cloister-comet', validators, header, commit);
      expect(why === null, `${flags}: ${why}`).toBe(ok);
    }
  });

  it('a nil vote is signed for no block; its signature is not checked, as it never counts', () => {
    const { header, commit } = signed([2, 2, 2, 3]);
    const for_block = precommit_sign_bytes(
      'cloister-comet',
      { ...commit, signatures: [{ ...commit.signatures[3]!, block_id_flag: 2 }] },
      0,
    );
    const nil_bytes = precommit_sign_bytes('cloister-comet', commit, 3);
    expect(nil_bytes.length).toBeLessThan(for_block.length);
    expect(p.ed25519_verify(commit.signatures[3]!.signature, nil_bytes, order[3]!.v.pubkey)).toBe(true);
    commit.signatures[3]!.signature[0]! ^= 1;
    expect(verify_comet_commit(p, 'cloister-comet', validators, header, commit)).toBeNull();
  });
});

describe("known answers of CometBFT's own code", () => {
  const kat = load_vectors<Json>('cometbft/go_known_answers.json');

  // CometBFT v0.38.17 crypto/merkle/tree_test.go TestHashFromByteSlices, transcribed.
  const UPSTREAM: [string, number[][], string][] = [
    ['empty', [], 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['single', [[1, 2, 3]], '054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8'],
    ['single blank', [[]], '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'],
    [
      'two',
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      '82e6cfce00453804379b53962939eaa7906b39904be0813fcadd31b100773c4b',
    ],
    [
      'many',
      [
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
        [9, 10],
      ],
      'f326493eceab4f2d9ffbc78c59432a0a005d6ea98392045c74df5d14a113be18',
    ],
  ];

  describe.each(PROVIDERS)('%s', (_name, p) => {
    it.each(UPSTREAM)('merkle_root: tree_test.go "%s"', (_case, items, root) => {
      expect(
        to_hex(
          merkle_root(
            p,
            items.map((i) => Uint8Array.from(i)),
          ),
        ),
      ).toBe(root);
    });

    it('merkle_root of 0 to 9 items, as HashFromByteSlices computes them', () => {
      const sizes = new Set<number>();
      for (const c of kat['merkle'] as Json[]) {
        const items = (c['items'] as string[]).map((h) => from_hex(h));
        sizes.add(items.length);
        expect(to_hex(merkle_root(p, items)), c['name']).toBe(c['root']);
      }
      expect([...sizes].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('txs_data_hash: Txs.Hash, an empty transaction included', () => {
      const txs = (kat['txs']['txs'] as string[]).map((h) => from_hex(h));
      expect(to_hex(txs_data_hash(p, txs))).toBe(kat['txs']['hash']);
      expect(to_hex(txs_data_hash(p, []))).toBe(UPSTREAM[0]![2]);
    });

    it('validator_set_hash: ValidatorSet.Hash, ties in power broken by address', () => {
      const vs = kat['validator_set'];
      const set = (vs['validators'] as Json[]).map((v) => ({
        pubkey: from_hex(v['pubkey']),
        power: BigInt(v['power']),
      }));
      for (const v of vs['validators'] as Json[])
        expect(to_hex(validator_address(p, from_hex(v['pubkey'])))).toBe(v['address']);
      expect(to_hex(validator_set_hash(p, set))).toBe(vs['hash']);
      expect(sorted_validators(p, set).map((v) => to_hex(v.pubkey))).toEqual(vs['sorted_pubkeys']);
    });

    it.each((kat['sign_bytes'] as Json[]).map((c) => [c['name'], c] as const))(
      'precommit_sign_bytes: %s',
      (_case, c) => {
        const commit: CometCommit = {
          height: BigInt(c['height']),
          round: c['round'],
          block_id: {
            hash: from_hex(c['block_hash']),
            part_set_header: { total: c['part_set_total'], hash: from_hex(c['part_set_hash']) },
          },
          signatures: [
            {
              block_id_flag: c['block_id_flag'],
              validator_address: new Uint8Array(20),
              timestamp: { seconds: BigInt(c['timestamp_seconds']), nanos: c['timestamp_nanos'] },
              signature: new Uint8Array(64),
            },
          ],
        };
        expect(to_hex(precommit_sign_bytes(c['chain_id'], commit, 0))).toBe(c['sign_bytes']);
      },
    );

    it('header_hash: empty last block id, 8-byte app hash, height 2^53 + 1, no app version in the JSON', () => {
      const json = kat['header']['json'];
      expect(json['version']).toEqual({ block: '11' });
      const some_commit = scenario('one_node.4').signed_header['commit'];
      const { header } = parse_signed_header({ header: json, commit: some_commit });
      expect(header.height).toBe(2n ** 53n + 1n);
      expect(header.version.app).toBe(0n);
      expect(to_hex(header_hash(p, header))).toBe(kat['header']['hash']);
    });
  });

  it.each((kat['times'] as Json[]).map((t) => [t['json'], t] as const))('parse_time %s', (text, t) => {
    expect(parse_time(text)).toEqual({ seconds: BigInt(t['seconds']), nanos: t['nanos'] });
  });
});

describe('parse_time and time_ms', () => {
  it('reads offsets, leap days, and floors to the millisecond', () => {
    expect(parse_time('1970-01-01T01:00:00+01:00')).toEqual({ seconds: 0n, nanos: 0 });
    expect(parse_time('1969-12-31T19:00:00.5-05:00')).toEqual({ seconds: 0n, nanos: 500_000_000 });
    expect(parse_time('2024-02-29T00:00:00Z').seconds).toBe(1_709_164_800n);
    expect(parse_time('2000-02-29T00:00:00Z').seconds).toBe(951_782_400n);
    expect(time_ms(parse_time('1969-12-31T23:59:59.999999999Z'))).toBe(-1);
    expect(time_ms(parse_time('2026-12-05T08:07:59.31420428Z'))).toBe(1_796_458_079_314);
    expect(time_ms(COMET_ZERO_TIME)).toBe(-62_135_596_800_000);
  });

  it.each([
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-12-05T24:00:00Z',
    '2026-12-05T23:60:00Z',
    '2026-12-05T23:59:60Z',
    '0000-12-31T00:00:00Z',
    '0001-01-01T00:00:00+00:01',
    '2026-12-05T08:07:59.1234567890Z',
    '2026-12-05T08:07:59.Z',
    '2026-12-05t08:07:59Z',
    '2026-12-05T08:07:59z',
    '2026-12-05T08:07:59',
    '2026-12-05 08:07:59Z',
    '2026-12-05T08:07:59+24:00',
    '2026-12-05T08:07:59+0100',
    ' 2026-12-05T08:07:59Z',
    '+2026-12-05T08:07:59Z',
    '',
  ])('refuses %j', (text) => {
    expect_format_error(() => parse_time(text), 'time');
  });

  it('refuses what is not a string', () => {
    expect_format_error(() => parse_time(5 as unknown as string), 'time');
    expect_format_error(() => time_ms({ seconds: 1n, nanos: 1e9 }), 'time.nanos');
  });
});

describe('parse_signed_header is strict: every malformed field is a CometFormatError naming it', () => {
  const base = scenario('four_nodes.7').signed_header;
  /** parse_signed_header of the saved signed header after `change` on a deep copy. */
  const parse_changed = (change: (j: Json) => void) => () => {
    const j = structuredClone(base);
    change(j);
    return parse_signed_header(j);
  };

  it('parses the saved answer', () => {
    expect(() => parse_signed_header(base)).not.toThrow();
  });

  it.each<[string, string, (j: Json) => void]>([
    [
      'a commit that is not an object',
      'commit',
      (j) => {
        j['commit'] = null;
      },
    ],
    [
      'an unknown key',
      'signed_header.extra',
      (j) => {
        j['extra'] = 1;
      },
    ],
    ['a missing header field', 'header.app_hash', (j) => void delete j['header']['app_hash']],
    [
      'an unknown header field',
      'header.extra',
      (j) => {
        j['header']['extra'] = '';
      },
    ],
    [
      'height as a number',
      'header.height',
      (j) => {
        j['header']['height'] = 7;
      },
    ],
    [
      'height with a leading zero',
      'header.height',
      (j) => {
        j['header']['height'] = '07';
      },
    ],
    [
      'height 0',
      'header.height',
      (j) => {
        j['header']['height'] = '0';
      },
    ],
    [
      'height above int64',
      'header.height',
      (j) => {
        j['header']['height'] = '9223372036854775808';
      },
    ],
    [
      'version.block as a number',
      'header.version.block',
      (j) => {
        j['header']['version']['block'] = 11;
      },
    ],
    [
      'a 31-byte hash',
      'header.data_hash',
      (j) => {
        j['header']['data_hash'] = 'AB'.repeat(31);
      },
    ],
    [
      'odd-length hex',
      'header.data_hash',
      (j) => {
        j['header']['data_hash'] = 'ABC';
      },
    ],
    [
      'non-hex',
      'header.evidence_hash',
      (j) => {
        j['header']['evidence_hash'] = 'GG'.repeat(32);
      },
    ],
    [
      'a 19-byte proposer',
      'header.proposer_address',
      (j) => {
        j['header']['proposer_address'] = '00'.repeat(19);
      },
    ],
    [
      'no proposer',
      'header.proposer_address',
      (j) => {
        j['header']['proposer_address'] = '';
      },
    ],
    [
      'a 257-byte app hash',
      'header.app_hash',
      (j) => {
        j['header']['app_hash'] = '00'.repeat(257);
      },
    ],
    [
      'a 51-byte chain id',
      'header.chain_id',
      (j) => {
        j['header']['chain_id'] = 'c'.repeat(51);
      },
    ],
    [
      'a lone surrogate in the chain id',
      'header.chain_id',
      (j) => {
        j['header']['chain_id'] = 'c\ud800';
      },
    ],
    [
      'a bad time',
      'header.time',
      (j) => {
        j['header']['time'] = '2026-02-30T00:00:00Z';
      },
    ],
    [
      'parts.total as a string',
      'header.last_block_id.parts.total',
      (j) => {
        j['header']['last_block_id']['parts']['total'] = '1';
      },
    ],
    [
      'part_set_header instead of parts',
      'header.last_block_id',
      (j) => {
        const b = j['header']['last_block_id'];
        b['part_set_header'] = b['parts'];
        delete b['parts'];
      },
    ],
    [
      'round -1',
      'commit.round',
      (j) => {
        j['commit']['round'] = -1;
      },
    ],
    [
      'round as a string',
      'commit.round',
      (j) => {
        j['commit']['round'] = '1';
      },
    ],
    [
      'a zero commit block id',
      'commit.block_id',
      (j) => {
        j['commit']['block_id'] = { hash: '', parts: { total: 0, hash: '' } };
      },
    ],
    [
      'no signatures',
      'commit.signatures',
      (j) => {
        j['commit']['signatures'] = [];
      },
    ],
    [
      '10 001 signatures',
      'commit.signatures',
      (j) => {
        j['commit']['signatures'] = Array(10_001).fill(j['commit']['signatures'][3]);
      },
    ],
    [
      'flag 0',
      'commit.signatures[0].block_id_flag',
      (j) => {
        j['commit']['signatures'][0]['block_id_flag'] = 0;
      },
    ],
    [
      'flag 4',
      'commit.signatures[0].block_id_flag',
      (j) => {
        j['commit']['signatures'][0]['block_id_flag'] = 4;
      },
    ],
    [
      'a 63-byte signature',
      'commit.signatures[0].signature',
      (j) => {
        j['commit']['signatures'][0]['signature'] = 'A'.repeat(84);
      },
    ],
    [
      'URL-safe base64',
      'commit.signatures[0].signature',
      (j) => {
        const s = j['commit']['signatures'][0];
        s['signature'] = (s['signature'] as string).replace(/[+/]/g, '-').replace(/^./, '-');
      },
    ],
    [
      'no signature on a commit vote',
      'commit.signatures[0].signature',
      (j) => {
        j['commit']['signatures'][0]['signature'] = null;
      },
    ],
    [
      'a 19-byte validator address',
      'commit.signatures[0].validator_address',
      (j) => {
        j['commit']['signatures'][0]['validator_address'] = '00'.repeat(19);
      },
    ],
    [
      'an absent slot with a time',
      'commit.signatures[3].timestamp',
      (j) => {
        j['commit']['signatures'][3]['timestamp'] = '2026-12-05T08:08:35Z';
      },
    ],
    [
      'an absent slot with an address',
      'commit.signatures[3].validator_address',
      (j) => {
        j['commit']['signatures'][3]['validator_address'] = '00'.repeat(20);
      },
    ],
    [
      'a signature slot that is not an object',
      'commit.signatures[1]',
      (j) => {
        j['commit']['signatures'][1] = [];
      },
    ],
  ])('%s', (_case, field, change) => {
    expect_format_error(parse_changed(change), field);
  });

  it('takes an absent signature as null or "" and lower-case hex like CometBFT', () => {
    const a = parse_changed((j) => {
      j['commit']['signatures'][3]['signature'] = '';
    })();
    expect(a.commit.signatures[3]!.signature).toHaveLength(0);
    const b = parse_changed((j) => {
      j['header']['app_hash'] = (j['header']['app_hash'] as string).toLowerCase();
    })();
    expect(to_hex(b.header.app_hash)).toBe(to_hex(hex(base['header']['app_hash'])));
  });

  it('refuses what is not JSON of a signed header', () => {
    for (const bad of [null, undefined, 1, 'x', [], {}, { header: {}, commit: {} }]) {
      expect(() => parse_signed_header(bad)).toThrow(CometFormatError);
    }
  });
});

describe('parse_validators is strict', () => {
  const p = native_provider;
  const base = scenario('four_nodes.4').validators_json;
  const parse_changed = (change: (j: Json) => void) => () => {
    const j = structuredClone(base);
    change(j);
    return parse_validators(p, j);
  };

  it.each<[string, string, (j: Json) => void]>([
    [
      'a partial page',
      'result',
      (j) => {
        j['total'] = '5';
      },
    ],
    ['a count that is not the list', 'result', (j) => void j['validators'].pop()],
    [
      'a secp256k1 key',
      'result.validators[0].pub_key.type',
      (j) => {
        j['validators'][0]['pub_key']['type'] = 'tendermint/PubKeySecp256k1';
      },
    ],
    [
      'a 31-byte key',
      'result.validators[0].pub_key.value',
      (j) => {
        j['validators'][0]['pub_key']['value'] = to_base64(new Uint8Array(31));
      },
    ],
    [
      'an address of another key',
      'result.validators[0].address',
      (j) => {
        j['validators'][0]['address'] = j['validators'][1]['address'];
      },
    ],
    [
      'power 0',
      'result.validators[2].voting_power',
      (j) => {
        j['validators'][2]['voting_power'] = '0';
      },
    ],
    [
      'an unknown key',
      'result.validators[0].name',
      (j) => {
        j['validators'][0]['name'] = 'node0';
      },
    ],
  ])('%s', (_case, field, change) => {
    expect_format_error(parse_changed(change), field);
  });
});

describe('limits', () => {
  const p = native_provider;
  it('merkle_root, validator_set_hash and precommit_sign_bytes refuse out-of-range input', () => {
    expect_format_error(() => merkle_root(p, [new Uint8Array(1), 'x' as unknown as Uint8Array]), 'items[1]');
    expect_format_error(() => validator_set_hash(p, []), 'validators');
    expect_format_error(
      () => validator_set_hash(p, [{ pubkey: new Uint8Array(32), power: 0n }]),
      'validators[0].power',
    );
    expect_format_error(
      () => validator_set_hash(p, [{ pubkey: new Uint8Array(32), power: 2n ** 62n }]),
      'validators[0].power',
    );
    expect_format_error(
      () =>
        validator_set_hash(p, [
          { pubkey: new Uint8Array(32).fill(1), power: 2n ** 59n },
          { pubkey: new Uint8Array(32).fill(2), power: 2n ** 59n },
        ]),
      'validators',
    );
    expect_format_error(() => validator_address(p, new Uint8Array(33)), 'pubkey');
    const { commit } = parse_signed_header(scenario('one_node.4').signed_header);
    expect_format_error(() => precommit_sign_bytes('c', commit, 1), 'index');
    expect_format_error(() => precommit_sign_bytes('c', commit, -1), 'index');
  });
});
