/**
 * Wall time per unit of gas (issue #11): does any contract call run longer than a bounded time per
 * gas? A catalogue of CPU bombs, each the cheapest-gas way found to make the engine work (heavy
 * built-ins, operators on huge strings and BigInts, spreads, constructors), runs with a fixed gas
 * limit until it runs out, and the benchmark reports milliseconds per million gas against the
 * bound (`--bound-ms`, default 1,000 ms per million gas) and against a plain metered loop
 * measured in the same run. Each case runs in its own worker thread with a wall-clock cap, so a
 * case that escapes metering shows as `capped` rather than hanging the run.
 *
 * Output: a table on stdout and JSON with `--out`. The exit status does not depend on the
 * results (CI does not gate on timings; test/scripts checks the output's shape).
 * @module
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { compile_contract, set_default_engine } from '../enclave/vm/compile.js';
import type { EngineName } from '../enclave/vm/types.js';
import { is_main, log, machine_info } from './bench/report.js';

/** The catalogue: a name and an execute body that never returns on its own. */
export const GAS_BOMBS: readonly (readonly [string, string])[] = [
  ['plain metered loop (reference)', 'let x = 0; for (;;) x++;'],
  ['arithmetic on numbers', 'let x = 1, y = 2; for (;;) { x = x * y + 1; y = y - x; }'],
  ['concatenate a huge string', "const s = 'x'.repeat(8e6); let t; for (;;) { t = s + 'y'; }"],
  [
    'compare huge strings',
    "const s = 'x'.repeat(8e6); const u = s.slice(1) + 'x'; let n = 0; for (;;) { if (s === u) n++; }",
  ],
  ['huge string as a property key', "const s = 'x'.repeat(4e6); const o = {}; for (;;) { o[s] = 1; }"],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the contract's own template literal.
  ['huge string in a template', "const s = 'x'.repeat(8e6); let t; for (;;) { t = `${s}y`; }"],
  ['spread a large array', 'const a = new Array(1e6).fill(1); let b; for (;;) b = [...a];'],
  [
    'a Set from a large array',
    'const a = new Array(1e6).fill(1).map((_, i) => i); let b; for (;;) b = new Set(a);',
  ],
  ['BigInt multiplication', 'const x = 3n ** 150000n; let y; for (;;) y = x * x;'],
  ['BigInt power', 'let y; for (;;) y = 7n ** 200000n;'],
  ['BigInt to decimal', 'const x = 3n ** 150000n; let y; for (;;) y = String(x);'],
  ['sort a large array', 'const a = new Array(2e5).fill(0).map((_, i) => -i); for (;;) a.sort();'],
  ['indexOf on a large array', 'const a = new Array(2e6).fill(0); for (;;) a.indexOf(1);'],
  [
    'JSON round trip',
    'const a = new Array(2e5).fill(0).map((_, i) => ({ i })); for (;;) JSON.parse(JSON.stringify(a));',
  ],
  ['split a huge string', "const s = 'a,'.repeat(1e6); for (;;) s.split(',');"],
  [
    'Object.assign of many keys',
    'const a = {}; for (let i = 0; i < 2e5; i++) a["k" + i] = i; for (;;) Object.assign({}, a);',
  ],
  [
    'object spread of many keys',
    'const a = {}; for (let i = 0; i < 2e5; i++) a["k" + i] = i; let b; for (;;) b = { ...a };',
  ],
  [
    'for-in over many keys, once each',
    'const a = {}; for (let i = 0; i < 2e5; i++) a["k" + i] = i; for (;;) { for (const k in a) break; }',
  ],
  ['large typed arrays', 'let b; for (;;) b = new Uint8Array(1 << 24);'],
  ['large sparse arrays', 'let b; for (;;) b = new Array(1 << 22).fill(0);'],
  // protocol.md §9: what a contract can make the VM do outside its own code.
  ['debug lines of a long string', "const s = 'x'.repeat(1e6); for (;;) ctx.debug(s, s);"],
  [
    'debug lines of a large object',
    'const o = new Array(2e4).fill(0).map((_, i) => ({ i })); for (;;) console.log(o);',
  ],
  [
    'execute messages with large msgs',
    "const m = { s: 'x'.repeat(6e4) }; const to = 'ab'.repeat(20); for (;;) { try { ctx.execute(to, m, { funds: 1 }); } catch (e) {} }",
  ],
  [
    "sends past the messages' limit",
    "const to = 'ab'.repeat(20); for (;;) { try { ctx.send(to, 1); } catch (e) {} }",
  ],
  ['caught engine errors', 'let o = null; for (;;) { try { o.x = 1; } catch (e) {} }'],
  [
    'public events',
    "const v = 'x'.repeat(4000); for (;;) { try { ctx.emit('e', { v }, { public: true }); } catch (e) {} }",
  ],
];

interface CaseResult {
  name: string;
  outcome: string;
  gas: number;
  wall_ms: number;
  ms_per_mgas: number;
}

const HELP = `Usage: node dist/scripts/bench_gas.js [--engine quickjs|v8] [--gas N] [--cap-ms N] [--bound-ms N] [--out FILE]

Runs a catalogue of CPU bombs until each runs out of gas and reports wall time per million gas
against a bound (default 1,000 ms per million gas).

  --engine E     quickjs (default, what validators run) or v8 (node:vm)
  --gas N        gas limit of each call (default 10,000,000)
  --cap-ms N     wall-clock cap per case; a case past it is reported as capped (default 60,000)
  --bound-ms N   the absolute bound, in ms per million gas (default 1,000)
  --bound-loops N  the relative bound: at most N times the plain metered loop's ms per million
                 gas, measured in the same run (default 4)
  --out FILE     write the results as JSON to FILE
  --help         this text
`;

function run_case(engine: EngineName, body: string, gas: number): { outcome: string; wall_ms: number } {
  set_default_engine(engine);
  const compiled = compile_contract(`export function execute(ctx, msg) { ${body} }`);
  if (!compiled.ok) return { outcome: `refused: ${compiled.message}`, wall_ms: 0 };
  const started = performance.now();
  const outcome = compiled.program.call({
    entry: 'execute',
    msg_json: '{}',
    sender: 'aa'.repeat(20),
    contract: 'bb'.repeat(20),
    chain_id: 'bench',
    height: 1,
    time_ms: 0,
    gas_limit: gas,
    funds: 0,
    balance: 0,
    storage: { get: () => null, set: () => {}, remove: () => {} },
    random: () => new Uint8Array(32),
  });
  return { outcome: outcome.kind, wall_ms: performance.now() - started };
}

function in_worker(
  engine: EngineName,
  body: string,
  gas: number,
  cap_ms: number,
): Promise<{ outcome: string; wall_ms: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { engine, body, gas } });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve({ outcome: 'capped', wall_ms: cap_ms });
    }, cap_ms);
    worker.once('message', (message: { outcome: string; wall_ms: number }) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(message);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string', default: 'quickjs' },
      gas: { type: 'string', default: '10000000' },
      'cap-ms': { type: 'string', default: '60000' },
      'bound-ms': { type: 'string', default: '1000' },
      'bound-loops': { type: 'string', default: '4' },
      only: { type: 'string' }, // hidden: a substring of case names, for the test
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const engine = values.engine;
  if (engine !== 'quickjs' && engine !== 'v8') throw new TypeError('--engine must be quickjs or v8');
  const gas = Number(values.gas);
  const cap_ms = Number(values['cap-ms']);
  const bound_ms = Number(values['bound-ms']);
  const bound_loops = Number(values['bound-loops']);
  for (const [name, v] of [
    ['--gas', gas],
    ['--cap-ms', cap_ms],
    ['--bound-ms', bound_ms],
    ['--bound-loops', bound_loops],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  const cases = GAS_BOMBS.filter(([name]) => values.only === undefined || name.includes(values.only));
  const results: CaseResult[] = [];
  for (const [i, [name, body]] of cases.entries()) {
    const { outcome, wall_ms } = await in_worker(engine, body, gas, cap_ms);
    const ms_per_mgas = (wall_ms / gas) * 1e6;
    results.push({ name, outcome, gas, wall_ms: Math.round(wall_ms), ms_per_mgas: Math.round(ms_per_mgas) });
    log(`[${i + 1}/${cases.length}] ${name}: ${outcome}, ${ms_per_mgas.toFixed(0)} ms per million gas`);
  }
  const reference = results.find((r) => r.name.includes('reference'))?.ms_per_mgas ?? null;
  const worst_loops =
    reference === null || reference === 0
      ? null
      : results.reduce(
          (m, r) =>
            Math.max(m, r.outcome === 'capped' ? Number.POSITIVE_INFINITY : r.ms_per_mgas / reference),
          0,
        );
  const worst = results.reduce(
    (m, r) => Math.max(m, r.outcome === 'capped' ? Number.POSITIVE_INFINITY : r.ms_per_mgas),
    0,
  );
  const rows = results.map((r) => ({
    ...r,
    ratio_to_bound: r.ms_per_mgas / bound_ms,
    ratio_to_reference: reference ? r.ms_per_mgas / reference : null,
  }));
  const head = 'case                                   outcome      ms/Mgas   ×bound   ×loop';
  const lines = rows.map(
    (r) =>
      `${r.name.padEnd(38)} ${r.outcome.padEnd(11)} ${String(r.ms_per_mgas).padStart(8)} ${r.ratio_to_bound.toFixed(2).padStart(8)} ${r.ratio_to_reference === null ? '' : r.ratio_to_reference.toFixed(1).padStart(7)}`,
  );
  const loops_met = worst_loops !== null && worst_loops <= bound_loops;
  const loops_text = worst_loops === null ? '?' : worst_loops.toFixed(1);
  process.stdout.write(
    `${head}\n${lines.join('\n')}\n\nworst: ${worst} ms per million gas; bound ${bound_ms}: ${worst <= bound_ms ? 'met' : 'NOT met'}\n` +
      `worst: ${loops_text} × the plain loop; bound ${bound_loops}: ${loops_met ? 'met' : 'NOT met'}\n`,
  );
  if (values.out !== undefined) {
    const report = {
      engine,
      gas,
      bound_ms_per_mgas: bound_ms,
      worst_ms_per_mgas: Number.isFinite(worst) ? worst : null,
      met: worst <= bound_ms,
      bound_loops,
      worst_loops: worst_loops !== null && Number.isFinite(worst_loops) ? worst_loops : null,
      loops_met,
      results: rows,
      machine: machine_info(),
    };
    writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${values.out}`);
  }
}

if (!isMainThread && workerData !== null && typeof workerData === 'object' && 'body' in workerData) {
  const { engine, body, gas } = workerData as { engine: EngineName; body: string; gas: number };
  parentPort?.postMessage(run_case(engine, body, gas));
} else if (is_main(import.meta.url)) {
  main().catch((error: unknown) => {
    log(`bench:gas failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
