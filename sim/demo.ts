/**
 * `npm start`: a local network of validator enclaves with encrypted traffic.
 *
 * Validator 0 creates the network seed; every other validator joins by attestation
 * (protocol.md §8), receives the seed share, and replays the chain so far, checking every result
 * hash. Then a client workload of encrypted transactions against the reference contracts runs:
 * every block is executed by every validator's enclave (a worker pool each) and commits only when
 * validators with more than 2/3 of the voting power computed the same result hash. Clients
 * decrypt their results. Live progress on stderr; a summary when stopped (Ctrl-C) or done.
 *
 * Agreement here is a direct comparison of result hashes in one process; validator processes with
 * BFT consensus over TCP are issue #3.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BlockInput, BlockOutput, PublicKeys } from '../enclave/api.js';
import { AttestationService } from '../enclave/attestation.js';
import { PoolEnclave } from '../enclave/pool.js';
import { unwrap } from '../enclave/result.js';
import { reference_codes } from '../node/reference_contracts.js';
import { from_base64, from_hex, to_base64, to_hex } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { encrypt_message, type Scheme } from '../protocol/envelope.js';
import type { ProviderName } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { open_result } from '../protocol/result.js';
import { account_address, sign_tx, type TxMsg } from '../protocol/tx.js';
import { MemoryChain } from './memory_chain.js';

const HELP = `Usage: npm start [-- options]

Runs a local network of validator enclaves with encrypted client traffic until Ctrl-C.

Options:
  --validators N   validators, each with its own enclave worker pool (default 4, 1..16)
  --workers N      worker threads per enclave (default 1)
  --clients N      client accounts sending transactions (default 8)
  --block-txs N    transactions per block (default 64, 1..10000)
  --blocks N       stop after N workload blocks (default 0: run until Ctrl-C)
  --provider P     enclave crypto provider: native or noble (default native)
  --help           show this help
`;

interface Validator {
  index: number;
  enclave: PoolEnclave;
  chain: MemoryChain;
  power: number;
}

function int_option(value: string | undefined, name: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RangeError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      validators: { type: 'string' },
      workers: { type: 'string' },
      clients: { type: 'string' },
      'block-txs': { type: 'string' },
      blocks: { type: 'string' },
      provider: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const n_validators = int_option(values.validators, 'validators', 4, 1, 16);
  const workers = int_option(values.workers, 'workers', 1, 1, 8);
  const n_clients = int_option(values.clients, 'clients', 8, 1, 1000);
  const block_txs = int_option(values['block-txs'], 'block-txs', 64, 1, 10_000);
  const blocks_max = int_option(values.blocks, 'blocks', 0, 0, 1_000_000);
  const provider = (values.provider ?? 'native') as ProviderName;
  if (provider !== 'native' && provider !== 'noble')
    throw new RangeError('--provider must be native or noble');
  const p = get_provider(provider);

  const dir = mkdtempSync(join(tmpdir(), 'cloister-demo-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const attestation = new AttestationService(p, new Uint8Array(randomBytes(32)));
  const validators: Validator[] = [];
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    log('stopping…');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    // Genesis: validator 0 makes the seed.
    const enclave0 = new PoolEnclave({
      provider,
      platform_secret_file: join(dir, 'v0', 'platform_secret'),
      workers,
    });
    const measurement = unwrap(await enclave0.measurement());
    const keys: PublicKeys = unwrap(await enclave0.create_seed()).keys;
    const genesis = () =>
      new MemoryChain(p, {
        chain_id: 'cloister-demo-1',
        attestation: { roots: [attestation.root_pubkey], measurements: [measurement] },
        codes: reference_codes(),
      });
    validators.push({ index: 0, enclave: enclave0, chain: genesis(), power: 10 });
    log(
      `genesis: chain cloister-demo-1, io key ${keys.io_pubkey.slice(0, 16)}…, measurement ${measurement.slice(0, 16)}…`,
    );

    const history: { input: BlockInput; hash: string }[] = [];
    const time = () => 1_790_000_000_000 + validators[0]!.chain.height * 1000;
    /** Executes a block on every validator holding the seed; commits on > 2/3 power. */
    const run_block = async (txs: string[]): Promise<{ output: BlockOutput; agreeing: number }> => {
      const input = validators[0]!.chain.block_input(txs, time());
      const outputs = await Promise.all(
        validators.map((v) => v.enclave.execute_block(v.chain.block_input(txs, input.time_ms))),
      );
      const votes = new Map<string, number>();
      outputs.forEach((o, i) => {
        if (o.ok)
          votes.set(o.value.result_hash, (votes.get(o.value.result_hash) ?? 0) + validators[i]!.power);
      });
      const total = validators.reduce((s, v) => s + v.power, 0);
      const [hash, power] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
      if (3 * power <= 2 * total) throw new Error(`no 2/3 agreement at height ${input.height}`);
      let agreeing = 0;
      outputs.forEach((o, i) => {
        if (o.ok && o.value.result_hash === hash) {
          const v = validators[i]!;
          v.chain.apply(v.chain.block_input(txs, input.time_ms), o.value);
          agreeing++;
        }
      });
      history.push({ input, hash });
      const output = outputs.find((o) => o.ok && o.value.result_hash === hash);
      if (output === undefined || !output.ok) throw new Error('invariant: committed output missing');
      return { output: output.value, agreeing };
    };

    // The other validators join by registration, then replay the chain and check every hash.
    const operator = { sk: new Uint8Array(randomBytes(32)), sequence: 0 };
    const operator_pk = to_hex(p.ed25519_public(operator.sk));
    for (let i = 1; i < n_validators; i++) {
      const enclave = new PoolEnclave({
        provider,
        platform_secret_file: join(dir, `v${i}`, 'platform_secret'),
        workers,
      });
      const reg = unwrap(await enclave.attestation_report());
      const quote = attestation.quote(reg.report, time());
      const tx = sign_tx(p, operator.sk, {
        chain_id: 'cloister-demo-1',
        sender: operator_pk,
        sequence: operator.sequence++,
        gas_limit: 1_000_000,
        msg: { type: 'register_node', pk_reg: reg.pk_reg, quote },
      });
      const { output } = await run_block([JSON.stringify(tx)]);
      const share = output.results[0]!;
      if (share.code !== ResultCode.OK)
        throw new Error(`registration of validator ${i} refused (code ${share.code})`);
      const joined = unwrap(
        await enclave.accept_seed_share({
          sealed_reg: reg.sealed_reg,
          seed_share: share.output,
          seed_exchange_pubkey: keys.seed_exchange_pubkey,
        }),
      );
      if (joined.keys.io_pubkey !== keys.io_pubkey) throw new Error('joined a different network');
      const chain = genesis();
      for (const block of history) {
        const out = unwrap(
          await enclave.execute_block(chain.block_input(block.input.txs, block.input.time_ms)),
        );
        if (out.result_hash !== block.hash)
          throw new Error(`validator ${i} computed a different result at height ${block.input.height}`);
        chain.apply(chain.block_input(block.input.txs, block.input.time_ms), out);
      }
      validators.push({ index: i, enclave, chain, power: 10 });
      log(
        `validator ${i} joined by attestation and replayed ${history.length} blocks with identical results`,
      );
    }

    // Clients: accounts, one counter and one echo contract each scheme.
    const clients = Array.from({ length: n_clients }, () => {
      const sk = new Uint8Array(randomBytes(32));
      const pk = p.ed25519_public(sk);
      return { sk, pubkey: to_hex(pk), address: account_address(p, pk), sequence: 0 };
    });
    const codes = validators[0]!.chain.codes;
    const encrypt = (code_hash: string, msg: unknown, scheme: Scheme) => {
      const { envelope, tx_key } = encrypt_message(p, {
        scheme,
        sk_u: new Uint8Array(randomBytes(32)),
        pk_io: from_hex(keys.io_pubkey, 32),
        nonce: new Uint8Array(randomBytes(32)),
        chain_id: 'cloister-demo-1',
        code_hash,
        msg_json: JSON.stringify(msg),
      });
      return { payload: to_base64(envelope), tx_key };
    };
    const sign = (client: (typeof clients)[number], msg: TxMsg) =>
      JSON.stringify(
        sign_tx(p, client.sk, {
          chain_id: 'cloister-demo-1',
          sender: client.pubkey,
          sequence: client.sequence++,
          gas_limit: 2_000_000,
          msg,
        }),
      );
    const setup: string[] = [];
    const schemes: Scheme[] = ['gcm', 'siv'];
    for (const [code_id, init] of [
      [2, { count: 0 }],
      [1, {}],
    ] as const) {
      for (const scheme of schemes) {
        const e = encrypt(codes.get(code_id)!.code_hash, init, scheme);
        setup.push(
          sign(clients[0]!, {
            type: 'instantiate',
            code_id,
            label: `demo-${code_id}-${scheme}`,
            scheme,
            payload: e.payload,
          }),
        );
      }
    }
    const made = (await run_block(setup)).output.results.map((r) => r.contract!);
    const targets = made.map((address, i) => ({ address, code_id: i < 2 ? 2 : 1, scheme: schemes[i % 2]! }));
    log(
      `clients instantiated counters ${made[0]!.slice(0, 8)}… ${made[1]!.slice(0, 8)}… and echos; workload starts (Ctrl-C to stop)`,
    );

    // Workload.
    const started = performance.now();
    const latencies: number[] = [];
    let committed = 0;
    let decrypted = 0;
    let increments = 0;
    for (let b = 0; !stopping && (blocks_max === 0 || b < blocks_max); b++) {
      const submitted = performance.now();
      const sent: { tx_key: Uint8Array; scheme: Scheme; expect: unknown }[] = [];
      const txs: string[] = [];
      for (let t = 0; t < block_txs; t++) {
        const client = clients[(b * block_txs + t) % clients.length]!;
        const target = targets[t % targets.length]!;
        const value = `hello ${b}/${t}`;
        const msg = target.code_id === 2 ? { increment: {} } : { echo: { value } };
        const e = encrypt(codes.get(target.code_id)!.code_hash, msg, target.scheme);
        txs.push(
          sign(client, {
            type: 'execute',
            contract: target.address,
            scheme: target.scheme,
            payload: e.payload,
          }),
        );
        sent.push({ tx_key: e.tx_key, scheme: target.scheme, expect: target.code_id === 2 ? null : value });
        if (target.code_id === 2) increments++;
      }
      const { output, agreeing } = await run_block(txs);
      const now = performance.now();
      output.results.forEach((r, i) => {
        const s = sent[i]!;
        if (r.code !== ResultCode.OK) throw new Error(`tx failed with code ${r.code}`);
        const result = open_result(p, s.scheme, s.tx_key, from_base64(r.output));
        if ('error' in result) throw new Error(`contract error: ${result.error}`);
        if (s.expect !== null && result.data !== s.expect) throw new Error('echo returned a different value');
        decrypted++;
        latencies.push(now - submitted);
      });
      committed += txs.length;
      const secs = (now - started) / 1000;
      const sorted = [...latencies].sort((x, y) => x - y);
      log(
        `height ${validators[0]!.chain.height}  committed ${committed} tx  ${(committed / secs).toFixed(0)} tx/s  ` +
          `latency p50 ${percentile(sorted, 0.5).toFixed(0)} ms p99 ${percentile(sorted, 0.99).toFixed(0)} ms  agree ${agreeing}/${validators.length}`,
      );
    }

    const secs = (performance.now() - started) / 1000;
    const sorted = latencies.sort((x, y) => x - y);
    const heights = new Set(validators.map((v) => `${v.chain.height}:${v.chain.last_result_hash}`));
    process.stdout.write(
      `${[
        'summary',
        `  validators        ${validators.length} (enclave pools of ${workers} worker${workers > 1 ? 's' : ''}, provider ${provider})`,
        `  height            ${validators[0]!.chain.height}`,
        `  committed         ${committed} encrypted transactions in ${secs.toFixed(1)} s (${(committed / Math.max(secs, 1e-9)).toFixed(0)} tx/s)`,
        `  latency           p50 ${percentile(sorted, 0.5).toFixed(0)} ms, p99 ${percentile(sorted, 0.99).toFixed(0)} ms`,
        `  decrypted         ${decrypted} results by their clients`,
        `  counter increments ${increments}`,
        `  identical state   ${heights.size === 1 ? 'yes: every validator has the same height and result hash' : 'NO'}`,
      ].join('\n')}\n`,
    );
    return heights.size === 1 ? 0 : 1;
  } finally {
    await Promise.all(validators.map((v) => v.enclave.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cloister demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
