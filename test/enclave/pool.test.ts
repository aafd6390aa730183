import { describe, expect, it } from 'vitest';
import { PoolEnclave } from '../../enclave/pool.js';
import { EnclaveErrorCode, unwrap } from '../../enclave/result.js';
import { to_base64, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { enclave_compliance_suite } from './compliance.js';
import { commit_block, encrypt, new_chain, T0_MS, TestAccount, temp_home } from './fixtures.js';

enclave_compliance_suite('PoolEnclave', 'native', (opts) => new PoolEnclave({ ...opts, workers: 2 }));

const SPIN = `
export function instantiate() { return null; }
// Each iteration costs one tick of gas but ~10 µs of built-in work: with the largest gas limit
// the call runs for minutes, so it is surely still running when the test kills or times it out.
export function execute(ctx, msg) { let x = 0; for (;;) { x += 'x'.repeat(65536).length; } }
export function query() { return null; }
`;

/**
 * A pool with a seed, a chain, and a stored, instantiated SPIN contract; `spin_tx()` signs a call
 * to it with the largest gas limit (minutes of work).
 */
async function spinning_pool(label: string, opts: { workers: number; call_timeout_ms?: number }) {
  const p = get_provider('native');
  const home = temp_home();
  const enclave = new PoolEnclave({ provider: 'native', platform_secret_file: home.secret, ...opts });
  const measurement = unwrap(await enclave.measurement());
  const keys = unwrap(await enclave.create_seed()).keys;
  const chain = await new_chain(p, measurement);
  const user = new TestAccount(p, label);
  const stored = (
    await commit_block(enclave, chain, [user.tx({ type: 'store_code', code: to_base64(utf8(SPIN)) })])
  ).output.results[0]!;
  const payload = (msg: unknown) => encrypt(p, keys, stored.code_hash!, msg).payload;
  const inst = user.tx({
    type: 'instantiate',
    code_id: stored.code_id!,
    label: 'spin',
    scheme: 'gcm',
    payload: payload({}),
  });
  const addr = (await commit_block(enclave, chain, [inst])).output.results[0]!.contract!;
  const spin_tx = () =>
    user.tx(
      { type: 'execute', contract: addr, scheme: 'gcm', payload: payload({}) },
      { gas_limit: 100_000_000 },
    );
  const close = async () => {
    await enclave.close();
    home.remove();
  };
  return { p, enclave, keys, chain, user, spin_tx, close };
}

describe('PoolEnclave under faults', () => {
  it('answers WORKER_DIED when its workers are killed mid-call, recovers, and never hangs', async () => {
    const { p, enclave, keys, chain, user, spin_tx, close } = await spinning_pool('pool-kill', {
      workers: 2,
    });
    try {
      const running = enclave.execute_block(await chain.block_input([spin_tx()], T0_MS));
      expect(enclave.queue_size).toBe(0); // handed to a worker, not queued
      await enclave.kill_workers();
      const answer = await running;
      expect(answer.ok === false && answer.error.code).toBe(EnclaveErrorCode.WORKER_DIED);
      // The pool recovers: new workers serve the next calls, with the same keys.
      expect(unwrap(await enclave.public_keys())).toEqual(keys);
      const echo = await chain.code(1);
      const payload = encrypt(p, keys, echo.code_hash, {}).payload;
      const inst = user.tx(
        { type: 'instantiate', code_id: 1, label: 'e', scheme: 'gcm', payload },
        { sequence: 2 },
      );
      const after = unwrap(await enclave.execute_block(await chain.block_input([inst], T0_MS)));
      expect(after.results[0]!.code).toBe(ResultCode.OK);
    } finally {
      await close();
    }
  });

  it('answers TIMEOUT past the call deadline and CLOSED after close', async () => {
    const { enclave, keys, chain, spin_tx, close } = await spinning_pool('pool-timeout', {
      workers: 1,
      call_timeout_ms: 3000,
    });
    try {
      const answer = await enclave.execute_block(await chain.block_input([spin_tx()], T0_MS));
      expect(answer.ok === false && answer.error.code).toBe(EnclaveErrorCode.TIMEOUT);
      expect(unwrap(await enclave.public_keys())).toEqual(keys);
    } finally {
      await close();
    }
    const closed = await enclave.measurement();
    expect(closed.ok === false && closed.error.code).toBe(EnclaveErrorCode.CLOSED);
  });
});
