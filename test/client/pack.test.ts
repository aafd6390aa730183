/**
 * The package as `npm pack` makes it from a clone (docs/client.md, "Using the SDK from a clone"):
 * what the tarball holds, and a consumer project that installs it and imports `cloister/client`.
 * Needs `npm run build` (which `npm test` does first): both runs pack with `--ignore-scripts`, so
 * the `prepack` build, which empties `dist/` first, never runs under other test files' feet.
 */

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { temp_home } from '../enclave/fixtures.js';

const root = find_code_root();
const run = promisify(execFile);
const temp = temp_home('cloister-pack-');
afterAll(() => temp.remove());

interface PackResult {
  filename: string;
  files: { path: string }[];
}

interface PackageJson {
  version: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  files: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
}

interface LockEntry {
  name?: string;
  version?: string;
  dev?: boolean;
  link?: boolean;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;

async function npm_pack(...args: string[]): Promise<PackResult> {
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', ...args], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [result] = JSON.parse(stdout) as PackResult[];
  if (result === undefined) throw new Error('npm pack printed no result');
  return result;
}

/** Every file the package's `exports` and `bin` name, without the leading `./`. */
function entry_files(): string[] {
  const out = Object.values(pkg.bin);
  for (const target of Object.values(pkg.exports))
    out.push(...(typeof target === 'string' ? [target] : Object.values(target)));
  return out.map((path) => path.replace(/^\.\//, ''));
}

/**
 * The lock of a project that depends on nothing but the tarball: the repository's own lock
 * entries, those `npm ci` installs for a dependant (no devDependencies), each given the registry
 * address this workplace's lock leaves out (`omit-lockfile-registry-resolved`). `npm ci --offline`
 * then takes each from the npm cache by its integrity, which the repository's `npm ci` filled.
 */
function consumer_lock(tarball: string): unknown {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { cloister: tarball } },
    'node_modules/cloister': {
      version: pkg.version,
      resolved: tarball,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true || entry.link === true || entry.version === undefined) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const base = name.slice(name.lastIndexOf('/') + 1);
    packages[path] = {
      ...entry,
      resolved: `https://registry.npmjs.org/${name}/-/${base}-${entry.version}.tgz`,
    };
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

const CONSUMER = `
import { CloisterClient, generate_key, key_info, web_random } from 'cloister/client';
import { DirectoryClient } from 'cloister/client/channels';
import { FileStorage } from 'cloister/client/channels/file-storage';
import { keyring_path } from 'cloister/client/keyfile';
const alice = generate_key('alice', web_random);
const client = new CloisterClient({ nodes: ['http://127.0.0.1:9'], keys: [alice] });
console.log(JSON.stringify({
  client: client instanceof CloisterClient,
  address: key_info(alice).address,
  channels: typeof DirectoryClient,
  file_storage: typeof FileStorage,
  keyfile: typeof keyring_path,
}));
`;

describe('npm pack', () => {
  it('builds dist/ before packing, and packs dist/, bin/ and contracts/ but no tests or sources', async () => {
    expect(pkg.scripts['prepack']).toContain('tsc -p tsconfig.build.json');
    const { files } = await npm_pack('--dry-run');
    const paths = files.map((f) => f.path);
    for (const path of [
      'package.json',
      'README.md',
      'bin/cloister.js',
      'dist/client/sdk/index.js',
      'dist/client/sdk/index.d.ts',
      'dist/client/sdk/channels/index.js',
      'dist/client/sdk/keyfile_node.js',
      'dist/client/cli/main.js',
      'dist/enclave/worker.js',
      'contracts/counter.js',
      'docs/client.md',
      // The dashboard sim up serves, as the page's own files (no build step), and its picture.
      'sim/dashboard/web/index.html',
      'sim/dashboard/web/app.js',
      'docs/images/dashboard.png',
      ...entry_files(),
    ])
      expect(paths, path).toContain(path);
    const unwanted = paths.filter(
      (path) =>
        path.startsWith('test/') ||
        path.startsWith('.tmp/') ||
        path.includes('/.tmp/') ||
        path.includes('node_modules/') ||
        path.startsWith('dist/scripts/') ||
        path.endsWith('.map') ||
        (path.endsWith('.ts') && !path.endsWith('.d.ts')),
    );
    expect(unwanted).toEqual([]);
  });

  it('installs into a project offline, which imports cloister/client and runs the cloister binary', async (ctx) => {
    const { filename } = await npm_pack('--pack-destination', temp.dir);
    const app = join(temp.dir, 'app');
    mkdirSync(app);
    const tarball = `file:../${filename}`;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: { cloister: tarball },
      }),
    );
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumer_lock(tarball), null, 2));
    writeFileSync(join(app, 'check.mjs'), CONSUMER);
    try {
      await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      // A cache without these tarballs (node_modules restored some other way than `npm ci`).
      if (stderr.includes('ENOTCACHED'))
        ctx.skip('the npm cache lacks the dependencies; offline install skipped');
      throw error;
    }
    const { stdout } = await run(process.execPath, ['check.mjs'], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({
      client: true,
      address: expect.stringMatching(/^[0-9a-f]{40}$/),
      channels: 'function',
      file_storage: 'function',
      keyfile: 'function',
    });
    const help = await run(
      process.execPath,
      [join(app, 'node_modules', 'cloister', 'bin', 'cloister.js'), '--help'],
      {
        cwd: app,
      },
    );
    expect(help.stdout).toContain('cloister <command>');
  });
});
