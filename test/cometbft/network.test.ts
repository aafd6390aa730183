/**
 * Four Cloister validators under CometBFT v0.38 (issue #17, docs/cometbft.md): the client
 * lifecycle in both envelope schemes through Cloister's RPC, a restarted validator replaying to the
 * same app hash, a validator whose enclave computes wrong results halting while the other three
 * commit on, and an enclave refusing blocks CometBFT did not commit.
 *
 * Ports: Cloister RPC 29400-29403 (p2p 30400-30403, reserved though unused under CometBFT),
 * CometBFT 31400-31432 (node/init.ts `comet_ports`).
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockInput } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import type { Genesis } from '../../node/genesis.js';
import { home_paths } from '../../node/home.js';
import { from_base64 } from '../../protocol/bytes.js';
import { parse_time, time_ms } from '../../protocol/cometbft/index.js';
import { open_result } from '../../protocol/result.js';
import { rpc } from '../../protocol/rpc_client.js';
import type { CometNetwork } from '../../sim/cometbft/network.js';
import { comet_rpc } from '../../sim/cometbft/process.js';
import { comet_skip, temp_comet_network } from '../cometbft_helpers.js';
import {
  blocks_json,
  Client,
  drive_load,
  expect_same_blocks,
  heights,
  p,
  reach,
} from '../network/helpers.js';

const PORT = 29400;
let temp: Awaited<ReturnType<typeof temp_comet_network>> | undefined;
let dir = '';
let net: CometNetwork;
let urls: string[];

beforeAll(async () => {
  if (comet_skip) return;
  temp = await temp_comet_network(PORT);
  ({ net, dir } = temp);
  urls = net.urls();
}, 180_000);

afterAll(async () => {
  await temp?.down();
}, 60_000);

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The CometBFT `/status` of every running validator. */
async function comet_statuses(indices: number[]) {
  return Promise.all(indices.map((i) => net.comet_status(i)));
}

/** Resolves once CometBFT node `i` has committed `height`. */
async function comet_reach(i: number, height: number, timeout_ms = 60_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const status = await net.comet_status(i).catch(() => null);
    if (status !== null && status.height >= height) return;
    if (Date.now() > deadline) throw new Error(`CometBFT node ${i} did not reach height ${height}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(comet_skip)('4 validators under CometBFT', () => {
  it('runs the client lifecycle in both schemes, with the same blocks and results on every node', async () => {
    const client = await Client.connect(urls[0]!);
    const counters = [];
    for (const [i, scheme] of (['gcm', 'siv'] as const).entries()) {
      const created = await client.send(urls[i]!, { code: 'counter', scheme }, { count: 10 * i });
      expect(created.code).toBe(0);
      counters.push({ address: created.contract!, scheme });
    }
    for (let k = 0; k < 6; k++) {
      const c = counters[k % 2]!;
      const record = await client.send(
        urls[k % 4]!,
        { address: c.address, code: 'counter', scheme: c.scheme },
        {
          increment: {},
        },
      );
      expect(record.code).toBe(0);
      expect(client.open(record)).toMatchObject({ data: { count: (k % 2) * 10 + Math.floor(k / 2) + 1 } });
    }
    // An encrypted query over ABCI (CometBFT's abci_query) answers what Cloister's RPC would.
    const q = client.encrypt(client.code('counter').code_hash, { get_count: {} }, 'siv');
    const data = Buffer.from(JSON.stringify({ scheme: 'siv', payload: q.payload })).toString('hex');
    const abci = await comet_rpc<{ response: { code: number; value: string } }>(
      net.specs[3]!.rpc_url,
      `/abci_query?path="/contract/${counters[1]!.address}"&data=0x${data}`,
    );
    expect(abci.response.code).toBe(0);
    const answer = JSON.parse(Buffer.from(abci.response.value, 'base64').toString('utf8')) as {
      code: number;
      output: string;
    };
    expect(answer.code).toBe(0);
    expect(open_result(p, 'siv', q.tx_key, from_base64(answer.output))).toMatchObject({
      data: { count: 13 },
    });
    const none = await comet_rpc<{ response: { code: number } }>(
      net.specs[0]!.rpc_url,
      `/abci_query?path="/contract/${'0'.repeat(40)}"&data=0x${data}`,
    );
    expect(none.response.code).toBe(6);
    // An answered wait=commit means final: the next height committed its app hash.
    const top = Math.max(...(await heights(urls)));
    await Promise.all(urls.map((u) => reach(u, top)));
    const reference = await blocks_json(urls[0]!, top);
    for (const url of urls.slice(1)) await expect_same_blocks(url, reference);
    const statuses = await comet_statuses([0, 1, 2, 3]);
    const height = Math.min(...statuses.map((s) => s.height));
    const hashes = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        comet_rpc<{ block: { header: { app_hash: string } } }>(
          net.specs[i]!.rpc_url,
          `/block?height=${height}`,
        ),
      ),
    );
    expect(new Set(hashes.map((b) => b.block.header.app_hash)).size).toBe(1);
    expect(hashes[0]!.block.header.app_hash).not.toBe('');
  }, 180_000);

  it('refuses a bad transaction with a code and changes nothing', async () => {
    const client = await Client.connect(urls[1]!);
    const tx = client.sign({ type: 'execute', contract: '0'.repeat(40), scheme: 'gcm', payload: 'AAAA' });
    // One bit of the signature flipped (whatever its last byte was, the forgery differs).
    const last = (Number.parseInt(tx.signature.slice(-2), 16) ^ 1).toString(16).padStart(2, '0');
    const forged = { ...tx, signature: `${tx.signature.slice(0, -2)}${last}` };
    const answer = await rpc<unknown>(urls[1]!, '/v1/txs', { body: forged }).catch((error: Error) => error);
    expect(answer).toBeInstanceOf(Error);
    expect(String((answer as Error).message)).toMatch(/signature|4/);
  }, 60_000);

  it('restarts a validator whose application crashed mid-load: it replays to the same app hash and goes on', async () => {
    const client = await Client.connect(urls[0]!);
    const made = await client.send(urls[0]!, { code: 'echo', scheme: 'gcm' }, {});
    expect(made.code).toBe(0);
    // Crash validator 2's application while blocks are being made, then make more without it.
    const stop_load = drive_load(urls.slice(0, 2), 50);
    await reach(urls[2]!, made.height + 2);
    await net.crash_app(2);
    stop_load();
    const record = await client.send(
      urls[1]!,
      { address: made.contract!, code: 'echo', scheme: 'siv' },
      {
        echo: { value: 'while it was down' },
      },
    );
    expect(client.open(record)).toEqual({ data: 'while it was down', events: [] });
    await net.start(2);
    // The handshake: the application reports where it left off (Info), with the app hash the
    // network agreed for that height, and CometBFT replays what it stored above it (the block the
    // application was executing when it crashed, if it was).
    const log = readFileSync(join(net.specs[2]!.home, 'cometbft.log'), 'utf8');
    const handshakes = [...log.matchAll(/ABCI Handshake App Info.* height=(\d+) hash=([0-9A-F]*)/g)];
    const last = handshakes.at(-1);
    expect(last).toBeDefined();
    const app_height = Number(last![1]);
    expect(app_height).toBeGreaterThan(made.height);
    const next = await comet_rpc<{ block: { header: { app_hash: string } } }>(
      net.specs[0]!.rpc_url,
      `/block?height=${app_height + 1}`,
    );
    expect(last![2]).toBe(next.block.header.app_hash);
    await reach(urls[2]!, record.height + 1);
    const again = await client.send(
      urls[2]!,
      { address: made.contract!, code: 'echo', scheme: 'gcm' },
      {
        echo: { value: 'after restart' },
      },
    );
    expect(client.open(again)).toEqual({ data: 'after restart', events: [] });
    const top = Math.max(...(await heights(urls)));
    await Promise.all(urls.map((u) => reach(u, top)));
    await expect_same_blocks(urls[2]!, await blocks_json(urls[0]!, top));
    const statuses = await comet_statuses([0, 1, 2, 3]);
    const h = Math.min(...statuses.map((s) => s.height));
    await Promise.all([0, 1, 2, 3].map((i) => comet_reach(i, h)));
    const app_hashes = await Promise.all(
      [0, 2].map((i) =>
        comet_rpc<{ block: { header: { app_hash: string } } }>(net.specs[i]!.rpc_url, `/block?height=${h}`),
      ),
    );
    expect(app_hashes[1]!.block.header.app_hash).toBe(app_hashes[0]!.block.header.app_hash);
  }, 180_000);

  it('refuses, in the enclave, a block CometBFT did not commit', async () => {
    const home = join(dir, 'net', 'v0');
    const genesis = JSON.parse(readFileSync(home_paths(home).genesis, 'utf8')) as Genesis;
    const enclave = new InProcessEnclave({
      provider: 'native',
      platform_secret_file: home_paths(home).platform_secret,
    });
    try {
      const loaded = await enclave.load_seed(readFileSync(join(home, 'sealed_seed'), 'utf8').trim());
      expect(loaded.ok).toBe(true);
      const sealed_light = readFileSync(join(home, 'sealed_light'), 'utf8').trim();
      const commit = await comet_rpc<{
        signed_header: { header: Record<string, unknown>; commit: { signatures: unknown[] } };
      }>(net.specs[0]!.rpc_url, '/commit?height=1');
      const signed = commit.signed_header;
      // Block 1's own transactions (a client may have been quick enough to get one in).
      const block = await comet_rpc<{ block: { data: { txs: string[] | null } } }>(
        net.specs[0]!.rpc_url,
        '/block?height=1',
      );
      const txs = (block.block.data.txs ?? []).map((b64) => Buffer.from(b64, 'base64').toString('utf8'));
      const input: BlockInput = {
        chain_id: genesis.chain_id,
        height: 1,
        time_ms: time_ms(parse_time(String(signed.header['time']))),
        random_seed: '0'.repeat(64),
        txs,
        accounts: {},
        balances: {},
        min_gas_price: 0,
        dev: true,
        contracts: {},
        no_contract: [],
        codes: {},
        state: {},
        next_code_id: genesis.codes.length + 1,
        attestation: genesis.attestation,
      };
      const validators = genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));
      const light = (signed_header: unknown) => ({
        engine: 'cometbft' as const,
        signed_header,
        validators,
        sealed_light,
      });
      const run = (inp: BlockInput, signed_header: unknown) =>
        enclave.execute_block({ ...inp, light: light(signed_header) });
      // The committed block itself goes through (the control for every refusal below).
      const accepted = await run(input, signed);
      expect(accepted.ok ? 'ok' : accepted.error.message).toBe('ok');
      const refused = async (inp: BlockInput, signed_header: unknown, why: RegExp) => {
        const answer = await run(inp, signed_header);
        expect(answer.ok).toBe(false);
        if (!answer.ok) {
          expect(answer.error.code).toBe('BAD_INPUT');
          expect(answer.error.message).toMatch(why);
        }
      };
      // A transaction the committed block does not hold.
      await refused({ ...input, txs: [...txs, '{"not":"in the block"}'] }, signed, /txs do not match/);
      // Signatures of less than 2/3 of the power.
      const few = {
        ...signed,
        commit: { ...signed.commit, signatures: signed.commit.signatures.slice(0, 2) },
      };
      await refused(input, few, /not committed/);
      // A header the signatures are not over.
      await refused(
        input,
        { ...signed, header: { ...signed.header, app_hash: 'AB'.repeat(32) } },
        /not committed/,
      );
      // Another time than the committed header's.
      await refused({ ...input, time_ms: input.time_ms + 1 }, signed, /time/);
      // Cloister's own evidence, to an enclave bound to CometBFT.
      const cloister_light = { header: {}, parent: null, last_commit: null, validators, sealed_light };
      const other = await enclave.execute_block({ ...input, light: cloister_light as never });
      expect(other.ok).toBe(false);
    } finally {
      await enclave.close();
    }
  }, 60_000);

  it('halts a validator whose enclave computes wrong results while the other three commit on', async () => {
    await net.kill(3, 'SIGTERM');
    await net.start(3, 'wrong-results');
    const client = await Client.connect(urls[0]!);
    const made = await client.send(urls[0]!, { code: 'echo', scheme: 'gcm' }, {});
    const before = Math.max(...(await comet_statuses([0, 1, 2])).map((s) => s.height));
    for (let k = 0; k < 3; k++) {
      const r = await client.send(
        urls[k]!,
        { address: made.contract!, code: 'echo', scheme: 'gcm' },
        { echo: { value: k } },
      );
      expect(r.code).toBe(0);
    }
    // Its CometBFT finds that +2/3 committed a block carrying another app hash than its own: it stops deciding.
    const reason = await within(net.comet_halted(3), 60_000, "validator 3's CometBFT to halt");
    expect(reason).toMatch(/wrong Block\.Header\.AppHash/);
    const halted_at = (await net.comet_status(3)).height;
    await client.send(
      urls[0]!,
      { address: made.contract!, code: 'echo', scheme: 'gcm' },
      { echo: { value: 'on' } },
    );
    const after = await comet_statuses([0, 1, 2]);
    expect(Math.min(...after.map((s) => s.height))).toBeGreaterThan(Math.max(before, halted_at));
    // It never committed past what it agreed with the others.
    expect((await net.comet_status(3)).height).toBe(halted_at);
    // Its own RPC says it halted (it learns from the others' signed next height), and takes nothing.
    const status = await within(
      (async () => {
        for (;;) {
          const s = await rpc<{ halted?: { height: number; reason: string } | null }>(urls[3]!, '/v1/status');
          if (s.halted) return s.halted;
          await new Promise((r) => setTimeout(r, 200));
        }
      })(),
      30_000,
      "validator 3's RPC to say it halted",
    );
    expect(status.reason).toMatch(/results differ/);
    const refused = await client
      .send(urls[3]!, { address: made.contract!, code: 'echo', scheme: 'gcm' }, {})
      .catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
  }, 180_000);
});
