/** A new node joins a running network by registration (protocol.md §8), syncs, and computes identical results. */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { from_base64, to_hex } from '../../protocol/bytes.js';
import { rpc } from '../../protocol/rpc_client.js';
import {
  blocks_json,
  Client,
  CLOISTER_BIN as cloister,
  expect_same_blocks,
  heights,
  join_node,
  p,
  reach,
  temp_network,
} from './helpers.js';

let net: Awaited<ReturnType<typeof temp_network>>;
let urls: string[];
let follower: ChildProcess | null = null;

beforeAll(async () => {
  net = await temp_network(22400);
  urls = net.network.urls();
}, 120_000);
/** Longest the follower may take to exit after SIGTERM (its RPC's own stop limit is 10 s). */
const EXIT_DEADLINE_MS = 30_000;

afterAll(async () => {
  let hung = false;
  if (follower !== null && follower.exitCode === null && follower.signalCode === null) {
    // It was sent transactions and watched: it must still stop on SIGTERM (follower.test.ts).
    const exited = new Promise((r) => follower!.once('exit', r));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'hung'>((r) => {
      timer = setTimeout(() => r('hung'), EXIT_DEADLINE_MS);
    });
    follower.kill('SIGTERM');
    hung = (await Promise.race([exited, deadline])) === 'hung';
    clearTimeout(timer);
    if (hung) {
      follower.kill('SIGKILL');
      await exited;
    }
  }
  await net?.down();
  if (hung) throw new Error(`the follower did not exit within ${EXIT_DEADLINE_MS} ms of SIGTERM`);
}, 90_000);

function join_as(home: string, key_file: string, port: number) {
  return join_node({ net_dir: net.dir, from: urls[1]!, home, port, key_file }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

describe('joining by registration', () => {
  it('refuses a quote from an unknown attestation root (code 4) and leaves nothing sealed', async () => {
    const rogue = join(net.dir, 'rogue_root_key');
    writeFileSync(rogue, `${to_hex(p.sha256(new Uint8Array([1, 2, 3])))}\n`, { mode: 0o600 });
    const result = await join_as(join(net.dir, 'rogue-node'), rogue, 22460);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('code 4');
    expect(existsSync(join(net.dir, 'rogue-node', 'sealed_seed'))).toBe(false);
  }, 120_000);

  it('obtains the seed, syncs, and computes identical blocks, results and query answers', async () => {
    const client = await Client.connect(urls[0]!);
    const counter = await client.send(urls[0]!, { code: 'counter', scheme: 'gcm' }, { count: 10 });
    for (let k = 0; k < 3; k++)
      await client.send(
        urls[0]!,
        { address: counter.contract!, code: 'counter', scheme: 'siv' },
        { increment: {} },
      );

    const home = join(net.dir, 'new-node');
    const joined = await join_as(home, join(net.dir, 'net', 'attestation_root_key'), 22450);
    expect(joined.code).toBe(0);
    expect(JSON.parse(joined.stdout).io_pubkey).toBe(
      (await rpc<{ io_pubkey: string }>(urls[0]!, '/v1/status')).io_pubkey,
    );

    follower = spawn(process.execPath, [cloister, 'node', 'start', '--home', home], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      follower!.once('exit', (code) => reject(new Error(`follower exited with code ${code}`)));
      createInterface({ input: follower!.stdout! }).on('line', (line) => {
        const e = JSON.parse(line) as { event: string; rpc?: string };
        if (e.event === 'started') resolve(e.rpc!);
      });
    });
    // More traffic after it joined, some of it sent through the new node (forwarded).
    for (let k = 0; k < 3; k++)
      await client.send(
        k === 0 ? url : urls[1]!, // the new node forwards to urls[1]
        { address: counter.contract!, code: 'counter', scheme: 'gcm' },
        { increment: {} },
      );
    const top = Math.max(...(await heights(urls)));
    // Each reach drives load into its node (blocks are made on demand, issue #15): the follower's
    // is forwarded to validator 1.
    await Promise.all([...urls, url].map((u) => reach(u, top + 1)));
    await expect_same_blocks(url, await blocks_json(urls[0]!, top));
    for (const hash of client.keys.keys()) {
      expect(JSON.stringify(await rpc(url, `/v1/txs/${hash}`))).toBe(
        JSON.stringify(await rpc(urls[2]!, `/v1/txs/${hash}`)),
      );
    }
    // Its own enclave decrypts the contract state: the query answers the same count.
    const q = client.encrypt(client.code('counter').code_hash, { get_count: {} }, 'gcm');
    const answer = await rpc<{ code: number; output: string }>(
      url,
      `/v1/contracts/${counter.contract}/query`,
      { body: { scheme: 'gcm', payload: q.payload } },
    );
    const { open_result } = await import('../../protocol/result.js');
    expect(open_result(p, 'gcm', q.tx_key, from_base64(answer.output))).toEqual({
      data: { count: 16 },
      events: [],
    });
  }, 240_000);
});
