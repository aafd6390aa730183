/**
 * A local CometBFT v0.38.17 testnet on disk (issue #17): one CometBFT home per validator, written
 * from TypeScript rather than by `cometbft init`/`cometbft testnet`, so the layout is explicit and
 * no process runs. Each home holds what `cometbft init` writes:
 *
 *   <dir>/<name>/config/config.toml            the whole v0.38.17 default file, a few keys set
 *   <dir>/<name>/config/genesis.json           the same in every home
 *   <dir>/<name>/config/priv_validator_key.json the validator's Ed25519 key (Cloister's own key)
 *   <dir>/<name>/config/node_key.json          the p2p key (derived from the validator key)
 *   <dir>/<name>/data/priv_validator_state.json height 0: nothing signed yet
 *
 * The validator keys are Cloister's genesis keys, so CometBFT's validator set is Cloister's.
 * Ports: validator i listens for RPC on `base_port + 10*i`, p2p on `+1`, and finds its ABCI app
 * on `+2` (or a unix socket in its home). Everything listens on 127.0.0.1 only.
 * @module
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { concat, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { COMETBFT_VERSION } from './binary.js';

/** One validator of the testnet. */
export interface CometValidator {
  /** Its home's folder name and moniker: letters, digits, `_`, `-`, `.`. */
  name: string;
  /** Its Ed25519 secret key (the 32-byte seed): the same key as its Cloister validator. */
  secret_key: Uint8Array;
  /** Its voting power, a positive integer. */
  power: number;
}

/** CometBFT's consensus timeouts, milliseconds (config.toml `[consensus]`). */
export interface CometTimeouts {
  /** How long to wait for a proposal before prevoting nil. */
  propose_ms?: number;
  /** How much `propose_ms` grows each round. */
  propose_delta_ms?: number;
  /** How long to wait for more prevotes once +2/3 of them are in but not for one value. */
  prevote_ms?: number;
  prevote_delta_ms?: number;
  /** The same for precommits. */
  precommit_ms?: number;
  precommit_delta_ms?: number;
  /** How long to wait after a commit for the last precommits before starting the next height. */
  commit_ms?: number;
}

/** What write_cometbft_testnet writes. */
export interface CometTestnetOptions {
  /** The folder that gets one home per validator (created if missing). */
  dir: string;
  /** CometBFT's chain id (at most 50 characters). */
  chain_id: string;
  /** Each validator's Ed25519 secret key and voting power: CometBFT's genesis validator set. */
  validators: CometValidator[];
  /** Genesis time, ms since the epoch. */
  genesis_time_ms: number;
  /** Ports: validator i uses rpc = base_port + 10*i, p2p = +1, abci (proxy_app) = +2. */
  base_port: number;
  /** Block-making timeouts; COMET_LOCAL_TIMEOUTS where left out (fast, for local runs). */
  timeouts?: CometTimeouts;
  /**
   * Where CometBFT finds its app: 'tcp' (default: 127.0.0.1, the abci port) or 'unix' (the socket
   * `<home>/abci.sock`; a home whose socket path would be 100 bytes or longer, past what sun_path
   * holds, gets tcp instead and a line in `warnings`).
   */
  abci?: 'tcp' | 'unix';
  /** For tests: proxy_app to write instead, e.g. 'kvstore' (CometBFT's built-in app). */
  proxy_app?: string;
  /** CometBFT's log level (config.toml `log_level`): 'info' (default), 'error', 'debug', ... */
  log_level?: string;
  /**
   * A home already written (its data/priv_validator_state.json exists) is kept as it is, every
   * file untouched, and only its spec returned: a network's CometBFT homes are written once and
   * reused by every later start. Without it such a home is an error. Either way a kept home must
   * hold the same validator key (else an Error).
   */
  keep_existing?: boolean;
}

/** One node of a written testnet: where it lives and how to reach it. */
export interface CometNodeSpec {
  name: string;
  /** Its home (absolute): `cometbft start --home <home>`. */
  home: string;
  /** Its RPC, `http://127.0.0.1:<rpc port>`. */
  rpc_url: string;
  p2p_port: number;
  /**
   * Where its ABCI app must listen: 'tcp://127.0.0.1:P' or 'unix:///…/abci.sock'. CometBFT
   * connects there unless `proxy_app` replaced it in config.toml.
   */
  abci_address: string;
  /** Its p2p id: lower-hex of sha256(node public key)[:20]. */
  node_id: string;
  /** Its validator address: upper-hex of sha256(validator public key)[:20]. */
  validator_address: string;
}

/** A written testnet. */
export interface CometTestnet {
  chain_id: string;
  nodes: CometNodeSpec[];
  /** What was written otherwise than asked (a unix socket path too long, tcp used instead). */
  warnings: string[];
}

/**
 * The timeouts of a local testnet. Every node runs on this machine, so a proposal or vote takes
 * milliseconds to arrive: propose (500 ms) only bounds the wait for a proposer that is down,
 * prevote/precommit (200 ms) only matter in a round without a +2/3 majority for one value, and
 * commit (100 ms) is the pause after each block to collect the last precommits. Deltas of 100 ms
 * let a round that failed retry with slightly more patience. (CometBFT's defaults, for networks
 * spread over the internet: 3 s, 1 s, 1 s, 1 s, deltas 500 ms.)
 */
export const COMET_LOCAL_TIMEOUTS: Readonly<Required<CometTimeouts>> = Object.freeze({
  propose_ms: 500,
  propose_delta_ms: 100,
  prevote_ms: 200,
  prevote_delta_ms: 100,
  precommit_ms: 200,
  precommit_delta_ms: 100,
  commit_ms: 100,
});

/** Longest chain id CometBFT accepts (types.MaxChainIDLen). */
const CHAIN_ID_MAX = 50;
/** A unix socket path must stay under this many bytes (sun_path is 108 on Linux, 104 on macOS). */
const UNIX_SOCKET_PATH_MAX = 100;
/** Domain of the p2p key derivation: node seed = sha256(this ‖ validator seed). */
const NODE_KEY_DOMAIN = utf8('cloister/cometbft/node_key/v1');

const p = get_provider('native');

/** CometBFT's address of an Ed25519 public key: sha256(pub)[:20] (crypto/ed25519 Address). */
function address_bytes(public_key: Uint8Array): Uint8Array {
  if (public_key.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return p.sha256(public_key).subarray(0, 20);
}

/** A validator's address as CometBFT writes it (genesis.json, priv_validator_key.json): upper hex. */
export function comet_validator_address(public_key: Uint8Array): string {
  return to_hex(address_bytes(public_key)).toUpperCase();
}

/** A node's p2p id (p2p/key.go PubKeyToID): lower hex of the same 20 bytes. */
export function comet_node_id(public_key: Uint8Array): string {
  return to_hex(address_bytes(public_key));
}

/** The p2p secret key (Ed25519 seed) of the node whose validator key is `secret_key`: reproducible. */
export function comet_node_secret(secret_key: Uint8Array): Uint8Array {
  return p.sha256(concat(NODE_KEY_DOMAIN, secret_key));
}

/** Amino-JSON keys as CometBFT writes them: `{type, value: base64}`. */
function amino(type: string, bytes: Uint8Array): { type: string; value: string } {
  return { type, value: to_base64(bytes) };
}

/** priv_validator_key.json of the validator with Ed25519 seed `secret_key`. */
export function comet_priv_validator_key(secret_key: Uint8Array): {
  address: string;
  pub_key: { type: string; value: string };
  priv_key: { type: string; value: string };
} {
  check_seed(secret_key);
  const pub = p.ed25519_public(secret_key);
  return {
    address: comet_validator_address(pub),
    pub_key: amino('tendermint/PubKeyEd25519', pub),
    // Go's ed25519.PrivateKey: seed ‖ public key.
    priv_key: amino('tendermint/PrivKeyEd25519', concat(secret_key, pub)),
  };
}

function check_seed(secret_key: Uint8Array): void {
  if (!(secret_key instanceof Uint8Array) || secret_key.length !== 32)
    throw new RangeError('an Ed25519 secret key (seed) is 32 bytes');
}

/** genesis.json: v0.38.17's default consensus params (as `cometbft init` writes them), vote extensions off. */
export function comet_genesis(
  opts: Pick<CometTestnetOptions, 'chain_id' | 'validators' | 'genesis_time_ms'>,
) {
  return {
    genesis_time: new Date(opts.genesis_time_ms).toISOString(),
    chain_id: opts.chain_id,
    initial_height: '1',
    consensus_params: {
      block: { max_bytes: '22020096', max_gas: '-1' },
      evidence: { max_age_num_blocks: '100000', max_age_duration: '172800000000000', max_bytes: '1048576' },
      validator: { pub_key_types: ['ed25519'] },
      version: { app: '0' },
      // 0: vote extensions never enabled.
      abci: { vote_extensions_enable_height: '0' },
    },
    validators: opts.validators.map((v) => {
      const key = comet_priv_validator_key(v.secret_key);
      return { address: key.address, pub_key: key.pub_key, power: String(v.power), name: v.name };
    }),
    app_hash: '',
  };
}

/** A TOML basic string (JSON's escapes are all valid TOML escapes). */
function toml_string(s: string): string {
  return JSON.stringify(s);
}

/** A Go duration for a whole number of milliseconds, as config.toml holds it. */
function duration(ms: number): string {
  return `${ms}ms`;
}

/** What config.toml sets for one node; everything else is v0.38.17's default. */
export interface CometConfigValues {
  moniker: string;
  proxy_app: string;
  rpc_port: number;
  p2p_port: number;
  persistent_peers: string[];
  timeouts: Required<CometTimeouts>;
  log_level: string;
}

/**
 * config.toml: every key of the file v0.38.17's `cometbft init` writes, in its order and with its
 * default values, except (marked `# set:`) moniker, proxy_app, log_level, rpc and p2p laddr (on
 * 127.0.0.1), persistent_peers, addr_book_strict, pex, allow_duplicate_ip,
 * persistent_peers_max_dial_period, flush_throttle_timeout, the consensus timeouts,
 * peer_gossip_sleep_duration and create_empty_blocks. The comments
 * are shortened; the defaults' explanations are CometBFT's docs/core/configuration.md.
 */
export function comet_config_toml(v: CometConfigValues): string {
  const t = v.timeouts;
  return `# CometBFT v${COMETBFT_VERSION} configuration, written by Cloister (sim/cometbft/testnet.ts).
# Every key is v${COMETBFT_VERSION}'s default except those marked "set:".
version = "${COMETBFT_VERSION}"

# set: the ABCI app: tcp://HOST:PORT or unix://PATH, or a built-in app (kvstore)
proxy_app = ${toml_string(v.proxy_app)}
# set: the validator's name
moniker = ${toml_string(v.moniker)}
db_backend = "goleveldb"
db_dir = "data"
# set: info (default) or as asked
log_level = ${toml_string(v.log_level)}
log_format = "plain"
genesis_file = "config/genesis.json"
priv_validator_key_file = "config/priv_validator_key.json"
priv_validator_state_file = "data/priv_validator_state.json"
priv_validator_laddr = ""
node_key_file = "config/node_key.json"
# How CometBFT talks to its app: socket | grpc
abci = "socket"
filter_peers = false

[rpc]
# set: loopback only
laddr = "tcp://127.0.0.1:${v.rpc_port}"
cors_allowed_origins = []
cors_allowed_methods = ["HEAD", "GET", "POST", ]
cors_allowed_headers = ["Origin", "Accept", "Content-Type", "X-Requested-With", "X-Server-Time", ]
grpc_laddr = ""
grpc_max_open_connections = 900
unsafe = false
max_open_connections = 900
max_subscription_clients = 100
max_subscriptions_per_client = 5
experimental_subscription_buffer_size = 200
experimental_websocket_write_buffer_size = 200
experimental_close_on_slow_client = false
timeout_broadcast_tx_commit = "10s"
max_request_batch_size = 10
max_body_bytes = 1000000
max_header_bytes = 1048576
tls_cert_file = ""
tls_key_file = ""
# No pprof server
pprof_laddr = ""

[p2p]
# set: loopback only
laddr = "tcp://127.0.0.1:${v.p2p_port}"
external_address = ""
seeds = ""
# set: every other validator, id@127.0.0.1:port
persistent_peers = ${toml_string(v.persistent_peers.join(','))}
addr_book_file = "config/addrbook.json"
# set: false, as \`cometbft testnet\` writes (peers on 127.0.0.1 are not routable)
addr_book_strict = false
max_num_inbound_peers = 40
max_num_outbound_peers = 10
unconditional_peer_ids = ""
# set: redial a restarted peer within 1 s (0: exponential backoff, up to hours)
persistent_peers_max_dial_period = "1s"
# set: 10 ms, not 100 ms: on loopback a message should leave at once, and every step of a height
# (proposal, block parts, prevotes, precommits) waits for this flush
flush_throttle_timeout = "10ms"
max_packet_msg_payload_size = 1024
send_rate = 5120000
recv_rate = 5120000
# set: false; persistent_peers lists every node
pex = false
seed_mode = false
private_peer_ids = ""
# set: true, as \`cometbft testnet\` writes (every node is on 127.0.0.1)
allow_duplicate_ip = true
handshake_timeout = "20s"
dial_timeout = "3s"

[mempool]
type = "flood"
recheck = true
recheck_timeout = "1s"
broadcast = true
wal_dir = ""
size = 5000
max_txs_bytes = 1073741824
cache_size = 10000
keep-invalid-txs-in-cache = false
max_tx_bytes = 1048576
max_batch_bytes = 0
experimental_max_gossip_connections_to_persistent_peers = 0
experimental_max_gossip_connections_to_non_persistent_peers = 0

[statesync]
enable = false
rpc_servers = ""
trust_height = 0
trust_hash = ""
trust_period = "168h0m0s"
discovery_time = "15s"
temp_dir = ""
chunk_request_timeout = "10s"
chunk_fetchers = "4"

[blocksync]
version = "v0"

[consensus]
wal_file = "data/cs.wal/wal"
# set: local timeouts (sim/cometbft/testnet.ts COMET_LOCAL_TIMEOUTS)
timeout_propose = "${duration(t.propose_ms)}"
timeout_propose_delta = "${duration(t.propose_delta_ms)}"
timeout_prevote = "${duration(t.prevote_ms)}"
timeout_prevote_delta = "${duration(t.prevote_delta_ms)}"
timeout_precommit = "${duration(t.precommit_ms)}"
timeout_precommit_delta = "${duration(t.precommit_delta_ms)}"
timeout_commit = "${duration(t.commit_ms)}"
double_sign_check_height = 0
skip_timeout_commit = false
# set: false, a block only when there are transactions (or the app hash changed)
create_empty_blocks = false
create_empty_blocks_interval = "0s"
# set: 10 ms, not 100 ms: how long vote and block-part gossip sleeps when a peer has nothing new
peer_gossip_sleep_duration = "10ms"
peer_query_maj23_sleep_duration = "2s"

[storage]
discard_abci_responses = false

[tx_index]
indexer = "kv"
psql-conn = ""

[instrumentation]
# No Prometheus server
prometheus = false
prometheus_listen_addr = ":26660"
max_open_connections = 3
namespace = "cometbft"
`;
}

/** Folder names a home may have. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

function check_options(opts: CometTestnetOptions): void {
  if (typeof opts.chain_id !== 'string' || opts.chain_id === '' || opts.chain_id.length > CHAIN_ID_MAX)
    throw new RangeError(`chain_id must be 1 to ${CHAIN_ID_MAX} characters`);
  if (!Number.isSafeInteger(opts.genesis_time_ms) || opts.genesis_time_ms < 0)
    throw new RangeError('genesis_time_ms must be a non-negative integer');
  if (opts.validators.length === 0) throw new RangeError('a testnet needs at least one validator');
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const v of opts.validators) {
    if (!NAME_RE.test(v.name))
      throw new RangeError(`validator name ${JSON.stringify(v.name)} is not a folder name`);
    if (names.has(v.name)) throw new RangeError(`validator name ${v.name} twice`);
    names.add(v.name);
    check_seed(v.secret_key);
    const hex = to_hex(v.secret_key);
    if (keys.has(hex)) throw new RangeError(`validator ${v.name} has another validator's key`);
    keys.add(hex);
    if (!Number.isSafeInteger(v.power) || v.power <= 0)
      throw new RangeError(`validator ${v.name}: power must be a positive integer`);
  }
  const last = opts.base_port + 10 * (opts.validators.length - 1) + 2;
  if (!Number.isInteger(opts.base_port) || opts.base_port < 1 || last > 65535)
    throw new RangeError(`ports ${opts.base_port}..${last} are not all valid TCP ports`);
  if (opts.abci !== undefined && opts.abci !== 'tcp' && opts.abci !== 'unix')
    throw new RangeError(`abci must be 'tcp' or 'unix', not ${JSON.stringify(opts.abci)}`);
  for (const [k, ms] of Object.entries(opts.timeouts ?? {}))
    if (!Number.isSafeInteger(ms) || ms < 0)
      throw new RangeError(`timeouts.${k} must be a whole number of ms`);
}

/**
 * Writes the testnet of `opts` (module comment) and returns how to reach each node. A home that
 * already holds a priv_validator_state.json is never rewritten (that would reset the validator's
 * double-sign protection): an Error, or with `keep_existing` kept as it is.
 */
export function write_cometbft_testnet(opts: CometTestnetOptions): CometTestnet {
  check_options(opts);
  const dir = resolve(opts.dir);
  const timeouts = { ...COMET_LOCAL_TIMEOUTS, ...opts.timeouts };
  const genesis = `${JSON.stringify(comet_genesis(opts), null, 2)}\n`;
  const warnings: string[] = [];

  const nodes: CometNodeSpec[] = opts.validators.map((v, i) => {
    const home = join(dir, v.name);
    const rpc_port = opts.base_port + 10 * i;
    const p2p_port = rpc_port + 1;
    const tcp = `tcp://127.0.0.1:${rpc_port + 2}`;
    let abci_address = tcp;
    if (opts.abci === 'unix') {
      const socket = join(home, 'abci.sock');
      if (Buffer.byteLength(socket) < UNIX_SOCKET_PATH_MAX) abci_address = `unix://${socket}`;
      else
        warnings.push(
          `${v.name}: unix socket path ${socket} is ${Buffer.byteLength(socket)} bytes, ` +
            `${UNIX_SOCKET_PATH_MAX} or more (past sun_path); its ABCI app is on ${tcp} instead`,
        );
    }
    const node_pub = p.ed25519_public(comet_node_secret(v.secret_key));
    return {
      name: v.name,
      home,
      rpc_url: `http://127.0.0.1:${rpc_port}`,
      p2p_port,
      abci_address,
      node_id: comet_node_id(node_pub),
      validator_address: comet_validator_address(p.ed25519_public(v.secret_key)),
    };
  });

  // Which homes are written already: checked for every node before anything is written.
  const kept = nodes.map((node) => {
    const state = join(node.home, 'data', 'priv_validator_state.json');
    if (!existsSync(state)) return false;
    if (opts.keep_existing !== true)
      throw new Error(
        `${state} exists: a testnet is written once (rewriting it would reset double-sign protection)`,
      );
    const key_file = join(node.home, 'config', 'priv_validator_key.json');
    const key = existsSync(key_file)
      ? (JSON.parse(readFileSync(key_file, 'utf8')) as { address?: unknown })
      : {};
    if (key.address !== node.validator_address)
      throw new Error(
        `${node.home} holds another key than validator ${node.name}'s (${node.validator_address})`,
      );
    return true;
  });

  const json = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;
  const public_file = { mode: 0o644 };
  const secret_file = { mode: 0o600 };
  nodes.forEach((node, i) => {
    if (kept[i]) return;
    const v = opts.validators[i]!;
    const file = (...path: string[]) => join(node.home, ...path);
    mkdirSync(file('config'), { recursive: true, mode: 0o700 });
    mkdirSync(file('data'), { recursive: true, mode: 0o700 });
    const config = comet_config_toml({
      moniker: node.name,
      proxy_app: opts.proxy_app ?? node.abci_address,
      rpc_port: opts.base_port + 10 * i,
      p2p_port: node.p2p_port,
      persistent_peers: nodes.filter((o) => o !== node).map((o) => `${o.node_id}@127.0.0.1:${o.p2p_port}`),
      timeouts,
      log_level: opts.log_level ?? 'info',
    });
    const node_seed = comet_node_secret(v.secret_key);
    const node_key = {
      priv_key: amino('tendermint/PrivKeyEd25519', concat(node_seed, p.ed25519_public(node_seed))),
    };
    writeFileSync(file('config', 'config.toml'), config, public_file);
    writeFileSync(file('config', 'genesis.json'), genesis, public_file);
    writeFileSync(
      file('config', 'priv_validator_key.json'),
      json(comet_priv_validator_key(v.secret_key)),
      secret_file,
    );
    writeFileSync(file('config', 'node_key.json'), json(node_key), secret_file);
    // Written last: its presence is what marks a home as written.
    writeFileSync(
      file('data', 'priv_validator_state.json'),
      json({ height: '0', round: 0, step: 0 }),
      secret_file,
    );
  });
  return { chain_id: opts.chain_id, nodes, warnings };
}
