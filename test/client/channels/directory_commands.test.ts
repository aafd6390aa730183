/**
 * `cloister directory show`'s status column (client/cli/channels/directory_commands.ts key_status):
 * a key revoked by the height shown, one published after it, one whose revocation is scheduled
 * after it, and a plain active one.
 */

import { describe, expect, it } from 'vitest';
import { key_status } from '../../../client/cli/channels/directory_commands.js';
import type { DirectoryKey } from '../../../client/sdk/channels/key_uri.js';

const A = 'ab'.repeat(20);

function key(published_height: number, revoked_height: number | null): DirectoryKey {
  return {
    address: A,
    key_id: 'kx1',
    uri: `cloister:${A}#kx1`,
    public_key: new Uint8Array(32),
    published_height,
    revoked_height,
  };
}

describe('directory show: key status', () => {
  it('says revoked, not yet published, active with a scheduled revocation, or active', () => {
    expect(key_status(key(10, null), 20)).toBe('active');
    expect(key_status(key(10, 15), 20)).toBe('revoked at height 15');
    expect(key_status(key(10, 20), 20)).toBe('revoked at height 20');
    // A revocation scheduled after the height shown: usable now, and the height it stops.
    expect(key_status(key(10, 30), 20)).toBe('active (revoked from height 30)');
    // Published after the height shown (a status read before the key's block): never "revoked from null".
    expect(key_status(key(25, null), 20)).toBe('not yet published at this height');
    expect(key_status(key(25, 40), 20)).toBe('not yet published at this height');
  });
});
