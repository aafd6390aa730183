/**
 * `cloister init`'s fees and balances (protocol.md §9): `--dev` funds the documented development
 * accounts and the faucet account with min_gas_price 0; `--min-gas-price`, `--balance` and
 * `--balances` land in genesis.json; conflicting or bad flags are usage errors (exit 2) and write
 * nothing. Through `init_network` and through the built CLI (`npm run build` first).
 */

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { check_genesis, type Genesis } from '../../node/genesis.js';
import {
  genesis_funds,
  init_network,
  parse_balance_flag,
  read_balances_file,
  sum_balances,
} from '../../node/init.js';
import { DEV_ACCOUNT_BALANCE, dev_accounts, FAUCET_BALANCE, faucet_account } from '../../protocol/bank.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');
const root = find_code_root();
const dir = mkdtempSync(join(tmpdir(), 'cloister-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const A = 'a1'.repeat(20);
const B = 'b2'.repeat(20);

/** The documented development funds (protocol/bank.ts): dev0..dev3 and the faucet account. */
function dev_funds(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of dev_accounts(p)) out[a.address] = DEV_ACCOUNT_BALANCE;
  out[faucet_account(p).address] = FAUCET_BALANCE;
  return out;
}

function read(home: string): Genesis {
  return check_genesis(p, JSON.parse(readFileSync(join(home, 'genesis.json'), 'utf8')));
}

describe('genesis funds from init options', () => {
  it('a development network funds dev0..dev3 and the faucet account, with min_gas_price 0', () => {
    const funds = genesis_funds(p, { dev: true });
    expect(funds).toEqual({ dev: true, min_gas_price: 0, balances: dev_funds() });
    expect(Object.keys(funds.balances)).toHaveLength(5);
  });

  it('explicit balances add to the development funds', () => {
    const dev0 = dev_accounts(p)[0]!.address;
    const funds = genesis_funds(p, { dev: true, balances: { [dev0]: 5, [A]: 7 } });
    expect(funds.balances[dev0]).toBe(DEV_ACCOUNT_BALANCE + 5);
    expect(funds.balances[A]).toBe(7);
  });

  it('another network funds only what it is told, and takes a min_gas_price', () => {
    expect(genesis_funds(p, {})).toEqual({ dev: false, min_gas_price: 0, balances: {} });
    expect(genesis_funds(p, { min_gas_price: 3, balances: { [A]: 1 } })).toEqual({
      dev: false,
      min_gas_price: 3,
      balances: { [A]: 1 },
    });
  });

  it('refuses a development network with a min_gas_price above 0', () => {
    expect(() => genesis_funds(p, { dev: true, min_gas_price: 1 })).toThrow(RangeError);
    expect(genesis_funds(p, { dev: true, min_gas_price: 0 }).min_gas_price).toBe(0);
  });

  it('sums balances per address and refuses bad ones', () => {
    expect(sum_balances({ [A]: 1 }, { [A]: 2, [B]: 3 })).toEqual({ [A]: 3, [B]: 3 });
    expect(() => sum_balances({ [A]: 2 ** 52 }, { [A]: 2 ** 52 })).toThrow(/2\^53/);
    expect(() => sum_balances({ nope: 1 })).toThrow(/40 lowercase hex/);
    expect(() => sum_balances({ [A]: 0 })).toThrow(/positive integer/);
  });

  it('parses --balance ADDRESS=AMOUNT', () => {
    expect(parse_balance_flag(`${A}=1000`)).toEqual([A, 1000]);
    for (const bad of [
      A,
      `${A}=`,
      `${A}=0`,
      `${A}=-1`,
      `${A}=1.5`,
      `${A}=1e3`,
      `${A.toUpperCase()}=1`,
      `${A}=1=2`,
    ])
      expect(() => parse_balance_flag(bad), bad).toThrow(TypeError);
  });

  it('reads a --balances file and names the file in its errors', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ [A]: 10, [B]: 20 }));
    expect(read_balances_file(good)).toEqual({ [A]: 10, [B]: 20 });
    const cases: [string, RegExp][] = [
      ['not json', /is not JSON/],
      ['[1]', /must hold a JSON object/],
      [JSON.stringify({ [A]: '10' }), /positive integer/],
      [JSON.stringify({ XYZ: 10 }), /40 lowercase hex/],
    ];
    for (const [i, [text, error]] of cases.entries()) {
      const file = join(dir, `bad${i}.json`);
      writeFileSync(file, text);
      expect(() => read_balances_file(file)).toThrow(error);
      expect(() => read_balances_file(file)).toThrow(file);
    }
    expect(() => read_balances_file(join(dir, 'absent.json'))).toThrow(/cannot read balances file/);
  });
});

describe('init_network writes the funds into genesis.json', () => {
  it('--dev: every home holds the same genesis with the development funds', async () => {
    const { homes, genesis } = await init_network({
      dir: join(dir, 'dev'),
      validators: 2,
      chain_id: 'init-dev-1',
      base_port: 26190,
      host: '127.0.0.1',
      provider: 'native',
      workers: 1,
      dev: true,
      balances: { [A]: 42 },
    });
    expect(genesis.dev).toBe(true);
    for (const home of homes) {
      const g = read(home);
      expect(g.dev).toBe(true);
      expect(g.min_gas_price).toBe(0);
      expect(g.balances).toEqual({ ...dev_funds(), [A]: 42 });
    }
  });

  it('refuses conflicting options before writing anything', async () => {
    const target = join(dir, 'conflict');
    await expect(
      init_network({
        dir: target,
        validators: 1,
        chain_id: 'init-bad-1',
        base_port: 26190,
        host: '127.0.0.1',
        provider: 'native',
        workers: 1,
        dev: true,
        min_gas_price: 2,
      }),
    ).rejects.toThrow(/min_gas_price 0/);
    expect(existsSync(target)).toBe(false);
  });
});

/** Runs the built CLI; resolves with its exit code and output. */
async function cloister(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [join(root, 'bin', 'cloister.js'), ...args]).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

describe('cloister init (the built CLI)', () => {
  it('--min-gas-price, --balance and --balances land in genesis.json', async () => {
    const file = join(dir, 'cli-balances.json');
    writeFileSync(file, JSON.stringify({ [B]: 500, [A]: 1 }));
    const target = join(dir, 'cli-fees');
    const run = await cloister([
      'init',
      '--dir',
      target,
      '--validators',
      '1',
      '--min-gas-price',
      '25',
      '--balance',
      `${A}=1000`,
      '--balance',
      `${A}=5`,
      '--balances',
      file,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ dev: false, min_gas_price: 25, funded: 2 });
    const g = read(join(target, 'v0'));
    expect(g.min_gas_price).toBe(25);
    expect(g.dev).toBe(false);
    expect(g.balances).toEqual({ [A]: 1006, [B]: 500 });
  }, 60_000);

  it('--block-time and --empty-block-interval land in each config.json, in ms; together they are a usage error', async () => {
    const paced = join(dir, 'cli-paced');
    expect((await cloister(['init', '--dir', paced, '--validators', '1', '--block-time', '0.5'])).code).toBe(
      0,
    );
    const config = JSON.parse(readFileSync(join(paced, 'v0', 'config.json'), 'utf8')) as {
      consensus: { block_time_ms: number; empty_block_interval_ms: number };
    };
    expect(config.consensus).toMatchObject({ block_time_ms: 500, empty_block_interval_ms: 0 });
    const both = join(dir, 'cli-both');
    const run = await cloister([
      'init',
      '--dir',
      both,
      '--validators',
      '1',
      '--block-time',
      '1',
      '--empty-block-interval',
      '2',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('do not go together');
    expect(existsSync(both)).toBe(false);
  }, 60_000);

  it('--dev funds the documented accounts and prints them with the faucet', async () => {
    const target = join(dir, 'cli-dev');
    const run = await cloister(['init', '--dir', target, '--validators', '1', '--dev', '--port', '26180']);
    expect(run.code).toBe(0);
    const g = read(join(target, 'v0'));
    expect(g.dev).toBe(true);
    expect(g.min_gas_price).toBe(0);
    expect(g.balances).toEqual(dev_funds());
    for (const a of [...dev_accounts(p), faucet_account(p)]) expect(run.stdout).toContain(a.address);
    expect(run.stdout).toContain('http://127.0.0.1:26180/v1/faucet');
    expect(run.stdout).toContain('cloister keys import-dev');
  }, 60_000);

  it('refuses --dev with --min-gas-price above 0, and bad balances, as usage errors writing nothing', async () => {
    const bad_file = join(dir, 'cli-bad.json');
    writeFileSync(bad_file, JSON.stringify({ [A]: -3 }));
    const cases: [string[], RegExp][] = [
      [['--dev', '--min-gas-price', '1'], /--dev makes a development network, whose min_gas_price is 0/],
      [['--min-gas-price', 'cheap'], /--min-gas-price must be a non-negative integer/],
      [['--balance', 'nobody=5'], /--balance nobody=5: the address must be 40 lowercase hex/],
      [['--balance', `${A}=0`], /the amount must be a positive integer/],
      [
        ['--balances', bad_file],
        /balances file .*cli-bad\.json: balance of a1a1.* must be a positive integer/,
      ],
    ];
    for (const [i, [flags, error]] of cases.entries()) {
      const target = join(dir, `cli-refused-${i}`);
      const run = await cloister(['init', '--dir', target, '--validators', '1', ...flags]);
      expect(run.code, flags.join(' ')).toBe(2);
      expect(run.stderr).toMatch(error);
      expect(existsSync(target)).toBe(false);
    }
  }, 60_000);
});
