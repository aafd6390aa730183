/**
 * CometBFT processes for the simulator (issue #17; sim/cometbft/): finding the pinned binary,
 * the testnet files written from TypeScript (checked against what CometBFT v0.38.17 itself
 * writes and reads), and four real cometbft processes with the built-in kvstore app: a
 * transaction committed by all four, one node stopped, the other three going on, the stopped one
 * restarted and catching up.
 *
 * Needs cometbft v0.38.17 (test/cometbft_helpers.ts): without it the process tests are skipped
 * with the install command, except under CI=true, where they fail. Ports 29100-29199 only.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { from_hex, to_base64, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import {
  COMETBFT_INSTALL_COMMAND,
  COMETBFT_VERSION,
  check_cometbft,
  find_cometbft,
  is_pinned_version,
} from '../../sim/cometbft/binary.js';
import {
  type CometProcess,
  type CometStatus,
  comet_rpc,
  start_cometbft,
  wait_rpc,
} from '../../sim/cometbft/process.js';
import {
  COMET_LOCAL_TIMEOUTS,
  type CometTestnet,
  type CometValidator,
  comet_node_id,
  comet_priv_validator_key,
  write_cometbft_testnet,
} from '../../sim/cometbft/testnet.js';
import { comet_skip, cometbft_bin, require_cometbft } from '../cometbft_helpers.js';

const p = get_provider('native');
const dir = mkdtempSync(join(tmpdir(), 'cloister-cometbft-'));
const procs: CometProcess[] = [];
afterAll(async () => {
  await Promise.all(procs.map((c) => c.stop(5_000)));
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Four validators with fixed keys; the fourth has less power, so any three make +2/3. */
function validators(): CometValidator[] {
  return [10, 10, 10, 5].map((power, i) => ({
    name: `val${i}`,
    secret_key: p.sha256(utf8(`cometbft test validator ${i}`)),
    power,
  }));
}

/** config.toml's `section.key` → value text (the flat TOML CometBFT writes: no tables in arrays). */
function toml_values(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[([a-z0-9_]+)\]$/.exec(line);
    if (header !== null) {
      section = `${header[1]}.`;
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
    if (kv === null) throw new Error(`not a TOML key line: ${line}`);
    out.set(`${section}${kv[1]}`, kv[2]!);
  }
  return out;
}

const read_json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('the cometbft binary (sim/cometbft/binary.ts)', () => {
  const bins = join(dir, 'fake-bins');
  /** An executable `cometbft` in `folder` printing `version`. */
  function fake(folder: string, version: string, mode = 0o755): string {
    mkdirSync(folder, { recursive: true });
    const path = join(folder, 'cometbft');
    writeFileSync(path, `#!/bin/sh\necho ${version}\n`);
    chmodSync(path, mode);
    return path;
  }

  it('names the pinned release and its install command', () => {
    expect(COMETBFT_VERSION).toBe('0.38.17');
    expect(COMETBFT_INSTALL_COMMAND).toBe('go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.17');
    expect(is_pinned_version('0.38.17')).toBe(true);
    expect(is_pinned_version('0.38.17+abc123')).toBe(true);
    expect(is_pinned_version('0.38.16')).toBe(false);
    expect(is_pinned_version('0.38.170')).toBe(false);
  });

  it('looks in COMETBFT_BIN, then PATH, then GOBIN, then GOPATH/bin, executable files only', () => {
    const on_path = fake(join(bins, 'path'), '0.38.17');
    const in_gopath = fake(join(bins, 'gopath', 'bin'), '0.38.17');
    const not_exec = fake(join(bins, 'noexec'), '0.38.17', 0o644);
    const gopath = join(bins, 'gopath');
    const home = join(bins, 'home');
    expect(find_cometbft({ PATH: join(bins, 'path'), GOPATH: gopath, HOME: home })).toBe(on_path);
    expect(find_cometbft({ PATH: join(bins, 'noexec'), GOPATH: gopath, HOME: home })).toBe(in_gopath);
    expect(find_cometbft({ PATH: '', GOBIN: join(bins, 'path'), GOPATH: gopath, HOME: home })).toBe(on_path);
    expect(find_cometbft({ PATH: '', HOME: join(bins, 'gopath', '..') })).toBeNull(); // ~/go/bin: none there
    expect(find_cometbft({ COMETBFT_BIN: on_path, PATH: '' })).toBe(on_path);
    // A COMETBFT_BIN that cannot run is reported, not replaced by another binary.
    expect(find_cometbft({ COMETBFT_BIN: not_exec, PATH: join(bins, 'path') })).toBeNull();
    expect(find_cometbft({ PATH: join(bins, 'empty'), GOPATH: join(bins, 'empty'), HOME: home })).toBeNull();
  });

  it('reports a missing binary or another version with the install command', () => {
    const missing = check_cometbft({ PATH: '', GOPATH: join(bins, 'none'), HOME: join(bins, 'none') });
    expect(missing.ok).toBe(false);
    if (!missing.ok) {
      expect(missing.error).toContain('not found');
      expect(missing.error).toContain(COMETBFT_INSTALL_COMMAND);
      expect(missing.error).toContain('https://go.dev/dl');
    }
    const old = fake(join(bins, 'old'), '0.38.16');
    const wrong = check_cometbft({ COMETBFT_BIN: old });
    expect(wrong).toMatchObject({ ok: false, bin: old });
    if (!wrong.ok) expect(wrong.error).toContain(`is CometBFT "0.38.16", not v0.38.17; install it with`);
    expect(check_cometbft({ COMETBFT_BIN: fake(join(bins, 'good'), '0.38.17') })).toMatchObject({
      ok: true,
      version: '0.38.17',
    });
  });
});

describe('the testnet files (sim/cometbft/testnet.ts)', () => {
  it('writes a validator key as CometBFT does (a key `cometbft init` wrote)', () => {
    const seed = from_hex('59af1a1562c11c8bb0b039cf9e3b3d0a906c04baee723716dcd02304fa4095e2');
    expect(comet_priv_validator_key(seed)).toEqual({
      address: '165B0338A4C4EE82E749003522F0DB42A5BBD75B',
      pub_key: { type: 'tendermint/PubKeyEd25519', value: 'cFU/zhiDopOmylxMtJEKeU9aHHDM1eoYOebVurpeL1w=' },
      priv_key: {
        type: 'tendermint/PrivKeyEd25519',
        value: 'Wa8aFWLBHIuwsDnPnjs9CpBsBLrucjcW3NAjBPpAleJwVT/OGIOik6bKXEy0kQp5T1occMzV6hg55tW6ul4vXA==',
      },
    });
    // A node key `cometbft init` wrote, and its id as `cometbft show-node-id` printed it.
    const node_seed = from_hex('7b2fba64654b5a1390405e4359e075326cae062f7772df12eb57ac43f93ef9c9');
    expect(comet_node_id(p.ed25519_public(node_seed))).toBe('8ae8199b24e05fbf76c1ff6476f367987d1f39d3');
  });

  it('writes every home: keys, genesis with the input validators, peers, ports', () => {
    const vals = validators();
    const net = write_cometbft_testnet({
      dir: join(dir, 'files'),
      chain_id: 'cloister-files',
      validators: vals,
      genesis_time_ms: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
      base_port: 29150,
    });
    expect(net.warnings).toEqual([]);
    expect(net.nodes.map((n) => [n.rpc_url, n.p2p_port, n.abci_address])).toEqual([
      ['http://127.0.0.1:29150', 29151, 'tcp://127.0.0.1:29152'],
      ['http://127.0.0.1:29160', 29161, 'tcp://127.0.0.1:29162'],
      ['http://127.0.0.1:29170', 29171, 'tcp://127.0.0.1:29172'],
      ['http://127.0.0.1:29180', 29181, 'tcp://127.0.0.1:29182'],
    ]);
    const genesis = read_json(join(net.nodes[0]!.home, 'config', 'genesis.json'));
    expect(genesis.genesis_time).toBe('2026-01-02T03:04:05.678Z');
    expect(genesis.chain_id).toBe('cloister-files');
    expect(genesis.initial_height).toBe('1');
    expect(genesis.app_hash).toBe('');
    expect(genesis.consensus_params.abci).toEqual({ vote_extensions_enable_height: '0' });
    expect(genesis.validators).toEqual(
      vals.map((v) => {
        const pub = p.ed25519_public(v.secret_key);
        return {
          address: net.nodes.find((n) => n.name === v.name)!.validator_address,
          pub_key: { type: 'tendermint/PubKeyEd25519', value: to_base64(pub) },
          power: String(v.power),
          name: v.name,
        };
      }),
    );
    net.nodes.forEach((node, i) => {
      const home = node.home;
      expect(readFileSync(join(home, 'config', 'genesis.json'), 'utf8')).toBe(
        readFileSync(join(net.nodes[0]!.home, 'config', 'genesis.json'), 'utf8'),
      );
      const key = read_json(join(home, 'config', 'priv_validator_key.json'));
      expect(key).toEqual(comet_priv_validator_key(vals[i]!.secret_key));
      expect(key.address).toBe(node.validator_address);
      const node_key = read_json(join(home, 'config', 'node_key.json'));
      const node_pub = Buffer.from(node_key.priv_key.value, 'base64').subarray(32);
      expect(comet_node_id(node_pub)).toBe(node.node_id);
      expect(read_json(join(home, 'data', 'priv_validator_state.json'))).toEqual({
        height: '0',
        round: 0,
        step: 0,
      });
      const config = toml_values(readFileSync(join(home, 'config', 'config.toml'), 'utf8'));
      const peers = JSON.parse(config.get('p2p.persistent_peers')!).split(',');
      expect(peers.sort()).toEqual(
        net.nodes
          .filter((o) => o !== node)
          .map((o) => `${o.node_id}@127.0.0.1:${o.p2p_port}`)
          .sort(),
      );
      expect(config.get('proxy_app')).toBe(JSON.stringify(node.abci_address));
      expect(config.get('moniker')).toBe(JSON.stringify(node.name));
      expect(config.get('rpc.laddr')).toBe(`"tcp://127.0.0.1:${29150 + 10 * i}"`);
      expect(config.get('p2p.laddr')).toBe(`"tcp://127.0.0.1:${node.p2p_port}"`);
      expect(config.get('consensus.timeout_propose')).toBe(`"${COMET_LOCAL_TIMEOUTS.propose_ms}ms"`);
      expect(config.get('consensus.create_empty_blocks')).toBe('false');
    });
    expect(new Set(net.nodes.map((n) => n.node_id)).size).toBe(4);
    // Written once: a second write would reset the validators' double-sign protection.
    expect(() =>
      write_cometbft_testnet({
        dir: join(dir, 'files'),
        chain_id: 'again',
        validators: vals,
        genesis_time_ms: 0,
        base_port: 29150,
      }),
    ).toThrow(/priv_validator_state\.json exists/);
    // keep_existing: written homes are kept as they are (their signing state above all).
    const state = join(net.nodes[2]!.home, 'data', 'priv_validator_state.json');
    writeFileSync(state, '{"height": "7", "round": 0, "step": 3}\n');
    const files_opts = {
      dir: join(dir, 'files'),
      chain_id: 'cloister-files',
      validators: vals,
      genesis_time_ms: 0,
      base_port: 29150,
      keep_existing: true,
    };
    expect(write_cometbft_testnet(files_opts).nodes).toEqual(net.nodes);
    expect(read_json(state)).toEqual({ height: '7', round: 0, step: 3 });
    expect(read_json(join(net.nodes[2]!.home, 'config', 'genesis.json'))).toEqual(genesis);
    const swapped = [vals[1]!, vals[0]!, vals[2]!, vals[3]!].map((v, i) => ({ ...v, name: vals[i]!.name }));
    expect(() => write_cometbft_testnet({ ...files_opts, validators: swapped })).toThrow(/another key/);
  });

  it('puts a unix ABCI socket in the home, or tcp where its path is too long for sun_path', () => {
    const base = {
      chain_id: 'c',
      validators: validators().slice(0, 1),
      genesis_time_ms: 0,
      base_port: 29190,
    };
    const short = write_cometbft_testnet({ ...base, dir: join(dir, 'u'), abci: 'unix' });
    expect(short.nodes[0]!.abci_address).toBe(`unix://${join(dir, 'u', 'val0', 'abci.sock')}`);
    expect(short.warnings).toEqual([]);
    const long = write_cometbft_testnet({ ...base, dir: join(dir, 'x'.repeat(100)), abci: 'unix' });
    expect(long.nodes[0]!.abci_address).toBe('tcp://127.0.0.1:29192');
    expect(long.warnings).toHaveLength(1);
    expect(long.warnings[0]).toMatch(/sun_path.*tcp:\/\/127\.0\.0\.1:29192/);
    const kv = write_cometbft_testnet({ ...base, dir: join(dir, 'kv'), proxy_app: 'kvstore' });
    const config = toml_values(readFileSync(join(kv.nodes[0]!.home, 'config', 'config.toml'), 'utf8'));
    expect(config.get('proxy_app')).toBe('"kvstore"');
  });

  it('refuses what CometBFT would refuse', () => {
    const base = {
      dir: join(dir, 'bad'),
      chain_id: 'c',
      validators: validators(),
      genesis_time_ms: 0,
      base_port: 29100,
    };
    expect(() => write_cometbft_testnet({ ...base, chain_id: 'x'.repeat(51) })).toThrow(/chain_id/);
    expect(() => write_cometbft_testnet({ ...base, validators: [] })).toThrow(/at least one/);
    const [a, b] = validators();
    expect(() => write_cometbft_testnet({ ...base, validators: [a!, { ...b!, name: a!.name }] })).toThrow(
      /twice/,
    );
    expect(() =>
      write_cometbft_testnet({ ...base, validators: [a!, { ...b!, secret_key: a!.secret_key }] }),
    ).toThrow(/another validator's key/);
    expect(() => write_cometbft_testnet({ ...base, validators: [{ ...a!, name: '../x' }] })).toThrow(
      /folder name/,
    );
    expect(() => write_cometbft_testnet({ ...base, validators: [{ ...a!, power: 0 }] })).toThrow(/power/);
    expect(() => write_cometbft_testnet({ ...base, base_port: 65530 })).toThrow(/ports/);
  });

  it('start_cometbft rejects a binary that does not exist', async () => {
    const net = write_cometbft_testnet({
      dir: join(dir, 'nobin'),
      chain_id: 'c',
      validators: validators().slice(0, 1),
      genesis_time_ms: 0,
      base_port: 29190,
    });
    await expect(
      start_cometbft(net.nodes[0]!, join(dir, 'no-such-cometbft'), { log_file: join(dir, 'nobin.log') }),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe.skipIf(comet_skip)('CometBFT v0.38.17 reads the files and runs them', () => {
  // Under CI=true without the binary, each test fails with the install command (never skipped).
  const bin = cometbft_bin ?? '';

  it('config.toml has every key `cometbft init` writes, with its defaults but the ones set', () => {
    const ref = join(dir, 'init-ref');
    require_cometbft();
    execFileSync(bin, ['init', '--home', ref], { stdio: 'ignore' });
    const theirs = toml_values(readFileSync(join(ref, 'config', 'config.toml'), 'utf8'));
    const net = write_cometbft_testnet({
      dir: join(dir, 'cfg'),
      chain_id: 'c',
      validators: validators(),
      genesis_time_ms: 0,
      base_port: 29100,
    });
    const ours = toml_values(readFileSync(join(net.nodes[0]!.home, 'config', 'config.toml'), 'utf8'));
    expect([...ours.keys()]).toEqual([...theirs.keys()]);
    const set = new Set([
      'proxy_app',
      'moniker',
      'log_level',
      'rpc.laddr',
      'p2p.laddr',
      'p2p.persistent_peers',
      'p2p.addr_book_strict',
      'p2p.persistent_peers_max_dial_period',
      'p2p.pex',
      'p2p.allow_duplicate_ip',
      'p2p.flush_throttle_timeout',
      'consensus.peer_gossip_sleep_duration',
      'consensus.timeout_propose',
      'consensus.timeout_propose_delta',
      'consensus.timeout_prevote',
      'consensus.timeout_prevote_delta',
      'consensus.timeout_precommit',
      'consensus.timeout_precommit_delta',
      'consensus.timeout_commit',
      'consensus.create_empty_blocks',
    ]);
    const differing = [...theirs].filter(([k, v]) => ours.get(k) !== v).map(([k]) => k);
    expect(differing.filter((k) => !set.has(k))).toEqual([]);
    // The genesis consensus params are `cometbft init`'s.
    const their_genesis = read_json(join(ref, 'config', 'genesis.json'));
    const our_genesis = read_json(join(net.nodes[0]!.home, 'config', 'genesis.json'));
    expect(our_genesis.consensus_params).toEqual(their_genesis.consensus_params);
    // CometBFT reads the keys as written: the same node id and validator key.
    for (const node of net.nodes) {
      expect(execFileSync(bin, ['show-node-id', '--home', node.home], { encoding: 'utf8' }).trim()).toBe(
        node.node_id,
      );
      const shown = JSON.parse(
        execFileSync(bin, ['show-validator', '--home', node.home], { encoding: 'utf8' }),
      );
      expect(shown).toEqual(read_json(join(node.home, 'config', 'priv_validator_key.json')).pub_key);
    }
  });

  describe('four validators with the kvstore app', () => {
    let net: CometTestnet;
    const running: (CometProcess | null)[] = [null, null, null, null];
    const logs = join(dir, 'logs');
    const log_of = (name: string) => join(logs, `${name}.log`);
    /** A started node's process (the test fails if it is not running). */
    const proc = (i: number) => running[i]!;

    /** Starts node i and waits for its RPC. */
    async function start(i: number): Promise<void> {
      const c = await start_cometbft(net.nodes[i]!, bin, { log_file: log_of(net.nodes[i]!.name) });
      procs.push(c);
      running[i] = c;
      await wait_rpc(net.nodes[i]!.rpc_url, 30_000, { exited: c.exited });
    }

    /** Polls every 100 ms until `check` returns a value (not undefined); fails after `timeout_ms`. */
    async function until<T>(
      what: string,
      check: () => Promise<T | undefined>,
      timeout_ms = 30_000,
    ): Promise<T> {
      const deadline = Date.now() + timeout_ms;
      let last: unknown;
      for (;;) {
        try {
          const v = await check();
          if (v !== undefined) return v;
        } catch (e) {
          last = e;
        }
        if (Date.now() > deadline)
          throw new Error(`${what}: not within ${timeout_ms} ms (last error: ${String(last)})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    /** Block `height`'s hash as node i has it. */
    async function block_hash(i: number, height: number): Promise<string> {
      const r = await comet_rpc<{ block_id: { hash: string } }>(
        net.nodes[i]!.rpc_url,
        `/block?height=${height}`,
      );
      return r.block_id.hash;
    }

    /** Sends `tx` to node i with broadcast_tx_commit; its height once committed. */
    async function commit_tx(i: number, tx: string): Promise<number> {
      const r = await comet_rpc<{ check_tx: { code: number }; tx_result: { code: number }; height: string }>(
        net.nodes[i]!.rpc_url,
        `/broadcast_tx_commit?tx=${encodeURIComponent(JSON.stringify(tx))}`,
        15_000,
      );
      expect(r.check_tx.code).toBe(0);
      expect(r.tx_result.code).toBe(0);
      return Number(r.height);
    }

    /** kvstore's value of `key` as node i has it. */
    async function query(i: number, key: string): Promise<string> {
      const r = await comet_rpc<{ response: { value?: string } }>(
        net.nodes[i]!.rpc_url,
        `/abci_query?data=${encodeURIComponent(JSON.stringify(key))}`,
      );
      return Buffer.from(r.response.value ?? '', 'base64').toString();
    }

    /**
     * Waits until the nodes `which` all report the same height, at least `floor`, none catching up,
     * the same app hash, and the same hash for block `floor`; that status.
     */
    async function agreed(which: number[], floor: number): Promise<CometStatus> {
      return until(`nodes ${which} agreeing at height >= ${floor}`, async () => {
        const all = await Promise.all(which.map((i) => proc(i).status()));
        const first = all[0]!;
        if (all.some((s) => s.height !== first.height || s.app_hash !== first.app_hash || s.catching_up))
          return;
        if (first.height < floor) return;
        const hashes = await Promise.all(which.map((i) => block_hash(i, floor)));
        if (hashes.some((h) => h !== hashes[0])) throw new Error(`block ${floor} differs: ${hashes}`);
        return first;
      });
    }

    beforeAll(async () => {
      if (cometbft_bin === null) return;
      net = write_cometbft_testnet({
        dir: join(dir, 'net'),
        chain_id: 'cloister-comet-test',
        validators: validators(),
        genesis_time_ms: Date.now(),
        base_port: 29100,
        proxy_app: 'kvstore',
      });
      await Promise.all([0, 1, 2, 3].map(start));
    }, 60_000);

    it('commits a transaction on all four, stops one, goes on with three, and the fourth catches up', async () => {
      require_cometbft();
      // The nodes' logs go with the temp folder: on failure, their last lines are printed.
      onTestFailed(() => {
        for (const node of net.nodes) {
          const lines = existsSync(log_of(node.name))
            ? readFileSync(log_of(node.name), 'utf8').split('\n')
            : [];
          console.error(`--- ${node.name} (last 40 lines of its log)\n${lines.slice(-40).join('\n')}`);
        }
      });
      const t0 = Date.now();
      const h1 = await commit_tx(0, 'k=v');
      expect(h1).toBeGreaterThanOrEqual(1);
      const s1 = await agreed([0, 1, 2, 3], h1);
      for (const i of [0, 1, 2, 3]) expect(await query(i, 'k')).toBe('v');
      const t1 = Date.now();

      // val3 (power 5 of 35) stops: the other three hold 30/35 > 2/3 and go on.
      await proc(3).stop();
      expect(await proc(3).exited).toEqual({ code: 0, signal: null }); // SIGTERM: a clean shutdown
      expect(proc(3).running).toBe(false);
      const h2 = await commit_tx(1, 'k2=v2');
      expect(h2).toBeGreaterThan(s1.height);
      const s2 = await agreed([0, 1, 2], h2);

      // Restarted on the same home, it block-syncs to the others.
      await start(3);
      const s3 = await agreed([0, 1, 2, 3], h2);
      expect(s3.height).toBeGreaterThanOrEqual(s2.height);
      expect(await query(3, 'k2')).toBe('v2');
      expect(await block_hash(3, h1)).toBe(await block_hash(0, h1));
      console.log(
        `cometbft: tx committed and agreed by 4 in ${t1 - t0} ms; stop, tx with 3, restart, catch-up in ${Date.now() - t1} ms`,
      );

      await Promise.all([0, 1, 2, 3].map((i) => proc(i).stop()));
      for (const i of [0, 1, 2, 3]) expect(await proc(i).exited).toEqual({ code: 0, signal: null });
      await proc(0).stop(); // stopping a stopped process is a no-op
    }, 90_000);
  });
});
