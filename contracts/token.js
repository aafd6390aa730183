/**
 * token: a private fungible token. Balances live only in the contract's encrypted state; a
 * balance is shown only to whoever presents the account's viewing key.
 *
 * instantiate {"name": s, "symbol": s, "decimals": n,
 *              "initial_balances": [{"address": a, "amount": "123"}, ...]}        -> null
 * execute     {"transfer": {"recipient": a, "amount": "10"}}                    -> {"status": "ok"}
 *             {"set_viewing_key": {"key": s}}                                   -> {"status": "ok"}
 *             {"create_viewing_key": {}}                                        -> {"key": s}
 *             {"deposit": {}}            with funds n > 0                       -> {"status": "ok"}
 *             {"redeem": {"amount": "10"}}                                      -> {"status": "ok"}
 * query       {"balance": {"address": a, "key": s}}                             -> {"amount": "123"}
 *             {"token_info": {}}         -> {"name", "symbol", "decimals", "total_supply"}
 *
 * Amounts are decimal strings of unsigned integers below 2^128, computed with BigInt, so no
 * amount is ever negative, fractional or rounded. Addresses are 40 lowercase hex characters.
 *
 * Wrapping the native token (like SNIP-20): a deposit mints one token unit per ucst it carries
 * to the sender (whatever `decimals` says: 1 ucst = 1 unit), and a redeem burns units of the
 * sender and sends as many ucst back, after the call, from the contract's own balance (so at most
 * what the contract holds, and at most 2^53 - 1 at once). Both emit a public event
 * {"type": "deposit" | "redeem", "attributes": {"amount": "n"}}: the funds moving are public
 * anyway (protocol.md §9). Transfers stay private. Funds sent with any other message are refused,
 * so they cannot be stranded in the contract.
 *
 * A balance query with a wrong key, with no key set, or for an address that never held tokens
 * fails with the same "unauthorized" error after the same work, so a query reveals nothing about
 * an account without its key.
 */

const AMOUNT_MAX = (1n << 128n) - 1n;
const AMOUNT_DIGITS_MAX = 39;
const KEY_CHARS_MIN = 8;
const KEY_CHARS_MAX = 128;
const UNAUTHORIZED = 'unauthorized';

// ---- validation (no regular expressions in contracts: they are rejected at compile time)

function is_digit(code) {
  return code >= 48 && code <= 57;
}

function is_lower_hex(code) {
  return is_digit(code) || (code >= 97 && code <= 102);
}

function parse_amount(value, what) {
  if (typeof value !== 'string' || value.length === 0 || value.length > AMOUNT_DIGITS_MAX) {
    throw new Error(`${what} must be a decimal string of 1 to ${AMOUNT_DIGITS_MAX} digits`);
  }
  for (let i = 0; i < value.length; i++) {
    if (!is_digit(value.charCodeAt(i))) throw new Error(`${what} must contain only digits`);
  }
  if (value.length > 1 && value[0] === '0') throw new Error(`${what} must not have leading zeros`);
  const amount = BigInt(value);
  if (amount > AMOUNT_MAX) throw new Error(`${what} must be below 2^128`);
  return amount;
}

function check_address(value, what) {
  if (typeof value !== 'string' || value.length !== 40)
    throw new Error(`${what} must be 40 lowercase hex characters`);
  for (let i = 0; i < value.length; i++) {
    if (!is_lower_hex(value.charCodeAt(i))) throw new Error(`${what} must be 40 lowercase hex characters`);
  }
  return value;
}

function check_text(value, what, min, max) {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    throw new Error(`${what} must be a string of ${min} to ${max} characters`);
  }
  return value;
}

function message_body(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object') throw new Error(`${name} must be an object`);
  return body;
}

// ---- state

function balance_key(address) {
  return `balance/${address}`;
}

function viewing_key_key(address) {
  return `viewing_key/${address}`;
}

function read_balance(ctx, address) {
  const text = ctx.storage.get(balance_key(address));
  return text === null ? 0n : BigInt(text);
}

function write_balance(ctx, address, amount) {
  ctx.storage.set(balance_key(address), amount.toString());
}

function read_config(ctx) {
  const config = ctx.storage.get_json('config');
  if (config === null) throw new Error('token is not instantiated');
  return config;
}

/**
 * Whether two strings of at most KEY_CHARS_MAX characters are equal, with the same work (and
 * gas) whatever they contain and however long they are.
 */
function same_secret(a, b) {
  let difference = a.length ^ b.length;
  for (let i = 0; i < KEY_CHARS_MAX; i++) {
    // charCodeAt past the end is NaN, which | 0 turns into 0.
    difference |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  }
  return difference === 0;
}

// ---- entry points

function refuse_funds(ctx) {
  if (ctx.funds > 0) throw new Error('this message takes no funds; send them with deposit');
}

/** Mints `ctx.funds` units to the sender: 1 ucst = 1 unit. */
function deposit(ctx) {
  if (ctx.funds <= 0) throw new Error('deposit needs funds');
  const amount = BigInt(ctx.funds);
  const config = read_config(ctx);
  write_balance(ctx, ctx.sender, read_balance(ctx, ctx.sender) + amount);
  // Below 2^128 for ever: the native supply is below 2^53.
  config.total_supply = (BigInt(config.total_supply) + amount).toString();
  ctx.storage.set_json('config', config);
  ctx.emit('deposit', { amount: amount.toString() }, { public: true });
  return { status: 'ok' };
}

/** Burns `amount` units of the sender and pays as many ucst back, after this call. */
function redeem(ctx, body) {
  const amount = parse_amount(body.amount, 'amount');
  if (amount === 0n) throw new Error('amount must be positive');
  // Native amounts are safe integers; the contract can pay only what it holds.
  if (amount > BigInt(ctx.balance)) throw new Error(`the contract holds only ${ctx.balance} ucst`);
  const balance = read_balance(ctx, ctx.sender);
  if (balance < amount) throw new Error('insufficient funds');
  write_balance(ctx, ctx.sender, balance - amount);
  const config = read_config(ctx);
  config.total_supply = (BigInt(config.total_supply) - amount).toString();
  ctx.storage.set_json('config', config);
  ctx.send(ctx.sender, Number(amount));
  ctx.emit('redeem', { amount: amount.toString() }, { public: true });
  return { status: 'ok' };
}

export function instantiate(ctx, msg) {
  refuse_funds(ctx);
  if (msg === null || typeof msg !== 'object') throw new Error('instantiate message must be an object');
  const name = check_text(msg.name, 'name', 1, 64);
  const symbol = check_text(msg.symbol, 'symbol', 1, 16);
  const decimals = msg.decimals;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18)
    throw new Error('decimals must be an integer from 0 to 18');
  const initial = msg.initial_balances ?? [];
  if (!Array.isArray(initial)) throw new Error('initial_balances must be an array');
  const balances = new Map();
  let total = 0n;
  for (const entry of initial) {
    if (entry === null || typeof entry !== 'object')
      throw new Error('each initial balance must be an object');
    const address = check_address(entry.address, 'initial balance address');
    const amount = parse_amount(entry.amount, 'initial balance amount');
    total += amount;
    if (total > AMOUNT_MAX) throw new Error('total supply must be below 2^128');
    balances.set(address, (balances.get(address) ?? 0n) + amount);
  }
  for (const [address, amount] of balances) write_balance(ctx, address, amount);
  ctx.storage.set_json('config', { name, symbol, decimals, total_supply: total.toString() });
  return null;
}

export function execute(ctx, msg) {
  const sender = ctx.sender;
  read_config(ctx);

  if (message_body(msg, 'deposit') !== undefined) return deposit(ctx);
  refuse_funds(ctx);
  const redeem_body = message_body(msg, 'redeem');
  if (redeem_body !== undefined) return redeem(ctx, redeem_body);

  const transfer = message_body(msg, 'transfer');
  if (transfer !== undefined) {
    const recipient = check_address(transfer.recipient, 'recipient');
    const amount = parse_amount(transfer.amount, 'amount');
    if (amount === 0n) throw new Error('amount must be positive');
    const from_balance = read_balance(ctx, sender);
    // The same message for "no account" and "too little": neither is anyone else's business,
    // and the result is sealed to the sender anyway.
    if (from_balance < amount) throw new Error('insufficient funds');
    write_balance(ctx, sender, from_balance - amount);
    const to_balance = read_balance(ctx, recipient) + amount;
    // Cannot happen while total supply is below 2^128, but a balance must never wrap.
    if (to_balance > AMOUNT_MAX) throw new Error('recipient balance would overflow');
    write_balance(ctx, recipient, to_balance);
    ctx.emit('transfer', { from: sender, to: recipient, amount: amount.toString() });
    return { status: 'ok' };
  }

  const set_key = message_body(msg, 'set_viewing_key');
  if (set_key !== undefined) {
    const key = check_text(set_key.key, 'viewing key', KEY_CHARS_MIN, KEY_CHARS_MAX);
    ctx.storage.set(viewing_key_key(sender), key);
    return { status: 'ok' };
  }

  if (message_body(msg, 'create_viewing_key') !== undefined) {
    // ctx.random() is secret, per transaction and identical on every validator.
    const key = `api_key_${ctx.random()}`;
    ctx.storage.set(viewing_key_key(sender), key);
    return { key };
  }

  throw new Error(
    'unknown execute message; expected transfer, set_viewing_key, create_viewing_key, deposit or redeem',
  );
}

export function query(ctx, msg) {
  const config = read_config(ctx);

  const balance = message_body(msg, 'balance');
  if (balance !== undefined) {
    // Malformed input is refused before any state is read, so it reveals nothing either.
    if (typeof balance.address !== 'string' || typeof balance.key !== 'string') {
      throw new Error('balance needs an address and a key');
    }
    let authorized = false;
    let amount = 0n;
    if (balance.address.length === 40 && balance.key.length <= KEY_CHARS_MAX) {
      const stored = ctx.storage.get(viewing_key_key(balance.address));
      // Compare even when no key is set, and read the balance either way: the same work for
      // every kind of failure.
      const matches = same_secret(stored ?? '', balance.key);
      authorized = stored !== null && matches;
      amount = read_balance(ctx, balance.address);
    }
    // One throw for every failure: an error names the line it was thrown from.
    if (!authorized) throw new Error(UNAUTHORIZED);
    return { amount: amount.toString() };
  }

  if (message_body(msg, 'token_info') !== undefined) {
    return {
      name: config.name,
      symbol: config.symbol,
      decimals: config.decimals,
      total_supply: config.total_supply,
    };
  }

  throw new Error('unknown query message; expected balance or token_info');
}
