/**
 * The client commands of the `cloister` binary against a real local network of 4 validator
 * processes (RPC 22800-22803, p2p 23800-23803): the whole lifecycle with both schemes for echo
 * and counter, the private token, and the errors a user meets. Needs `npm run build` (which
 * `npm test` runs first).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { from_base64, to_base64 } from '../../protocol/bytes.js';
import { temp_network } from '../network/helpers.js';
import { at } from '../vm/harness.js';
import { type CliRun, cli_json, run_cli } from './cli_runner.js';

const root = find_code_root();
const PORT = 22800;
const PASSPHRASE = 'a long and winding passphrase';
let net: Awaited<ReturnType<typeof temp_network>>;
let keyring = '';
let node = '';
let pass_file = '';
let wrong_pass_file = '';
let alice_address = '';
const codes = new Map<string, { code_id: number; code_hash: string }>();

type Run = CliRun;

/** Runs `cloister ARGS` with the test's key file; never throws, like a user's shell. */
function cloister(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return run_cli(args, { keyring, env });
}

/** Runs a command with `--json` and `--node`, expects exit 0, returns the parsed output. */
function ok_json(...args: string[]): Promise<Record<string, unknown>> {
  return cli_json(args, { node, keyring });
}

/** Runs a command that must fail with exit 1; returns the JSON error and the human stderr. */
async function failing(args: string[], env: Record<string, string> = {}) {
  const json = await cloister([...args, '--json'], env);
  const human = await cloister(args, env);
  expect(json.code).toBe(1);
  expect(human.code).toBe(1);
  expect(human.stderr).not.toMatch(/\n\s+at /); // no stack trace
  return {
    error: (JSON.parse(json.stdout) as { ok: false; error: { code: number; message: string } }).error,
    stderr: human.stderr,
  };
}

beforeAll(async () => {
  net = await temp_network(PORT);
  node = net.network.urls()[0]!;
  keyring = join(net.dir, 'keys.json');
  pass_file = join(net.dir, 'pass.txt');
  wrong_pass_file = join(net.dir, 'wrong.txt');
  writeFileSync(pass_file, `${PASSPHRASE}\n`);
  writeFileSync(wrong_pass_file, 'not it\n');
  const alice = await cloister(['keys', 'add', 'alice', '--json']);
  expect(alice.code).toBe(0);
  alice_address = (JSON.parse(alice.stdout) as { address: string }).address;
  expect((await cloister(['keys', 'add', 'bob', '--passphrase-file', pass_file])).code).toBe(0);
  for (const c of (await ok_json('codes')) as unknown as {
    code_id: number;
    code_hash: string;
    name: string;
  }[])
    codes.set(c.name, c);
}, 120_000);

afterAll(async () => {
  await net?.down();
});

describe('cloister keys', () => {
  it('lists and shows keys without secrets unless --secret', async () => {
    const list = await cloister(['keys', 'list']);
    expect(list.stdout).toMatch(/alice\s+[0-9a-f]{40}\s+no/);
    expect(list.stdout).toMatch(/bob\s+[0-9a-f]{40}\s+yes/);
    const show = await cloister(['keys', 'show', 'bob', '--json']);
    expect(Object.keys(JSON.parse(show.stdout) as object).sort()).toEqual(
      ['account_pubkey', 'address', 'encrypted', 'encryption_pubkey', 'name'].sort(),
    );
    const secret = await cloister([
      'keys',
      'show',
      'bob',
      '--secret',
      '--json',
      '--passphrase-file',
      pass_file,
    ]);
    expect(JSON.parse(secret.stdout)).toMatchObject({ account_sk: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('refuses a wrong passphrase with a clear message, and deletes only with --yes', async () => {
    const { error, stderr } = await failing([
      'keys',
      'show',
      'bob',
      '--secret',
      '--passphrase-file',
      wrong_pass_file,
    ]);
    expect(error.code).toBe(212);
    expect(stderr).toContain('wrong passphrase for key "bob"');
    expect((await cloister(['keys', 'add', 'temp'])).code).toBe(0);
    expect((await cloister(['keys', 'delete', 'temp'])).code).toBe(2);
    expect((await cloister(['keys', 'delete', 'temp', '--yes'])).code).toBe(0);
    expect((await cloister(['keys', 'show', 'temp'])).code).toBe(1);
  });
});

describe('cloister against a local network', () => {
  it('prints the status and the reference codes', async () => {
    expect(await ok_json('status')).toMatchObject({
      chain_id: 'cloister-local-1',
      validators: expect.any(Array),
    });
    expect([...codes.keys()].slice(0, 3)).toEqual(['echo', 'counter', 'token']);
    expect(codes.get('token')?.code_id).toBe(3);
    const human = await cloister(['codes', '--node', node]);
    expect(human.stdout).toMatch(/^1\s+[0-9a-f]{64}\s+echo$/m);
  });

  for (const scheme of ['gcm', 'siv'] as const) {
    it(`runs echo and counter end to end with ${scheme}: instantiate, execute --wait, query, tx get`, async () => {
      const s = ['--scheme', scheme, '--key', 'alice'];
      const echo = await ok_json('tx', 'instantiate', '1', '{}', '--label', `echo-${scheme}`, '--wait', ...s);
      expect(echo).toMatchObject({
        committed: true,
        code: 0,
        contract: expect.stringMatching(/^[0-9a-f]{40}$/),
      });
      const said = await ok_json(
        'tx',
        'execute',
        echo['contract'] as string,
        '{"echo": {"value": [1, "a"]}}',
        '--wait',
        ...s,
      );
      expect(said['data']).toEqual([1, 'a']);
      expect(
        (await ok_json('query', echo['contract'] as string, '{"echo": {"value": "q"}}', ...s))['data'],
      ).toBe('q');

      const counter = await ok_json(
        'tx',
        'instantiate',
        '2',
        '{"count": 41}',
        '--label',
        `counter-${scheme}`,
        '--wait',
        ...s,
      );
      const address = counter['contract'] as string;
      const inc = await ok_json('tx', 'execute', address, '{"increment": {}}', '--wait', ...s);
      expect(inc['data']).toEqual({ count: 42 });
      // Sent without --wait, then read back later: the key's encryption key recovers the tx key.
      const later = await ok_json('tx', 'execute', address, '{"increment": {}}', ...s);
      expect(later).toMatchObject({ committed: false, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect((await ok_json('query', address, '{"get_count": {}}', ...s))['data']).toEqual({ count: 43 });
      const got = await ok_json('tx', 'get', later['hash'] as string);
      expect(got).toMatchObject({
        code: 0,
        decrypted: true,
        key: 'alice',
        scheme,
        result: { data: { count: 43 } },
      });
      const human = await cloister(['tx', 'get', inc['hash'] as string, '--node', node]);
      expect(human.stdout).toMatch(/data\s+\{"count":42\}/);
      expect(human.stdout).toMatch(/decrypted with\s+alice/);
    });
  }

  it('runs the private token: initial balance, transfer, viewing key, balance query', async () => {
    const init = {
      name: 'Cloister Token',
      symbol: 'CLT',
      decimals: 6,
      initial_balances: [{ address: alice_address, amount: '1000' }],
    };
    const token = await ok_json(
      'tx',
      'instantiate',
      '3',
      JSON.stringify(init),
      '--label',
      'clt',
      '--wait',
      '--key',
      'alice',
    );
    const address = token['contract'] as string;
    const recipient = 'ab'.repeat(20);
    const transfer = await ok_json(
      'tx',
      'execute',
      address,
      JSON.stringify({ transfer: { recipient, amount: '250' } }),
      '--wait',
      '--key',
      'alice',
      '--scheme',
      'siv',
    );
    expect(transfer['data']).toEqual({ status: 'ok' });
    expect(transfer['events']).toEqual([
      {
        type: 'transfer',
        attributes: [
          { key: 'from', value: alice_address },
          { key: 'to', value: recipient },
          { key: 'amount', value: '250' },
        ],
      },
    ]);
    await ok_json(
      'tx',
      'execute',
      address,
      '{"set_viewing_key": {"key": "alice-viewing-key"}}',
      '--wait',
      '--key',
      'alice',
    );
    const balance = await ok_json(
      'query',
      address,
      JSON.stringify({ balance: { address: alice_address, key: 'alice-viewing-key' } }),
    );
    expect(balance['data']).toEqual({ amount: '750' });
    // Without the right key the contract refuses, sealed: a contract error (code 1), exit 1.
    const { error } = await failing([
      'query',
      address,
      JSON.stringify({ balance: { address: alice_address, key: 'guess-guess' } }),
      '--node',
      node,
    ]);
    // One throw answers every unauthorized query (contracts/token.js), so its position says nothing.
    expect(error).toMatchObject({
      code: 1,
      message: `contract error: unauthorized${at(readFileSync(join(root, 'contracts/token.js'), 'utf8'), 'throw new Error(UNAUTHORIZED)')}`,
    });
  });

  it('signs with a passphrase-protected key given by file or environment', async () => {
    const echo = await ok_json(
      'tx',
      'instantiate',
      '1',
      '{}',
      '--label',
      'bob-echo',
      '--wait',
      '--key',
      'bob',
      '--passphrase-file',
      pass_file,
    );
    const run = await cloister(
      [
        'tx',
        'execute',
        echo['contract'] as string,
        '{"echo": {"value": 5}}',
        '--wait',
        '--key',
        'bob',
        '--node',
        node,
        '--json',
      ],
      { CLOISTER_PASSPHRASE: PASSPHRASE },
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ data: 5 });
    const { error } = await failing([
      'tx',
      'execute',
      echo['contract'] as string,
      '{}',
      '--key',
      'bob',
      '--node',
      node,
      '--passphrase-file',
      wrong_pass_file,
    ]);
    expect(error.code).toBe(212);
    const none = await failing([
      'tx',
      'execute',
      echo['contract'] as string,
      '{}',
      '--key',
      'bob',
      '--node',
      node,
    ]);
    expect(none.stderr).toContain(
      'key "bob" is encrypted: give its passphrase with --passphrase-file FILE or CLOISTER_PASSPHRASE',
    );
  });
});

describe('cloister errors', () => {
  let echo_address = '';
  beforeAll(async () => {
    echo_address = (
      await ok_json('tx', 'instantiate', '1', '{}', '--label', 'errors', '--wait', '--key', 'alice')
    )['contract'] as string;
  });

  it('unknown contract: code 6 naming the address', async () => {
    const nobody = '12'.repeat(20);
    const tx = await failing(['tx', 'execute', nobody, '{}', '--wait', '--key', 'alice', '--node', node]);
    expect(tx.error.code).toBe(6);
    expect(tx.stderr).toContain(`unknown contract ${nobody}`);
    expect((await failing(['query', nobody, '{}', '--node', node])).error.code).toBe(6);
    expect((await failing(['contracts', 'get', nobody, '--node', node])).error.code).toBe(6);
  });

  it("wrong code hash: echo's address with a message encrypted for counter's hash is code 3", async () => {
    const counter_hash = codes.get('counter')!.code_hash;
    for (const scheme of ['gcm', 'siv']) {
      const args = ['--code-hash', counter_hash, '--scheme', scheme, '--node', node];
      const tx = await failing([
        'tx',
        'execute',
        echo_address,
        '{"echo": {"value": 1}}',
        '--wait',
        '--key',
        'alice',
        ...args,
      ]);
      expect(tx.error.code).toBe(3);
      expect(tx.stderr).toContain('the node could not decrypt the message: wrong code hash or chain id?');
      expect((await failing(['query', echo_address, '{"echo": {"value": 1}}', ...args])).error.code).toBe(3);
    }
  });

  it('wrong chain id: refused before anything is sent', async () => {
    const { error, stderr } = await failing([
      'tx',
      'execute',
      echo_address,
      '{}',
      '--key',
      'alice',
      '--node',
      node,
      '--chain-id',
      'other-chain-9',
    ]);
    expect(error.code).toBe(201);
    expect(stderr).toContain('wrong chain id: the node serves "cloister-local-1", not "other-chain-9"');
  });

  it('unreachable node: names every URL tried; a second --node is used when the first is down', async () => {
    const dead = await closed_port_url();
    const { error, stderr } = await failing(['status', '--node', dead]);
    expect(error.code).toBe(200);
    expect(stderr).toContain(`cannot reach any node (tried ${dead})`);
    const failover = await cloister(['status', '--node', dead, '--node', node, '--json']);
    expect(failover.code).toBe(0);
    expect(JSON.parse(failover.stdout)).toMatchObject({ chain_id: 'cloister-local-1' });
  });

  it('tampered output: tx get through a node that flips a bit of the output does not authenticate', async () => {
    const sent = await ok_json(
      'tx',
      'execute',
      echo_address,
      '{"echo": {"value": "mine"}}',
      '--wait',
      '--key',
      'alice',
    );
    const proxy = await tampering_proxy(node);
    try {
      const { error, stderr } = await failing(['tx', 'get', sent['hash'] as string, '--node', proxy.url]);
      expect(error.code).toBe(202);
      expect(stderr).toContain('result does not authenticate (tampered or not yours)');
    } finally {
      await proxy.close();
    }
  });

  it('usage mistakes exit 2 with a hint and no stack trace', async () => {
    const bad = await cloister([
      'tx',
      'execute',
      echo_address,
      '{not json',
      '--key',
      'alice',
      '--node',
      node,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('MSG_JSON is not JSON');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect((await cloister(['query', 'xyz', '{}', '--node', node])).code).toBe(2);
    expect((await cloister(['tx', 'frobnicate'])).code).toBe(2);
    expect((await cloister(['tx', 'execute', echo_address, '{}', '--node', node])).stderr).toContain(
      'name a key with --key',
    );
  });
});

/** A loopback URL where nothing listens: a port that was free a moment ago. */
async function closed_port_url(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

/** An HTTP proxy to `upstream` that flips the last bit of every transaction record's output. */
async function tampering_proxy(upstream: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const answer = await fetch(`${upstream}${req.url}`, { method: req.method ?? 'GET' });
    let text = await answer.text();
    if (/^\/v1\/txs\/[0-9a-f]{64}$/.test(req.url ?? '') && answer.ok) {
      const record = JSON.parse(text) as { output: string };
      const bytes = from_base64(record.output);
      bytes[bytes.length - 1]! ^= 1;
      text = JSON.stringify({ ...record, output: to_base64(bytes) });
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
