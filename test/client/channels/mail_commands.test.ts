/**
 * `cloister mail inbox`'s warning about a filling inbox (client/cli/channels/mail_commands.ts
 * fullness_lines): nothing below 7/8 of the 256 mails, a warning naming `mail delete` from there,
 * "full" at 256 (when the mailbox refuses new mail and invites), nothing from a mailbox that
 * does not say how full it is.
 */

import { describe, expect, it } from 'vitest';
import { fullness_lines, INBOX_NEARLY_FULL_MAILS } from '../../../client/cli/channels/mail_commands.js';

describe('mail inbox: a filling inbox', () => {
  it('warns from 224 of 256 mails on, and names the commands that make room', () => {
    expect(INBOX_NEARLY_FULL_MAILS).toBe(224);
    expect(fullness_lines('bob', 0)).toEqual([]);
    expect(fullness_lines('bob', 223)).toEqual([]);
    expect(fullness_lines('bob', null)).toEqual([]);
    const nearly = fullness_lines('bob', 224);
    expect(nearly).toHaveLength(1);
    expect(nearly[0]).toContain('your inbox is nearly full: 224 of 256 mails');
    expect(nearly[0]).toContain('`cloister mail delete --key bob --read`');
    expect(nearly[0]).toContain('`cloister mail delete --key bob ID...`');
    expect(fullness_lines('bob', 256)[0]).toContain('your inbox is full: 256 of 256 mails');
  });
});
