/**
 * The dashboard in a real browser, as a user meets it: `cloister sim up --load 4` on a network of
 * four validators, the URL it prints opened in headless Chromium (Debian's `chromium`, driven by
 * playwright-core), every validator's height seen rising on the page, one validator killed with
 * its button and seen marked down, restarted with its button and seen catching up; the timeline,
 * charts, blocks and transactions filled in. A screenshot is saved as `.tmp/dashboard.png`.
 *
 * Needs `npm run build` and Chromium (`apt-get install chromium`, or CHROMIUM_PATH). Without it
 * the test is skipped with that message, except under CI=true, where it runs and fails.
 * Ports: RPC 26770-26773, p2p 27770-27773.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';

const root = find_code_root();
const cloister = join(root, 'bin', 'cloister.js');
const chromium_path =
  process.env['CHROMIUM_PATH'] ??
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const on_ci = process.env['CI'] === 'true';
if (chromium_path === undefined && !on_ci)
  console.warn(
    'dashboard browser test skipped: no Chromium found (install it: sudo apt-get install chromium, or set CHROMIUM_PATH)',
  );

const dir = mkdtempSync(join(tmpdir(), 'cloister-dashboard-'));
let up: ChildProcess | null = null;
let browser: Browser | null = null;
afterAll(async () => {
  await browser?.close();
  if (up !== null && up.exitCode === null && up.signalCode === null) {
    const gone = new Promise((r) => up!.once('exit', r));
    up.kill('SIGTERM');
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Starts `cloister sim up`; resolves with the dashboard URL once it prints it. */
async function sim_up(args: string[]): Promise<string> {
  up = spawn(process.execPath, [cloister, 'sim', 'up', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  up.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => up!.once('exit', r));
  return new Promise<string>((resolve, reject) => {
    void exited.then((code) => reject(new Error(`sim up exited with ${code}: ${stderr}`)));
    createInterface({ input: up!.stdout! }).on('line', (line) => {
      const m = /^dashboard (http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]{64})$/.exec(line);
      if (m !== null) resolve(m[1]!);
    });
  });
}

/** Each validator row's height on the page (null where it shows none). */
async function page_heights(page: Page): Promise<(number | null)[]> {
  return page.$$eval('tr[data-validator]', (rows) =>
    rows.map((r) => {
      const h = r.getAttribute('data-height');
      return h === null || h === '' ? null : Number(h);
    }),
  );
}

/** The part of a DOM element the test reads in the page. */
interface Element {
  getAttribute(name: string): string | null;
}

/** Waits until every listed validator's row shows a height above `floor[i]`. */
async function heights_above(page: Page, which: number[], floor: (number | null)[], timeout = 90_000) {
  await page.waitForFunction(
    ({ which, floor }) =>
      which.every((i) => {
        // In the page (this file is type-checked without the DOM library).
        const doc = (globalThis as unknown as { document: { querySelector(s: string): Element | null } })
          .document;
        const row = doc.querySelector(`tr[data-validator="${i}"]`);
        const h = row?.getAttribute('data-height');
        return h !== null && h !== undefined && h !== '' && Number(h) > (floor[i] ?? -1);
      }),
    { which, floor },
    { timeout, polling: 250 },
  );
}

describe.skipIf(chromium_path === undefined && !on_ci)('the dashboard in Chromium', () => {
  it('shows every validator advancing, kills one from the page, restarts it and sees it catch up', async () => {
    if (chromium_path === undefined)
      throw new Error(
        'CI=true needs Chromium for this test: apt-get install chromium (or set CHROMIUM_PATH)',
      );
    const url = await sim_up([
      '--validators',
      '4',
      '--dir',
      join(dir, 'net'),
      '--port',
      '26770',
      '--load',
      '4',
    ]);
    browser = await chromium.launch({ executablePath: chromium_path, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('tr[data-validator="3"]');
    // The token moved from the address bar into the tab's storage: the steering buttons are on.
    expect(page.url()).not.toContain('token');

    // The validators' start, logged before the dashboard was up, is listed all the same.
    await page.waitForSelector('li.fault.started', { timeout: 30_000 });
    const start = await page_heights(page);
    await heights_above(page, [0, 1, 2, 3], start);

    // Validator 0: the one whose live stream the dashboard follows first, so it must move on.
    await page.click('tr[data-validator="0"] button[data-action="kill"]');
    await page.waitForSelector('tr[data-validator="0"][data-state="down"]', { timeout: 30_000 });
    const while_down = await page_heights(page);
    // The others go on without it (three of four are a quorum).
    await heights_above(page, [1, 2, 3], while_down);
    // The blocks list too: it now follows another validator's stream.
    const others_max = Math.max(...[1, 2, 3].map((i) => while_down[i] ?? 0));
    // …with no gap: blocks committed while it moved are fetched.
    await page.waitForSelector(`tr[data-block="${others_max + 1}"]`, { timeout: 60_000 });
    await page.waitForSelector(`tr[data-block="${others_max + 2}"]`, { timeout: 60_000 });
    // The faults list has the action and the process's end.
    await page.waitForSelector('li.fault.action:has-text("v0 killed")', { timeout: 30_000 });
    await page.waitForSelector('li.fault.stopped:has-text("SIGKILL")', { timeout: 30_000 });

    await page.click('tr[data-validator="0"] button[data-action="restart"]');
    await page.waitForSelector('tr[data-validator="0"][data-state="up"]', { timeout: 60_000 });
    // Caught up: past the height the others had reached while it was down.
    await heights_above(page, [0], [others_max + 1, null, null, null]);

    // The rest of the page is filled in by now.
    expect(await page.locator('.timeline .height').count()).toBeGreaterThan(0);
    expect(await page.locator('.timeline .mark').count()).toBeGreaterThan(0);
    expect(await page.locator('figure.chart canvas').count()).toBe(2);
    const with_txs = 'tr[data-block]:not([data-txs="0"])';
    await page.waitForSelector(with_txs, { timeout: 30_000 });
    await page.waitForSelector('.load[data-load-state="running"]', { timeout: 30_000 });
    // A block view, read from a validator that is up.
    await page.click(with_txs);
    await page.waitForSelector('aside.detail pre', { timeout: 30_000 });
    expect(await page.locator('aside.detail pre').textContent()).toContain('"block_hash"');
    // …and from it one of its transactions: public fields, the output still ciphertext.
    await page.click('aside.detail a.hash');
    await page.waitForSelector('aside.detail pre:has-text("gas_used")', { timeout: 30_000 });
    await page.click('aside.detail button');

    mkdirSync(join(root, '.tmp'), { recursive: true });
    await page.screenshot({ path: join(root, '.tmp', 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 300_000);
});
