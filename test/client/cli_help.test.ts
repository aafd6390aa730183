/**
 * `--help` of a command lists only the options it uses: commands that only read from a node do not
 * offer signing options (--key, --scheme, --gas-limit, --timeout); `contract` and `contracts` are
 * one group (`contracts check|get|list`, `contract` an alias). Needs `npm run build`.
 */

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';

const root = find_code_root();
const help = (...args: string[]) =>
  execFileSync(process.execPath, [join(root, 'bin', 'cloister.js'), ...args, '--help'], { encoding: 'utf8' });
const SIGNING = ['--key ', '--scheme', '--gas-limit', '--timeout'];

describe('cloister --help', () => {
  it.each([
    ['status'],
    ['codes'],
    ['balance', 'x'],
    ['faucet', 'x'],
    ['events'],
    ['txs'],
    ['contracts', 'list'],
    ['contracts', 'get', 'x'],
    ['directory', 'show', 'x'],
  ])('%s lists the node options and no signing options', (...args) => {
    const text = help(...args);
    expect(text).toContain('--node');
    for (const option of SIGNING) expect(text).not.toContain(option);
  });

  it('commands that sign still offer the signing options', () => {
    const text = help('tx', 'execute', 'x', '{}');
    for (const option of SIGNING) expect(text).toContain(option);
  });

  it('contract and contracts are one group: check, get, list', () => {
    for (const group of ['contract', 'contracts']) {
      const text = help(group);
      for (const sub of ['check <file>', 'get <address>', 'list']) expect(text).toContain(sub);
    }
    expect(help('contracts', 'check', 'x.js')).not.toContain('--node');
  });
});
