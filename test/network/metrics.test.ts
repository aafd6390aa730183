/**
 * `GET /metrics` of a real validator process (`cloister node start` under `LocalNetwork`): one
 * validator on RPC port 26700 (p2p 27700) serves every required metric, and its height is past 0.
 * Runs the built code (`npm run build` first, as every network test).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalNetwork } from '../../sim/network.js';
import { REQUIRED_METRICS, sample } from '../node/metrics_helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cloister-metrics-'));
let network: LocalNetwork | null = null;

afterAll(async () => {
  await network?.down();
  rmSync(dir, { recursive: true, force: true });
});

describe('a validator process serves GET /metrics', () => {
  it('with every required name, its height past 0, and process metrics', async () => {
    network = await LocalNetwork.up({ validators: 1, dir: join(dir, 'net'), port: 26700, dev: true });
    const [url] = network.urls();
    let text = '';
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      text = await res.text();
      if ((sample(text, 'cloister_consensus_height') ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const name of REQUIRED_METRICS) expect(text).toContain(`# TYPE ${name} `);
    expect(sample(text, 'cloister_consensus_height')).toBeGreaterThan(0);
    expect(sample(text, 'cloister_enclave_execute_seconds_count')).toBeGreaterThan(0);
    // A request is counted once its answer is done: the scrapes before the last one.
    const count = () => sample(text, 'cloister_rpc_requests_total', 'route="/metrics",status="200"') ?? 0;
    for (let i = 0; i < 20 && count() === 0; i++) text = await (await fetch(`${url}/metrics`)).text();
    expect(count()).toBeGreaterThan(0);
    expect(text).toContain('process_cpu_seconds_total');
  });
});
