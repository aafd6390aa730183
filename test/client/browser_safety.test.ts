/**
 * The SDK core is browser-safe: walks the import graph from every client/sdk/*.ts and
 * client/sdk/channels/*.ts file except the Node-only ones (the key file module, `*_node.ts`), through the protocol files and the packages they import, and
 * fails on any `node:` or Node built-in import, and (in project files) on any use of `Buffer` or
 * `process`.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';

const root = find_code_root();
const sdk_dir = join(root, 'client', 'sdk');
const NODE_ONLY = new Set(['keyfile_node.ts']);
/** Packages the browser-safe SDK may import (pure JavaScript, no Node APIs). */
const ALLOWED_PACKAGES = ['@noble/hashes', '@noble/ciphers', '@noble/curves', '@noble/post-quantum'];
const FORBIDDEN_GLOBALS = new Set(['Buffer', 'process']);

function imports_of(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** Identifier tokens named Buffer or process, with their line numbers (comments and strings skipped). */
function forbidden_identifiers(text: string): string[] {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  const found: string[] = [];
  for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
    if (token === ts.SyntaxKind.Identifier && FORBIDDEN_GLOBALS.has(scanner.getTokenText())) {
      found.push(`${scanner.getTokenText()} at offset ${scanner.getTokenStart()}`);
    }
  }
  return found;
}

function package_of(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** node_modules/<package>/<subpath>, as the packages' export maps name their files one to one. */
function package_file(spec: string): string {
  const pkg = package_of(spec);
  const sub = spec.slice(pkg.length + 1);
  return join(root, 'node_modules', pkg, sub === '' ? 'index.js' : sub);
}

function walk(): { problems: string[]; visited: string[] } {
  const problems: string[] = [];
  const visited = new Set<string>();
  const queue = [sdk_dir, join(sdk_dir, 'channels')].flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && !NODE_ONLY.has(f) && !f.endsWith('_node.ts'))
      .map((f) => join(dir, f)),
  );
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (visited.has(file)) continue;
    visited.add(file);
    const text = readFileSync(file, 'utf8');
    const name = relative(root, file);
    const in_package = name.startsWith('node_modules');
    if (!in_package) for (const use of forbidden_identifiers(text)) problems.push(`${name}: uses ${use}`);
    for (const spec of imports_of(text)) {
      if (
        spec.startsWith('node:') ||
        builtinModules.includes(spec) ||
        builtinModules.includes(package_of(spec))
      ) {
        problems.push(`${name}: imports ${spec}`);
      } else if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        if (!in_package && target.endsWith('keyfile_node.js'))
          problems.push(`${name}: imports the Node-only ${spec}`);
        queue.push(in_package ? target : target.replace(/\.js$/, '.ts'));
      } else if (ALLOWED_PACKAGES.includes(package_of(spec))) {
        queue.push(package_file(spec));
      } else {
        problems.push(`${name}: imports ${spec}, not a package known to be browser-safe`);
      }
    }
  }
  return { problems, visited: [...visited].map((f) => relative(root, f)) };
}

describe('the SDK core is browser-safe', () => {
  it('imports nothing from Node and uses neither Buffer nor process', () => {
    const { problems, visited } = walk();
    expect(problems).toEqual([]);
    // The walk did reach the protocol modules and noble, and only the noble provider.
    expect(visited).toContain(join('client', 'sdk', 'client.ts'));
    expect(visited).toContain(join('protocol', 'providers', 'noble.ts'));
    expect(visited).toContain(join('protocol', 'envelope.ts'));
    expect(visited).toContain(join('client', 'sdk', 'channels', 'kilt.ts'));
    expect(visited).toContain(join('client', 'sdk', 'channels', 'index.ts'));
    expect(visited).not.toContain(join('client', 'sdk', 'channels', 'storage_file_node.ts'));
    expect(visited.some((f) => f.startsWith(join('node_modules', '@noble', 'post-quantum')))).toBe(true);
    expect(visited.some((f) => f.startsWith(join('node_modules', '@noble', 'ciphers')))).toBe(true);
    expect(visited).not.toContain(join('protocol', 'providers', 'native.ts'));
    expect(visited).not.toContain(join('protocol', 'providers', 'index.ts'));
  });

  it('would notice a Node import or a Buffer (the checker itself works)', () => {
    expect(imports_of("import { x } from 'node:fs';\nexport * from './a.js';")).toEqual([
      'node:fs',
      './a.js',
    ]);
    expect(
      forbidden_identifiers('// Buffer in a comment\nconst s = "process";\nBuffer.from(x); process.env;'),
    ).toHaveLength(2);
  });
});
