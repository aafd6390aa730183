/**
 * No part of a node reads the wall clock, arms a Node.js timer or draws unseeded randomness
 * itself: only the real-world implementations of the node's seams do (node/modules.ts,
 * docs/architecture.md "Seams"), so the simulator can run the same code on simulated time. This
 * scans protocol/, enclave/ and node/ (comments and strings removed) and names any other file that
 * uses `Date.now`, `new Date`, `setTimeout`, `setInterval`, `setImmediate` or `Math.random`.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../enclave/measurement.js';

const root = find_code_root();

/** Real-world implementations of the seams, and why each may touch the real world. */
const ALLOWED: Record<string, string> = {
  'node/real_world.ts': 'the system clock and random source',
  'node/p2p/transport.ts': 'the TCP PeerNetwork (deadlines and redials of real sockets)',
  'node/p2p/connection.ts': 'one TCP connection (handshake and keep-alive timers)',
  'node/rpc/server.ts': 'the HTTP server (request deadlines)',
  'node/rpc/events.ts': 'the HTTP live stream (heartbeats)',
  'node/admin.ts': 'the admin unix socket (idle and call deadlines)',
  'protocol/rpc_client.ts': 'the HTTP client, whose time and sleep are injectable modules',
  'enclave/worker.ts': 'a worker thread exits after an aborted engine (setImmediate)',
  'enclave/vm/realm_script.ts': 'names the globals a contract must not have, in order to delete them',
};

const FORBIDDEN =
  /\bDate\.now\b|\bnew Date\b|\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b|\bMath\.random\b/;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...files(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The source without comments and string/template literal contents (a rough lexer, enough here). */
function code_only(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"/g, "''");
}

/** Files under `dirs` that use a forbidden source, with the first offending line. */
function offenders(dirs: readonly string[], allowed: Record<string, string>): string[] {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const file of files(dir)) {
      const rel = relative(root, join(root, file));
      if (Object.hasOwn(allowed, rel)) continue;
      const code = code_only(readFileSync(join(root, file), 'utf8'));
      const line = code.split('\n').find((l) => FORBIDDEN.test(l));
      if (line !== undefined) out.push(`${rel}: ${line.trim()}`);
    }
  }
  return out;
}

describe('time and randomness come through the seams', () => {
  it('no file of protocol/, enclave/ or node/ outside the real-world implementations reads them', () => {
    expect(offenders(['protocol', 'enclave', 'node'], ALLOWED)).toEqual([]);
  });

  it('the check can fail: without the allow-list, the real-world files are named', () => {
    const named = offenders(['node'], {});
    expect(named.some((l) => l.startsWith('node/real_world.ts:'))).toBe(true);
    expect(named.some((l) => l.startsWith('node/p2p/transport.ts:'))).toBe(true);
  });

  it('every allow-list entry exists and still needs to be there', () => {
    for (const file of Object.keys(ALLOWED)) {
      const code = code_only(readFileSync(join(root, file), 'utf8'));
      expect(FORBIDDEN.test(code), `${file} no longer uses the real world: drop it from the list`).toBe(true);
    }
  });
});
