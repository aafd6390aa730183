/**
 * The dashboard's views (Preact with htm: components as tagged templates, no build step). Each
 * takes the part of the feed's state it shows (sim/dashboard/feed.ts `FeedState`); actions go
 * through `control(path, body)`, which resolves with `{ok, message}`.
 */

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { Charts } from './charts.js';

const short = (hex, n = 12) => (typeof hex === 'string' ? `${hex.slice(0, n)}…` : '');
const clock = (ms) => new Date(ms).toLocaleTimeString();

/** The whole page. */
export function Page({ state, connected, can_steer, control }) {
  const [note, set_note] = useState(/** @type {{ok: boolean, message: string} | null} */ (null));
  const [detail, set_detail] = useState(/** @type {{kind: string, id: string | number} | null} */ (null));
  const act = async (path, body) => {
    set_note({ ok: true, message: `${path} …` });
    set_note(await control(path, body));
  };
  const up = state.validators.filter((v) => v.state !== 'down').length;
  return html`<header>
      <h1>Cloister <span class="chain">${state.chain_id}</span></h1>
      <span class=${connected ? 'live on' : 'live off'}>${connected ? 'live' : 'reconnecting…'}</span>
      <span>${up} of ${state.validators.length} validators running</span>
      ${state.partition === null ? null : html`<span class="badge partitioned">partition ${groups(state.partition)}</span>`}
    </header>
    ${note === null ? null : html`<p class=${note.ok ? 'note' : 'note error'} role="status">${note.message}</p>`}
    ${can_steer ? null : html`<p class="note error">Read-only: open the dashboard URL that sim up printed (it carries the token) to steer.</p>`}
    <main>
      <${Validators} validators=${state.validators} can_steer=${can_steer} act=${act} />
      <${Steering} state=${state} can_steer=${can_steer} act=${act} />
      <${Charts} series=${state.series} />
      <${Timeline} timeline=${state.timeline} validators=${state.validators} />
      <section class="lists">
        <${Blocks} blocks=${state.blocks} show=${(h) => set_detail({ kind: 'block', id: h })} />
        <${Txs} txs=${state.txs} show=${(h) => set_detail({ kind: 'tx', id: h })} />
        <${Faults} faults=${state.faults} />
      </section>
      ${detail === null ? null : html`<${Detail} detail=${detail} close=${() => set_detail(null)} show=${set_detail} />`}
    </main>`;
}

function groups(partition) {
  return partition.map((g) => `[${g.join(',')}]`).join(' ');
}

/** The validators table: one row each, with its actions. */
function Validators({ validators, can_steer, act }) {
  return html`<section>
    <h2>Validators</h2>
    <table class="validators">
      <thead>
        <tr>
          <th>name</th><th>state</th><th>behaviour</th><th>height</th><th>round</th><th>step</th>
          <th>peers</th><th>mempool</th><th>pid</th><th>actions</th>
        </tr>
      </thead>
      <tbody>
        ${validators.map((v) => html`<${ValidatorRow} key=${v.index} v=${v} can_steer=${can_steer} act=${act} />`)}
      </tbody>
    </table>
  </section>`;
}

function ValidatorRow({ v, can_steer, act }) {
  const running = v.state !== 'down';
  const paused = v.state === 'paused';
  const button = (action, enabled) =>
    html`<button
      data-action=${action}
      disabled=${!can_steer || !enabled}
      onClick=${() => act(`validators/${v.index}/${action}`)}
    >
      ${action}
    </button>`;
  return html`<tr data-validator=${v.index} data-state=${v.state} data-height=${v.height ?? ''}>
    <td>${v.name}</td>
    <td><span class=${`badge ${v.state}`} title=${v.halted ?? ''}>${v.state}</span></td>
    <td class=${v.behaviour === 'honest' ? '' : 'byzantine'}>${v.behaviour}</td>
    <td class="num height">${v.height ?? '–'}</td>
    <td class="num">${v.round ?? '–'}</td>
    <td>${v.step ?? '–'}</td>
    <td class="num">${v.peers ?? '–'}</td>
    <td class="num">${v.mempool ?? '–'}</td>
    <td class="num">${v.pid ?? '–'}</td>
    <td class="actions">
      ${button('kill', running)} ${button('restart', !running)} ${button('pause', running && !paused)}
      ${button('resume', paused)}
    </td>
  </tr>`;
}

/** Partition and heal, and the load generator's rate. */
function Steering({ state, can_steer, act }) {
  const [groups_text, set_groups] = useState('0,1/2,3');
  const [rate, set_rate] = useState(String(state.load?.rate ?? 0));
  const partition = () => {
    const parsed = groups_text.split('/').map((g) =>
      g
        .split(',')
        .filter((x) => x.trim() !== '')
        .map(Number),
    );
    act('partition', { groups: parsed });
  };
  const load = state.load;
  return html`<section class="steering">
    <h2>Steer</h2>
    <div class="row">
      <label>Partition groups <input value=${groups_text} onInput=${(e) => set_groups(e.target.value)} size="12" /></label>
      <button data-action="partition" disabled=${!can_steer} onClick=${partition}>partition</button>
      <button data-action="heal" disabled=${!can_steer || state.partition === null} onClick=${() => act('heal')}>heal</button>
    </div>
    <div class="row">
      <label>Load <input type="number" min="0" value=${rate} onInput=${(e) => set_rate(e.target.value)} size="6" /> tx/s</label>
      <button data-action="load" disabled=${!can_steer || load === null} onClick=${() => act('load', { rate: Number(rate) })}>set rate</button>
      ${
        load === null
          ? html`<span>no load generator</span>`
          : html`<span class="load" data-load-state=${load.state}>
              ${load.state} at ${load.rate} tx/s · submitted ${load.submitted} · committed ${load.committed}
              · latency p50 ${load.latency_ms.p50 ?? '–'} ms p99 ${load.latency_ms.p99 ?? '–'} ms
              ${load.error === undefined ? null : html` · <span class="error">${load.error}</span>`}
            </span>`
      }
    </div>
  </section>`;
}

const MARKS = [
  ['proposal', 'P', 'proposed'],
  ['prevote', 'PV', 'prevoted'],
  ['precommit', 'PC', 'precommitted'],
  ['commit', 'C', 'committed'],
];

/** The consensus timeline: per height, per round, what each validator signed. */
function Timeline({ timeline, validators }) {
  return html`<section class="timeline">
    <h2>Consensus timeline</h2>
    <p class="legend">
      P proposal · PV prevote · PC precommit · C commit; green: for a block, grey: nil, orange: a timeout fired
    </p>
    <div class="heights">
      ${timeline.map(
        (h) => html`<div class="height" key=${h.height}>
          <div class="title">height ${h.height} ${h.committed === null ? '' : html`<span class="hash">${h.committed}</span>`}</div>
          <table>
            <thead><tr><th></th>${h.rounds.map((r) => html`<th class=${r.round > 0 ? 'later' : ''}>r${r.round}</th>`)}</tr></thead>
            <tbody>
              ${validators.map(
                (v) => html`<tr>
                  <th>${v.name}</th>
                  ${h.rounds.map((r) => html`<td><${Cell} cell=${r.cells[v.index]} /></td>`)}
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`,
      )}
    </div>
  </section>`;
}

function Cell({ cell }) {
  if (cell === undefined) return html`<span class="cell empty"></span>`;
  return html`<span class=${`cell${cell.timeouts === undefined ? '' : ' timeout'}`} title=${(cell.timeouts ?? []).map((t) => `timeout ${t}`).join(', ')}>
    ${MARKS.filter(([k]) => cell[k] !== undefined).map(
      ([k, mark, verb]) =>
        html`<span class=${cell[k] === 'nil' ? 'mark nil' : 'mark'} title=${`${verb} ${cell[k]}`}>${mark}</span>`,
    )}
  </span>`;
}

function Blocks({ blocks, show }) {
  return html`<div class="list">
    <h2>Recent blocks</h2>
    <table>
      <thead><tr><th>height</th><th>hash</th><th>txs</th><th>time</th></tr></thead>
      <tbody>
        ${blocks.map(
          (
            b,
          ) => html`<tr key=${b.height} class="link" data-block=${b.height} data-txs=${b.txs} onClick=${() => show(b.height)}>
            <td class="num">${b.height}</td><td class="hash">${short(b.hash)}</td><td class="num">${b.txs}</td><td>${clock(b.time_ms)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function Txs({ txs, show }) {
  return html`<div class="list">
    <h2>Recent transactions</h2>
    <table>
      <thead><tr><th>hash</th><th>height</th><th>code</th><th>gas</th><th>events</th></tr></thead>
      <tbody>
        ${txs.map(
          (t) => html`<tr key=${t.hash} class="link" onClick=${() => show(t.hash)}>
            <td class="hash">${short(t.hash)}</td><td class="num">${t.height}</td>
            <td class=${t.code === 0 ? 'num' : 'num error'}>${t.code}</td><td class="num">${t.gas_used}</td>
            <td class="num">${t.events.length}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function Faults({ faults }) {
  return html`<div class="list faults">
    <h2>Faults and actions</h2>
    <ul>
      ${faults.map(
        (f) => html`<li class=${`fault ${f.kind}`}>
          <time>${clock(f.t_ms)}</time> ${f.validator === null ? '' : html`<b>v${f.validator}</b>`} ${f.text}
        </li>`,
      )}
    </ul>
  </div>`;
}

/** A block or a transaction, read from a validator that is up (outputs stay ciphertext). */
function Detail({ detail, close, show }) {
  const [body, set_body] = useState(/** @type {{path: string, json: any} | null} */ (null));
  const path = detail.kind === 'block' ? `/api/blocks/${detail.id}` : `/api/txs/${detail.id}`;
  useEffect(() => {
    fetch(path)
      .then((r) => r.json())
      .then(
        (json) => set_body({ path, json }),
        (error) => set_body({ path, json: { error: { message: String(error) } } }),
      );
  }, [path]);
  const json = body?.path === path ? body.json : null;
  return html`<aside class="detail" role="dialog">
    <div class="bar">
      <h2>${detail.kind === 'block' ? `Block ${detail.id}` : `Transaction ${short(detail.id, 16)}`}</h2>
      <button onClick=${close}>close</button>
    </div>
    ${json === null ? html`<p>loading…</p>` : null}
    ${
      Array.isArray(json?.tx_hashes)
        ? html`<p>
            transactions:
            ${json.tx_hashes.length === 0 ? 'none' : null}
            ${json.tx_hashes.map((hash) => html`<a class="hash link" onClick=${() => show({ kind: 'tx', id: hash })}>${short(hash)} </a>`)}
          </p>`
        : null
    }
    ${json === null ? null : html`<pre>${JSON.stringify(json, null, 2)}</pre>`}
  </aside>`;
}
