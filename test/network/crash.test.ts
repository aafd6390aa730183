/**
 * Crash safety with real processes: validators are SIGKILLed at random moments (seeded; replay
 * with CRASH_SEED) while transactions flow, at every point of their work (between a disk write and
 * a vote included, by chance), and restarted. Nothing committed is lost, every node ends with
 * identical blocks, and no validator ever signs two different votes for one height, round and
 * step (no honest node logs evidence).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpc } from '../../protocol/rpc_client.js';
import { make_rng } from '../consensus/harness.js';
import {
  blocks_json,
  Client,
  drive_load,
  expect_same_blocks,
  heights,
  reach,
  temp_network,
} from './helpers.js';

const seed = Number(process.env.CRASH_SEED ?? Date.now() % 2 ** 31);
console.log(`crash test seed: ${seed} (replay with CRASH_SEED=${seed})`);

let net: Awaited<ReturnType<typeof temp_network>>;
beforeAll(async () => {
  net = await temp_network(22500);
}, 120_000);
afterAll(async () => {
  await net?.down();
});

describe('crash safety', () => {
  it('loses nothing committed and never double-signs across repeated SIGKILLs', async () => {
    const random = make_rng(seed);
    const urls = net.network.urls();
    const evidence: unknown[] = [];
    net.network.on_event((e) => {
      if (e.event === 'evidence') evidence.push(e);
    });
    const client = await Client.connect(urls[0]!);
    const counter = await client.send(urls[0]!, { code: 'counter', scheme: 'gcm' }, { count: 0 });
    const committed: string[] = [counter.hash];
    for (let round = 0; round < 4; round++) {
      const victim = Math.floor(random() * 4);
      // Kill after a random number of the victim's log events: somewhere inside its work.
      const after = 1 + Math.floor(random() * 40);
      let seen = 0;
      const kill_point = net.network.wait_for(
        (e) => e.index === victim && ++seen >= after,
        60_000,
        'kill point',
      );
      // One live node takes this round's transactions in order (a node still catching up would
      // rightly refuse sequences it has not seen committed yet).
      const target = urls[(victim + 1 + Math.floor(random() * 3)) % 4]!;
      const sending = (async () => {
        for (let k = 0; k < 4; k++) {
          const r = await client.send(
            target,
            { address: counter.contract!, code: 'counter', scheme: 'siv' },
            { increment: {} },
          );
          expect(r.code).toBe(0);
          committed.push(r.hash);
        }
      })();
      // Blocks are made on demand (issue #15): more transactions keep the victim busy until its
      // kill point, however far it lies.
      const stop_load = drive_load(urls, 300);
      try {
        await kill_point;
        await net.network.kill(victim, 'SIGKILL');
      } finally {
        stop_load();
      }
      await sending;
      await net.network.start(victim);
      // The restarted node catches up with what the others committed while it was down.
      await reach(urls[victim]!, Math.max(...(await heights(urls))), 90_000);
    }
    const top = Math.max(...(await heights(urls)));
    await Promise.all(urls.map((u) => reach(u, top + 1, 90_000)));
    const reference = await blocks_json(urls[0]!, top);
    for (const u of urls.slice(1)) await expect_same_blocks(u, reference);
    // Every transaction acknowledged as committed is still there, on every node.
    for (const hash of committed) {
      for (const u of urls) expect((await rpc<{ code: number }>(u, `/v1/txs/${hash}`)).code).toBe(0);
    }
    expect(evidence).toEqual([]);
  }, 300_000);
});
