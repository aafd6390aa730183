/**
 * The enclave's light client under CometBFT (enclave/light_comet.ts, docs/cometbft.md "Trust"),
 * on what CometBFT v0.38.17 itself produced (test/vectors/cometbft/README.md): the `/commit`,
 * `/block` and `/validators` answers of a one-validator chain (heights 4, 5, 6) and of a
 * four-validator chain with powers 10/10/30/40 (heights 4 and 7, 7 with one absent signature,
 * decided in round 1). Every recorded block is accepted from the state at its parent, and again
 * from its own state (re-execution); every change a host could make to the block, its evidence,
 * the validator set or the light state is refused with a BAD_INPUT fault that says why. Through
 * the enclave (InProcessEnclave), a sealed state of one engine refuses the other engine's evidence.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockInput } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { type LightInput, type LightState, validators_hash } from '../../enclave/light.js';
import { type CometLightInput, check_light_comet, comet_random_seed } from '../../enclave/light_comet.js';
import { EnclaveErrorCode, EnclaveFault, unwrap } from '../../enclave/result.js';
import { from_base64, from_hex, from_utf8, to_base64, to_hex } from '../../protocol/bytes.js';
import type { Validator } from '../../protocol/chain.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { native_provider } from '../../protocol/providers/native.js';
import { stub_block_input } from '../node/app_stubs.js';
import { load_vectors, PROVIDERS } from '../protocol/helpers.js';
import { temp_home } from './fixtures.js';

const p = native_provider;

/** The shapes of CometBFT's RPC JSON this test reads (rpc/core/types, libs/json). */
interface RpcBlockId {
  hash: string;
  parts: { total: number; hash: string };
}
interface RpcCommitSig {
  block_id_flag: number;
  validator_address: string;
  timestamp: string;
  signature: string | null;
}
interface RpcHeader {
  chain_id: string;
  height: string;
  time: string;
  last_block_id: RpcBlockId;
  data_hash: string;
  app_hash: string;
  [field: string]: unknown;
}
interface RpcSignedHeader {
  header: RpcHeader;
  commit: { height: string; round: number; block_id: RpcBlockId; signatures: RpcCommitSig[] };
}
interface RpcBlock {
  block_id: RpcBlockId;
  block: { header: RpcHeader; data: { txs: string[] } };
}
interface RpcValidator {
  address: string;
  pub_key: { type: string; value: string };
  voting_power: string;
}

type Net = 'one_node' | 'four_nodes';

/** One recorded height: CometBFT's evidence, and what the host hands the enclave with it. */
interface Recorded {
  chain_id: string;
  height: number;
  /** The block's hash as `/block` gives it (lowercase): what the state holds after it. */
  hash: string;
  /** Its parent's hash (lowercase), `last_block_id.hash`: what the state holds before it. */
  parent: string;
  /** The validator set as `/validators` lists it, in Cloister's shape. */
  validators: Validator[];
  signed_header: RpcSignedHeader;
  input: BlockInput;
}

/** Milliseconds of an RFC 3339 UTC time with 0 to 9 fractional digits, rounded down. */
function rfc3339_ms(time: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(time);
  if (m === null) throw new Error(`not a CometBFT time: ${time}`);
  return Date.parse(`${m[1]}Z`) + Number((m[2] ?? '').padEnd(3, '0').slice(0, 3));
}

/** A BlockInput with the fields the light client reads; the rest empty. */
function block_input(chain_id: string, height: number, time_ms: number, random_seed: string, txs: string[]) {
  return stub_block_input(txs, { chain_id, height, time_ms, random_seed }, { roots: [], measurements: [] });
}

/** Cloister's validator set from `/validators`: lowercase hex of each base64 key, power as a number. */
function cloister_validators(list: RpcValidator[]): Validator[] {
  return list.map((v) => {
    expect(v.pub_key.type).toBe('tendermint/PubKeyEd25519');
    return { pubkey: to_hex(from_base64(v.pub_key.value)), power: Number(v.voting_power) };
  });
}

/** A fresh copy of the recorded height `height` of `net`, to change freely. */
function recorded(net: Net, height: number): Recorded {
  const signed_header = load_vectors<{ result: { signed_header: RpcSignedHeader } }>(
    `cometbft/${net}.commit.${height}.json`,
  ).result.signed_header;
  const block = load_vectors<{ result: RpcBlock }>(`cometbft/${net}.block.${height}.json`).result;
  const validators = load_vectors<{ result: { validators: RpcValidator[] } }>(
    `cometbft/${net}.validators.${height}.json`,
  ).result.validators;
  const header = block.block.header;
  // The commit and the block agree on the block before any test relies on either.
  expect(signed_header.header).toEqual(header);
  expect(signed_header.commit.block_id).toEqual(block.block_id);
  expect(Number(header.height)).toBe(height);
  const parent = header.last_block_id.hash.toLowerCase();
  const txs = block.block.data.txs.map((b64) => from_utf8(from_base64(b64)));
  return {
    chain_id: header.chain_id,
    height,
    hash: block.block_id.hash.toLowerCase(),
    parent,
    validators: cloister_validators(validators),
    signed_header,
    input: block_input(header.chain_id, height, rfc3339_ms(header.time), parent, txs),
  };
}

/** The light state at `height` with `block_hash`, bound to `validators` (default: the recorded set). */
function state_of(
  r: Recorded,
  height: number,
  block_hash: string,
  opts: { validators?: Validator[]; chain_id?: string; provider?: CryptoProvider } = {},
): LightState {
  return {
    chain_id: opts.chain_id ?? r.chain_id,
    height,
    block_hash,
    validators_hash: validators_hash(opts.provider ?? p, opts.validators ?? r.validators),
    engine: 'cometbft',
  };
}

/** The state the enclave holds before `r`: at its parent. */
const at_parent = (r: Recorded, opts: Parameters<typeof state_of>[3] = {}) =>
  state_of(r, r.height - 1, r.parent, opts);

/** What the host hands in with `r` (its recorded evidence unless changed). */
function light_of(r: Recorded, changes: Partial<CometLightInput> = {}): CometLightInput {
  return {
    engine: 'cometbft',
    signed_header: r.signed_header,
    validators: r.validators,
    sealed_light: 'not read by check_light_comet',
    ...changes,
  };
}

/** Checks `r` from `state` with `light`, and from the parent state with `r`'s evidence by default. */
function check(r: Recorded, state: LightState = at_parent(r), light: CometLightInput = light_of(r)) {
  return check_light_comet(p, state, r.input, light);
}

/** `fn` throws a BAD_INPUT EnclaveFault whose message matches `why`. */
function refused(fn: () => unknown, why: RegExp): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EnclaveFault);
  const fault = caught as EnclaveFault;
  expect(fault.code).toBe(EnclaveErrorCode.BAD_INPUT);
  expect(fault.message).toMatch(/^light client: /);
  expect(fault.message).toMatch(why);
}

/** The given slots of `r`'s commit made absent, as CometBFT writes an absent slot. */
function absent(r: Recorded, ...slots: number[]): void {
  for (const i of slots) {
    r.signed_header.commit.signatures[i] = {
      block_id_flag: 1,
      validator_address: '',
      timestamp: '0001-01-01T00:00:00Z',
      signature: null,
    };
  }
}

const NOT_EXTENDING = /block does not extend the last verified block/;

describe.each(PROVIDERS)('check_light_comet accepts CometBFT commits (%s)', (_name, provider) => {
  const accept = (r: Recorded, state: LightState) => check_light_comet(provider, state, r.input, light_of(r));

  it('follows the one-validator chain 4 → 5 → 6, each block from its parent', () => {
    const [b4, b5, b6] = [4, 5, 6].map((h) => recorded('one_node', h)) as [Recorded, Recorded, Recorded];
    expect(b4.input.txs).toEqual(['k1=v1']);
    expect(b5.input.txs).toHaveLength(3);
    expect(b6.input.txs).toEqual([]);
    // Consecutive recordings: each parent hash is the block before.
    expect(b5.parent).toBe(b4.hash);
    expect(b6.parent).toBe(b5.hash);
    let state = at_parent(b4, { provider });
    for (const r of [b4, b5, b6]) {
      state = accept(r, state);
      expect(state).toEqual({
        chain_id: 'test-chain-kzCBdN',
        height: r.height,
        block_hash: r.hash,
        validators_hash: validators_hash(provider, r.validators),
        engine: 'cometbft',
      });
    }
  });

  it.each([4, 7])(
    'accepts the four-validator block %i from its parent, and again from its own state',
    (height) => {
      const r = recorded('four_nodes', height);
      const after = accept(r, at_parent(r, { provider }));
      expect(after).toEqual({ ...at_parent(r, { provider }), height, block_hash: r.hash });
      // Executed again after a crash before the host committed it: the same state.
      expect(accept(r, after)).toEqual(after);
    },
  );
});

describe('check_light_comet', () => {
  it('derives the random seed from the parent hash, 64 zeros at height 1', () => {
    expect(comet_random_seed(new Uint8Array(0))).toBe('0'.repeat(64));
    const r = recorded('one_node', 5);
    expect(comet_random_seed(from_hex(r.parent))).toBe(r.parent);
  });

  it('accepts validators in any order, as long as it is the order the enclave was bound to', () => {
    const r = recorded('four_nodes', 7);
    const genesis = load_vectors<{ validators: { pub_key: { value: string }; power: string }[] }>(
      'cometbft/four_nodes.genesis.json',
    );
    const in_genesis_order = genesis.validators.map((v) => ({
      pubkey: to_hex(from_base64(v.pub_key.value)),
      power: Number(v.power),
    }));
    expect(in_genesis_order.map((v) => v.power)).toEqual([10, 10, 30, 40]);
    const state = at_parent(r, { validators: in_genesis_order });
    expect(check(r, state, light_of(r, { validators: in_genesis_order })).height).toBe(7);
    // The recorded (CometBFT) order hashes differently for Cloister: not the bound set.
    refused(() => check(r, state), /not the validator set this enclave follows/);
  });

  it('refuses a block that does not extend the last verified one', () => {
    const [b4, b5, b6] = [4, 5, 6].map((h) => recorded('one_node', h)) as [Recorded, Recorded, Recorded];
    // Two heights behind: the state verified block 4, the host hands block 6.
    refused(() => check(b6, state_of(b6, 4, b4.hash)), /block does not extend .*\(height 4\)/);
    // The right height with another parent (a fork the enclave did not verify).
    refused(() => check(b6, state_of(b6, 5, b4.hash)), NOT_EXTENDING);
    // The same height as the state, but another block than the one verified.
    refused(() => check(b5, state_of(b5, 5, b6.hash)), NOT_EXTENDING);
    // Ahead of the block: an older block than the state.
    refused(() => check(b4, state_of(b4, 5, b5.hash)), /block does not extend .*\(height 5\)/);
    refused(() => check(b4, state_of(b4, 4, b5.hash)), NOT_EXTENDING);
    // At genesis, only height 1 extends: block 4 does not.
    refused(() => check(b4, state_of(b4, 0, '0'.repeat(64))), /block does not extend .*\(height 0\)/);
  });

  it('refuses another chain: in the input, the state or the header', () => {
    const r = recorded('one_node', 4);
    refused(
      () => check_light_comet(p, at_parent(r), { ...r.input, chain_id: 'other-chain' }, light_of(r)),
      /another chain/,
    );
    refused(() => check(r, at_parent(r, { chain_id: 'other-chain' })), /another chain/);
    const changed = recorded('one_node', 4);
    changed.signed_header.header.chain_id = 'other-chain';
    refused(() => check(changed, at_parent(r)), /another chain/);
  });

  it('refuses a validator set other than the one the enclave was bound to', () => {
    const r = recorded('four_nodes', 4);
    const other = recorded('one_node', 4).validators[0]!;
    const cases: [string, Validator[]][] = [
      ['a key replaced', r.validators.map((v, i) => (i === 3 ? { ...other, power: v.power } : v))],
      ['one left out', r.validators.slice(0, 3)],
      ['one added', [...r.validators, other]],
      ['another power', r.validators.map((v, i) => (i === 0 ? { ...v, power: v.power + 1 } : v))],
      ['reordered', [r.validators[1]!, r.validators[0]!, ...r.validators.slice(2)]],
    ];
    for (const [what, validators] of cases) {
      expect(validators, what).not.toEqual(r.validators);
      refused(
        () => check(r, at_parent(r), light_of(r, { validators })),
        /not the validator set this enclave follows/,
      );
    }
    refused(() => check(r, at_parent(r), light_of(r, { validators: [] })), /bad validator set/);
    const twice = [...r.validators, r.validators[0]!];
    refused(() => check(r, at_parent(r), light_of(r, { validators: twice })), /bad validator set/);
  });

  it('refuses a set bound with another power: CometBFT did not sign with it', () => {
    const r = recorded('four_nodes', 4);
    const validators = r.validators.map((v) => (v.power === 40 ? { ...v, power: 41 } : v));
    refused(
      () => check(r, at_parent(r, { validators }), light_of(r, { validators })),
      /not committed by CometBFT: validator set does not hash to header\.validators_hash/,
    );
  });

  it('refuses transactions the header does not commit to', () => {
    const r = recorded('one_node', 5);
    const txs = r.input.txs;
    expect(txs).toEqual(['k2=v2', 'key-three=value-three-is-longer', `k4=${'x'.repeat(100)}`]);
    const cases: [string, string[]][] = [
      ['one added', [...txs, 'k5=v5']],
      ['an empty one added', [...txs, '']],
      ['one removed', txs.slice(0, 2)],
      ['none', []],
      ['reordered', [txs[1]!, txs[0]!, txs[2]!]],
      ['one byte changed', ['k2=v3', txs[1]!, txs[2]!]],
      ['one byte more', [`${txs[0]!} `, txs[1]!, txs[2]!]],
      ['two joined', [`${txs[0]!}${txs[1]!}`, txs[2]!]],
    ];
    for (const [what, changed] of cases) {
      expect(changed, what).not.toEqual(txs);
      refused(
        () => check_light_comet(p, at_parent(r), { ...r.input, txs: changed }, light_of(r)),
        /txs do not match the header/,
      );
    }
    // Transactions that are not texts: refused as bad input, not an internal error.
    for (const bad of ['zz', [42], null, Array.from({ length: 10_001 }, () => 'k=v')]) {
      refused(
        () => check_light_comet(p, at_parent(r), { ...r.input, txs: bad as never }, light_of(r)),
        /txs must be at most 10000 strings/,
      );
    }
    // A block without transactions, handed one.
    const empty = recorded('one_node', 6);
    refused(
      () => check_light_comet(p, at_parent(empty), { ...empty.input, txs: ['k1=v1'] }, light_of(empty)),
      /txs do not match the header/,
    );
  });

  it('refuses another time, height or random seed', () => {
    const r = recorded('four_nodes', 7);
    const { input } = r;
    const light = light_of(r);
    expect(input.time_ms).toBe(Date.UTC(2026, 11, 5, 8, 15, 28, 377));
    for (const time_ms of [input.time_ms - 1, input.time_ms + 1])
      refused(() => check_light_comet(p, at_parent(r), { ...input, time_ms }, light), /\(time\)/);
    for (const height of [6, 8])
      refused(() => check_light_comet(p, at_parent(r), { ...input, height }, light), /\(height\)/);
    for (const random_seed of ['0'.repeat(64), r.hash, r.parent.toUpperCase()])
      refused(() => check_light_comet(p, at_parent(r), { ...input, random_seed }, light), /\(random seed\)/);
  });

  it('counts only signatures of more than 2/3 of the power (10/10/30/40)', () => {
    // Slots in CometBFT's order of the set: 40, 30, 10, 10.
    expect(recorded('four_nodes', 4).validators.map((v) => v.power)).toEqual([40, 30, 10, 10]);
    const cut = (height: number, ...slots: number[]) => {
      const r = recorded('four_nodes', height);
      absent(r, ...slots);
      return r;
    };
    // 70 of 90 is more than 2/3.
    expect(check(cut(4, 2, 3)).height).toBe(4);
    expect(check(cut(7, 2)).height).toBe(7);
    // 60 of 90 is exactly 2/3: not more.
    refused(() => check(cut(4, 1)), /not committed by CometBFT: commit has 60 of 90 voting power/);
    refused(
      () => check(cut(4, 0)),
      /commit has 50 of 90 voting power in valid signatures, not more than 2\/3/,
    );
    // Height 7 already lacks a 10: without the 30, 50 of 90.
    refused(() => check(cut(7, 1)), /commit has 50 of 90 voting power/);
    // A nil vote does not count for the block, whatever its signature.
    const nil = recorded('four_nodes', 4);
    nil.signed_header.commit.signatures[0]!.block_id_flag = 3;
    refused(() => check(nil), /commit has 50 of 90 voting power/);
    // A signature that does not verify does not count, and is named.
    const forged = recorded('four_nodes', 4);
    const sig = from_base64(forged.signed_header.commit.signatures[0]!.signature!);
    sig[10] = sig[10]! ^ 1;
    forged.signed_header.commit.signatures[0]!.signature = to_base64(sig);
    refused(() => check(forged), /commit has 50 of 90 voting power .*signature 0 does not verify/);
  });

  it('refuses a header changed in any field the commit signs', () => {
    const b4 = recorded('one_node', 4);
    expect(b4.signed_header.header.time).toBe('2026-12-05T08:15:15.477466731Z');
    const edits: [string, (h: RpcHeader) => void][] = [
      ['app hash', (h) => (h.app_hash = '0300000000000000')],
      [
        'data hash of another block',
        (h) => (h.data_hash = recorded('one_node', 5).signed_header.header.data_hash),
      ],
      ['time, by one nanosecond', (h) => (h.time = '2026-12-05T08:15:15.477466732Z')],
      ['proposer', (h) => (h.proposer_address = 'AB'.repeat(20))],
      ['last results hash', (h) => (h.last_results_hash = 'CD'.repeat(32))],
    ];
    for (const [what, edit] of edits) {
      const r = recorded('one_node', 4);
      edit(r.signed_header.header);
      expect(r.signed_header.header, what).not.toEqual(b4.signed_header.header);
      refused(
        () => check(r, at_parent(b4), light_of(r)),
        /not committed by CometBFT: commit is for another block/,
      );
    }
    // Another height's commit with this header.
    const mixed = recorded('one_node', 4);
    mixed.signed_header.commit = recorded('one_node', 5).signed_header.commit;
    refused(() => check(mixed), /not committed by CometBFT: commit is for height 5, header is 4/);
  });

  it('refuses a malformed signed header', () => {
    const r = recorded('one_node', 4);
    const { header, commit } = r.signed_header;
    for (const signed_header of [
      'signed header',
      null,
      42,
      [],
      { header },
      { commit },
      { header, commit, x: 1 },
    ])
      refused(() => check(r, at_parent(r), light_of(r, { signed_header })), /bad signed header: /);
    const no_height = { header: { ...header, height: undefined }, commit };
    refused(
      () => check(r, at_parent(r), light_of(r, { signed_header: no_height })),
      /bad signed header: header\.height/,
    );
  });
});

describe('the engine is the sealed state’s (through InProcessEnclave)', () => {
  const home = temp_home();
  const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
  let r: Recorded;
  const sealed: Record<'cometbft' | 'default' | 'cloister', string> = {
    cometbft: '',
    default: '',
    cloister: '',
  };

  beforeAll(async () => {
    r = recorded('four_nodes', 4);
    unwrap(await enclave.create_seed());
    const init = (engine?: 'cloister' | 'cometbft') =>
      enclave.light_init({ chain_id: r.chain_id, validators: r.validators, ...(engine ? { engine } : {}) });
    sealed.cometbft = unwrap(await init('cometbft')).sealed_light;
    sealed.default = unwrap(await init()).sealed_light;
    sealed.cloister = unwrap(await init('cloister')).sealed_light;
  });
  afterAll(async () => {
    await enclave.close();
    home.remove();
  });

  async function refused_by_enclave(light: LightInput | CometLightInput, why: RegExp) {
    const answer = await enclave.execute_block({ ...r.input, light });
    expect(answer.ok).toBe(false);
    if (answer.ok) return;
    expect(answer.error.code).toBe(EnclaveErrorCode.BAD_INPUT);
    expect(answer.error.message).toMatch(why);
  }

  /** Evidence of Cloister's kind for the same block. */
  function cloister_light(sealed_light: string): LightInput {
    return {
      header: {
        chain_id: r.chain_id,
        height: r.height,
        round: 0,
        time_ms: r.input.time_ms,
        proposer: r.validators[0]!.pubkey,
        prev_block_hash: r.parent,
        txs_hash: '0'.repeat(64),
        last_commit_hash: '0'.repeat(64),
        exec_signature: '0'.repeat(128),
      },
      parent: null,
      last_commit: null,
      validators: r.validators,
      sealed_light,
    };
  }

  it('a CometBFT-bound enclave refuses Cloister evidence, and checks CometBFT evidence', async () => {
    await refused_by_enclave(cloister_light(sealed.cometbft), /evidence of another consensus engine/);
    // CometBFT's evidence goes through every check up to the last: its state is at genesis.
    await refused_by_enclave(
      light_of(r, { sealed_light: sealed.cometbft }),
      /does not extend .*\(height 0\)/,
    );
    const cut = recorded('four_nodes', 4);
    absent(cut, 0);
    await refused_by_enclave(light_of(cut, { sealed_light: sealed.cometbft }), /50 of 90 voting power/);
  });

  it("an enclave bound to Cloister's engine refuses CometBFT evidence", async () => {
    for (const sealed_light of [sealed.default, sealed.cloister])
      await refused_by_enclave(light_of(r, { sealed_light }), /evidence of another consensus engine/);
    // Its own kind of evidence reaches Cloister's light client (and fails there, unsigned).
    await refused_by_enclave(cloister_light(sealed.cloister), /light client: (?!evidence of another)/);
  });

  it('light_init takes no other engine', async () => {
    const answer = await enclave.light_init({
      chain_id: r.chain_id,
      validators: r.validators,
      engine: 'tendermint' as 'cometbft',
    });
    expect(answer).toEqual({
      ok: false,
      error: { code: EnclaveErrorCode.BAD_INPUT, message: "engine must be 'cloister' or 'cometbft'" },
    });
  });
});
