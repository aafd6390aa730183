/**
 * `npm run screenshot:dashboard`: remakes the dashboard picture of the README and
 * docs/dashboard.md. Starts `cloister sim up` (4 validators, validator 3 delaying its votes, a
 * load of 5 tx/s) in a temporary folder, opens the dashboard in headless Chromium, lets the
 * network run, kills validator 2 from the page so the picture shows a fault, and saves
 * `docs/images/dashboard.png` (or the path given as the first argument). Needs `npm run build`
 * and Chromium (`apt-get install chromium`, or CHROMIUM_PATH).
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { find_code_root } from '../enclave/measurement.js';

const root = find_code_root();
const out = process.argv[2] ?? join(root, 'docs', 'images', 'dashboard.png');
const chromium_path =
  process.env['CHROMIUM_PATH'] ??
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (chromium_path === undefined) {
  process.stderr.write(
    'no Chromium found: install it (sudo apt-get install chromium) or set CHROMIUM_PATH\n',
  );
  process.exit(2);
}
const log = (line: string) => process.stderr.write(`${line}\n`);
const dir = mkdtempSync(join(tmpdir(), 'cloister-screenshot-'));
const args = ['sim', 'up', '--validators', '4', '--dir', join(dir, 'net'), '--port', '26880'];
const up = spawn(
  process.execPath,
  [join(root, 'bin', 'cloister.js'), ...args, '--load', '5', '--byzantine', '3:delay-votes'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
try {
  log('starting sim up …');
  const url = await new Promise<string>((resolve, reject) => {
    up.once('exit', (code) => reject(new Error(`sim up exited with ${code}`)));
    createInterface({ input: up.stdout! }).on('line', (line) => {
      const m = /^dashboard (\S+)$/.exec(line);
      if (m !== null) resolve(m[1]!);
    });
  });
  const browser = await chromium.launch({ executablePath: chromium_path, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(url);
    log('letting the network run for 25 s …');
    await page.waitForTimeout(25_000);
    await page.click('tr[data-validator="2"] button[data-action="kill"]');
    await page.waitForSelector('tr[data-validator="2"][data-state="down"]');
    await page.waitForTimeout(8_000);
    mkdirSync(dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    log(`saved ${out}`);
  } finally {
    await browser.close();
  }
} finally {
  const gone = new Promise((r) => up.once('exit', r));
  up.kill('SIGTERM');
  await gone;
  rmSync(dir, { recursive: true, force: true });
}
