#!/usr/bin/env node
// Adds the lock entries of Biome's platform binaries that npm could not record here.
//
// Why: this workplace's npm registry serves only the linux builds of @biomejs/cli-*, so `npm
// install` writes lock entries for those alone, and `npm ci` then refuses the lock as out of sync
// (npm/cli#4828 and related). The entries added are what a lock written on another platform
// holds: optional, with the os/cpu/libc that keep every other platform from installing them.
// Run after any `npm install` that touches package-lock.json: `node scripts/lock-add-platforms.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const biome = lock.packages['node_modules/@biomejs/biome'];
if (biome === undefined) throw new Error('no @biomejs/biome in package-lock.json');
const added = [];
for (const name of Object.keys(biome.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key] !== undefined) continue;
  const match = /cli-([a-z0-9]+)-([a-z0-9]+?)(?:-(musl))?$/.exec(name);
  if (match === null) throw new Error(`unexpected platform package name ${name}`);
  const [, os, cpu, libc] = match;
  const entry = {
    version: biome.version,
    cpu: [cpu],
    dev: true,
    license: 'MIT OR Apache-2.0',
    optional: true,
    os: [os],
  };
  if (libc !== undefined) entry.libc = [libc];
  if (biome.engines !== undefined) entry.engines = biome.engines;
  lock.packages[key] = entry;
  added.push(name);
}
const keys = Object.keys(lock.packages).sort((a, b) =>
  a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0,
);
lock.packages = Object.fromEntries(keys.map((k) => [k, lock.packages[k]]));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(added.length === 0 ? 'lock already complete\n' : `added ${added.join(', ')}\n`);
