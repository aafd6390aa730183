/**
 * `cloister node reset-signing --home H --i-know`: rewrites a validator's last-signed record after
 * the node refused to start because its store was rolled back or its record was lost or damaged
 * (node/signing_record.ts, docs/consensus.md "Signing-state rule").
 * @module
 */

import type { Argv, CommandModule } from 'yargs';
import { type ResetReport, reset_signing } from '../../node/signing_guard.js';

/** What `reset-signing` prints without `--i-know`, and in its help: paragraphs, unwrapped. */
export const RESET_SIGNING_RISK = [
  'Signing twice at one height, round and step is equivocation: other validators keep both messages as evidence, and a network with slashing takes the stake of the validator that did it. The node refused to start because what it signed last may be lost (its store went back in time, or its signing record is missing or damaged), so it cannot tell by itself whether a new signature would contradict an old one.',
  "Reset only if you are sure this validator never signed above its store's height, or if the network has since committed past every height it could have signed at. The new record vouches for the store as it is now and keeps the furthest signed state still readable (the old record's or the store's copy), so the node never signs again where it can still see it signed.",
  'Then, unless --no-sit-out, the node syncs from a peer before signing and sits out the height the network is deciding at that moment, so a lost signature at that height or below is never contradicted. It skips the sit-out by itself when the other validators hold 2/3 of the power or less (they cannot commit without it); use --no-sit-out only for the same reason.',
  'Stop the node first: the store must not be in use.',
];

/** `paragraphs` wrapped at `width` columns, blank lines between them. */
function wrap(paragraphs: readonly string[], width = 100): string {
  return paragraphs
    .map((text) => {
      const lines: string[] = [];
      let line = '';
      for (const word of text.split(' ')) {
        if (line !== '' && line.length + 1 + word.length > width) {
          lines.push(line);
          line = word;
        } else line = line === '' ? word : `${line} ${word}`;
      }
      return [...lines, line].join('\n');
    })
    .join('\n\n');
}

/** The arguments of `reset-signing`. */
interface ResetArgs {
  home: string;
  'i-know': boolean;
  'sit-out': boolean;
  json?: boolean;
}

function human(report: ResetReport): string {
  const lines = [
    `signing record rewritten: ${report.path}`,
    `  store height       ${report.store_height}`,
    `  previous record    ${report.previous}`,
    `  guard kept from    ${report.kept}${report.signed === null ? ' (nothing signed)' : ` (last signed ${report.signed})`}`,
    `  before signing     ${report.sit_out ? 'sync from a peer, then sit out the height in progress (skipped if the others cannot commit alone)' : 'nothing (--no-sit-out)'}`,
  ];
  const ahead = report.signed === null ? 0 : Number(report.signed.split('/')[0]);
  if (ahead > report.store_height + 1) {
    lines.push(
      `  note: this validator signed at height ${ahead}, above its store; it signs nothing until the chain passes it`,
    );
  }
  return lines.join('\n');
}

/** `reset-signing`, a command of the `node` group (network_commands.ts). */
export const reset_signing_command: CommandModule<object, ResetArgs> = {
  command: 'reset-signing',
  describe: "rewrite a validator's signing record after it refused to start (risky: read --help)",
  builder: (c) =>
    c
      .usage(`$0 node reset-signing --home DIR --i-know\n\n${RESET_SIGNING_RISK.join('\n\n')}`)
      .option('home', { type: 'string', demandOption: true, describe: 'the validator home' })
      .option('i-know', {
        type: 'boolean',
        default: false,
        describe: 'confirm you understand the risk above; without it nothing is changed',
      })
      .option('sit-out', {
        type: 'boolean',
        default: true,
        describe: 'sync and sit out one height before signing again (--no-sit-out to skip)',
      }) as Argv<ResetArgs>,
  handler: async (argv) => {
    if (!argv['i-know']) {
      process.stderr.write(
        `cloister: reset-signing changes nothing without --i-know.\n\n${wrap(RESET_SIGNING_RISK)}\n\n` +
          `When sure: cloister node reset-signing --home ${argv.home} --i-know\n`,
      );
      process.exit(1);
    }
    try {
      const report = await reset_signing(argv.home, { sit_out: argv['sit-out'] });
      process.stdout.write(argv.json ? `${JSON.stringify(report)}\n` : `${human(report)}\n`);
    } catch (error) {
      const e = error as Error;
      const hint = e.name === 'StoreOpenError' ? ' (is the node still running? stop it first)' : '';
      process.stderr.write(`cloister: reset-signing failed: ${e.message}${hint}\n`);
      process.exit(1);
    }
  },
};
