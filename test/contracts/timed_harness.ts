/**
 * A ContractHarness whose calls see a settable block time (`time_ms`), for contracts that check
 * expiry (stream_acl.js, key_keeper.js).
 * @module
 */

import type { CallOutcome, EntryPoint } from '../../enclave/vm/types.js';
import { ContractHarness, make_env, outgoing_funds } from '../vm/harness.js';

/** ContractHarness with `time_ms`; commits only successful non-query calls, as the executor does. */
export class TimedHarness extends ContractHarness {
  time_ms = 1_700_000_000_000;

  override call(entry: EntryPoint, msg: unknown, sender: string | null, funds = 0): CallOutcome {
    const outcome = this.program.call(
      make_env({
        entry,
        msg_json: JSON.stringify(msg),
        sender,
        contract: this.contract,
        height: this.height,
        time_ms: this.time_ms,
        gas_limit: this.gas_limit,
        funds,
        balance: this.balance + funds,
        storage: this.storage,
        random: this.random,
      }),
    );
    if (outcome.kind === 'ok' && entry !== 'query') {
      this.storage.commit();
      this.balance += funds - outgoing_funds(outcome);
    } else this.storage.discard();
    return outcome;
  }
}
