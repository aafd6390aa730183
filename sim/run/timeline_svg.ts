/**
 * The timeline of a simulated run as one self-contained SVG (plain text, no dependencies, no
 * scripts, no external references): x is simulated time in seconds, y the committed height; one
 * step-shaped polyline per validator (its own colour, dashed while byzantine in the run), a grey
 * vertical marker with a short label for every fault applied, and a red marker for every
 * invariant violation. Title with the seed, validator count and heights; axes with ticks; a legend
 * (one row per validator up to {@link LEGEND_ROWS_MAX} validators, a compact grid of swatches
 * beyond). Drawn for 1000 × 500 pixels. Every piece of text is XML-escaped, so fault or violation
 * text cannot break the document.
 * @module
 */

import type { SimReport } from './world.js';

/** Width of the picture in pixels. */
export const TIMELINE_WIDTH_PX = 1000;
/** Height of the picture in pixels. */
export const TIMELINE_HEIGHT_PX = 500;
/** Validators listed one per legend row; more get the compact grid. */
export const LEGEND_ROWS_MAX = 16;
/** Longest fault or violation label drawn next to its marker (the full text is in its tooltip). */
export const MARKER_LABEL_CHARS_MAX = 38;

const MARGIN_PX = { left: 64, right: 196, top: 52, bottom: 46 };
const PLOT_W_PX = TIMELINE_WIDTH_PX - MARGIN_PX.left - MARGIN_PX.right;
const PLOT_H_PX = TIMELINE_HEIGHT_PX - MARGIN_PX.top - MARGIN_PX.bottom;
/** Closest two marker labels may be before the later one is folded into the earlier one. */
const LABEL_GAP_PX = 12;
/** Ten distinct colours readable on white (Tableau 10), used while they suffice. */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#ff9da7',
  '#bab0ac',
  '#17becf',
];
const VIOLATION_COLOR = '#d62728';
const FAULT_COLOR = '#7f7f7f';

/** Text made safe for XML character data and attribute values (characters XML forbids become U+FFFD). */
export function escape_xml(text: string): string {
  let out = '';
  // Iterating a string yields code points; a lone surrogate comes alone.
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else if (xml_char(c)) out += ch;
    else out += '\ufffd';
  }
  return out;
}

/** Whether XML 1.0 allows code point `c` in a document. */
function xml_char(c: number): boolean {
  if (c < 0x20) return c === 0x9 || c === 0xa || c === 0xd;
  if (c >= 0xd800 && c <= 0xdfff) return false;
  return c !== 0xfffe && c !== 0xffff;
}

/** The colour of validator `index` among `count` validators. */
export function validator_color(index: number, count: number): string {
  if (count <= PALETTE.length) return PALETTE[index % PALETTE.length] as string;
  // Golden-angle hues: neighbours differ, and any count gets distinct colours.
  const hue = Math.round((index * 137.508) % 360);
  const light = index % 2 === 0 ? 38 : 50;
  return `hsl(${hue},70%,${light}%)`;
}

/** Renders the run's timeline as an SVG document (UTF-8 text, ending with a newline). */
export function render_timeline(report: SimReport): string {
  const count = validator_count(report);
  const end_ms = end_time_ms(report);
  const x = new Axis(end_ms / 1000, false);
  const y = new Axis(top_height(report), true);
  const px = (ms: number) => MARGIN_PX.left + x.ratio(ms / 1000) * PLOT_W_PX;
  const py = (h: number) => MARGIN_PX.top + PLOT_H_PX - y.ratio(h) * PLOT_H_PX;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${TIMELINE_WIDTH_PX}" height="${TIMELINE_HEIGHT_PX}"` +
      ` viewBox="0 0 ${TIMELINE_WIDTH_PX} ${TIMELINE_HEIGHT_PX}" font-family="sans-serif" font-size="11" role="img">`,
  );
  const title = `Cloister simulation: seed ${report.seed}, ${report.validators} validators, ${report.heights_committed} heights committed`;
  out.push(`<title>${escape_xml(title)}</title>`);
  out.push(`<rect width="${TIMELINE_WIDTH_PX}" height="${TIMELINE_HEIGHT_PX}" fill="#ffffff"/>`);
  out.push(
    `<text x="${MARGIN_PX.left}" y="22" font-size="15" font-weight="bold">${escape_xml(title)}</text>`,
  );
  const verdict =
    report.violations.length === 0
      ? 'every invariant held'
      : `${report.violations.length} violation${report.violations.length === 1 ? '' : 's'}`;
  const subtitle =
    `${fmt_seconds(report.sim_ms)} simulated in ${fmt_seconds(report.wall_ms)} wall` +
    ` (${report.compression}× real time), ${report.txs_committed} transactions,` +
    ` ${report.faults_applied.length} fault${report.faults_applied.length === 1 ? '' : 's'} applied, ${verdict}`;
  out.push(
    `<text x="${MARGIN_PX.left}" y="39" font-size="11" fill="${report.violations.length === 0 ? '#444444' : VIOLATION_COLOR}">${escape_xml(subtitle)}</text>`,
  );
  out.push(...axes(x, y, px, py));
  out.push(...fault_markers(report, px));
  out.push(
    `<g class="validators" fill="none" stroke-width="1.6" stroke-linejoin="round" stroke-linecap="round">`,
  );
  for (let i = 0; i < count; i++) {
    const points = report.timeline.find((t) => t.index === i)?.points ?? [];
    const line = step_pixels(points, end_ms, px, py);
    const dash = is_honest(report, i) ? '' : ' stroke-dasharray="6 3"';
    out.push(
      `<polyline class="validator" data-index="${i}" stroke="${validator_color(i, count)}"${dash}` +
        ` points="${line.map(([a, b]) => `${a},${b}`).join(' ')}"><title>${escape_xml(validator_tooltip(report, i))}</title></polyline>`,
    );
  }
  out.push('</g>');
  out.push(...violation_markers(report, px, py, y));
  out.push(...legend(report, count));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** How many validators to draw: the report's count, or more if its timeline or nodes name more. */
function validator_count(r: SimReport): number {
  let n = Number.isInteger(r.validators) && r.validators > 0 ? r.validators : 0;
  for (const t of r.timeline) n = Math.max(n, t.index + 1);
  for (const v of r.nodes) n = Math.max(n, v.index + 1);
  return n;
}

/** The last simulated instant anything in the report happened. */
function end_time_ms(r: SimReport): number {
  let end = finite(r.sim_ms);
  for (const t of r.timeline) for (const [ms] of t.points) end = Math.max(end, finite(ms));
  for (const f of r.faults_applied) end = Math.max(end, finite(f.sim_ms));
  for (const v of r.violations) end = Math.max(end, finite(v.sim_ms));
  return end;
}

/** The highest height in the report. */
function top_height(r: SimReport): number {
  let top = finite(r.heights_committed);
  for (const t of r.timeline) for (const [, h] of t.points) top = Math.max(top, finite(h));
  for (const v of r.nodes) top = Math.max(top, finite(v.height));
  for (const v of r.violations) top = Math.max(top, finite(v.height ?? 0));
  return top;
}

function finite(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}

/** Whether validator `i` was honest for the whole run. */
function is_honest(r: SimReport, i: number): boolean {
  const node = r.nodes.find((v) => v.index === i);
  if (node !== undefined) return node.honest;
  return !Object.hasOwn(r.byzantine, String(i));
}

function validator_label(r: SimReport, i: number): string {
  const node = r.nodes.find((v) => v.index === i);
  const height = node === undefined ? '' : ` h${node.height}`;
  const lives = node !== undefined && node.lives > 1 ? ` ×${node.lives}` : '';
  const halted = node?.halted == null ? '' : ' halted';
  if (is_honest(r, i)) return `v${i}${height}${lives}${halted}`;
  return `v${i}${height}${lives}${halted} ${r.byzantine[String(i)] ?? 'byzantine'}`;
}

/** The tooltip of a validator's line: the legend's words spelled out. */
function validator_tooltip(r: SimReport, i: number): string {
  const node = r.nodes.find((v) => v.index === i);
  const parts = [`validator ${i}`];
  parts.push(is_honest(r, i) ? 'honest' : `byzantine (${r.byzantine[String(i)] ?? 'behaviour not named'})`);
  if (node !== undefined) {
    parts.push(`final height ${node.height}`, `${node.lives} ${node.lives === 1 ? 'life' : 'lives'}`);
    if (node.halted != null) parts.push(`halted: ${node.halted}`);
  }
  return parts.join(', ');
}

/** A linear axis from 0 to a nice number at or above `max`, with about eight ticks. */
class Axis {
  readonly step: number;
  readonly max: number;

  constructor(data_max: number, integer: boolean) {
    const span = data_max > 0 ? data_max : 1;
    let step = nice_step(span / 8);
    if (integer) step = Math.max(1, Math.round(step));
    this.step = step;
    this.max = Math.max(step, Math.ceil(span / step - 1e-9) * step);
  }

  ratio(v: number): number {
    return Math.min(1, Math.max(0, v / this.max));
  }

  ticks(): number[] {
    const out: number[] = [];
    const n = Math.round(this.max / this.step);
    for (let k = 0; k <= n; k++) out.push(Number((k * this.step).toPrecision(12)));
    return out;
  }
}

/** 1, 2 or 5 times a power of ten, at or above `raw`. */
function nice_step(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw * (1 - 1e-9)) return m * power;
  return 10 * power;
}

/** A tick value, short: 1500 → 1.5k, 2000000 → 2M. */
function fmt_tick(v: number): string {
  const a = Math.abs(v);
  const short = (d: number, suffix: string) => `${Number((v / d).toPrecision(4))}${suffix}`;
  if (a >= 1e9) return short(1e9, 'G');
  if (a >= 1e6) return short(1e6, 'M');
  if (a >= 1e4) return short(1e3, 'k');
  return String(Number(v.toPrecision(6)));
}

function fmt_seconds(ms: number): string {
  const s = finite(ms) / 1000;
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${s.toFixed(1)} s`;
}

/** Grid, ticks, tick labels and axis titles. */
function axes(x: Axis, y: Axis, px: (ms: number) => number, py: (h: number) => number): string[] {
  const out: string[] = ['<g class="axes">'];
  const left = MARGIN_PX.left;
  const bottom = MARGIN_PX.top + PLOT_H_PX;
  const right = MARGIN_PX.left + PLOT_W_PX;
  for (const t of x.ticks()) {
    const a = r1(px(t * 1000));
    out.push(`<line x1="${a}" y1="${MARGIN_PX.top}" x2="${a}" y2="${bottom}" stroke="#eeeeee"/>`);
    out.push(`<line x1="${a}" y1="${bottom}" x2="${a}" y2="${bottom + 5}" stroke="#333333"/>`);
    out.push(`<text x="${a}" y="${bottom + 17}" text-anchor="middle">${escape_xml(fmt_tick(t))}</text>`);
  }
  for (const t of y.ticks()) {
    const b = r1(py(t));
    out.push(`<line x1="${left}" y1="${b}" x2="${right}" y2="${b}" stroke="#eeeeee"/>`);
    out.push(`<line x1="${left - 5}" y1="${b}" x2="${left}" y2="${b}" stroke="#333333"/>`);
    out.push(`<text x="${left - 8}" y="${r1(b + 4)}" text-anchor="end">${escape_xml(fmt_tick(t))}</text>`);
  }
  out.push(
    `<path d="M${left},${MARGIN_PX.top} V${bottom} H${right}" fill="none" stroke="#333333"/>`,
    `<text x="${r1(left + PLOT_W_PX / 2)}" y="${TIMELINE_HEIGHT_PX - 8}" text-anchor="middle">simulated time (s)</text>`,
    `<text transform="translate(16,${r1(MARGIN_PX.top + PLOT_H_PX / 2)}) rotate(-90)" text-anchor="middle">committed height</text>`,
    '</g>',
  );
  return out;
}

/**
 * Pixel points of a step function through `points` (height holds until the next commit), held to
 * `end_ms`. Consecutive points in one pixel column keep only their first, lowest, highest and last
 * (the column's vertical extent), and a point between two others on one horizontal or vertical
 * line is left out, so a line has at most a few points per pixel column whatever the run's length.
 */
function step_pixels(
  points: readonly (readonly [number, number])[],
  end_ms: number,
  px: (ms: number) => number,
  py: (h: number) => number,
): [number, number][] {
  const sorted = points
    .filter(([ms, h]) => Number.isFinite(ms) && Number.isFinite(h))
    .slice()
    .sort((a, b) => a[0] - b[0]);
  const raw: [number, number][] = [];
  for (const [k, [ms, h]] of sorted.entries()) {
    if (k > 0) raw.push([px(ms), py((sorted[k - 1] as readonly [number, number])[1])]);
    raw.push([px(ms), py(h)]);
  }
  const last = sorted[sorted.length - 1];
  if (last !== undefined) raw.push([px(Math.max(end_ms, last[0])), py(last[1])]);
  const out: [number, number][] = [];
  const add = (p: [number, number]) => {
    const a = out[out.length - 1];
    const b = out[out.length - 2];
    if (a !== undefined && a[0] === p[0] && a[1] === p[1]) return;
    const between = (u: number, v: number, w: number) => (u <= v && v <= w) || (u >= v && v >= w);
    if (
      a !== undefined &&
      b !== undefined &&
      ((b[0] === a[0] && a[0] === p[0] && between(b[1], a[1], p[1])) ||
        (b[1] === a[1] && a[1] === p[1] && between(b[0], a[0], p[0])))
    ) {
      out[out.length - 1] = p;
      return;
    }
    out.push(p);
  };
  for (let k = 0; k < raw.length; ) {
    const column = Math.round((raw[k] as [number, number])[0]);
    let end = k;
    while (end + 1 < raw.length && Math.round((raw[end + 1] as [number, number])[0]) === column) end++;
    if (end === k) {
      const [x, y] = raw[k] as [number, number];
      add([r1(x), r1(y)]);
    } else {
      // Many points in one column: drawn at the column, as first, lowest, highest, last.
      const ys = raw.slice(k, end + 1).map(([, y]) => y);
      const lo = ys.indexOf(Math.max(...ys));
      const hi = ys.indexOf(Math.min(...ys));
      const keep = [...new Set([0, Math.min(lo, hi), Math.max(lo, hi), ys.length - 1])];
      for (const at of keep) add([column, r1(ys[at] as number)]);
    }
    k = end + 1;
  }
  // A single point: a zero-length segment, drawn as a dot by the round line cap.
  if (out.length === 1) out.push([...(out[0] as [number, number])]);
  return out;
}

/** One grey dashed vertical marker per applied fault; crowded labels fold into the earlier one. */
function fault_markers(r: SimReport, px: (ms: number) => number): string[] {
  const out: string[] = [`<g class="faults" stroke="${FAULT_COLOR}">`];
  const bottom = MARGIN_PX.top + PLOT_H_PX;
  const xs = r.faults_applied.map((f) => r1(px(finite(f.sim_ms))));
  // Label clusters: a marker closer than LABEL_GAP_PX to the cluster's first starts no label of its own.
  const label_of = new Map<number, { text: string; more: number }>();
  let head = -1;
  for (const [k, f] of r.faults_applied.entries()) {
    if (head >= 0 && (xs[k] as number) - (xs[head] as number) < LABEL_GAP_PX) {
      (label_of.get(head) as { more: number }).more++;
      continue;
    }
    head = k;
    label_of.set(k, { text: f.fault, more: 0 });
  }
  for (const [k, f] of r.faults_applied.entries()) {
    const a = xs[k] as number;
    const tip = `fault at ${fmt_seconds(f.sim_ms)} (height ${f.height}): ${f.fault}`;
    out.push(
      `<line class="fault" x1="${a}" y1="${MARGIN_PX.top}" x2="${a}" y2="${bottom}" stroke-dasharray="3 3"><title>${escape_xml(tip)}</title></line>`,
    );
    const label = label_of.get(k);
    if (label === undefined) continue;
    const text = shorten(strip_height(label.text)) + (label.more > 0 ? ` (+${label.more})` : '');
    out.push(
      `<text class="fault-label" transform="translate(${r1(a + 3)},${MARGIN_PX.top + 4}) rotate(90)" stroke="none" fill="#555555" font-size="10">${escape_xml(text)}</text>`,
    );
  }
  out.push('</g>');
  return out;
}

/** Red markers: a vertical line at the time, a dot at the height, a short label. */
function violation_markers(
  r: SimReport,
  px: (ms: number) => number,
  py: (h: number) => number,
  y: Axis,
): string[] {
  const out: string[] = [`<g class="violations" stroke="${VIOLATION_COLOR}" fill="${VIOLATION_COLOR}">`];
  const bottom = MARGIN_PX.top + PLOT_H_PX;
  let last_label_x = Number.NEGATIVE_INFINITY;
  for (const v of r.violations) {
    const a = r1(px(finite(v.sim_ms)));
    const b = r1(py(v.height === null ? y.max : finite(v.height)));
    const where = v.height === null ? '' : ` at height ${v.height}`;
    const tip = `${v.kind}${where} (${fmt_seconds(v.sim_ms)} simulated): ${v.message}`;
    out.push(
      `<g class="violation"><title>${escape_xml(tip)}</title>` +
        `<line x1="${a}" y1="${MARGIN_PX.top}" x2="${a}" y2="${bottom}" stroke-width="1.5"/>` +
        `<circle cx="${a}" cy="${b}" r="4.5"/></g>`,
    );
    if (a - last_label_x < LABEL_GAP_PX * 6) continue;
    last_label_x = a;
    const label = shorten(`${v.kind}${v.height === null ? '' : ` h${v.height}`}`);
    const anchor = a > MARGIN_PX.left + PLOT_W_PX * 0.8 ? 'end' : 'start';
    const dx = anchor === 'end' ? -6 : 6;
    out.push(
      `<text class="violation-label" x="${r1(a + dx)}" y="${bottom - 6}" text-anchor="${anchor}" stroke="none" font-weight="bold">${escape_xml(label)}</text>`,
    );
  }
  out.push('</g>');
  return out;
}

/** The legend, right of the plot: one row per validator, or a grid of numbered swatches. */
function legend(r: SimReport, count: number): string[] {
  const x0 = MARGIN_PX.left + PLOT_W_PX + 18;
  const width = TIMELINE_WIDTH_PX - x0 - 6;
  const out: string[] = ['<g class="legend">'];
  out.push(
    `<text x="${x0}" y="${MARGIN_PX.top - 6}" font-size="10" fill="#555555">validator, final height</text>`,
  );
  let y0 = MARGIN_PX.top + 8;
  const swatch = (x: number, y: number, i: number, len: number) => {
    const dash = is_honest(r, i) ? '' : ' stroke-dasharray="4 2"';
    return `<line x1="${x}" y1="${y}" x2="${x + len}" y2="${y}" stroke="${validator_color(i, count)}" stroke-width="2.5"${dash}/>`;
  };
  if (count <= LEGEND_ROWS_MAX) {
    for (let i = 0; i < count; i++) {
      const y = y0 + i * 16;
      out.push(swatch(x0, y, i, 22));
      out.push(
        `<text x="${x0 + 28}" y="${y + 4}" font-size="10">${escape_xml(shorten(validator_label(r, i), 28))}</text>`,
      );
    }
    y0 += count * 16 + 8;
  } else {
    const cols = 4;
    const rows = Math.ceil(count / cols);
    const room = PLOT_H_PX - 70;
    const row_h = Math.max(4, Math.min(13, room / rows));
    const col_w = width / cols;
    const font = Math.min(10, Math.max(5, row_h - 2));
    for (let i = 0; i < count; i++) {
      const cx = r1(x0 + (i % cols) * col_w);
      const cy = r1(y0 + Math.floor(i / cols) * row_h);
      out.push(swatch(cx, cy, i, 12));
      out.push(`<text x="${r1(cx + 15)}" y="${r1(cy + font / 2 - 1)}" font-size="${font}">${i}</text>`);
    }
    y0 += rows * row_h + 8;
    const byz = count - Array.from({ length: count }, (_, i) => is_honest(r, i)).filter(Boolean).length;
    out.push(`<text x="${x0}" y="${r1(y0 + 4)}" font-size="10">${byz} byzantine (dashed)</text>`);
    y0 += 16;
  }
  out.push(
    `<line x1="${x0}" y1="${r1(y0 - 6)}" x2="${x0}" y2="${r1(y0 + 6)}" stroke="${FAULT_COLOR}" stroke-dasharray="3 3"/>`,
    `<text x="${x0 + 10}" y="${r1(y0 + 4)}">fault applied</text>`,
    `<circle cx="${x0}" cy="${r1(y0 + 18)}" r="4" fill="${VIOLATION_COLOR}"/>`,
    `<text x="${x0 + 10}" y="${r1(y0 + 22)}">invariant violation</text>`,
  );
  out.push('</g>');
  return out;
}

/** "height 12 + 40 ms: crash 2" → "crash 2": the marker's place already says when. */
function strip_height(text: string): string {
  const m = /^height \d+(?: \+ \d+ ms)?: (.*)$/s.exec(text);
  return m === null ? text : (m[1] as string);
}

function shorten(text: string, max = MARKER_LABEL_CHARS_MAX): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** Rounded to a tenth of a pixel. */
function r1(v: number): number {
  return Math.round(v * 10) / 10;
}
