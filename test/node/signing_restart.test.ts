/**
 * The signing-state rule with a real validator process (a 1-validator network, the cheapest that
 * commits): a lost signing record and a rolled-back store (an older copy of `data/` restored) each
 * make `cloister node start` refuse with the recovery command; `reset-signing` refuses without
 * `--i-know`; with it the node starts again, and never moves its guard back over what it still
 * knows it signed. With four validators, a reset node first syncs and sits out the height the
 * network is deciding, and signs only above it. Needs `npm run build`. Ports: RPC 24300 and
 * 24400-24403, p2p 25300 and 25400-25403.
 */

import { execFile } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { signing_record_path } from '../../node/signing_record.js';
import { ChainStore } from '../../node/store/chain_store.js';
import type { NodeEvent } from '../../sim/network.js';
import { drive_load, heights, reach, temp_network } from '../network/helpers.js';

const PORT = 24300;
const cli = join(find_code_root(), 'bin', 'cloister.js');

/** Runs `cloister node reset-signing --home HOME ...flags`; resolves with its exit code and output. */
async function reset_signing(home: string, ...flags: string[]) {
  return promisify(execFile)(process.execPath, [cli, 'node', 'reset-signing', '--home', home, ...flags]).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

let net: Awaited<ReturnType<typeof temp_network>>;
beforeAll(async () => {
  net = await temp_network(PORT, [], 1);
}, 120_000);
afterAll(async () => {
  await net?.down();
});

describe('signing record across restarts', () => {
  it('refuses to start without its record once it has signed; starts and signs again after reset-signing', async () => {
    const home = net.network.homes[0]!;
    const url = net.network.urls()[0]!;
    await reach(url, 2);
    await net.network.kill(0, 'SIGTERM');
    rmSync(signing_record_path(home));
    const refusal = await net.network.start(0).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(refusal).toMatch(/signing record .* is missing/);
    expect(refusal).toContain(`cloister node reset-signing --home ${home} --i-know`);

    // Without --i-know nothing changes, and the risk is spelled out.
    const refused = await reset_signing(home);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('equivocation');
    expect(() => readFileSync(signing_record_path(home))).toThrow(/ENOENT/);

    const done = await reset_signing(home, '--i-know');
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('previous record    missing');
    expect(done.stdout).toContain('guard kept from    store');
    await net.network.start(0);
    const at = (await heights([url]))[0]!;
    // A lone validator cannot sit a height out (nobody else commits it): it signs on at once.
    await reach(url, at + 2, 60_000);
  }, 180_000);

  it('refuses a rolled-back store; after reset-signing starts but signs nothing it may have signed before', async () => {
    const home = net.network.homes[0]!;
    const url = net.network.urls()[0]!;
    const data = join(home, 'data');
    const old = join(net.dir, 'data-old');
    await net.network.kill(0, 'SIGTERM');
    cpSync(data, old, { recursive: true });
    const old_store = await ChainStore.open(old);
    const old_height = old_store.height();
    await old_store.close();

    // An ordinary restart on an intact store goes on from where it stopped.
    await net.network.start(0);
    await reach(url, old_height + 3, 60_000);
    await net.network.kill(0, 'SIGTERM');

    rmSync(data, { recursive: true });
    cpSync(old, data, { recursive: true });
    await expect(net.network.start(0)).rejects.toThrow(/rolled back[\s\S]*reset-signing --home .* --i-know/);

    const done = await reset_signing(home, '--i-know');
    expect(done.code).toBe(0);
    // The old record still reads: its state, above the restored store, stays the guard.
    expect(done.stdout).toContain('guard kept from    record');
    expect(done.stdout).toContain('it signs nothing until the chain passes it');
    const ahead = net.network.wait_for((e) => e.event === 'signed_state_ahead', 60_000, 'signed_state_ahead');
    await net.network.start(0);
    const event = await ahead;
    expect(event['height']).toBe(old_height + 1);
    expect(event['signed_height'] as number).toBeGreaterThan(old_height + 1);
  }, 180_000);
});

describe('reset-signing in a network of four', () => {
  it('syncs, sits out the height in progress, and signs only above it', async () => {
    const four = await temp_network(PORT + 100, [], 4);
    try {
      const urls = four.network.urls();
      const home = four.network.homes[3]!;
      // The refusal needs validator 3's own store past genesis: three others can commit without it
      // (it may start last), so wait for its height, not the network's.
      await reach(urls[3]!, 2);
      await four.network.kill(3, 'SIGTERM');
      rmSync(signing_record_path(home));
      await expect(four.network.start(3)).rejects.toThrow('reset-signing');
      const done = await reset_signing(home, '--i-know');
      expect(done.code).toBe(0);
      expect(done.stdout).toContain('sync from a peer, then sit out the height in progress');

      const mine: NodeEvent[] = [];
      four.network.on_event((e) => {
        if (e.index === 3) mine.push(e);
      });
      const first_vote = four.network.wait_for(
        (e) => e.index === 3 && e.event === 'vote_sent',
        60_000,
        'a vote of the reset validator',
      );
      // The sit-out needs the chain to move, and blocks are made on demand: keep sending.
      const stop_load = drive_load(urls.slice(0, 3));
      try {
        await four.network.start(3);
        await first_vote;
      } finally {
        stop_load();
      }
      const sit_out = mine.find((e) => e.event === 'sit_out');
      const sat_out = mine.find((e) => e.event === 'sit_out_done');
      const started = mine.find((e) => e.event === 'start');
      expect(sit_out).toBeDefined();
      const floor = sit_out!['floor_height'] as number;
      // The floor is the height the network was deciding after the first sync, and the engine
      // starts only once the chain has committed it.
      expect(floor).toBeGreaterThan(2);
      expect(sat_out!['height'] as number).toBeGreaterThanOrEqual(floor);
      expect(started!['height'] as number).toBeGreaterThan(floor);
      const signed = mine.filter((e) => e.event === 'vote_sent' || e.event === 'proposal_sent');
      expect(signed.length).toBeGreaterThan(0);
      for (const e of signed) expect(e['height'] as number).toBeGreaterThan(floor);
    } finally {
      await four.down();
    }
  }, 240_000);
});
