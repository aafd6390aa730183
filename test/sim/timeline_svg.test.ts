import { describe, expect, it } from 'vitest';
import { parse_manifest } from '../../sim/manifest.js';
import { escape_xml, LEGEND_ROWS_MAX, render_timeline, validator_color } from '../../sim/run/timeline_svg.js';
import { run_simulation, type SimReport } from '../../sim/run/world.js';

type Node = SimReport['nodes'][number];

/** A validator's line of `report.nodes`. */
function node(
  index: number,
  height: number,
  lives: number,
  honest: boolean,
  halted: string | null = null,
): Node {
  return { index, height, lives, honest, halted } as Node;
}

/** A report with `validators` honest validators and no events, then `over` on top. */
function report(validators: number, over: Partial<SimReport> = {}): SimReport {
  return {
    seed: 42,
    validators,
    heights_committed: 0,
    sim_ms: 0,
    wall_ms: 1,
    txs_committed: 0,
    faults_applied: [],
    violations: [],
    trace_sha256: '0'.repeat(64),
    compression: 0,
    events: 0,
    byzantine: {},
    network: { messages: 0, delivered: 0, dropped: 0, bytes: 0 },
    workload: { submitted: 0, refused: 0, resent: 0, committed: 0 },
    nodes: Array.from({ length: validators }, (_, index) => node(index, 0, 1, true)),
    timeline: Array.from({ length: validators }, (_, index) => ({ index, points: [[0, 0]] })),
    liveness_bound_ms: 60_000,
    ...over,
  } as SimReport;
}

/**
 * A tiny well-formedness check: one root element, every tag closed in order, attributes quoted,
 * no stray `<`, `>` or `&` in text or attribute values. Returns null or what is wrong.
 */
function xml_problem(text: string): string | null {
  const stack: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '<') {
      tag.lastIndex = i;
      const m = tag.exec(text);
      if (m === null) return `bad tag at ${i}: ${text.slice(i, i + 40)}`;
      const [whole, close, name, attrs, self] = m as unknown as [string, string, string, string, string];
      for (const [, value] of attrs.matchAll(/="([^"]*)"/g)) {
        const bad = xml_text_problem(value ?? '');
        if (bad !== null) return `attribute of <${name}>: ${bad}`;
      }
      if (close === '/') {
        if (stack.pop() !== name) return `</${name}> closes the wrong element at ${i}`;
      } else if (self !== '/') {
        if (stack.length === 0) roots++;
        stack.push(name);
      } else if (stack.length === 0) roots++;
      i += whole.length;
      continue;
    }
    if (c === '>') return `stray > at ${i}`;
    if (c === '&') {
      entity.lastIndex = i;
      if (entity.exec(text) === null) return `stray & at ${i}`;
    }
    if (stack.length === 0 && c !== undefined && !/\s/.test(c)) return `text outside the root at ${i}`;
    i++;
  }
  if (stack.length > 0) return `unclosed <${stack.join('> <')}>`;
  return roots === 1 ? null : `${roots} root elements`;
}

function xml_text_problem(value: string): string | null {
  if (/[<>]/.test(value)) return `raw < or > in ${JSON.stringify(value)}`;
  if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(value))
    return `stray & in ${JSON.stringify(value)}`;
  return null;
}

const count = (text: string, re: RegExp) => [...text.matchAll(re)].length;
const polylines = (svg: string) =>
  [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1] ?? '');
const numbers = (svg: string) =>
  [...svg.matchAll(/ (?:x|y|x1|x2|y1|y2|cx|cy|points)="([^"]*)"/g)].flatMap((m) =>
    (m[1] ?? '')
      .split(/[\s,]+/)
      .filter((s) => s !== '')
      .map(Number),
  );

describe('render_timeline', () => {
  it('the well-formedness check can fail', () => {
    expect(xml_problem('<svg><g></g></svg>')).toBeNull();
    expect(xml_problem('<svg><g></svg></g>')).toMatch(/wrong element/);
    expect(xml_problem('<svg><text>a & b</text></svg>')).toMatch(/stray &/);
    expect(xml_problem('<svg><text>a < b</text></svg>')).toMatch(/bad tag/);
    expect(xml_problem('<svg><text x="a<b">c</text></svg>')).toMatch(/bad tag/);
    expect(xml_problem('<svg/><svg/>')).toMatch(/2 root/);
    expect(xml_problem('<svg><g>')).toMatch(/unclosed/);
  });

  it('draws one polyline per validator, dashed for byzantine ones, and a marker per fault and violation', () => {
    const r = report(4, {
      heights_committed: 3,
      sim_ms: 2500,
      byzantine: { '2': 'equivocate' },
      nodes: [0, 1, 2, 3].map((index) =>
        node(index, 3, index === 1 ? 2 : 1, index !== 2, index === 3 ? 'diverged <results>' : null),
      ),
      timeline: [0, 1, 2, 3].map((index) => ({
        index,
        points: [
          [0, 0],
          [700 + index, 1],
          [1400, 2],
          [2100, 3],
        ],
      })),
      faults_applied: [
        { sim_ms: 300, height: 0, fault: 'height 0: partition [0,1] [2,3]' },
        { sim_ms: 305, height: 0, fault: 'height 0: crash 1' },
        { sim_ms: 1800, height: 2, fault: 'height 2: heal' },
      ],
      violations: [
        { kind: 'agreement', height: 3, sim_ms: 2100, validators: [0, 3], message: 'two blocks at height 3' },
      ],
    });
    const svg = render_timeline(r);
    expect(xml_problem(svg)).toBeNull();
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="500"')).toBe(true);
    expect(count(svg, /<polyline /g)).toBe(4);
    const dashed = [...svg.matchAll(/<polyline [^>]*data-index="(\d+)"[^>]*stroke-dasharray/g)].map(
      (m) => m[1],
    );
    expect(dashed).toEqual(['2']);
    expect(count(svg, /<line class="fault"/g)).toBe(3);
    // Two faults 5 ms apart share one label; the heal has its own.
    expect(count(svg, /class="fault-label"/g)).toBe(2);
    expect(svg).toContain('partition [0,1] [2,3] (+1)');
    expect(count(svg, /<g class="violation">/g)).toBe(1);
    expect(svg).toContain('agreement h3');
    expect(svg).toContain('seed 42, 4 validators, 3 heights committed');
    expect(svg).toContain('v2 h3 equivocate');
    expect(svg).toContain('v1 h3 ×2');
    expect(svg).toContain('v3 h3 halted');
    expect(svg).toContain('validator 3, honest, final height 3, 1 life, halted: diverged &lt;results&gt;');
    expect(svg).toContain('simulated time (s)');
    expect(svg).toContain('committed height');
    // Step lines: every validator's line is a staircase ending at the run's end, inside the plot.
    for (const pts of polylines(svg)) {
      const xy = pts.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
      expect(xy.length).toBeGreaterThanOrEqual(2);
      for (let k = 1; k < xy.length; k++) {
        const [a, b] = [xy[k - 1]!, xy[k]!];
        expect(a[0] === b[0] || a[1] === b[1]).toBe(true);
        expect(b[0]).toBeGreaterThanOrEqual(a[0]);
      }
    }
    for (const v of numbers(svg)) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1000);
    }
  });

  it('escapes fault, violation and behaviour text', () => {
    const evil = `</text><script>alert("x")</script> & 'q' \u0000 \ud800`;
    const r = report(2, {
      sim_ms: 1000,
      byzantine: { '1': evil as never },
      nodes: [node(0, 1, 1, true), node(1, 1, 1, false, evil)],
      faults_applied: [{ sim_ms: 500, height: 1, fault: `height 1: <&> ${evil}` }],
      violations: [{ kind: 'validity', height: null, sim_ms: 900, validators: [1], message: evil }],
    });
    const svg = render_timeline(r);
    expect(xml_problem(svg)).toBeNull();
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('\u0000');
    expect(svg).toContain('&lt;&amp;&gt;');
    expect(count(svg, /<line class="fault"/g)).toBe(1);
    expect(escape_xml('a<b & "c" \'d\'>')).toBe('a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
    expect(escape_xml('ok \u{1f600} \udc00')).toBe('ok \u{1f600} \ufffd');
  });

  it('handles no points, one point and a zero-length run', () => {
    const empty = report(3, { timeline: [] });
    const svg0 = render_timeline(empty);
    expect(xml_problem(svg0)).toBeNull();
    expect(count(svg0, /<polyline /g)).toBe(3);
    expect(polylines(svg0)).toEqual(['', '', '']);

    const one = render_timeline(report(1));
    expect(xml_problem(one)).toBeNull();
    // A single point at time 0 becomes a dot: two equal points.
    const [pts] = polylines(one);
    const [a, b] = (pts ?? '').split(' ');
    expect(a).toBeDefined();
    expect(a).toBe(b);
    for (const v of numbers(one)) expect(Number.isFinite(v)).toBe(true);
  });

  it('keeps huge ranges finite and short: ten million heights over days of simulated time', () => {
    const points: [number, number][] = [];
    for (let k = 0; k <= 2000; k++) points.push([k * 200_000_000, k * 5_000]);
    const r = report(2, {
      heights_committed: 10_000_000,
      sim_ms: 400_000_000_000,
      timeline: [
        { index: 0, points },
        { index: 1, points: points.slice(0, 1000) },
      ],
      faults_applied: Array.from({ length: 50 }, (_, k) => ({
        sim_ms: k * 1e9,
        height: k,
        fault: `height ${k}: heal`,
      })),
    });
    const svg = render_timeline(r);
    expect(xml_problem(svg)).toBeNull();
    expect(svg).toContain('>10M<');
    expect(count(svg, /<line class="fault"/g)).toBe(50);
    for (const v of numbers(svg)) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeLessThanOrEqual(1000);
    }
    // At most a few points per pixel: 2001 commits do not make 4000 vertices.
    for (const pts of polylines(svg)) expect(pts.split(' ').length).toBeLessThan(2 * (1000 + 500));
    expect(svg.length).toBeLessThan(200_000);
  });

  it('keeps the legend compact for 64 validators with distinct colours', () => {
    const n = 64;
    const r = report(n, {
      byzantine: { '5': 'silent', '60': 'equivocate' },
      nodes: Array.from({ length: n }, (_, index) => node(index, 10, 1, index !== 5 && index !== 60)),
    });
    const svg = render_timeline(r);
    expect(xml_problem(svg)).toBeNull();
    expect(count(svg, /<polyline /g)).toBe(n);
    expect(svg).toContain('2 byzantine (dashed)');
    expect(n).toBeGreaterThan(LEGEND_ROWS_MAX);
    // The grid labels are bare indices; nothing of the legend leaves the picture.
    const legend = svg.slice(svg.indexOf('<g class="legend">'));
    for (let i = 0; i < n; i++) expect(legend).toContain(`>${i}</text>`);
    expect(legend).not.toContain('v63');
    for (const m of legend.matchAll(/ y="([\d.]+)"/g)) expect(Number(m[1])).toBeLessThan(500);
    const colours = new Set(Array.from({ length: n }, (_, i) => validator_color(i, n)));
    expect(colours.size).toBe(n);
  });

  it('draws a real run: 4 validators, a few heights', async () => {
    const r = await run_simulation({
      seed: 3,
      validators: 4,
      heights: 4,
      manifest: parse_manifest(
        {
          validators: 4,
          faults: [
            { at_height: 1, crash: 3 },
            { at_height: 2, restart: 3 },
          ],
        },
        { validators: 4 },
      ),
      load_tx_per_s: 5,
    });
    const svg = render_timeline(r);
    expect(xml_problem(svg)).toBeNull();
    expect(count(svg, /<polyline /g)).toBe(4);
    expect(count(svg, /<line class="fault"/g)).toBe(r.faults_applied.length);
    expect(r.faults_applied.length).toBe(2);
    expect(count(svg, /<g class="violation">/g)).toBe(r.violations.length);
  });
});
