/**
 * escrow: holds a buyer's payment for a deal until the buyer releases it to the seller (or the
 * seller refunds it), paying out in units of a token contract (contracts/token.js) and learning
 * through a callback whether the payment went through.
 *
 * instantiate {"token": a}                                   -> null
 * execute     {"open": {"seller": a}}      with funds n > 0  -> {"deal": id}
 *             {"release": {"deal": id}}    by the buyer      -> {"status": "releasing"}
 *             {"refund": {"deal": id}}     by the seller     -> {"status": "refunding"}
 * reply       (the token's answer to a release or refund)   -> {"deal": id, "status": s}
 * query       {"deal": {"id": id}}                           -> {"status": s}
 *
 * How the money moves (protocol.md §9):
 * - open: the buyer's funds (ucst) arrive with the message; the escrow deposits them into the
 *   token at once, `ctx.execute(token, {"deposit": {}}, {funds: n})`, so it holds n token units.
 * - release / refund: the escrow asks the token to transfer the n units to the seller (or back to
 *   the buyer), `ctx.execute(token, {"transfer": ...}, {reply: true})`, and marks the deal
 *   "releasing" (or "refunding"). The token runs after this call returns.
 * - reply: the token's outcome comes back. On {"ok": ...} the deal becomes "paid" (or
 *   "refunded"); on {"error": message} the transfer was taken back and the deal is "open" again,
 *   so the buyer can retry. A reply only ever answers the token, for the deal it names as pending.
 *
 * Statuses: "open", "releasing", "refunding" (only between a call and its reply, inside one
 * transaction), "paid", "refunded". Parties and amounts stay in private state; the query shows
 * only a deal's status.
 */

const HEX = '0123456789abcdef';

function check_address(value, what) {
  if (typeof value !== 'string' || value.length !== 40)
    throw new Error(`${what} must be 40 lowercase hex characters`);
  for (let i = 0; i < value.length; i++) {
    if (!HEX.includes(value[i])) throw new Error(`${what} must be 40 lowercase hex characters`);
  }
  return value;
}

function body_of(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object') throw new Error(`${name} must be an object`);
  return body;
}

function token_of(ctx) {
  const token = ctx.storage.get('token');
  if (token === null) throw new Error('escrow is not instantiated');
  return token;
}

function read_deal(ctx, id) {
  if (!Number.isSafeInteger(id) || id < 1) throw new Error('deal must be a positive integer');
  const deal = ctx.storage.get_json(`deal/${id}`);
  if (deal === null) throw new Error(`no deal ${id}`);
  return deal;
}

function write_deal(ctx, id, deal) {
  ctx.storage.set_json(`deal/${id}`, deal);
}

function open(ctx, body) {
  const seller = check_address(body.seller, 'seller');
  if (ctx.funds <= 0) throw new Error('open needs funds: the payment');
  if (seller === ctx.sender) throw new Error('buyer and seller must differ');
  const id = Number(ctx.storage.get('deals') ?? '0') + 1;
  ctx.storage.set('deals', String(id));
  write_deal(ctx, id, { buyer: ctx.sender, seller, amount: ctx.funds, status: 'open' });
  ctx.execute(token_of(ctx), { deposit: {} }, { funds: ctx.funds });
  return { deal: id };
}

/** Starts paying a deal's units to `to`; the reply settles it. */
function pay_out(ctx, id, deal, to, status) {
  if (deal.status !== 'open') throw new Error(`deal ${id} is ${deal.status}`);
  deal.status = status;
  write_deal(ctx, id, deal);
  ctx.storage.set('pending', String(id));
  ctx.execute(token_of(ctx), { transfer: { recipient: to, amount: String(deal.amount) } }, { reply: true });
  return { status };
}

export function instantiate(ctx, msg) {
  ctx.storage.set('token', check_address(msg?.token, 'token'));
  return null;
}

export function execute(ctx, msg) {
  const opened = body_of(msg, 'open');
  if (opened !== undefined) return open(ctx, opened);
  if (ctx.funds > 0) throw new Error('only open takes funds');

  const release = body_of(msg, 'release');
  if (release !== undefined) {
    const deal = read_deal(ctx, release.deal);
    if (ctx.sender !== deal.buyer) throw new Error('only the buyer can release a deal');
    return pay_out(ctx, release.deal, deal, deal.seller, 'releasing');
  }

  const refund = body_of(msg, 'refund');
  if (refund !== undefined) {
    const deal = read_deal(ctx, refund.deal);
    if (ctx.sender !== deal.seller) throw new Error('only the seller can refund a deal');
    return pay_out(ctx, refund.deal, deal, deal.buyer, 'refunding');
  }

  throw new Error('unknown execute message; expected open, release or refund');
}

export function reply(ctx, msg) {
  if (ctx.sender !== token_of(ctx)) throw new Error('only the token answers this escrow');
  const pending = ctx.storage.get('pending');
  if (pending === null) throw new Error('no payment is pending');
  ctx.storage.remove('pending');
  const id = Number(pending);
  const deal = read_deal(ctx, id);
  if (msg?.ok !== undefined) {
    deal.status = deal.status === 'releasing' ? 'paid' : 'refunded';
  } else {
    // The transfer was taken back: the units are still ours, and the deal can be retried.
    console.log('escrow: payment for deal', id, 'failed:', msg?.error);
    deal.status = 'open';
  }
  write_deal(ctx, id, deal);
  return { deal: id, status: deal.status };
}

export function query(ctx, msg) {
  const body = body_of(msg, 'deal');
  if (body === undefined) throw new Error('unknown query message; expected deal');
  return { status: read_deal(ctx, body.id).status };
}
