import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CallOutcome, EntryPoint } from '../../enclave/vm/types.js';
import { address, ContractHarness, contract_source } from './harness.js';

// Replay a failure with FC_SEED=<seed printed below>.
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`determinism property seed: FC_SEED=${seed}`);

interface Step {
  contract: 'counter' | 'echo';
  entry: EntryPoint;
  msg: unknown;
  gas_limit: number;
}

const json_value = fc.jsonValue({ maxDepth: 3 });

const step = fc.oneof(
  fc.record({
    contract: fc.constant('counter' as const),
    entry: fc.constantFrom<EntryPoint>('execute', 'query', 'instantiate'),
    msg: fc.oneof(
      fc.constant({ increment: {} }),
      fc.constant({ get_count: {} }),
      fc.record({ count: fc.oneof(fc.integer(), fc.constant(Number.MAX_SAFE_INTEGER), fc.double()) }),
      json_value,
    ),
    gas_limit: fc.oneof(fc.constant(10_000_000), fc.integer({ min: 0, max: 20_000 })),
  }),
  fc.record({
    contract: fc.constant('echo' as const),
    entry: fc.constantFrom<EntryPoint>('execute', 'query', 'instantiate'),
    msg: fc.oneof(fc.record({ echo: fc.record({ value: json_value }) }), json_value),
    gas_limit: fc.oneof(fc.constant(10_000_000), fc.integer({ min: 0, max: 20_000 })),
  }),
);

function run_sequence(steps: Step[]): { outcomes: CallOutcome[]; state: [string, string][][] } {
  const harnesses = {
    counter: new ContractHarness(contract_source('counter')),
    echo: new ContractHarness(contract_source('echo')),
  };
  const outcomes = steps.map((s) => {
    const harness = harnesses[s.contract];
    harness.gas_limit = s.gas_limit;
    return harness.call(s.entry, s.msg, s.entry === 'query' ? null : address('alice'));
  });
  return { outcomes, state: [harnesses.counter.storage.snapshot(), harnesses.echo.storage.snapshot()] };
}

describe('determinism', () => {
  it('the same input gives the same CallOutcome JSON on every run and every compile', () => {
    const steps: Step[] = [
      { contract: 'counter', entry: 'instantiate', msg: { count: 5 }, gas_limit: 1_000_000 },
      { contract: 'counter', entry: 'execute', msg: { increment: {} }, gas_limit: 1_000_000 },
      { contract: 'counter', entry: 'query', msg: { get_count: {} }, gas_limit: 1_000_000 },
      { contract: 'counter', entry: 'execute', msg: { increment: {} }, gas_limit: 5_100 },
      {
        contract: 'echo',
        entry: 'execute',
        msg: { echo: { value: { z: [1.5, 'é', null] } } },
        gas_limit: 1_000_000,
      },
      { contract: 'echo', entry: 'query', msg: { nope: 1 }, gas_limit: 1_000_000 },
    ];
    const first = JSON.stringify(run_sequence(steps));
    for (let i = 0; i < 3; i++) expect(JSON.stringify(run_sequence(steps))).toBe(first);
    expect(JSON.parse(first).outcomes.map((o: CallOutcome) => o.kind)).toEqual([
      'ok',
      'ok',
      'ok',
      'out_of_gas',
      'ok',
      'error',
    ]);
  });

  it('random counter and echo message sequences give identical outcomes on two programs', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        const a = run_sequence(steps);
        const b = run_sequence(steps);
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      }),
      { seed, numRuns: 60 },
    );
  });
});
