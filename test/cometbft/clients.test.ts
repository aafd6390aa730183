/**
 * Unchanged client code against four Cloister validators under CometBFT v0.38 (issue #17,
 * docs/cometbft.md: "The interop suite and the SDK work unchanged against it"): the SDK's lifecycle
 * in both schemes, its live wait and typed errors; secretjs 1.22.1's EncryptionUtilsImpl; the
 * `cloister` command line as a user runs it; and the live event stream `GET /v1/events`.
 * The CLI part needs a build (`npx tsc -p tsconfig.build.json`, which `npm test` runs first).
 *
 * Ports: Cloister RPC 29500-29503 (p2p 30500-30503, reserved though unused under CometBFT),
 * CometBFT 31500-31532 (node/init.ts `comet_ports`). CLOISTER_KEEP_NET=1 keeps the network's
 * folder (homes, `net/v<i>/node.log`, `net/cometbft/v<i>/cometbft.log`) to read after a failure.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { EncryptionUtilsImpl } from 'secretjs/dist/encryption.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CannotDecryptError,
  CloisterClient,
  generate_key,
  key_info,
  UnknownCodeOrContractError,
  WrongSequenceError,
  web_random,
} from '../../client/sdk/index.js';
import { DEV_ACCOUNT_BALANCE } from '../../protocol/bank.js';
import { from_base64, from_hex, from_utf8, to_base64, to_hex } from '../../protocol/bytes.js';
import { CANNOT_DECRYPT_MESSAGE, ResultCode } from '../../protocol/codes.js';
import { derive_tx_key } from '../../protocol/envelope.js';
import { RpcTransport, read_events, rpc } from '../../protocol/rpc_client.js';
import { tx_hash } from '../../protocol/tx.js';
import type { CometNetwork } from '../../sim/cometbft/network.js';
import { comet_rpc } from '../../sim/cometbft/process.js';
import { cli_json, run_cli } from '../client/cli_runner.js';
import { comet_skip, temp_comet_network } from '../cometbft_helpers.js';
import { CLOISTER_BIN, Client, p, reach } from '../network/helpers.js';

const PORT = 29500;
const TIMEOUT = 60_000;
let temp: Awaited<ReturnType<typeof temp_comet_network>> | undefined;
let dir = '';
let net: CometNetwork | undefined;
let urls: string[] = [];

beforeAll(async () => {
  if (comet_skip) return;
  temp = await temp_comet_network(PORT);
  ({ net, dir } = temp);
  urls = net.urls();
}, 120_000);

afterAll(async () => {
  await temp?.down();
}, 60_000);

interface TxRecord {
  hash: string;
  height: number;
  code: number;
  output: string;
  contract?: string;
  events?: { type: string; attributes: { key: string; value: string }[] }[];
}

describe.skipIf(comet_skip)('clients, unchanged, against 4 validators under CometBFT', () => {
  describe('the SDK', () => {
    const alice = generate_key('alice', web_random);
    let sdk: CloisterClient;
    const codes = new Map<string, { code_id: number; code_hash: string }>();

    beforeAll(async () => {
      sdk = new CloisterClient({ nodes: [urls[0]!], keys: [alice] });
      for (const c of await sdk.codes()) if (c.name !== undefined) codes.set(c.name, c);
      expect(codes.has('counter') && codes.has('echo')).toBe(true);
    });

    for (const scheme of ['gcm', 'siv'] as const) {
      it(
        `runs the lifecycle with ${scheme}: instantiate, execute, query, decrypt`,
        async () => {
          const made = await sdk.instantiate(
            alice,
            codes.get('counter')!.code_id,
            `c-${scheme}`,
            { count: 41 },
            {
              scheme,
            },
          );
          expect(made.record?.code).toBe(0);
          expect(made.contract).toMatch(/^[0-9a-f]{40}$/);
          expect(made.record?.contract).toBe(made.contract);
          const inc = await sdk.execute<{ count: number }>(
            alice,
            made.contract!,
            { increment: {} },
            { scheme },
          );
          expect(inc.data).toEqual({ count: 42 });
          expect(inc.record!.height).toBeGreaterThan(made.record!.height);
          expect(await sdk.query(made.contract!, { get_count: {} }, { scheme })).toEqual({ count: 42 });
          // Another validator serves the same sealed record, and the key opens it there.
          const other = new CloisterClient({ nodes: [urls[2]!], keys: [alice] });
          await reach(urls[2]!, inc.record!.height);
          const record = await other.get_tx(inc.hash);
          expect(record.output).toBe(inc.record!.output);
          expect(other.decrypt(record, inc.tx_key!, scheme)).toEqual({ data: { count: 42 }, events: [] });
          // A client that never saw the transaction recovers its key from the committed envelope.
          const recovered = await other.recover_tx_key(record);
          expect(recovered.scheme).toBe(scheme);
          expect(to_hex(recovered.tx_key)).toBe(to_hex(inc.tx_key!));
        },
        TIMEOUT,
      );
    }

    it(
      'waits on the live stream: one lookup once subscribed, then the commit arrives on the stream',
      async () => {
        const echo = await sdk.instantiate(
          alice,
          codes.get('echo')!.code_id,
          'echo-wait',
          {},
          { scheme: 'siv' },
        );
        const e = await sdk.encrypt(codes.get('echo')!.code_hash, { echo: { value: 'streamed' } }, 'siv', {
          key: alice,
        });
        const tx = await sdk.sign(alice, {
          type: 'execute',
          contract: echo.contract!,
          scheme: 'siv',
          payload: e.payload,
        });
        const hash = tx_hash(p, tx);
        // A watcher on validator 3 whose requests are recorded; it looks the transaction up once
        // subscribed, before it is even submitted, so the record can only come from the stream.
        const requests: string[] = [];
        let looked_up: () => void = () => {};
        const lookup = new Promise<void>((resolve) => {
          looked_up = resolve;
        });
        const watcher = new CloisterClient(
          { nodes: [urls[3]!] },
          {
            fetch: async (input, init) => {
              const response = await globalThis.fetch(input, init);
              const path = new URL(String(input)).pathname;
              requests.push(`${init?.method ?? 'GET'} ${path} ${response.status}`);
              if (path === `/v1/txs/${hash}`) looked_up();
              return response;
            },
          },
        );
        const waiting = watcher.wait_for(hash, { timeout_ms: 30_000 });
        await lookup;
        expect(requests).toEqual(['GET /v1/events 200', `GET /v1/txs/${hash} 404`]);
        expect(await sdk.submit(tx)).toEqual({ hash, record: null });
        const record = await waiting;
        expect(record).toMatchObject({ hash, code: 0 });
        expect(requests).toEqual(['GET /v1/events 200', `GET /v1/txs/${hash} 404`]);
        expect(watcher.decrypt(record, e.tx_key, 'siv')).toEqual({ data: 'streamed', events: [] });
      },
      TIMEOUT,
    );

    it(
      'throws typed errors: a wrong sequence at CheckTx, an unknown contract at commit, a wrong code hash',
      async () => {
        const { sequence } = await sdk.account(key_info(alice).address);
        const e = await sdk.encrypt(codes.get('echo')!.code_hash, {}, 'gcm');
        const msg = {
          type: 'execute' as const,
          contract: '12'.repeat(20),
          scheme: 'gcm' as const,
          payload: e.payload,
        };
        const early = await sdk.sign(alice, msg, { sequence: sequence + 7 });
        const refused = await sdk.submit(early).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(WrongSequenceError);
        expect(refused).toMatchObject({ code: ResultCode.WRONG_SEQUENCE, expected: sequence });
        // The code hash given, the client sends it as it is: the enclave finds no such contract.
        const nobody = '12'.repeat(20);
        const unknown = await sdk
          .execute(alice, nobody, {}, { code_hash: codes.get('echo')!.code_hash })
          .catch((error: unknown) => error);
        expect(unknown).toBeInstanceOf(UnknownCodeOrContractError);
        expect((unknown as Error).message).toContain(nobody);
        const echo = await sdk.instantiate(alice, codes.get('echo')!.code_id, 'echo-err', {});
        const wrong = await sdk
          .execute(
            alice,
            echo.contract!,
            { echo: { value: 1 } },
            { code_hash: codes.get('counter')!.code_hash },
          )
          .catch((error: unknown) => error);
        expect(wrong).toBeInstanceOf(CannotDecryptError);
        expect((wrong as CannotDecryptError).code).toBe(ResultCode.CANNOT_DECRYPT);
        expect((await sdk.account(key_info(alice).address)).sequence).toBe(sequence + 3);
      },
      TIMEOUT,
    );
  });

  describe('secretjs 1.22.1 EncryptionUtilsImpl', () => {
    const MSG = { echo: { value: 'from secretjs' } };
    const PLAIN = '{"data":"from secretjs","events":[]}';
    let client: Client;
    let contract = '';

    beforeAll(async () => {
      client = await Client.connect(urls[0]!);
      const made = await client.send(urls[0]!, { code: 'echo', scheme: 'siv' }, {});
      expect(made.code).toBe(ResultCode.OK);
      contract = made.contract!;
    }, TIMEOUT);

    it(
      "fetches the node's tx-key, and its encrypted execute and query are answered and decrypted",
      async () => {
        const status = await rpc<{ io_pubkey: string }>(urls[1]!, '/v1/status');
        const { key } = await rpc<{ key: string }>(urls[1]!, '/registration/v1beta1/tx-key');
        expect(to_hex(from_base64(key))).toBe(status.io_pubkey);
        const seed = new Uint8Array(randomBytes(32));
        const utils = new EncryptionUtilsImpl(urls[1]!, seed);
        // secretjs fetched that key: its tx key is the one derived from the status' io_pubkey (its
        // X25519 secret is its seed, clamped).
        const nonce0 = new Uint8Array(randomBytes(32));
        const shared = p.x25519_secret(seed).shared(from_hex(status.io_pubkey, 32))!;
        expect(to_hex(await utils.getTxEncryptionKey(nonce0))).toBe(to_hex(derive_tx_key(p, shared, nonce0)));

        const echo_hash = client.code('echo').code_hash;
        const envelope = await utils.encrypt(echo_hash, MSG);
        const tx = client.sign({ type: 'execute', contract, scheme: 'siv', payload: to_base64(envelope) });
        const record = await rpc<TxRecord>(urls[1]!, '/v1/txs?wait=commit', {
          body: tx,
          timeout_ms: TIMEOUT,
        });
        expect(record.code).toBe(ResultCode.OK);
        expect(from_utf8(await utils.decrypt(from_base64(record.output), envelope.slice(0, 32)))).toBe(PLAIN);

        const query = await utils.encrypt(echo_hash, MSG);
        await reach(urls[2]!, record.height);
        const answer = await rpc<{ code: number; output: string }>(
          urls[2]!,
          `/v1/contracts/${contract}/query`,
          {
            body: { scheme: 'siv', payload: to_base64(query) },
          },
        );
        expect(answer.code).toBe(ResultCode.OK);
        expect(from_utf8(await utils.decrypt(from_base64(answer.output), query.slice(0, 32)))).toBe(PLAIN);

        // Encrypted for another code hash: the one decrypt error, code 3.
        const wrong = await utils.encrypt(client.code('counter').code_hash, MSG);
        const response = await fetch(`${urls[2]}/v1/contracts/${contract}/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ scheme: 'siv', payload: to_base64(wrong) }),
          signal: AbortSignal.timeout(30_000),
        });
        expect(response.status).toBe(400);
        expect(await response.json()).toEqual({
          error: { code: ResultCode.CANNOT_DECRYPT, message: CANNOT_DECRYPT_MESSAGE },
        });
      },
      TIMEOUT,
    );
  });

  describe('the cloister command line', () => {
    let keyring = '';
    let node = '';

    /** Runs `cloister ARGS` with the test's key file; never throws, like a user's shell. */
    function cloister(args: string[]) {
      return run_cli(args, { keyring, timeout_ms: TIMEOUT });
    }

    /** `cloister ARGS --node NODE --json`, which must exit 0: its JSON output. */
    function ok_json(...args: string[]): Promise<Record<string, unknown>> {
      return cli_json(args, { node, keyring, timeout_ms: TIMEOUT });
    }

    beforeAll(() => {
      keyring = join(dir, 'keys.json');
      node = urls[1]!;
    });

    it(
      'keys, faucet, balance, tx instantiate/execute --wait, query and tx get',
      async () => {
        const dev = await cloister(['keys', 'import-dev', '--json']);
        expect(dev.code).toBe(0);
        const imported = (JSON.parse(dev.stdout) as { keys: { name: string; status: string }[] }).keys;
        expect(imported.map((k) => `${k.name} ${k.status}`)).toEqual([
          'dev0 added',
          'dev1 added',
          'dev2 added',
          'dev3 added',
        ]);
        const added = await cloister(['keys', 'add', 'alice', '--json']);
        expect(added.code).toBe(0);
        const alice = (JSON.parse(added.stdout) as { address: string }).address;

        // Reads that need no order run side by side (each run of the CLI starts a Node process).
        const [before, dev1] = await Promise.all([ok_json('balance', 'alice'), ok_json('balance', 'dev1')]);
        expect(before).toEqual({ address: alice, key: 'alice', balance: 0, denom: 'ucst' });
        expect(dev1).toMatchObject({ key: 'dev1', balance: DEV_ACCOUNT_BALANCE });
        expect(await ok_json('faucet', 'alice', '--amount', '5000')).toMatchObject({
          address: alice,
          amount: 5000,
          balance: 5000,
        });
        expect(await ok_json('balance', 'alice')).toMatchObject({ balance: 5000 });

        const s = ['--key', 'alice', '--scheme', 'siv'];
        const made = await ok_json(
          'tx',
          'instantiate',
          '2',
          '{"count": 41}',
          '--label',
          'cli',
          '--wait',
          ...s,
        );
        expect(made).toMatchObject({
          committed: true,
          code: 0,
          contract: expect.stringMatching(/^[0-9a-f]{40}$/),
        });
        const contract = made['contract'] as string;
        const inc = await ok_json('tx', 'execute', contract, '{"increment": {}}', '--wait', ...s);
        expect(inc).toMatchObject({ committed: true, code: 0, data: { count: 42 } });
        const [query, got] = await Promise.all([
          ok_json('query', contract, '{"get_count": {}}', '--scheme', 'gcm'),
          ok_json('tx', 'get', inc['hash'] as string),
        ]);
        expect(query['data']).toEqual({ count: 42 });
        expect(got).toMatchObject({
          code: 0,
          decrypted: true,
          key: 'alice',
          scheme: 'siv',
          result: { data: { count: 42 } },
        });
      },
      TIMEOUT,
    );

    it(
      'events --contract prints a committed public event',
      async () => {
        const init = { name: 'Dev Token', symbol: 'DVT', decimals: 0, initial_balances: [] };
        const token = await ok_json(
          'tx',
          'instantiate',
          '3',
          JSON.stringify(init),
          '--label',
          'dvt',
          '--wait',
          '--key',
          'dev0',
        );
        const address = token['contract'] as string;
        const deposit = await ok_json(
          'tx',
          'execute',
          address,
          '{"deposit": {}}',
          '--funds',
          '100',
          '--wait',
          '--key',
          'dev0',
        );
        expect(deposit).toMatchObject({
          code: 0,
          data: { status: 'ok' },
          events: [{ type: 'deposit', attributes: [{ key: 'amount', value: '100' }], public: true }],
        });
        const height = deposit['height'] as number;
        // The funds left dev0's account (gas price 0: no fee).
        const balance = ok_json('balance', 'dev0');
        balance.catch(() => undefined); // awaited below; a failure there, not an unhandled rejection
        expect(height).toBeGreaterThan(0);
        const child = spawn(
          process.execPath,
          [
            CLOISTER_BIN,
            'events',
            '--contract',
            address,
            '--from-height',
            String(height),
            '--node',
            node,
            '--json',
          ],
          { env: { ...process.env, CLOISTER_KEYRING: keyring } },
        );
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
        });
        const line = await new Promise<string>((resolve, reject) => {
          let stdout = '';
          child.stdout.on('data', (c: Buffer) => {
            stdout += c.toString();
            const end = stdout.indexOf('\n');
            if (end >= 0) resolve(stdout.slice(0, end));
          });
          void exited.then((code) => reject(new Error(`cloister events exited ${code}: ${stderr}`)));
        });
        child.kill('SIGINT');
        expect(await exited).toBe(0);
        expect(JSON.parse(line)).toMatchObject({
          height,
          hash: deposit['hash'],
          contract: address,
          type: 'deposit',
          attributes: [{ key: 'amount', value: '100' }],
        });
        expect(stderr).toContain(`following the public events of ${address}`);
        expect(await balance).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - 100 });
      },
      TIMEOUT,
    );
  });

  it(
    "the live stream delivers a committed block and its transactions, once CometBFT committed the block's app hash",
    async () => {
      const client = await Client.connect(urls[0]!);
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 30_000);
      try {
        const { body } = await new RpcTransport({ nodes: [urls[2]!] }).open_stream(abort.signal);
        const e = client.encrypt(client.code('echo').code_hash, {}, 'gcm');
        const tx = client.sign({
          type: 'instantiate',
          code_id: client.code('echo').code_id,
          label: 'sse',
          scheme: 'gcm',
          payload: e.payload,
        });
        const { hash } = await rpc<{ hash: string }>(urls[0]!, '/v1/txs', { body: tx });
        const { block, txs } = await block_of(body, hash);
        const mine = txs.find((r) => r.hash === hash);
        expect(mine).toMatchObject({
          code: 0,
          height: block.height,
          contract: expect.stringMatching(/^[0-9a-f]{40}$/),
        });
        expect(txs.length).toBe(block.txs);
        // Each tx event is exactly the node's GET /v1/txs/{hash} answer; the block is its committed one.
        for (const r of txs) expect(await rpc(urls[2]!, `/v1/txs/${r.hash}`)).toEqual(r);
        const served = await rpc<{ block_hash: string; tx_hashes: string[] }>(
          urls[2]!,
          `/v1/blocks/${block.height}`,
        );
        expect(served.block_hash).toBe(block.block_hash);
        expect(served.tx_hashes).toEqual(txs.map((r) => r.hash));
        // Final: the next CometBFT block, whose header carries this block's app hash, had committed.
        const next = await comet_rpc<{ signed_header: { header: { app_hash: string } } }>(
          net!.specs[2]!.rpc_url,
          `/commit?height=${block.height + 1}`,
        );
        expect(next.signed_header.header.app_hash.toLowerCase()).toBe(block.block_hash);
      } finally {
        clearTimeout(timer);
        abort.abort();
      }
    },
    TIMEOUT,
  );
});

interface BlockEvent {
  height: number;
  block_hash: string;
  time_ms: number;
  txs: number;
}

/**
 * Reads a live stream (docs/protocol-notes.md "Live events": `block`, then one `tx` per
 * transaction) until the block holding `hash` and all its transactions have arrived.
 */
async function block_of(
  body: ReadableStream<Uint8Array>,
  hash: string,
): Promise<{ block: BlockEvent; txs: TxRecord[] }> {
  let current: { block: BlockEvent; txs: TxRecord[] } | null = null;
  for await (const event of read_events(body)) {
    if (event.type === 'block') current = { block: JSON.parse(event.data) as BlockEvent, txs: [] };
    else if (event.type === 'tx' && current !== null) current.txs.push(JSON.parse(event.data) as TxRecord);
    if (
      current !== null &&
      current.txs.length === current.block.txs &&
      current.txs.some((r) => r.hash === hash)
    )
      return current;
  }
  throw new Error(`the live stream ended before a block with ${hash}`);
}
