/**
 * The layering a reader can see (issue #12; the folders are README's "What each folder holds"):
 *
 *   protocol/  ←  enclave/  ←  node/  ←  sim/, client/, scripts/
 *
 * protocol/ imports no other folder of the project, enclave/ only protocol/, node/ only enclave/
 * and protocol/. Every import specifier of every .ts file in those folders (static imports,
 * re-exports, dynamic `import()`, `require`) is resolved and checked; a failure names the file and
 * the import. biome.json's `noRestrictedImports` overrides say the same for editors and
 * `npm run lint`; this test is the one `npm test` runs.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../enclave/measurement.js';

const root = find_code_root();

/** The project folders each constrained folder must not import. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  protocol: ['enclave', 'node', 'sim', 'client', 'scripts', 'contracts', 'test'],
  enclave: ['node', 'sim', 'client', 'scripts', 'test'],
  node: ['sim', 'client', 'scripts', 'test'],
};

/** Every .ts file under `dir`, relative to the root with forward slashes. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/**
 * The imports of `file` (root-relative) whose text is `text` that break the layering, as
 * "file imports spec (folder/)".
 */
function offenses(file: string, text: string): string[] {
  const layer = file.split('/')[0]!;
  const forbidden = FORBIDDEN[layer] ?? [];
  const found: string[] = [];
  for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!spec.startsWith('.')) continue;
    const target = relative(root, resolve(dirname(join(root, file)), spec)).split(sep);
    const folder = target[0]!;
    if (target.length > 1 && forbidden.includes(folder)) found.push(`${file} imports ${spec} (${folder}/)`);
  }
  return found;
}

describe('layering: protocol/ ← enclave/ ← node/ ← sim/, client/, scripts/', () => {
  it('finds a forbidden import in any form (the check can fail)', () => {
    const text = [
      "import { a } from './bytes.js';",
      "import type { B } from '../node/genesis.js';",
      "export { c } from '../client/sdk/rpc.js';",
      "const d = await import('../sim/network.js');",
    ].join('\n');
    expect(offenses('protocol/probe.ts', text)).toEqual([
      'protocol/probe.ts imports ../node/genesis.js (node/)',
      'protocol/probe.ts imports ../client/sdk/rpc.js (client/)',
      'protocol/probe.ts imports ../sim/network.js (sim/)',
    ]);
    expect(offenses('enclave/vm/probe.ts', "import '../../node/consensus/types.js';")).toHaveLength(1);
    expect(offenses('enclave/vm/probe.ts', "import '../../protocol/chain.js'; import '../api.js';")).toEqual(
      [],
    );
    expect(
      offenses('node/store/probe.ts', "import '../../enclave/api.js'; import '../../scripts/x.js';"),
    ).toEqual(['node/store/probe.ts imports ../../scripts/x.js (scripts/)']);
  });

  it.each(Object.keys(FORBIDDEN))('%s/ imports nothing from a layer above it', (layer) => {
    const files = sources(layer);
    expect(files.length).toBeGreaterThan(0);
    const found = files.flatMap((file) => offenses(file, readFileSync(join(root, file), 'utf8')));
    expect(found).toEqual([]);
  });
});
