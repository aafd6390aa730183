/** `cloister contract check`: compile, hash, entry points and the warnings about unusable shapes. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type CheckIo,
  type CheckWarning,
  contract_check_command,
  contract_warnings,
  edit_distance,
} from '../../client/cli/contract_check.js';
import { code_size_bytes_max } from '../../enclave/vm/limits.js';

function codes(source: string): CheckWarning['code'][] {
  return contract_warnings(source).map((w) => w.code);
}

const complete = `
export function instantiate(ctx, msg) { return null; }
export function execute(ctx, msg) { return 1; }
export const query = (ctx, msg) => 2;
`;

/** Runs the command over files held in memory. */
function run(files: Record<string, string | Uint8Array>, file: string, json = false, strict = false) {
  let stdout = '';
  let stderr = '';
  const io: CheckIo = {
    read: (name) => {
      const content = files[name];
      if (content === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return typeof content === 'string' ? Buffer.from(content) : content;
    },
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  };
  const outcome = contract_check_command(file, { json, strict }, io);
  return { outcome, stdout, stderr };
}

describe('contract_warnings', () => {
  it('finds nothing wrong with the reference contracts', () => {
    for (const name of [
      'echo',
      'counter',
      'token',
      'auction',
      'escrow',
      'relay',
      'compute_heavy',
      'storage_heavy',
    ]) {
      const source = readFileSync(new URL(`../../contracts/${name}.js`, import.meta.url), 'utf8');
      expect(contract_warnings(source), name).toEqual([]);
    }
  });

  it('warns about missing entry points', () => {
    expect(codes('export function execute() {}')).toEqual(['no_instantiate']);
    expect(codes('export function instantiate() {}')).toEqual(['no_execute_or_query']);
    expect(codes('export function instantiate() {}\nexport function query() {}')).toEqual([]);
    expect(codes('function helper() {}')).toEqual(['no_instantiate', 'no_execute_or_query']);
  });

  it('warns about entry points that are not functions, with their place', () => {
    const warnings = contract_warnings(`export function instantiate() {}
export const execute = { run() {} };
export class query {}
const n = 5;
export { n as reply };`);
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'entry_not_function', line: 2, column: 14 }),
      expect.objectContaining({ code: 'entry_not_function', line: 3, column: 8 }),
      expect.objectContaining({ code: 'entry_not_function', line: 5, column: 10 }),
    ]);
    expect(warnings[1]!.message).toContain('a class cannot be called without new');
    // A function reached through a name, or a value the source cannot show, is not warned about.
    expect(
      codes('const f = () => 1;\nconst g = f;\nexport { g as execute };\nexport function instantiate() {}'),
    ).toEqual([]);
    expect(codes('export const execute = make();\nexport function instantiate() {}')).toEqual([]);
  });

  it('warns about exports that look like misspelled entry points', () => {
    const warnings = contract_warnings(`export function instanciate() {}
export function Execute() {}
export const querry = () => 1;
export function execute_batch() {}`);
    expect(warnings.map((w) => [w.code, w.line, w.message])).toEqual([
      ['no_instantiate', undefined, expect.any(String)],
      ['no_execute_or_query', undefined, expect.any(String)],
      [
        'misspelled_entry',
        1,
        expect.stringContaining('`instanciate` looks like the entry point `instantiate`'),
      ],
      ['misspelled_entry', 2, expect.stringContaining('`Execute` looks like the entry point `execute`')],
      ['misspelled_entry', 3, expect.stringContaining('`querry` looks like the entry point `query`')],
    ]);
    expect(edit_distance('instanciate', 'instantiate')).toBe(1);
    expect(edit_distance('execute_batch', 'execute')).toBe(6);
  });

  it('warns when a reply may be asked for and there is no reply entry point', () => {
    const base = `${complete}\nexport function other(ctx) {`;
    expect(codes(`${base} ctx.execute(a, {}, { reply: true }); }`)).toEqual(['reply_missing']);
    expect(codes(`${base} ctx.execute(a, {}, { funds: 1, reply: flag }); }`)).toEqual(['reply_missing']);
    expect(codes(`${base} ctx.execute(a, {}, options); }`)).toEqual(['reply_missing']);
    expect(codes(`${base} ctx.execute(a, {}, { reply: false }); }`)).toEqual([]);
    expect(codes(`${base} ctx.execute(a, {}, { funds: 5 }); }`)).toEqual([]);
    expect(codes(`${base} ctx.execute(a, {}); }`)).toEqual([]);
    expect(codes(`${base} ctx.execute(a, {}, { reply: true }); }\nexport function reply() {}`)).toEqual([]);
    const [warning] = contract_warnings(
      `${complete}\nfunction f(ctx) {\n  ctx.execute(a, {}, { reply: true });\n}`,
    );
    expect(warning).toMatchObject({ code: 'reply_missing', line: 7, column: 3 });
  });

  it('warns about globals and members the VM removes, once per name, unless the source declares them', () => {
    const warnings = contract_warnings(`${complete}
function f() {
  const now = Date.now();
  const later = new Date();
  const r = Math.random();
  setTimeout(() => 1, 5);
  const p = Promise.resolve(1);
  'a'.localeCompare('b');
  'abc'.match('b');
  return (1).toLocaleString();
}`);
    expect(warnings.map((w) => [w.line, w.message])).toEqual([
      [7, '`Date` is not available in contracts: use ctx.time_ms (2 uses)'],
      [9, '`Math.random` is not available in contracts: use ctx.random()'],
      [10, '`setTimeout` is not available in contracts: nothing runs after the call'],
      [11, '`Promise` is not available in contracts: nothing runs after the call'],
      [12, '`.localeCompare()` is not available in contracts: it depends on the host locale'],
      [13, expect.stringContaining('`.match()` is not available')],
      [14, '`.toLocaleString()` is not available in contracts: it depends on the host locale'],
    ]);
    expect(new Set(warnings.map((w) => w.code))).toEqual(new Set(['removed_global']));
    // Declared by the contract, a property name, or console (which contracts have): no warning.
    expect(
      codes(
        `${complete}\nconst Date = 1;\nconst o = { Promise: 1, fetch() {} };\no.fetch();\nconsole.log(Date);`,
      ),
    ).toEqual([]);
    expect(codes(`${complete}\nfunction g(crypto) { return crypto.x; }`)).toEqual([]);
  });

  it('has nothing to say about a source that does not parse', () => {
    expect(contract_warnings('export function (')).toEqual([]);
  });
});

describe('contract check command', () => {
  it('prints hash, size and entry points, and warnings on stderr without failing', () => {
    const source = 'export function execute(ctx) { return Date.now(); }';
    const { outcome, stdout, stderr } = run({ 'c.js': source }, 'c.js');
    expect(outcome).toBe('ok');
    expect(stdout).toMatch(
      /^ok {2}c\.js\n {2}code hash {5}[0-9a-f]{64}\n {2}size {10}51 bytes\n {2}entry points {2}execute\n$/,
    );
    expect(stderr).toBe(
      'cloister: warning: c.js: no `instantiate` export: the contract cannot be instantiated\n' +
        'cloister: warning: c.js:1:39: `Date` is not available in contracts: use ctx.time_ms\n',
    );
  });

  it('puts warnings in the JSON report, and fails on them with --strict', () => {
    const files = { 'c.js': 'export function execute() {}' };
    const relaxed = run(files, 'c.js', true);
    expect(relaxed.outcome).toBe('ok');
    expect(JSON.parse(relaxed.stdout)).toEqual({
      ok: true,
      file: 'c.js',
      code_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      size_bytes: 28,
      entry_points: ['execute'],
      warnings: [{ code: 'no_instantiate', message: expect.any(String) }],
    });
    const strict = run(files, 'c.js', true, true);
    expect(strict.outcome).toBe('failure');
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: false, warnings: [{ code: 'no_instantiate' }] });
    const human = run(files, 'c.js', false, true);
    expect(human.outcome).toBe('failure');
    expect(human.stdout).toMatch(/^warnings \(--strict\) {2}c\.js/);
    // No warnings: --strict passes.
    expect(run({ 'ok.js': complete }, 'ok.js', false, true).outcome).toBe('ok');
  });

  it('fails on a source that does not compile, one too big, or a file it cannot read', () => {
    const bad = run({ 'bad.js': "import fs from 'fs';" }, 'bad.js');
    expect(bad.outcome).toBe('failure');
    expect(bad.stderr).toMatch(/^cloister: bad\.js does not compile: import declarations are not allowed/);
    expect(JSON.parse(run({ 'bad.js': "import fs from 'fs';" }, 'bad.js', true).stdout)).toEqual({
      ok: false,
      file: 'bad.js',
      stage: 'compile',
      error: expect.stringContaining('import declarations are not allowed'),
    });
    const big = run({ 'big.js': new Uint8Array(code_size_bytes_max + 1) }, 'big.js');
    expect(big).toMatchObject({ outcome: 'failure', stderr: expect.stringContaining('the limit is') });
    const missing = run({}, 'nope.js');
    expect(missing).toMatchObject({ outcome: 'failure', stderr: 'cloister: cannot read nope.js: ENOENT\n' });
  });
});
