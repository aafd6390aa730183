/**
 * The `cloister` binary's protocol.md §9 commands against the in-memory node of
 * test/client/funds_fake_node.ts served over HTTP: `keys import-dev` (the documented addresses,
 * idempotent, --force), `balance`, `faucet` and its refusals, `tx send`, `--gas-price` and
 * `--funds` (absent from the signed JSON at 0), code 8, `status`, `tx get` with public events, and
 * `events` following a contract from a height until SIGINT. Needs `npm run build`.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dev_keys, key_info } from '../../client/sdk/index.js';
import { find_code_root } from '../../enclave/measurement.js';
import { dev_accounts } from '../../protocol/bank.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { temp_home } from '../enclave/fixtures.js';
import { type CliRun, cli_json, run_cli } from './cli_runner.js';
import { FundsFakeNode } from './funds_fake_node.js';

const root = find_code_root();
const home = temp_home('cloister-funds-cli-');
const node = new FundsFakeNode();
let served: Awaited<ReturnType<FundsFakeNode['serve']>>;
let url = '';
const keyring = join(home.dir, 'keys.json');
const [dev0, dev1] = dev_accounts(p);

beforeAll(async () => {
  served = await node.serve();
  url = served.url;
  for (const d of dev_accounts(p)) node.balances.set(d.address, 1_000_000_000);
});
afterAll(async () => {
  await served.close();
  home.remove();
});

type Run = CliRun;

function cloister(args: string[], file = keyring): Promise<Run> {
  return run_cli(args, { keyring: file, timeout_ms: 60_000 });
}

function ok_json(...args: string[]): Promise<Record<string, unknown>> {
  return cli_json(args, { node: url, keyring, timeout_ms: 60_000 });
}

function last_body(): Record<string, unknown> {
  return (JSON.parse(node.submitted.at(-1)!) as { body: Record<string, unknown> }).body;
}

describe('cloister keys import-dev', () => {
  it('imports dev0..dev3 at the addresses docs/client.md lists, with the warning', async () => {
    const run = await cloister(['keys', 'import-dev']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('warning: these keys are public');
    const docs = readFileSync(join(root, 'docs', 'client.md'), 'utf8');
    for (const d of dev_accounts(p)) {
      expect(run.stdout).toMatch(new RegExp(`${d.name}\\s+${d.address}\\s+added`));
      expect(docs).toContain(d.address);
    }
    const list = JSON.parse((await cloister(['keys', 'list', '--json'])).stdout) as {
      keys: { name: string; address: string; encryption_pubkey: string }[];
    };
    expect(list.keys.map((k) => [k.name, k.address])).toEqual(
      dev_accounts(p).map((d) => [d.name, d.address]),
    );
    expect(list.keys.map((k) => k.encryption_pubkey)).toEqual(
      dev_keys().map((k) => key_info(k).encryption_pubkey),
    );
  });

  it('is idempotent, refuses a different key of the same name, and replaces it with --force', async () => {
    const again = JSON.parse((await cloister(['keys', 'import-dev', '--json'])).stdout) as {
      keys: { status: string }[];
      warning: string;
    };
    expect(again.keys.map((k) => k.status)).toEqual(['present', 'present', 'present', 'present']);
    expect(again.warning).toContain('public');
    const other = join(home.dir, 'other.json');
    expect((await cloister(['keys', 'add', 'dev2'], other)).code).toBe(0);
    const refused = await cloister(['keys', 'import-dev', '--json'], other);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 211 } });
    // Nothing was written: dev0 is not there either.
    const names = (
      JSON.parse((await cloister(['keys', 'list', '--json'], other)).stdout) as { keys: { name: string }[] }
    ).keys;
    expect(names.map((k) => k.name)).toEqual(['dev2']);
    const forced = JSON.parse(
      (await cloister(['keys', 'import-dev', '--force', '--json'], other)).stdout,
    ) as {
      keys: { name: string; status: string }[];
    };
    expect(forced.keys.map((k) => k.status)).toEqual(['added', 'added', 'replaced', 'added']);
  });
});

describe('cloister balance, faucet and tx send', () => {
  it('balance takes an address or a key name', async () => {
    expect(await ok_json('balance', 'dev0')).toEqual({
      address: dev0!.address,
      key: 'dev0',
      balance: 1_000_000_000,
      denom: 'ucst',
    });
    const human = await cloister(['balance', dev1!.address, '--node', url]);
    expect(human.stdout).toMatch(/balance\s+1000000000 ucst/);
    const unknown = await cloister(['balance', 'nobody', '--node', url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('neither an address');
  });

  it('faucet sends the default or --amount, and explains a network without one and a rate limit', async () => {
    const fresh = 'ef'.repeat(20);
    expect(await ok_json('faucet', fresh)).toMatchObject({
      address: fresh,
      amount: 1_000_000,
      balance: 1_000_000,
    });
    expect(node.faucet_bodies.at(-1)).toEqual({ address: fresh });
    expect(await ok_json('faucet', fresh, '--amount', '5')).toMatchObject({ amount: 5, balance: 1_000_005 });
    expect(node.faucet_bodies.at(-1)).toEqual({ address: fresh, amount: 5 });
    node.rate_limit_s = 9;
    const limited = await cloister(['faucet', fresh, '--node', url, '--json']);
    expect(limited.code).toBe(1);
    expect(JSON.parse(limited.stdout)).toMatchObject({ ok: false, error: { code: 112, retry_after_s: 9 } });
    node.dev = false;
    try {
      const none = await cloister(['faucet', 'dev1', '--node', url]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('this network has no faucet (not a development network)');
      expect(none.stderr).not.toMatch(/\n\s+at /);
    } finally {
      node.dev = true;
    }
    expect((await cloister(['faucet', fresh, '--amount', '0', '--node', url])).code).toBe(2);
    expect((await cloister(['faucet', fresh, '--amount', '1000000001', '--node', url])).code).toBe(2);
  });

  it('tx send moves tokens; --gas-price is signed only when above 0 and the fee is shown', async () => {
    const sent = await ok_json('tx', 'send', '--to', 'dev1', '--amount', '10', '--key', 'dev0', '--wait');
    expect(sent).toMatchObject({ code: 0, to: dev1!.address, amount: 10, gas_price: 0, fee: 0 });
    expect(node.submitted.at(-1)).not.toContain('"gas_price"');
    expect(last_body()['msg']).toEqual({ type: 'send', to: dev1!.address, amount: 10 });
    const priced = await cloister([
      'tx',
      'send',
      '--to',
      dev1!.address,
      '--amount',
      '7',
      '--key',
      'dev0',
      '--gas-price',
      '3',
      '--gas-limit',
      '100',
      '--wait',
      '--node',
      url,
    ]);
    expect(priced.code).toBe(0);
    expect(last_body()['gas_price']).toBe(3);
    expect(priced.stdout).toMatch(/sent\s+7 ucst to /);
    expect(priced.stdout).toMatch(/fee\s+300 ucst \(gas limit × gas price 3\)/);
  });

  it('bad amounts and gas prices are usage errors; code 8 is a failure with its code', async () => {
    for (const bad of [
      ['--amount', '0'],
      ['--amount', '1.5'],
      ['--amount', '10', '--gas-price', '-1'],
      ['--amount', '10', '--gas-price', 'lots'],
    ]) {
      const run = await cloister(['tx', 'send', '--to', 'dev1', '--key', 'dev0', ...bad, '--node', url]);
      expect(run.code, bad.join(' ')).toBe(2);
    }
    const poor = await cloister([
      'tx',
      'send',
      '--to',
      'dev1',
      '--key',
      'dev0',
      '--amount',
      '5000000000',
      '--wait',
      '--node',
      url,
      '--json',
    ]);
    expect(poor.code).toBe(1);
    expect(JSON.parse(poor.stdout)).toMatchObject({
      ok: false,
      error: { code: 8, name: 'InsufficientFundsError' },
    });
    node.min_gas_price = 2;
    try {
      const cheap = await cloister([
        'tx',
        'send',
        '--to',
        'dev1',
        '--key',
        'dev0',
        '--amount',
        '1',
        '--node',
        url,
      ]);
      expect(cheap.code).toBe(1);
      expect(cheap.stderr).toContain('insufficient funds or fee');
      expect(cheap.stderr).toContain('[code 8]');
      const auto = await ok_json(
        'tx',
        'send',
        '--to',
        'dev1',
        '--key',
        'dev0',
        '--amount',
        '1',
        '--gas-price',
        'auto',
        '--wait',
      );
      expect(auto).toMatchObject({ gas_price: 2 });
    } finally {
      node.min_gas_price = 0;
    }
  });
});

describe('contracts with funds, status, tx get and events', () => {
  let contract = '';

  it('--funds goes with instantiate and execute, and the contract holds it', async () => {
    const inst = await ok_json(
      'tx',
      'instantiate',
      '1',
      '{}',
      '--label',
      'c',
      '--key',
      'dev0',
      '--funds',
      '3',
      '--wait',
    );
    contract = inst['contract'] as string;
    expect(inst).toMatchObject({ code: 0, funds: 3 });
    expect((last_body()['msg'] as Record<string, unknown>)['funds']).toBe(3);
    const exec = await ok_json(
      'tx',
      'execute',
      contract,
      '{"echo": {"value": 1}}',
      '--key',
      'dev0',
      '--wait',
    );
    expect(exec).toMatchObject({ data: 1, fee: 0 });
    expect(node.submitted.at(-1)).not.toContain('"funds"');
    await ok_json(
      'tx',
      'execute',
      contract,
      '{"echo": {"value": 2}}',
      '--key',
      'dev0',
      '--funds',
      '4',
      '--wait',
    );
    expect((last_body()['msg'] as Record<string, unknown>)['funds']).toBe(4);
    const info = await cloister(['contracts', 'get', contract, '--node', url]);
    expect(info.stdout).toMatch(/balance\s+7 ucst/);
    expect(
      (await cloister(['tx', 'execute', contract, '{}', '--funds', '-2', '--key', 'dev0', '--node', url]))
        .code,
    ).toBe(2);
  });

  it('status shows the minimum gas price and whether it is a development network', async () => {
    const human = await cloister(['status', '--node', url]);
    expect(human.stdout).toMatch(/min gas price\s+0 ucst per unit of gas/);
    expect(human.stdout).toMatch(/development\s+yes/);
    expect(await ok_json('status')).toMatchObject({ min_gas_price: 0, dev: true });
  });

  it('tx get shows public events, debug lines and the fee', async () => {
    const msg = JSON.stringify({
      emit: [{ type: 'paid', attributes: [{ key: 'amount', value: '4' }], public: true }],
      debug: ['hello developer'],
    });
    const sent = await ok_json(
      'tx',
      'execute',
      contract,
      msg,
      '--key',
      'dev0',
      '--gas-price',
      '1',
      '--gas-limit',
      '50',
      '--wait',
    );
    expect(sent).toMatchObject({
      public_events: [{ type: 'paid', attributes: [{ key: 'amount', value: '4' }], contract }],
      debug: ['hello developer'],
      fee: 50,
    });
    const human = await cloister(['tx', 'get', sent['hash'] as string, '--node', url]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`public event\\s+paid  amount=4  \\(contract ${contract}\\)`));
    expect(human.stdout).toMatch(/event \(public\)\s+paid {2}amount=4/);
    expect(human.stdout).toMatch(/debug\s+hello developer/);
    expect(human.stdout).toMatch(/fee\s+50 ucst/);
    expect(human.stdout).toMatch(/decrypted with\s+dev0/);
    const json = await ok_json('tx', 'get', sent['hash'] as string);
    expect(json).toMatchObject({ type: 'execute', sender_address: dev0!.address, fee: 50, gas_price: 1 });
    const failed = await cloister([
      'tx',
      'execute',
      contract,
      '{"fail": "nope", "debug": ["saw x"]}',
      '--key',
      'dev0',
      '--wait',
      '--node',
      url,
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('contract error: nope');
    expect(failed.stderr).toContain('debug: saw x');
  });

  it('events prints each public event of the contract, replayed from a height then live, until SIGINT', async () => {
    const emit = (n: string) =>
      JSON.stringify({ emit: [{ type: 'tick', attributes: [{ key: 'n', value: n }], public: true }] });
    const from = node.blocks.length + 1;
    await ok_json('tx', 'execute', contract, emit('a'), '--key', 'dev0', '--wait');
    await ok_json('tx', 'execute', contract, emit('b'), '--key', 'dev0', '--wait');
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'cloister.js'),
        'events',
        '--contract',
        contract,
        '--from-height',
        String(from),
        '--node',
        url,
        '--json',
      ],
      { env: { ...process.env, CLOISTER_KEYRING: keyring } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = () => stdout.split('\n').filter((l) => l !== '');
    const deadline = Date.now() + 20_000;
    while (lines().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await ok_json('tx', 'execute', contract, emit('c'), '--key', 'dev0', '--wait');
    while (lines().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const events = lines().map(
      (l) =>
        JSON.parse(l) as { contract: string; type: string; attributes: { value: string }[]; height: number },
    );
    expect(events.map((e) => e.attributes[0]!.value)).toEqual(['a', 'b', 'c']);
    expect(events.every((e) => e.contract === contract && e.type === 'tick')).toBe(true);
    expect(events[0]!.height).toBe(from);
    expect(stderr).toContain(`following the public events of ${contract}`);
    expect((await cloister(['events', '--contract', 'xyz', '--node', url])).code).toBe(2);
  });

  it('lists the new commands and flags in its help', async () => {
    const help = await cloister(['--help']);
    for (const command of ['balance <account>', 'faucet <account>', 'events'])
      expect(help.stdout).toContain(`cloister ${command}`);
    const tx = await cloister(['tx', '--help']);
    expect(tx.stdout).toContain('tx send');
    expect(tx.stdout).toContain('--gas-price');
    expect((await cloister(['tx', 'execute', '--help'])).stdout).toContain('--funds');
    expect((await cloister(['keys', '--help'])).stdout).toContain('keys import-dev');
  });
});
