/**
 * A validator that halts, on a real network of 4 validator processes (RPC 24600-24603, p2p
 * 25600-25603): the `wrong-results` validator cannot apply the first block the others commit and
 * halts. It says so in GET /v1/status, refuses transactions with 503 code 108, and the SDK, given
 * it first and a live node second, sends a transaction through the live node. Needs
 * `npm run build` (which `npm test` runs first).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientErrorCode, CloisterClient, generate_key, web_random } from '../../client/sdk/index.js';
import { RpcError, rpc } from '../../protocol/rpc_client.js';
import { temp_network } from '../network/helpers.js';

const PORT = 24600;
const WRONG = 3;
let net: Awaited<ReturnType<typeof temp_network>>;

beforeAll(async () => {
  net = await temp_network(PORT, [[WRONG, 'wrong-results']]);
}, 120_000);

afterAll(async () => {
  await net?.down();
});

describe('a halted validator', () => {
  it('says it halted, refuses transactions, and the SDK fails over to a live node', async () => {
    const urls = net.network.urls();
    const halted_log = net.network.wait_for(
      (e) => e.index === WRONG && e.event === 'halted',
      120_000,
      'halt',
    );
    const alice = generate_key('alice', web_random);
    // One committed block is enough: the wrong-results validator's own result for it differs.
    const healthy = new CloisterClient({ nodes: [urls[0]!], keys: [alice] });
    const echo = await healthy.instantiate(alice, 1, 'echo-1', {});
    await halted_log;

    const status = await new CloisterClient({ nodes: [urls[WRONG]!] }).status();
    expect(status.halted).toMatchObject({
      height: status.height + 1,
      reason: expect.stringContaining('differ from the committed block'),
    });
    expect((await healthy.status()).halted).toBeUndefined();

    const tx = await healthy.sign(alice, { type: 'store_code', code: 'AAAA' });
    const refused = await rpc(urls[WRONG]!, '/v1/txs', { body: tx }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RpcError);
    expect(refused).toMatchObject({ status: 503, code: ClientErrorCode.HALTED });

    // The halted node first: the SDK sends the transaction on to the live one and waits there.
    const failover = new CloisterClient({ nodes: [urls[WRONG]!, urls[1]!], keys: [alice] });
    const out = await failover.execute(alice, echo.contract!, { echo: { value: 7 } });
    expect(out.record?.code).toBe(0);
    expect(failover.node).toBe(urls[1]);
  }, 240_000);
});
