/**
 * The enclave's strict parser refuses a transaction text that repeats a JSON key, whatever the
 * host proposes (docs/protocol-notes.md): code 7, filed under the hash of its raw text, changing
 * nothing, so the account's sequence is still free for the honest text.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import { to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { commit_block, encrypt, new_chain, TestAccount, temp_home } from './fixtures.js';

const p = get_provider('native');

describe('enclave: duplicate keys in a transaction', () => {
  const home = temp_home();
  let enclave: InProcessEnclave;
  let keys: PublicKeys;
  let measurement: string;

  beforeAll(async () => {
    enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
    measurement = unwrap(await enclave.measurement());
    keys = unwrap(await enclave.create_seed()).keys;
  });

  afterAll(async () => {
    await enclave.close();
    home.remove();
  });

  it('refuses each with code 7 under its raw hash, and then runs the honest text', async () => {
    const chain = await new_chain(p, measurement);
    const echo = await chain.code(1);
    const account = new TestAccount(p, 'enclave-dup');
    const honest = account.tx({
      type: 'instantiate',
      code_id: 1,
      label: 'e',
      scheme: 'gcm',
      payload: encrypt(p, keys, echo.code_hash, {}).payload,
    });
    const duplicated = [
      `{"signature":"${'0'.repeat(128)}",${honest.slice(1)}`,
      honest.replace('"gas_limit":', '"gas_limit":1,"gas_limit":'),
      honest.replace('"msg":{', '"msg":{"label":"x",'),
    ];
    for (const text of duplicated) expect(JSON.parse(text)).toEqual(JSON.parse(honest));
    const { output } = await commit_block(enclave, chain, [...duplicated, honest]);
    expect(output.results.map((r) => [r.hash, r.code])).toEqual([
      ...duplicated.map((text) => [to_hex(p.sha256(utf8(text))), ResultCode.MALFORMED_TX]),
      [expect.stringMatching(/^[0-9a-f]{64}$/), ResultCode.OK],
    ]);
    expect(output.accounts).toEqual({ [account.address]: 1 });
  });
});
