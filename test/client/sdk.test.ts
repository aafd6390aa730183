/**
 * The SDK against an in-memory node that follows protocol.md §3-§6 (its "enclave" opens envelopes
 * and seals results with the protocol modules): encryption and decryption equal the protocol
 * modules byte for byte, the lifecycle, recover_tx_key, waiting (live stream and polling with a
 * fake clock) and the typed errors.
 */

import { describe, expect, it } from 'vitest';
import {
  CannotDecryptError,
  ChainIdMismatchError,
  ClientErrorCode,
  type ClientKey,
  CloisterClient,
  ContractError,
  error_from_code,
  generate_key,
  key_info,
  NotYourTxError,
  POLL_INTERVAL_MS_FIRST,
  ResultAuthError,
  UnknownCodeOrContractError,
  WaitTimeoutError,
  WrongSequenceError,
} from '../../client/sdk/index.js';
import { from_base64, from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { encrypt_message, open_envelope, type Scheme } from '../../protocol/envelope.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { open_result, seal_result } from '../../protocol/result.js';
import { account_address, contract_address, parse_tx_json, type Tx, tx_hash } from '../../protocol/tx.js';
import { bytes_of, seeded_random } from './funds_fake_node.js';

const CHAIN_ID = 'fake-chain-1';
const ECHO_CODE = utf8('export function execute(_c, m) { return m.echo.value; }');
const ECHO_HASH = to_hex(p.sha256(ECHO_CODE));
const OTHER_HASH = 'ab'.repeat(32);

interface Record_ {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  output: string;
  contract?: string;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function error(status: number, code: number, message: string): Response {
  return json(status, { error: { code, message } });
}

/**
 * An in-memory node: one io key, echo contracts, instant or manual commits, an optional live
 * stream. Its `fetch` is handed to the client.
 */
class FakeNode {
  readonly io_sk = bytes_of('io');
  readonly io = p.x25519_secret(this.io_sk);
  chain_id = CHAIN_ID;
  auto_commit = true;
  stream = false;
  /** Refuse the next submission with code 5, as if another tx from the key got in first. */
  refuse_sequence_once = false;
  tamper = false;
  readonly committed = new Map<string, number>();
  readonly contracts = new Map<string, { code_hash: string; creator: string }>();
  readonly records = new Map<string, Record_>();
  readonly blocks: string[][] = [];
  readonly pending: { text: string; tx: Tx }[] = [];
  readonly requests: string[] = [];
  readonly #streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  #stream_waiters: (() => void)[] = [];

  /** Resolves when a client has opened the live stream. */
  stream_opened(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#streams.length > 0) resolve();
      else this.#stream_waiters.push(resolve);
    });
  }

  fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const path = url.pathname;
    this.requests.push(`${method} ${path}`);
    const parts = path.split('/').slice(1);
    if (path === '/v1/status')
      return json(200, {
        chain_id: this.chain_id,
        height: this.blocks.length,
        io_pubkey: to_hex(this.io.public_key),
        seed_exchange_pubkey: '00'.repeat(32),
        validator: null,
        validators: [],
      });
    if (path === '/registration/v1beta1/tx-key') return json(200, { key: to_base64(this.io.public_key) });
    if (path === '/v1/codes') return json(200, [{ code_id: 1, code_hash: ECHO_HASH, name: 'echo' }]);
    if (parts[1] === 'accounts')
      return json(200, { address: parts[2], sequence: this.committed.get(parts[2]!) ?? 0 });
    if (parts[1] === 'contracts' && parts.length === 3) {
      const c = this.contracts.get(parts[2]!);
      if (c === undefined) return error(404, 6, `unknown contract ${parts[2]}`);
      return json(200, {
        address: parts[2],
        code_id: 1,
        code_hash: c.code_hash,
        label: 'x',
        creator: c.creator,
      });
    }
    if (parts[1] === 'contracts' && parts[3] === 'query') {
      const c = this.contracts.get(parts[2]!);
      if (c === undefined) return error(404, 6, `unknown contract ${parts[2]}`);
      const body = JSON.parse(String(init?.body)) as { scheme: Scheme; payload: string };
      const run = this.#run(body.scheme, body.payload, c.code_hash);
      if (run === null) return error(400, 3, 'cannot decrypt message');
      return json(200, run);
    }
    if (path === '/v1/txs' && method === 'POST') return this.#submit(String(init?.body));
    if (parts[1] === 'txs' && parts.length === 3) {
      const record = this.records.get(parts[2]!);
      if (record === undefined) return error(404, 100, `transaction ${parts[2]} is not committed`);
      return json(200, this.tamper ? { ...record, output: flip(record.output) } : record);
    }
    if (parts[1] === 'blocks' && parts[3] === 'txs') {
      const height = Number(parts[2]);
      const txs = this.blocks[height - 1];
      if (txs === undefined) return error(404, 100, `block ${height} is not committed`);
      return json(200, { height, txs });
    }
    if (path === '/v1/events') {
      if (!this.stream) return error(503, 102, 'too many live event streams (at most 0)');
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          controller.enqueue(utf8(': live\n\n'));
          this.#streams.push(controller);
          for (const w of this.#stream_waiters) w();
          this.#stream_waiters = [];
        },
      });
      init?.signal?.addEventListener('abort', () => {
        try {
          for (const c of this.#streams) c.error(new Error('aborted'));
        } catch {
          // already closed
        }
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    return error(404, 100, 'no such route');
  };

  #run(scheme: Scheme, payload: string, code_hash: string): { code: number; output: string } | null {
    let opened: { tx_key: Uint8Array; msg_json: string };
    try {
      opened = open_envelope(p, this.io, {
        scheme,
        envelope: from_base64(payload),
        chain_id: this.chain_id,
        code_hash,
      });
    } catch {
      return null;
    }
    const msg = JSON.parse(opened.msg_json) as { echo?: { value: unknown }; fail?: string };
    const result =
      msg.fail !== undefined
        ? { error: msg.fail }
        : {
            data: msg.echo?.value ?? null,
            events: [{ type: 'echoed', attributes: [{ key: 'k', value: 'v' }] }],
          };
    return {
      code: 'error' in result ? 1 : 0,
      output: to_base64(seal_result(p, scheme, opened.tx_key, result)),
    };
  }

  #submit(text: string): Response {
    const tx = parse_tx_json(text);
    const sender = account_address(p, from_hex(tx.body.sender, 32));
    const expected =
      (this.committed.get(sender) ?? 0) +
      this.pending.filter((x) => x.tx.body.sender === tx.body.sender).length;
    if (this.refuse_sequence_once || tx.body.sequence !== expected) {
      const shown = this.refuse_sequence_once ? expected + 1 : expected;
      if (this.refuse_sequence_once) this.committed.set(sender, (this.committed.get(sender) ?? 0) + 1);
      this.refuse_sequence_once = false;
      return error(
        400,
        5,
        `wrong sequence ${tx.body.sequence}: expected ${shown} (committed ${shown}, 0 pending)`,
      );
    }
    this.pending.push({ text, tx });
    if (this.auto_commit) this.commit();
    return json(202, { hash: tx_hash(p, tx) });
  }

  /** Commits every pending transaction in one block and announces it on the live streams. */
  commit(): void {
    const height = this.blocks.length + 1;
    const texts: string[] = [];
    const events: string[] = [];
    this.pending.splice(0).forEach(({ text, tx }, index) => {
      texts.push(text);
      const sender = account_address(p, from_hex(tx.body.sender, 32));
      this.committed.set(sender, (this.committed.get(sender) ?? 0) + 1);
      const hash = tx_hash(p, tx);
      const msg = tx.body.msg;
      let record: Record_ = { hash, height, index, code: 0, gas_used: 1000, output: '' };
      if (msg.type === 'instantiate' || msg.type === 'execute') {
        const address =
          msg.type === 'execute' ? msg.contract : contract_address(p, tx.body.sender, tx.body.sequence);
        const contract = this.contracts.get(address);
        const code_hash = msg.type === 'instantiate' ? ECHO_HASH : contract?.code_hash;
        if (code_hash === undefined) record = { ...record, code: 6 };
        else {
          const run = this.#run(msg.scheme, msg.payload, code_hash);
          if (run === null) record = { ...record, code: 3 };
          else {
            record = { ...record, ...run };
            if (msg.type === 'instantiate' && run.code === 0) {
              this.contracts.set(address, { code_hash, creator: sender });
              record.contract = address;
            }
          }
        }
      }
      this.records.set(hash, record);
      events.push(`event: tx\ndata: ${JSON.stringify(record)}\n\n`);
    });
    this.blocks.push(texts);
    for (const c of this.#streams) {
      try {
        c.enqueue(utf8(`event: block\ndata: {"height": ${height}}\n\n${events.join('')}`));
      } catch {
        // a closed stream
      }
    }
  }
}

function flip(b64: string): string {
  const bytes = from_base64(b64);
  bytes[bytes.length - 1]! ^= 1;
  return to_base64(bytes);
}

/** A clock whose timers fire only when the test advances it. */
class FakeClock {
  now_ms = 0;
  readonly timers: { due: number; ms: number; fire: () => void }[] = [];
  #waiters: (() => void)[] = [];

  now = (): number => this.now_ms;

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = { due: this.now_ms + ms, ms, fire: resolve };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        const i = this.timers.indexOf(timer);
        if (i >= 0) this.timers.splice(i, 1);
        resolve();
      });
      for (const w of this.#waiters.splice(0)) w();
    });

  /**
   * Resolves once a timer shorter than `ms_below` is pending: the client is pausing between polls
   * (request deadlines and the stream's deadline are longer timers).
   */
  async pausing(ms_below: number): Promise<void> {
    while (!this.timers.some((t) => t.ms < ms_below)) await new Promise<void>((r) => this.#waiters.push(r));
  }

  /** Fires the earliest timer, moving the clock to its due time. */
  advance(): number {
    this.timers.sort((a, b) => a.due - b.due);
    const timer = this.timers.shift()!;
    this.now_ms = timer.due;
    timer.fire();
    return timer.ms;
  }
}

function setup(opts: { chain_id?: string } = {}) {
  const node = new FakeNode();
  const clock = new FakeClock();
  const alice = generate_key('alice', seeded_random('alice'));
  const client = new CloisterClient(
    {
      nodes: ['http://fake.test:1'],
      keys: [alice],
      ...(opts.chain_id === undefined ? {} : { chain_id: opts.chain_id }),
    },
    { fetch: node.fetch, now: clock.now, sleep: clock.sleep, random: seeded_random('client') },
  );
  return { node, clock, alice, client };
}

async function echo_contract(client: CloisterClient, key: ClientKey): Promise<string> {
  const out = await client.instantiate(key, 1, 'echo', {});
  return out.contract!;
}

describe('SDK encryption equals the protocol modules', () => {
  for (const scheme of ['gcm', 'siv'] as const) {
    it(`encrypt (${scheme}) gives the envelope of encrypt_message with the key's sk_u and the drawn nonce`, async () => {
      const { client, node, alice } = setup();
      const msg = { echo: { value: [1, 'two'] } };
      const e = await client.encrypt(ECHO_HASH, msg, scheme, { key: alice });
      const expected = encrypt_message(p, {
        scheme,
        sk_u: alice.encryption_sk,
        pk_io: node.io.public_key,
        nonce: from_hex(e.nonce, 32),
        chain_id: CHAIN_ID,
        code_hash: ECHO_HASH,
        msg_json: JSON.stringify(msg),
      });
      expect(e.payload).toBe(to_base64(expected.envelope));
      expect(to_hex(e.tx_key)).toBe(to_hex(expected.tx_key));
      expect(e.pk_u).toBe(key_info(alice).encryption_pubkey);
      // The enclave side opens it to the same message and key.
      const opened = open_envelope(p, node.io, {
        scheme,
        envelope: from_base64(e.payload),
        chain_id: CHAIN_ID,
        code_hash: ECHO_HASH,
      });
      expect(opened.msg_json).toBe(JSON.stringify(msg));
      // And a result sealed by the protocol module decrypts to the same value through the SDK.
      const result = { data: { ok: true }, events: [] };
      const output = to_base64(seal_result(p, scheme, opened.tx_key, result));
      expect(client.decrypt({ code: 0, output }, e.tx_key, scheme)).toEqual(
        open_result(p, scheme, opened.tx_key, from_base64(output)),
      );
    });
  }

  it('draws a fresh nonce per message, and a one-off sk_u without a key', async () => {
    const { client, alice } = setup();
    const a = await client.encrypt(ECHO_HASH, 1, 'gcm', { key: alice });
    const b = await client.encrypt(ECHO_HASH, 1, 'gcm', { key: alice });
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.pk_u).toBe(b.pk_u);
    const c = await client.encrypt(ECHO_HASH, 1, 'gcm');
    expect(c.pk_u).not.toBe(a.pk_u);
  });

  it('refuses bad arguments at the boundary with TypeError/RangeError', async () => {
    const { client } = setup();
    await expect(client.encrypt('xyz', {}, 'gcm')).rejects.toBeInstanceOf(RangeError);
    await expect(client.encrypt(ECHO_HASH, {}, 'aes' as Scheme)).rejects.toBeInstanceOf(RangeError);
    await expect(client.encrypt(ECHO_HASH, undefined, 'gcm')).rejects.toBeInstanceOf(TypeError);
    await expect(client.contract('XYZ')).rejects.toBeInstanceOf(RangeError);
    expect(() => new CloisterClient({ nodes: [] })).toThrow(RangeError);
    expect(() => new CloisterClient({ nodes: ['ftp://x'] })).toThrow(RangeError);
  });
});

describe('SDK lifecycle against an in-memory node', () => {
  it('instantiates, executes and queries with both schemes, decrypting every result', async () => {
    const { client, alice } = setup();
    for (const scheme of ['gcm', 'siv'] as const) {
      const inst = await client.instantiate(alice, 1, `echo-${scheme}`, {}, { scheme });
      expect(inst.contract).toMatch(/^[0-9a-f]{40}$/);
      expect(inst.record?.contract).toBe(inst.contract);
      const exec = await client.execute(alice, inst.contract!, { echo: { value: { n: 7 } } }, { scheme });
      expect([inst.scheme, exec.scheme]).toEqual([scheme, scheme]);
      expect(exec.data).toEqual({ n: 7 });
      expect(exec.events).toEqual([{ type: 'echoed', attributes: [{ key: 'k', value: 'v' }] }]);
      expect(await client.query(inst.contract!, { echo: { value: 'hi' } }, { scheme })).toBe('hi');
    }
  });

  it('types data as the caller says, and refuses the old positional scheme with a message', async () => {
    const { client, alice } = setup();
    const contract = await echo_contract(client, alice);
    const exec = await client.execute<{ n: number }>(alice, contract, { echo: { value: { n: 7 } } });
    const n: number | undefined = exec.data?.n;
    expect(n).toBe(7);
    const text: string = await client.query<string>(contract, { echo: { value: 'hi' } }, { scheme: 'siv' });
    expect(text).toBe('hi');
    // What a JavaScript caller of the old signature would pass.
    const old = client as unknown as {
      execute(...args: unknown[]): Promise<unknown>;
      query(...args: unknown[]): Promise<unknown>;
      instantiate(...args: unknown[]): Promise<unknown>;
    };
    await expect(old.execute(alice, contract, {}, 'siv')).rejects.toThrow(
      'the scheme is an option now: pass { scheme: "siv" }',
    );
    await expect(old.query(contract, {}, 'gcm', { code_hash: ECHO_HASH })).rejects.toThrow(
      'the scheme is an option now',
    );
    await expect(old.instantiate(alice, 1, 'x', {}, undefined, { wait: false })).rejects.toThrow(
      /^too many arguments/,
    );
    await expect(old.execute(alice, contract, {}, null)).rejects.toThrow('opts must be an object');
  });

  it('signs with a local counter: several transactions without waiting get consecutive sequences', async () => {
    const { client, node, alice } = setup();
    node.auto_commit = false;
    const a = await client.instantiate(alice, 1, 'a', {}, { wait: false });
    const b = await client.instantiate(alice, 1, 'b', {}, { wait: false });
    expect([a.sequence, b.sequence]).toEqual([0, 1]);
    expect(node.requests.filter((r) => r.startsWith('GET /v1/accounts'))).toHaveLength(1);
    node.commit();
    expect(node.contracts.has(a.contract!) && node.contracts.has(b.contract!)).toBe(true);
  });

  it('after a wrong sequence (code 5) signs once more at the sequence the node expects', async () => {
    const { client, node, alice } = setup();
    const contract = await echo_contract(client, alice);
    node.refuse_sequence_once = true;
    const out = await client.execute(alice, contract, { echo: { value: 1 } });
    expect(out.data).toBe(1);
    expect(out.sequence).toBe(2);
  });

  it('submit names the expected sequence in its code-5 error and what to do', async () => {
    const { client, alice } = setup();
    const tx = await client.sign(alice, { type: 'store_code', code: to_base64(ECHO_CODE) }, { sequence: 9 });
    const error = await client.submit(tx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WrongSequenceError);
    expect((error as WrongSequenceError).code).toBe(5);
    expect((error as WrongSequenceError).expected).toBe(0);
    expect((error as Error).message).toBe(
      'wrong sequence: expected 0 — another transaction from this key is pending or was committed; retry',
    );
  });

  it('a contract error (code 1) is a ContractError carrying the decrypted message', async () => {
    const { client, alice } = setup();
    const contract = await echo_contract(client, alice);
    const error = await client.execute(alice, contract, { fail: 'no way' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContractError);
    expect((error as ContractError).contract_message).toBe('no way');
    await expect(client.query(contract, { fail: 'nope' })).rejects.toThrow('contract error: nope');
  });

  it('a wrong code hash is code 3 at commit and in a query, with a message that says what to check', async () => {
    const { client, alice } = setup();
    const contract = await echo_contract(client, alice);
    const error = await client
      .execute(alice, contract, { echo: { value: 1 } }, { code_hash: OTHER_HASH })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CannotDecryptError);
    expect((error as Error).message).toMatch(/could not decrypt.*wrong code hash or chain id/);
    await expect(client.query(contract, {}, { scheme: 'siv', code_hash: OTHER_HASH })).rejects.toBeInstanceOf(
      CannotDecryptError,
    );
  });

  it('an unknown contract or code id is code 6, named in the message', async () => {
    const { client, alice } = setup();
    const nobody = '00'.repeat(20);
    const e1 = await client.execute(alice, nobody, {}).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UnknownCodeOrContractError);
    expect((e1 as Error).message).toContain(`unknown contract ${nobody}`);
    await expect(client.query(nobody, {})).rejects.toMatchObject({ code: 6 });
    await expect(client.instantiate(alice, 99, 'x', {})).rejects.toThrow('unknown code id 99');
  });

  it('refuses a node that serves another chain than expected', async () => {
    const { client } = setup({ chain_id: 'other-chain' });
    const error = await client.status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainIdMismatchError);
    expect((error as ChainIdMismatchError).code).toBe(ClientErrorCode.CHAIN_ID_MISMATCH);
    expect((error as Error).message).toContain('"fake-chain-1", not "other-chain"');
    await expect(setup({ chain_id: CHAIN_ID }).client.status()).resolves.toMatchObject({
      chain_id: CHAIN_ID,
    });
  });

  it('a tampered output does not authenticate', async () => {
    const { client, node, alice } = setup();
    const contract = await echo_contract(client, alice);
    const out = await client.execute(alice, contract, { echo: { value: 'secret' } }, { scheme: 'siv' });
    node.tamper = true;
    const record = await client.get_tx(out.hash);
    const error = (() => {
      try {
        return client.decrypt(record, out.tx_key!, 'siv');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ResultAuthError);
    expect((error as Error).message).toBe('result does not authenticate (tampered or not yours)');
  });
});

describe('recover_tx_key', () => {
  it("derives a sender's tx_key again from the block's envelope, for both schemes", async () => {
    const { client, alice, node } = setup();
    const contract = await echo_contract(client, alice);
    for (const scheme of ['gcm', 'siv'] as const) {
      const out = await client.execute(alice, contract, { echo: { value: scheme } }, { scheme });
      const record = await client.get_tx(out.hash);
      // A fresh client that never saw the transaction, holding the same key.
      const later = new CloisterClient(
        { nodes: ['http://fake.test:1'], keys: [alice] },
        { fetch: node.fetch },
      );
      const recovered = await later.recover_tx_key(record);
      expect(to_hex(recovered.tx_key)).toBe(to_hex(out.tx_key!));
      expect(recovered.scheme).toBe(scheme);
      expect(recovered.key.name).toBe('alice');
      expect(later.decrypt(record, recovered.tx_key, recovered.scheme)).toMatchObject({ data: scheme });
    }
  });

  it("refuses someone else's transaction with NotYourTxError", async () => {
    const { client, alice, node } = setup();
    const out = await client.instantiate(alice, 1, 'x', {});
    const bob = generate_key('bob', seeded_random('bob'));
    const other = new CloisterClient({ nodes: ['http://fake.test:1'], keys: [bob] }, { fetch: node.fetch });
    const error = await other.recover_tx_key(await other.get_tx(out.hash)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotYourTxError);
    expect((error as NotYourTxError).code).toBe(ClientErrorCode.NOT_YOUR_TX);
  });
});

describe('wait_for', () => {
  it('resolves from the live stream, after one lookup made once subscribed', async () => {
    const { client, node, alice } = setup();
    node.auto_commit = false;
    node.stream = true;
    const tx = await client.sign(alice, { type: 'store_code', code: to_base64(ECHO_CODE) });
    const { hash } = await client.submit(tx);
    const waiting = client.wait_for(hash);
    await node.stream_opened();
    node.commit();
    const record = await waiting;
    expect(record.hash).toBe(hash);
    expect(node.requests.filter((r) => r === `GET /v1/txs/${hash}`)).toHaveLength(1);
  });

  it('finds a transaction committed before the stream opened', async () => {
    const { client, node, alice } = setup();
    node.stream = true;
    const tx = await client.sign(alice, { type: 'store_code', code: to_base64(ECHO_CODE) });
    const { hash } = await client.submit(tx);
    await expect(client.wait_for(hash)).resolves.toMatchObject({ hash, height: 1 });
  });

  it('polls with growing pauses when the stream is refused', async () => {
    const { client, node, clock, alice } = setup();
    node.auto_commit = false;
    const tx = await client.sign(alice, { type: 'store_code', code: to_base64(ECHO_CODE) });
    const { hash } = await client.submit(tx);
    const waiting = client.wait_for(hash, { timeout_ms: 60_000 });
    const pauses: number[] = [];
    // Request deadlines (30 s) and the stream's deadline (60 s) are timers too: wait for a pause.
    for (let i = 0; i < 4; i++) {
      await clock.pausing(10_000);
      pauses.push(clock.advance());
    }
    // The client polls again right after the last pause, and finds it.
    node.commit();
    await expect(waiting).resolves.toMatchObject({ hash });
    expect(pauses).toEqual([1, 2, 4, 8].map((k) => k * POLL_INTERVAL_MS_FIRST));
  });

  it('gives up at the deadline with a message that says how to check later', async () => {
    const { client, node, clock, alice } = setup();
    node.auto_commit = false;
    const tx = await client.sign(alice, { type: 'store_code', code: to_base64(ECHO_CODE) });
    const { hash } = await client.submit(tx);
    const waiting = client.wait_for(hash, { timeout_ms: 1_000 }).catch((e: unknown) => e);
    const done = Symbol('done');
    while ((await Promise.race([clock.pausing(1_000), waiting.then(() => done)])) !== done) clock.advance();
    const error = await waiting;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as Error).message).toContain(`cloister tx get ${hash}`);
    expect(clock.now_ms).toBe(1_000);
  });
});

describe('typed errors', () => {
  it('map every protocol.md §5 code and RPC code to a class with its code', () => {
    for (const code of [1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102, 103, 104, 105, 106, 107, 112]) {
      const e = error_from_code(code, 'm');
      expect(e.code).toBe(code);
      expect(e.message.length).toBeGreaterThan(0);
      expect(e.to_json()).toMatchObject({ code, name: e.name });
    }
    expect(
      error_from_code(ResultCode.WRONG_SEQUENCE, 'wrong sequence 3: expected 5 (committed 5, 0 pending)'),
    ).toMatchObject({
      expected: 5,
    });
    expect(error_from_code(6, 'unknown contract', { context: 'contract 00' }).message).toContain(
      'unknown contract 00',
    );
  });
});
