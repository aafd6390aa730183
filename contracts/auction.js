/**
 * auction: a sealed-bid, first-price auction. Bids live only in the contract's encrypted state:
 * no event, result or query shows an amount, or who leads, until the creator closes the auction.
 * Then the winner and the price (the winning bid) are revealed to everyone.
 *
 * instantiate {"item": s, "close_height": h, "max_bids"?: n, "min_bid"?: "1"}   -> null
 *   The sender is the creator. The creator may close once the chain reaches height h, or once
 *   max_bids bids have arrived, whichever comes first.
 * execute {"bid": {"amount": "100"}}   -> {"status": "bid accepted", "bid_count": n}
 *   Before close_height only; one bid per address, final once made; the creator may not bid.
 * execute {"close": {}}                -> {"winner": a | null, "price": s | null, "bid_count": n}
 * query   {"status": {}}   -> {"item", "creator", "close_height", "max_bids", "min_bid", "bid_count", "closed"}
 * query   {"result": {}}   -> what close returned; an error while the auction is open.
 *
 * Ties go to the earlier bid (the lower bid number), so the result depends only on the order of
 * the transactions in the chain, which every validator agrees on.
 *
 * Amounts are decimal strings of unsigned integers below 2^128. The leading bid is kept in one
 * state entry that every bid rewrites with a value of the same length, so the host, which sees
 * which sealed entries change and their sizes, cannot tell whether a bid took the lead.
 */

const AMOUNT_MAX = (1n << 128n) - 1n;
const AMOUNT_DIGITS = 39;
const BIDS_MAX = 10_000;

function is_digit(code) {
  return code >= 48 && code <= 57;
}

function parse_amount(value, what) {
  if (typeof value !== 'string' || value.length === 0 || value.length > AMOUNT_DIGITS) {
    throw new Error(`${what} must be a decimal string of 1 to ${AMOUNT_DIGITS} digits`);
  }
  for (let i = 0; i < value.length; i++) {
    if (!is_digit(value.charCodeAt(i))) throw new Error(`${what} must contain only digits`);
  }
  if (value.length > 1 && value[0] === '0') throw new Error(`${what} must not have leading zeros`);
  const amount = BigInt(value);
  if (amount > AMOUNT_MAX) throw new Error(`${what} must be below 2^128`);
  return amount;
}

/** Fixed width, so every rewrite of the leading bid has the same size. */
function pad_amount(amount) {
  return amount.toString().padStart(AMOUNT_DIGITS, '0');
}

function message_body(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object') throw new Error(`${name} must be an object`);
  return body;
}

function read_config(ctx) {
  const config = ctx.storage.get_json('config');
  if (config === null) throw new Error('auction is not instantiated');
  return config;
}

function bid_count(ctx) {
  return Number(ctx.storage.get('bid_count') ?? '0');
}

function may_close(ctx, config, count) {
  return ctx.height >= config.close_height || (config.max_bids !== null && count >= config.max_bids);
}

export function instantiate(ctx, msg) {
  if (msg === null || typeof msg !== 'object') throw new Error('instantiate message must be an object');
  const item = msg.item;
  if (typeof item !== 'string' || item.length === 0 || item.length > 256) {
    throw new Error('item must be a string of 1 to 256 characters');
  }
  const close_height = msg.close_height;
  if (!Number.isSafeInteger(close_height) || close_height <= ctx.height) {
    throw new Error('close_height must be an integer above the current height');
  }
  const max_bids = msg.max_bids ?? null;
  if (max_bids !== null && (!Number.isSafeInteger(max_bids) || max_bids < 1 || max_bids > BIDS_MAX)) {
    throw new Error(`max_bids must be an integer from 1 to ${BIDS_MAX}`);
  }
  const min_bid = msg.min_bid === undefined ? 1n : parse_amount(msg.min_bid, 'min_bid');
  ctx.storage.set_json('config', {
    item,
    creator: ctx.sender,
    close_height,
    max_bids,
    min_bid: min_bid.toString(),
  });
  ctx.storage.set('bid_count', '0');
  ctx.emit('auction_created', { item, close_height: String(close_height) });
  return null;
}

function bid(ctx, config, body) {
  if (ctx.storage.get('result') !== null) throw new Error('auction is closed');
  if (ctx.height >= config.close_height) throw new Error(`bidding ended at height ${config.close_height}`);
  if (ctx.sender === config.creator) throw new Error('the creator may not bid');
  const amount = parse_amount(body.amount, 'amount');
  if (amount < BigInt(config.min_bid)) throw new Error(`bid must be at least ${config.min_bid}`);
  const count = bid_count(ctx);
  if (count >= (config.max_bids ?? BIDS_MAX)) throw new Error('no more bids are accepted');
  const own_key = `bid/${ctx.sender}`;
  if (ctx.storage.get(own_key) !== null) throw new Error('this address has already bid');

  const number = count + 1;
  ctx.storage.set(own_key, pad_amount(amount));
  ctx.storage.set('bid_count', String(number));
  // Strictly greater takes the lead, so a tie stays with the earlier bid.
  const lead = ctx.storage.get_json('lead');
  const takes_lead = lead === null || amount > BigInt(lead.amount);
  const next = takes_lead ? { bidder: ctx.sender, amount: pad_amount(amount) } : lead;
  // Rewritten on every bid; `number` makes the sealed value change every time too.
  ctx.storage.set_json('lead', {
    bidder: next.bidder,
    amount: next.amount,
    updated_by_bid: String(number).padStart(5, '0'),
  });
  // The bidder's address is public anyway (it signed the transaction); the amount is not.
  ctx.emit('bid', { bidder: ctx.sender, bid_count: String(number) });
  return { status: 'bid accepted', bid_count: number };
}

function close(ctx, config) {
  if (ctx.sender !== config.creator) throw new Error('only the creator may close the auction');
  if (ctx.storage.get('result') !== null) throw new Error('auction is already closed');
  const count = bid_count(ctx);
  if (!may_close(ctx, config, count)) {
    throw new Error(
      `the auction may close at height ${config.close_height}${config.max_bids === null ? '' : ` or after ${config.max_bids} bids`}`,
    );
  }
  const lead = ctx.storage.get_json('lead');
  const result =
    lead === null
      ? { winner: null, price: null, bid_count: count }
      : { winner: lead.bidder, price: BigInt(lead.amount).toString(), bid_count: count };
  ctx.storage.set_json('result', result);
  ctx.emit('auction_closed', {
    winner: result.winner ?? '',
    price: result.price ?? '',
    bid_count: String(count),
  });
  return result;
}

export function execute(ctx, msg) {
  const config = read_config(ctx);
  const bid_body = message_body(msg, 'bid');
  if (bid_body !== undefined) return bid(ctx, config, bid_body);
  if (message_body(msg, 'close') !== undefined) return close(ctx, config);
  throw new Error('unknown execute message; expected bid or close');
}

export function query(ctx, msg) {
  const config = read_config(ctx);
  if (message_body(msg, 'status') !== undefined) {
    return {
      item: config.item,
      creator: config.creator,
      close_height: config.close_height,
      max_bids: config.max_bids,
      min_bid: config.min_bid,
      bid_count: bid_count(ctx),
      closed: ctx.storage.get('result') !== null,
    };
  }
  if (message_body(msg, 'result') !== undefined) {
    const result = ctx.storage.get_json('result');
    if (result === null) throw new Error('the auction is still open');
    return result;
  }
  throw new Error('unknown query message; expected status or result');
}
