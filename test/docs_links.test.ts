/**
 * Every relative link of the README and of docs/*.md (and contracts/README.md) names a file of this
 * repository, so the documentation works in a clone: nothing points outside it (such as
 * `../shared/`, which only the workplace has). The first case proves the check can fail.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../enclave/measurement.js';

const root = find_code_root();

/** The relative link targets of a markdown text: `[text](target)`, without `#anchors`, not URLs. */
function relative_links(markdown: string): string[] {
  const out: string[] = [];
  for (const match of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1]!;
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    out.push(target.split('#')[0]!);
  }
  return out;
}

/** Links of `file` (relative to the root) whose target does not exist inside the repository. */
function broken(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return relative_links(text).filter((target) => {
    const path = resolve(dirname(join(root, file)), target);
    return relative(root, path).startsWith('..') || !existsSync(path);
  });
}

const FILES = [
  'README.md',
  'contracts/README.md',
  'test/vectors/README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe('documentation links', () => {
  it('finds a broken link (the check can fail)', () => {
    expect(relative_links('see [a](docs/nowhere.md#x), [b](https://example.com), [c](#here)')).toEqual([
      'docs/nowhere.md',
    ]);
    expect(relative_links('[protocol](../shared/protocol.md)')).toEqual(['../shared/protocol.md']);
  });

  it.each(FILES)('%s links only to files of this repository', (file) => {
    expect(broken(file)).toEqual([]);
  });
});
