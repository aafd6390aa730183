/**
 * The `cloister` binary's discovery commands against a fake node over HTTP (needs
 * `npm run build`): `contracts list` and `txs` send the filters and page asked for, print a table
 * or `--json`, follow cursors with `--all`, report a refused cursor; `status` prints the node
 * that answered, its peers, mempool, last block time (ISO) and halted state.
 */

import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { temp_home } from '../enclave/fixtures.js';

const root = find_code_root();
const home = temp_home('cloister-cli-discovery-');
const ADDR = 'a1'.repeat(20);
const CONTRACT = 'c0'.repeat(20);
const PEER = '02'.repeat(32);
const TIME_MS = Date.UTC(2026, 0, 2, 3, 4, 5, 600);

const contract = (n: number) => ({
  address: String(n).padStart(2, '0').repeat(20),
  code_id: 4,
  code_hash: '04'.repeat(32),
  label: `label ${n}`,
  creator: ADDR,
  balance: 0,
});
const TX = {
  hash: 'ab'.repeat(32),
  height: 9,
  index: 1,
  code: 0,
  gas_used: 100,
  output: '',
  contract: CONTRACT,
  events: [],
};

const asked: string[] = [];
let server: Server;
let url = '';

function answer(path: string): { status: number; body: unknown } {
  const u = new URL(path, 'http://x');
  if (u.pathname === '/v1/status')
    return {
      status: 200,
      body: {
        chain_id: 'disc-cli-1',
        height: 12,
        io_pubkey: '00'.repeat(32),
        seed_exchange_pubkey: '00'.repeat(32),
        validator: '01'.repeat(32),
        validators: [],
        min_gas_price: 0,
        dev: true,
        contracts: {},
        peers: [PEER],
        mempool: 3,
        last_block_time_ms: TIME_MS,
      },
    };
  if (u.pathname === '/v1/contracts') {
    const cursor = u.searchParams.get('cursor');
    if (cursor === 'YmFk')
      return { status: 400, body: { error: { code: 106, message: 'cursor is not from this listing' } } };
    if (cursor === null) return { status: 200, body: { contracts: [contract(1)], cursor: 'cDI' } };
    if (cursor === 'cDI') return { status: 200, body: { contracts: [contract(2)], cursor: 'cDM' } };
    return { status: 200, body: { contracts: [contract(3)], cursor: null } };
  }
  if (u.pathname === '/v1/txs') return { status: 200, body: { txs: [TX], cursor: null } };
  return { status: 404, body: { error: { code: 100, message: 'no such route' } } };
}

function cloister(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin', 'cloister.js'), ...args, '--node', url],
      { env: { ...process.env, CLOISTER_KEYRING: join(home.dir, 'keys.json'), CLOISTER_PASSPHRASE: '' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const { status, body } = answer(req.url ?? '/');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.close();
  home.remove();
});

describe('cloister status', () => {
  it('prints the node that answered, its peers, mempool, last block time and halted state', async () => {
    const run = await cloister('status');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`node               ${url}`);
    expect(run.stdout).toContain(`peers              1: ${PEER}`);
    expect(run.stdout).toContain('mempool            3 transactions waiting');
    expect(run.stdout).toContain(`last block         ${new Date(TIME_MS).toISOString()}`);
    expect(run.stdout).toContain('halted             no');
    const json = JSON.parse((await cloister('status', '--json')).stdout);
    expect(json).toMatchObject({ peers: [PEER], mempool: 3, last_block_time_ms: TIME_MS });
  });
});

describe('cloister contracts list', () => {
  it('sends the filters and page, prints a table and where to go on', async () => {
    asked.length = 0;
    const run = await cloister(
      'contracts',
      'list',
      '--code-id',
      '4',
      '--creator',
      ADDR,
      '--label',
      'a b',
      '--limit',
      '1',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(asked).toEqual([`/v1/contracts?code_id=4&creator=${ADDR}&label=a+b&limit=1`]);
    expect(run.stdout).toMatch(/^ADDRESS\s+CODE\s+CREATOR\s+LABEL/);
    expect(run.stdout).toContain(`${contract(1).address}  4      ${ADDR}  label 1`);
    expect(run.stdout).toContain('1 contract; more with --cursor cDI');
  });

  it('follows every cursor with --all, and goes on from --cursor', async () => {
    const all = JSON.parse((await cloister('contracts', 'list', '--all', '--json')).stdout);
    expect(all).toEqual({ contracts: [contract(1), contract(2), contract(3)], cursor: null });
    const rest = JSON.parse((await cloister('contracts', 'list', '--cursor', 'cDM', '--json')).stdout);
    expect(rest).toEqual({ contracts: [contract(3)], cursor: null });
  });

  it('reports a refused cursor with exit 1 and the node code, and a bad limit as usage', async () => {
    const run = await cloister('contracts', 'list', '--cursor', 'YmFk');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cursor is not from this listing');
    expect(run.stderr).toContain('[code 106]');
    expect((await cloister('contracts', 'list', '--limit', '500')).code).toBe(2);
  });
});

describe('cloister txs', () => {
  it('lists by sender and contract as a table or JSON', async () => {
    asked.length = 0;
    const run = await cloister('txs', '--sender', ADDR, '--contract', CONTRACT);
    expect(run.code, run.stderr).toBe(0);
    expect(asked).toEqual([`/v1/txs?sender=${ADDR}&contract=${CONTRACT}`]);
    expect(run.stdout).toMatch(/^HEIGHT\s+INDEX\s+RESULT\s+GAS\s+HASH\s+CONTRACT/);
    expect(run.stdout).toMatch(new RegExp(`9\\s+1\\s+0 ok\\s+100\\s+${TX.hash}\\s+${CONTRACT}`));
    expect(run.stdout).toContain('1 transaction; no more');
    const json = JSON.parse((await cloister('txs', '--contract', CONTRACT, '--json')).stdout);
    expect(json).toEqual({ txs: [TX], cursor: null });
  });

  it('needs --sender or --contract (usage, exit 2)', async () => {
    const run = await cloister('txs');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('give --sender or --contract');
  });
});
