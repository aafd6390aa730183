/**
 * The enclave compliance suite: every implementation of the call set (worker pool, in-process)
 * must pass it unchanged. Covers the whole contract lifecycle, registration, determinism across
 * enclaves, envelope tampering, gas exhaustion, sealing, host faults and secrecy of plaintext.
 */

import { appendFileSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockOutput, Enclave, PublicKeys } from '../../enclave/api.js';
import { find_code_root, MEASURED_DIRS, MEASURED_FILES } from '../../enclave/measurement.js';
import { EnclaveErrorCode, unwrap } from '../../enclave/result.js';
import type { EnclaveOptions } from '../../enclave/tasks.js';
import type { LocalChain } from '../../node/store/local_chain.js';
import { from_base64, from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { SCHEMES } from '../../protocol/envelope.js';
import { derive_network_keys } from '../../protocol/keys.js';
import type { CryptoProvider, ProviderName } from '../../protocol/provider.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import { open_seed_share } from '../../protocol/seed_share.js';
import {
  CHAIN_ID,
  commit_block,
  encrypt,
  new_chain,
  T0_MS,
  TestAccount,
  temp_home,
  test_attestation,
} from './fixtures.js';

export type EnclaveFactory = (opts: EnclaveOptions) => Enclave;

const CANARY = 'CANARY-plaintext-7f3a9c';
const STORE_CONTRACT = `
export function instantiate(ctx, msg) { ctx.storage.set('secret', msg.secret); return null; }
export function execute(ctx, msg) {
  if (msg.loop) { while (true) {} }
  if (msg.fail) throw new Error('failed with ' + msg.fail);
  ctx.storage.set('secret', msg.secret);
  ctx.emit('stored', { value: msg.secret });
  return { stored: msg.secret, random: ctx.random() };
}
export function query(ctx, msg) { return { secret: ctx.storage.get('secret') }; }
`;

/** Forms in which a plaintext might leak: text, hex, base64 of its bytes. */
function leak_forms(text: string): string[] {
  const bytes = utf8(text);
  return [text, to_hex(bytes), to_base64(bytes), Buffer.from(text).toString('base64url')];
}

/**
 * Joins `joiner` to the network of `member` the way protocol.md §8 says: report, quote, a
 * `register_node` transaction executed by the member, then the seed share into the joiner.
 */
async function join_node(
  p: CryptoProvider,
  member: Enclave,
  joiner: Enclave,
  chain: LocalChain,
  keys: PublicKeys,
  label: string,
) {
  const reg = unwrap(await joiner.attestation_report());
  const quote = test_attestation(p).quote(reg.report, T0_MS - 1000);
  const account = new TestAccount(p, `joiner-${label}`);
  const { output } = await commit_block(member, chain, [
    account.tx({ type: 'register_node', pk_reg: reg.pk_reg, quote }),
  ]);
  const share = output.results[0]!;
  const joined = unwrap(
    await joiner.accept_seed_share({
      sealed_reg: reg.sealed_reg,
      seed_share: share.output,
      seed_exchange_pubkey: keys.seed_exchange_pubkey,
    }),
  );
  return { reg, quote, account, share, joined };
}

export function enclave_compliance_suite(name: string, provider: ProviderName, make: EnclaveFactory): void {
  const p = get_provider(provider);

  describe(`${name} (${provider}) compliance`, () => {
    const home = temp_home();
    const home_b = temp_home();
    let enclave: Enclave;
    let enclave_b: Enclave;
    let keys: PublicKeys;
    let measurement: string;

    beforeAll(async () => {
      enclave = make({ provider, platform_secret_file: home.secret });
      enclave_b = make({ provider, platform_secret_file: home_b.secret });
      measurement = unwrap(await enclave.measurement());
      keys = unwrap(await enclave.create_seed()).keys;
    });

    afterAll(async () => {
      await enclave.close();
      await enclave_b.close();
      home.remove();
      home_b.remove();
    });

    it('answers NO_SEED before a seed is loaded, and measures itself', async () => {
      expect(measurement).toMatch(/^[0-9a-f]{64}$/);
      expect(unwrap(await enclave_b.measurement())).toBe(measurement);
      const answer = await enclave_b.public_keys();
      expect(answer.ok).toBe(false);
      if (!answer.ok) expect(answer.error.code).toBe(EnclaveErrorCode.NO_SEED);
      expect(keys.io_pubkey).toMatch(/^[0-9a-f]{64}$/);
      expect(keys.measurement).toBe(measurement);
    });

    it('runs the counter and echo lifecycle with both schemes, and queries', async () => {
      const chain = await new_chain(p, measurement);
      const alice = new TestAccount(p, `alice-${name}`);
      const counter = await chain.code(2);
      const echo = await chain.code(1);
      for (const scheme of SCHEMES) {
        const init = encrypt(p, keys, counter.code_hash, { count: 41 }, { scheme });
        const inst = alice.tx({
          type: 'instantiate',
          code_id: 2,
          label: `c-${scheme}`,
          scheme,
          payload: init.payload,
        });
        const { output } = await commit_block(enclave, chain, [inst]);
        const r0 = output.results[0]!;
        expect(r0.code).toBe(ResultCode.OK);
        expect(r0.contract).toMatch(/^[0-9a-f]{40}$/);
        const inc = encrypt(p, keys, counter.code_hash, { increment: {} }, { scheme });
        const exec = alice.tx({ type: 'execute', contract: r0.contract!, scheme, payload: inc.payload });
        const { output: out2 } = await commit_block(enclave, chain, [exec]);
        expect(out2.results[0]!.code).toBe(ResultCode.OK);
        expect(open_result(p, scheme, inc.tx_key, from_base64(out2.results[0]!.output))).toEqual({
          data: { count: 42 },
          events: [],
        });
        const q = encrypt(p, keys, counter.code_hash, { get_count: {} }, { scheme });
        const answer = unwrap(
          await enclave.query((await chain.query_input(r0.contract!, scheme, q.payload, T0_MS))!),
        );
        expect(answer.code).toBe(ResultCode.OK);
        expect(open_result(p, scheme, q.tx_key, from_base64(answer.output))).toEqual({
          data: { count: 42 },
          events: [],
        });

        const e_init = encrypt(p, keys, echo.code_hash, {}, { scheme });
        const e_inst = alice.tx({
          type: 'instantiate',
          code_id: 1,
          label: `e-${scheme}`,
          scheme,
          payload: e_init.payload,
        });
        const echo_addr = (await commit_block(enclave, chain, [e_inst])).output.results[0]!.contract!;
        const e_msg = encrypt(
          p,
          keys,
          echo.code_hash,
          { echo: { value: { nested: [1, 'two'] } } },
          { scheme },
        );
        const e_exec = alice.tx({ type: 'execute', contract: echo_addr, scheme, payload: e_msg.payload });
        const e_out = (await commit_block(enclave, chain, [e_exec])).output.results[0]!;
        expect(open_result(p, scheme, e_msg.tx_key, from_base64(e_out.output))).toMatchObject({
          data: { nested: [1, 'two'] },
        });
      }
    });

    it('registers a second node, which then computes byte-identical block results', async () => {
      const chain = await new_chain(p, measurement);
      const {
        reg,
        quote,
        account: joiner,
        share,
        joined,
      } = await join_node(p, enclave, enclave_b, chain, keys, name);
      expect(reg.report.measurement).toBe(measurement);
      const check = unwrap(
        await enclave.check_registration({
          pk_reg: reg.pk_reg,
          quote,
          time_ms: T0_MS,
          attestation: chain.attestation,
        }),
      );
      expect(check).toEqual({ valid: true, reason: '' });
      expect(share.code).toBe(ResultCode.OK);
      // The share is a ciphertext of exactly the seed's length plus a tag: no plaintext seed leaks.
      expect(from_base64(share.output).length).toBe(48);
      expect(joined.keys).toEqual(keys);
      expect(joined.sealed_seed).not.toBe((enclave as unknown as { sealed_seed: string }).sealed_seed);

      // Same block, same state, two enclaves on two nodes: identical bytes.
      const bob = new TestAccount(p, `bob-${name}`);
      const counter = await chain.code(2);
      const txs = [
        bob.tx({
          type: 'instantiate',
          code_id: 2,
          label: 'x',
          scheme: 'gcm',
          payload: encrypt(p, keys, counter.code_hash, { count: 1 }).payload,
        }),
        bob.tx({ type: 'store_code', code: to_base64(utf8(STORE_CONTRACT)) }),
      ];
      const input = await chain.block_input(txs, T0_MS + 5000);
      const a = unwrap(await enclave.execute_block(input));
      const b = unwrap(await enclave_b.execute_block(input));
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      await chain.apply(input, a);
      const addr = a.results[0]!.contract!;
      const more = [0, 1, 2].map(() =>
        bob.tx({
          type: 'execute',
          contract: addr,
          scheme: 'siv',
          payload: encrypt(p, keys, counter.code_hash, { increment: {} }, { scheme: 'siv' }).payload,
        }),
      );
      const input2 = await chain.block_input(more, T0_MS + 6000);
      const a2 = unwrap(await enclave.execute_block(input2));
      const b2 = unwrap(await enclave_b.execute_block(input2));
      expect(JSON.stringify(b2)).toBe(JSON.stringify(a2));
      expect(a2.results.map((r) => r.code)).toEqual([0, 0, 0]);

      // A bad quote gets code 4 and no output, and does not advance the sequence.
      const bad_quotes = [
        { ...quote, measurement: 'ab'.repeat(32) },
        { ...quote, report_data: 'cd'.repeat(32) },
        test_attestation(p).quote(reg.report, T0_MS - 10_000, 1000),
      ];
      for (const q of bad_quotes) {
        const seq = joiner.sequence;
        const out = (
          await commit_block(enclave, chain, [
            joiner.tx({ type: 'register_node', pk_reg: reg.pk_reg, quote: q }),
          ])
        ).output;
        expect(out.results[0]).toMatchObject({ code: ResultCode.BAD_SIGNATURE, output: '' });
        joiner.sequence = seq;
      }
    });

    it('gives code 3 with no output for every tampered envelope, and keeps serving', async () => {
      const chain = await new_chain(p, measurement);
      const carol = new TestAccount(p, `carol-${name}`);
      const echo = await chain.code(1);
      const inst = carol.tx({
        type: 'instantiate',
        code_id: 1,
        label: 'e',
        scheme: 'gcm',
        payload: encrypt(p, keys, echo.code_hash, {}).payload,
      });
      const addr = (await commit_block(enclave, chain, [inst])).output.results[0]!.contract!;
      for (const scheme of SCHEMES) {
        const good = encrypt(p, keys, echo.code_hash, { echo: { value: 'hi' } }, { scheme });
        const bad: Uint8Array[] = [];
        for (let i = 0; i < good.envelope.length; i++) {
          const flipped = good.envelope.slice();
          flipped[i]! ^= 0x01;
          bad.push(flipped);
        }
        for (let n = 0; n < good.envelope.length; n += 7) bad.push(good.envelope.slice(0, n));
        bad.push(encrypt(p, keys, 'ab'.repeat(32), { echo: { value: 'hi' } }, { scheme }).envelope);
        if (scheme === 'gcm') {
          bad.push(
            encrypt(p, keys, echo.code_hash, { echo: { value: 'hi' } }, { scheme, chain_id: 'other-chain' })
              .envelope,
          );
          const version = good.envelope.slice();
          version[0] = 0x02;
          bad.push(version);
        }
        const pk_at = scheme === 'gcm' ? 33 : 32;
        for (const small of [new Uint8Array(32), Uint8Array.from([1, ...new Array(31).fill(0)])]) {
          const e = good.envelope.slice();
          e.set(small, pk_at);
          bad.push(e);
        }
        const txs = bad.map((envelope) =>
          carol.tx({ type: 'execute', contract: addr, scheme, payload: to_base64(envelope) }),
        );
        const { output } = await commit_block(enclave, chain, txs);
        for (const result of output.results)
          expect(result).toMatchObject({ code: ResultCode.CANNOT_DECRYPT, output: '' });
        // Failure gas depends only on public lengths, never on which check failed.
        const by_length = new Map<number, number>();
        output.results.forEach((r, i) => {
          const len = txs[i]!.length;
          if (by_length.has(len)) expect(r.gas_used).toBe(by_length.get(len));
          by_length.set(len, r.gas_used);
        });
        for (const envelope of bad.slice(0, 40)) {
          const answer = unwrap(
            await enclave.query((await chain.query_input(addr, scheme, to_base64(envelope), T0_MS))!),
          );
          expect(answer).toEqual({ code: ResultCode.CANNOT_DECRYPT, output: '', gas_used: 0 });
        }
        // Still serving: the untampered message works.
        const ok_tx = carol.tx({ type: 'execute', contract: addr, scheme, payload: good.payload });
        expect((await commit_block(enclave, chain, [ok_tx])).output.results[0]!.code).toBe(ResultCode.OK);
      }
    });

    it('refuses bad signatures, wrong sequences, wrong chain ids and malformed transactions', async () => {
      const chain = await new_chain(p, measurement);
      const dave = new TestAccount(p, `dave-${name}`);
      const echo = await chain.code(1);
      const good = dave.tx({
        type: 'instantiate',
        code_id: 1,
        label: 'e',
        scheme: 'gcm',
        payload: encrypt(p, keys, echo.code_hash, {}).payload,
      });
      const forged = JSON.parse(good);
      forged.body.gas_limit += 1;
      const replay = good;
      const wrong_chain = dave.tx(
        { type: 'store_code', code: to_base64(utf8(STORE_CONTRACT)) },
        { chain_id: 'other-chain', sequence: 1 },
      );
      const unknown = dave.tx(
        {
          type: 'execute',
          contract: 'ee'.repeat(20),
          scheme: 'gcm',
          payload: encrypt(p, keys, echo.code_hash, {}).payload,
        },
        { sequence: 1 },
      );
      const { output } = await commit_block(enclave, chain, [
        JSON.stringify(forged),
        good,
        replay,
        wrong_chain,
        '{"body":',
        unknown,
      ]);
      expect(output.results.map((r) => r.code)).toEqual([
        ResultCode.BAD_SIGNATURE,
        ResultCode.OK,
        ResultCode.WRONG_SEQUENCE,
        ResultCode.MALFORMED_TX,
        ResultCode.MALFORMED_TX,
        ResultCode.UNKNOWN_CODE_OR_CONTRACT,
      ]);
      expect(output.accounts).toEqual({ [dave.address]: 2 });
    });

    it('ends an endless loop with code 2 at the same gas in two enclaves, changing nothing', async () => {
      const chain = await new_chain(p, measurement);
      const erin = new TestAccount(p, `erin-${name}`);
      const stored = (
        await commit_block(enclave, chain, [
          erin.tx({ type: 'store_code', code: to_base64(utf8(STORE_CONTRACT)) }),
        ])
      ).output.results[0]!;
      expect(stored.code).toBe(ResultCode.OK);
      const init = encrypt(p, keys, stored.code_hash!, { secret: 'before' });
      const addr = (
        await commit_block(enclave, chain, [
          erin.tx({
            type: 'instantiate',
            code_id: stored.code_id!,
            label: 's',
            scheme: 'gcm',
            payload: init.payload,
          }),
        ])
      ).output.results[0]!.contract!;
      const state_before = JSON.stringify(await chain.contract_state(addr));
      const loop = erin.tx(
        {
          type: 'execute',
          contract: addr,
          scheme: 'gcm',
          payload: encrypt(p, keys, stored.code_hash!, { loop: true }).payload,
        },
        { gas_limit: 300_000 },
      );
      const other_home = temp_home();
      const other = make({ provider, platform_secret_file: other_home.secret });
      try {
        // A second validator on another node joins (its own platform secret, same seed).
        await join_node(p, enclave, other, chain, keys, `loop-${name}`);
        const input = await chain.block_input([loop], T0_MS + 1000);
        const a = unwrap(await enclave.execute_block(input));
        expect(a.results[0]).toMatchObject({ code: ResultCode.OUT_OF_GAS, gas_used: 300_000, output: '' });
        expect(a.state_writes).toEqual({});
        // The other enclave stops at exactly the same gas, with byte-identical output.
        expect(JSON.stringify(unwrap(await other.execute_block(input)))).toBe(JSON.stringify(a));
        // A second run in the same enclave too (fresh module instance, nothing carried over).
        expect(JSON.stringify(unwrap(await enclave.execute_block(input)))).toBe(JSON.stringify(a));
        await chain.apply(input, a);
        expect(JSON.stringify(await chain.contract_state(addr))).toBe(state_before);
      } finally {
        await other.close();
        other_home.remove();
      }
    });

    it('never returns a canary plaintext to the host: results, state writes, errors, logs', async () => {
      const chain = await new_chain(p, measurement);
      const frank = new TestAccount(p, `frank-${name}`);
      const logs: string[] = [];
      const stdout_write = process.stdout.write.bind(process.stdout);
      const stderr_write = process.stderr.write.bind(process.stderr);
      process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        logs.push(String(chunk));
        return stdout_write(chunk, ...rest);
      }) as typeof process.stdout.write;
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        logs.push(String(chunk));
        return stderr_write(chunk, ...rest);
      }) as typeof process.stderr.write;
      const answers: unknown[] = [];
      try {
        const stored = (
          await commit_block(enclave, chain, [
            frank.tx({ type: 'store_code', code: to_base64(utf8(STORE_CONTRACT)) }),
          ])
        ).output.results[0]!;
        const h = stored.code_hash!;
        const blocks = [
          [
            frank.tx({
              type: 'instantiate',
              code_id: stored.code_id!,
              label: 's',
              scheme: 'gcm',
              payload: encrypt(p, keys, h, { secret: CANARY }).payload,
            }),
          ],
        ];
        for (const block of blocks) answers.push((await commit_block(enclave, chain, block)).output);
        const addr = (answers[0] as BlockOutput).results[0]!.contract!;
        const more = [
          frank.tx({
            type: 'execute',
            contract: addr,
            scheme: 'siv',
            payload: encrypt(p, keys, h, { secret: `${CANARY}-2` }, { scheme: 'siv' }).payload,
          }),
          frank.tx({
            type: 'execute',
            contract: addr,
            scheme: 'gcm',
            payload: encrypt(p, keys, h, { fail: CANARY }).payload,
          }),
          frank.tx({
            type: 'execute',
            contract: addr,
            scheme: 'gcm',
            payload: encrypt(p, keys, 'ab'.repeat(32), { secret: CANARY }).payload,
          }),
        ];
        const out = (await commit_block(enclave, chain, more)).output;
        answers.push(out);
        expect(out.results.map((r) => r.code)).toEqual([
          ResultCode.OK,
          ResultCode.CONTRACT_ERROR,
          ResultCode.CANNOT_DECRYPT,
        ]);
        answers.push(
          unwrap(
            await enclave.query(
              (await chain.query_input(addr, 'gcm', encrypt(p, keys, h, { q: CANARY }).payload, T0_MS))!,
            ),
          ),
        );
        // A host fault's error must not quote plaintext either.
        const corrupt = (await chain.query_input(addr, 'gcm', encrypt(p, keys, h, {}).payload, T0_MS))!;
        const entry = corrupt.state[0]!;
        const value = from_base64(entry[1]);
        value[value.length - 1]! ^= 1;
        entry[1] = to_base64(value);
        const faulted = await enclave.query(corrupt);
        expect(faulted.ok).toBe(false);
        if (!faulted.ok) expect(faulted.error.code).toBe(EnclaveErrorCode.STATE_CORRUPT);
        answers.push(faulted);
        answers.push(await chain.contract_state(addr));
      } finally {
        process.stdout.write = stdout_write;
        process.stderr.write = stderr_write;
      }
      // The answers end with the contract's whole state, as the host keeps it.
      const seen = JSON.stringify(answers) + logs.join('');
      for (const form of leak_forms(CANARY)) expect(seen).not.toContain(form);
      // …while the rightful client does get it back.
      expect(seen.length).toBeGreaterThan(1000);
    });

    it('refuses bad host input with a coded error and keeps serving', async () => {
      for (const bad of [
        null,
        42,
        { chain_id: CHAIN_ID },
        { ...(await (await new_chain(p, measurement)).block_input([], T0_MS)), txs: [1] },
      ]) {
        const answer = await enclave.execute_block(bad as never);
        expect(answer.ok).toBe(false);
        if (!answer.ok) expect(answer.error.code).toBe(EnclaveErrorCode.BAD_INPUT);
      }
      const too_many = {
        ...(await (await new_chain(p, measurement)).block_input([], T0_MS)),
        txs: new Array(10_001).fill('{}'),
      };
      const limited = await enclave.execute_block(too_many);
      expect(limited.ok === false && limited.error.code).toBe(EnclaveErrorCode.LIMIT);
      expect(unwrap(await enclave.public_keys())).toEqual(keys);
    });

    it('detects sealed state the host altered or moved between contracts', async () => {
      const chain = await new_chain(p, measurement);
      const gail = new TestAccount(p, `gail-${name}`);
      const counter = await chain.code(2);
      const make = (count: number) =>
        gail.tx({
          type: 'instantiate',
          code_id: 2,
          label: `c${count}`,
          scheme: 'gcm',
          payload: encrypt(p, keys, counter.code_hash, { count }).payload,
        });
      const made = (await commit_block(enclave, chain, [make(1), make(2)])).output.results.map(
        (r) => r.contract!,
      );
      const [a, b] = [made[0]!, made[1]!];
      const increment = () =>
        gail.tx({
          type: 'execute',
          contract: b,
          scheme: 'gcm',
          payload: encrypt(p, keys, counter.code_hash, { increment: {} }).payload,
        });
      // Contract a's entry under b's address: same plaintext key, so the same slot would be read.
      const inc = increment();
      const moved = await chain.block_input([inc], T0_MS);
      const a_entry = (await chain.contract_state(a))[0]!;
      moved.state[b] = moved.state[b]!.map(([k]) => [k, a_entry[1]]);
      const flipped = await chain.block_input([inc], T0_MS);
      const value = from_base64(flipped.state[b]![0]![1]);
      value[0]! ^= 0x80;
      flipped.state[b]![0]![1] = to_base64(value);
      for (const input of [moved, flipped]) {
        const answer = await enclave.execute_block(input);
        expect(answer.ok === false && answer.error.code).toBe(EnclaveErrorCode.STATE_CORRUPT);
      }
      // The untouched state still works, with the same transaction.
      expect((await commit_block(enclave, chain, [inc])).output.results[0]!.code).toBe(ResultCode.OK);
    });

    it('cannot unseal on another node, or in a changed enclave build', async () => {
      const sealed = (enclave as unknown as { sealed_seed: string }).sealed_seed;
      const other_home = temp_home();
      const other = make({ provider, platform_secret_file: other_home.secret });
      const copy = join(home.dir, 'changed-enclave');
      const root = find_code_root();
      mkdirSync(copy, { recursive: true });
      writeFileSync(join(copy, 'package.json'), '{}');
      for (const dir of MEASURED_DIRS) cpSync(join(root, dir), join(copy, dir), { recursive: true });
      // The single measured files (the contract engine's wasm).
      for (const file of MEASURED_FILES) cpSync(join(root, file), join(copy, file), { recursive: true });
      appendFileSync(join(copy, 'enclave', 'block.ts'), '\n// one changed line\n');
      const changed = make({ provider, platform_secret_file: home.secret, code_root: copy });
      try {
        const wrong_node = await other.load_seed(sealed);
        expect(wrong_node.ok === false && wrong_node.error.code).toBe(EnclaveErrorCode.UNSEAL_FAILED);
        expect(unwrap(await changed.measurement())).not.toBe(measurement);
        const wrong_build = await changed.load_seed(sealed);
        expect(wrong_build.ok === false && wrong_build.error.code).toBe(EnclaveErrorCode.UNSEAL_FAILED);
        const tampered = from_base64(sealed);
        tampered[20]! ^= 1;
        const altered = await enclave.load_seed(to_base64(tampered));
        expect(altered.ok === false && altered.error.code).toBe(EnclaveErrorCode.UNSEAL_FAILED);
        // The right node and build still unseal it.
        const same = make({ provider, platform_secret_file: home.secret });
        expect(unwrap(await same.load_seed(sealed))).toEqual(keys);
        await same.close();
      } finally {
        await other.close();
        await changed.close();
        other_home.remove();
        rmSync(copy, { recursive: true, force: true });
      }
    });

    it('shares the seed only with a valid registration, encrypted to its key', async () => {
      const reg = unwrap(await enclave_b.attestation_report());
      const quote = test_attestation(p).quote(reg.report, T0_MS);
      const chain = await new_chain(p, measurement);
      const verdicts = await Promise.all([
        enclave.check_registration({
          pk_reg: reg.pk_reg,
          quote,
          time_ms: T0_MS - 1,
          attestation: chain.attestation,
        }),
        enclave.check_registration({
          pk_reg: reg.pk_reg,
          quote: { ...quote, root: 'aa'.repeat(32) },
          time_ms: T0_MS,
          attestation: chain.attestation,
        }),
        enclave.check_registration({
          pk_reg: 'bb'.repeat(32),
          quote,
          time_ms: T0_MS,
          attestation: chain.attestation,
        }),
      ]);
      expect(verdicts.map((v) => unwrap(v).valid)).toEqual([false, false, false]);
      // The share opens only with the registration key (test derives it from a known seed).
      const seed = from_hex('11'.repeat(32));
      const net = derive_network_keys(p, seed);
      const reg_sk = p.x25519_secret(from_hex('22'.repeat(32)));
      const wrong_sk = p.x25519_secret(from_hex('33'.repeat(32)));
      const { seal_seed_share } = await import('../../protocol/seed_share.js');
      const share = seal_seed_share(p, p.x25519_secret(net.seed_exchange_sk), reg_sk.public_key, seed)!;
      expect(open_seed_share(p, reg_sk, net.seed_exchange_pk, share)).toEqual(seed);
      expect(open_seed_share(p, wrong_sk, net.seed_exchange_pk, share)).toBeNull();
    });
  });
}
