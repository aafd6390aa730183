/**
 * An invariant failure halts loudly: an InvariantError thrown where the engine acts reaches the
 * engine's halt, and from there the node's halt path (`on_halt`, which node/assemble.ts turns into
 * the RPC backend's halted status), instead of a log line and a node that goes on. And the engine's
 * own asserts throw InvariantError.
 */

import { describe, expect, it } from 'vitest';
import { type ConsensusApp, ConsensusEngine } from '../../node/consensus/engine.js';
import { MemorySignedStateStore } from '../../node/consensus/signed_state.js';
import { to_hex } from '../../protocol/bytes.js';
import { InvariantError, invariant } from '../../protocol/invariant.js';
import { CHAIN_ID, DEFAULT_TIMEOUTS, p, TestApp, VirtualScheduler, validator_key } from './harness.js';

describe('InvariantError', () => {
  it('invariant() throws it, naming what failed, and only when the condition is false', () => {
    expect(() => invariant(true, 'holds')).not.toThrow();
    expect(() => invariant(false, 'quorums intersect')).toThrow(InvariantError);
    expect(() => invariant(false, 'quorums intersect')).toThrow(/invariant violated: quorums intersect/);
  });

  it('thrown by the app while the engine commits, it halts the engine and reaches on_halt', async () => {
    const sched = new VirtualScheduler();
    const { sk, pubkey } = validator_key(0);
    const chain = new Map();
    const test_app = new TestApp(0, pubkey, sched, chain);
    const app: ConsensusApp = {
      propose: (args) => test_app.propose(args),
      validate: (block) => test_app.validate(block),
      commit: async () => {
        throw new InvariantError('invariant violated: the committed block is not the last one');
      },
    };
    const halts: string[] = [];
    const engine = new ConsensusEngine(
      { chain_id: CHAIN_ID, validators: [{ pubkey, power: 10 }], timeouts: DEFAULT_TIMEOUTS },
      {
        p,
        app,
        signer: { pubkey, sign: (m) => to_hex(p.ed25519_sign(sk, m)) },
        outbox: { broadcast: () => undefined },
        clock: sched,
        signed_state: new MemorySignedStateStore(),
        on_halt: (reason) => halts.push(reason),
      },
    );
    await engine.start({ height: 1, parent: null, last_commit: null });
    await sched.run(60_000, () => halts.length > 0);
    expect(halts).toHaveLength(1);
    expect(halts[0]).toMatch(
      /app\.commit failed: invariant violated: the committed block is not the last one/,
    );
    expect(engine.step).toBe('halted');
    // Halted for good: time goes on and nothing more happens.
    await sched.run(120_000);
    expect(halts).toHaveLength(1);
  });
});
