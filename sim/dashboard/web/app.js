/**
 * The dashboard page of `cloister sim up`: follows `GET /api/events` (the server's whole picture,
 * sent again on each change) and steers the network through `/control/…` with the token from the
 * URL's fragment (`#token=…`, kept in this tab's sessionStorage). Plain ES modules, no build step:
 * Preact with htm for the views, uPlot for the charts (sim/dashboard/server.ts serves them from
 * node_modules through the page's import map).
 */

import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { Page } from './views.js';

/** The control token: from `#token=…` (then dropped from the address bar), or this tab's storage. */
function read_token() {
  const m = /(?:^#|&)token=([0-9a-fA-F]+)/.exec(window.location.hash);
  if (m !== null) {
    sessionStorage.setItem('cloister-token', m[1]);
    history.replaceState(null, '', window.location.pathname);
    return m[1];
  }
  return sessionStorage.getItem('cloister-token');
}

const token = read_token();

/**
 * Calls the control plane: `POST /control/{path}` with an optional JSON body. Resolves with
 * `{ok: true, message}` or `{ok: false, message}` (the server's error message): never throws.
 */
async function control(path, body) {
  if (token === null) return { ok: false, message: 'no control token: open the URL sim up printed' };
  try {
    const answer = await fetch(`/control/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? '' : JSON.stringify(body),
    });
    const json = await answer.json();
    if (answer.ok) return { ok: true, message: json.message ?? 'done' };
    return { ok: false, message: json.error?.message ?? `HTTP ${answer.status}` };
  } catch (error) {
    return { ok: false, message: String(error) };
  }
}

function App() {
  const [state, set_state] = useState(/** @type {object | null} */ (null));
  const [connected, set_connected] = useState(false);
  useEffect(() => {
    const events = new EventSource('/api/events');
    events.onmessage = (m) => {
      set_state(JSON.parse(m.data));
      set_connected(true);
    };
    events.onerror = () => set_connected(false);
    return () => events.close();
  }, []);
  if (state === null) return html`<p class="loading">Connecting to the network…</p>`;
  return html`<${Page} state=${state} connected=${connected} can_steer=${token !== null} control=${control} />`;
}

render(html`<${App} />`, /** @type {HTMLElement} */ (document.getElementById('app')));
