/** The platform secret file: created once, atomically, even when many workers race for it. */

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { to_hex } from '../../protocol/bytes.js';
import { temp_home } from './fixtures.js';

const home = temp_home();
afterAll(() => home.remove());

describe('platform secret', () => {
  it('is created once with mode 0600 when 8 threads race to create it', async () => {
    const path = join(home.dir, 'race', 'platform_secret');
    const module_url = new URL('../../dist/enclave/sealing.js', import.meta.url).href;
    // Threads started together, each loading (and so possibly creating) the same secret.
    // Threads load the module, meet at a barrier, then all create-or-read the secret at once.
    const threads = 8;
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      const { randomBytes } = require('node:crypto');
      import(workerData.module_url).then((m) => {
        const b = workerData.barrier;
        if (Atomics.add(b, 0, 1) + 1 === workerData.threads) Atomics.notify(b, 0);
        while (Atomics.load(b, 0) < workerData.threads) Atomics.wait(b, 0, Atomics.load(b, 0), 50);
        const secret = m.load_platform_secret(workerData.path, (n) => new Uint8Array(randomBytes(n)));
        parentPort.postMessage(Buffer.from(secret).toString('hex'));
      }).catch((e) => parentPort.postMessage('error: ' + e.message));`;
    const seen = await Promise.all(
      Array.from(
        { length: threads },
        () =>
          new Promise<string>((resolve, reject) => {
            const worker = new Worker(source, {
              eval: true,
              workerData: { path, module_url, barrier, threads },
            });
            worker.once('message', (m: string) => {
              resolve(m);
              void worker.terminate();
            });
            worker.once('error', reject);
          }),
      ),
    );
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // No temporary file is left behind.
    expect(readdirSync(join(home.dir, 'race'))).toEqual(['platform_secret']);
    expect(to_hex(new Uint8Array(32))).not.toBe(seen[0]);
  });
});
