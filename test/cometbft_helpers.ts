/**
 * For tests that run CometBFT (issue #17): the pinned binary (sim/cometbft/binary.ts), and
 * whether to skip. On a user's machine without cometbft v0.38.17 those tests are skipped, with
 * one message naming the install command; under CI=true they never skip: they run, and
 * require_cometbft() fails them with that message. `.ci/run` installs the binary first.
 *
 *   describe.skipIf(comet_skip)('…', () => { const bin = require_cometbft(); … });
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CometbftCheck, check_cometbft } from '../sim/cometbft/binary.js';
import { CometNetwork } from '../sim/cometbft/network.js';

/** What was found: the binary, or why there is none. */
export const cometbft_check: CometbftCheck = check_cometbft();
/** The cometbft v0.38.17 binary to run, or null. */
export const cometbft_bin: string | null = cometbft_check.ok ? cometbft_check.bin : null;
/** Whether tests that run cometbft are skipped: no binary, and not under CI=true. */
export const comet_skip: boolean = cometbft_bin === null && process.env['CI'] !== 'true';

if (comet_skip && !cometbft_check.ok) console.warn(`CometBFT tests skipped: ${cometbft_check.error}`);

/** The binary; throws the message naming the install command where there is none (CI=true). */
export function require_cometbft(): string {
  if (cometbft_check.ok) return cometbft_check.bin;
  throw new Error(cometbft_check.error);
}

/**
 * A network under CometBFT in a temporary folder (like test/network/helpers.ts `temp_network`):
 * `down()` stops it and removes the folder, or keeps it when CLOISTER_KEEP_NET=1. Cloister RPC on
 * `port` + i, CometBFT on `port` + 2000 + 10 i (node/init.ts `comet_ports`).
 */
export async function temp_comet_network(port: number, validators = 4) {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-comet-'));
  const net = await CometNetwork.up({
    validators,
    dir: join(dir, 'net'),
    port,
    cometbft_bin: require_cometbft(),
  });
  return {
    net,
    dir,
    async down() {
      await net.down();
      if (process.env['CLOISTER_KEEP_NET'] === '1') console.log(`network kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}
