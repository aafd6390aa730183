/**
 * Plain SVG line charts for the benchmark reports, written as text with no dependencies: one or
 * more panels side by side, each with linear or logarithmic axes, series of points joined by
 * lines (hollow points for ones to set apart, e.g. broken steps), optional horizontal reference
 * lines and a y = x diagonal, and a legend of free text lines under the panels.
 * @module
 */

import { escape_xml } from './report.js';

export interface ChartPoint {
  x: number;
  y: number;
  /** Drawn as an open circle. */
  hollow?: boolean;
}

export interface ChartSeries {
  label: string;
  color: string;
  points: ChartPoint[];
}

export interface ChartPanel {
  title: string;
  x_label: string;
  y_label: string;
  x_log: boolean;
  y_log: boolean;
  series: ChartSeries[];
  /** Dashed horizontal lines, e.g. a latency limit. */
  hlines?: { y: number; label: string }[];
  /** A dashed y = x line (committed = offered). */
  diagonal?: boolean;
  /** Lower end of the y axis (default: 0 for linear, the data's for log). */
  y_min?: number;
}

/** Colours for series, in order (ColorBrewer Dark2, readable on white). */
export const SERIES_COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d'];

const PANEL_W = 440;
const PANEL_H = 300;
const MARGIN = { left: 64, right: 20, top: 44, bottom: 48 };
const LEGEND_LINE_H = 16;

interface Axis {
  min: number;
  max: number;
  log: boolean;
}

function fmt(v: number): string {
  if (v >= 10_000) return `${Math.round(v / 1000)}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  return Number.isInteger(v) ? String(v) : v.toPrecision(2);
}

/** The axis range covering `values` (and y = x values when wanted), padded. */
function axis_for(values: number[], log: boolean, forced_min?: number): Axis {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (finite.length === 0) return { min: log ? 1 : 0, max: log ? 10 : 1, log };
  let min = Math.min(...finite);
  let max = Math.max(...finite);
  if (log) {
    // The nearest 1-2-5 values outside the data, so the ticks below land on the ends.
    const e_lo = Math.floor(Math.log10(min));
    const e_hi = Math.floor(Math.log10(max));
    min = forced_min ?? [5, 2, 1].map((m) => m * 10 ** e_lo).find((v) => v <= min) ?? 10 ** e_lo;
    max = [1, 2, 5, 10].map((m) => m * 10 ** e_hi).find((v) => v >= max * 1.0001) ?? 10 ** (e_hi + 1);
    if (max <= min) max = min * 10;
  } else {
    min = forced_min ?? 0;
    max = max <= min ? min + 1 : max * 1.08;
  }
  return { min, max, log };
}

function ticks(a: Axis): number[] {
  if (a.log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(a.min)); e <= Math.ceil(Math.log10(a.max)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v >= a.min && v <= a.max) out.push(v);
      }
    }
    return out;
  }
  const raw = (a.max - a.min) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(a.min / step) * step; v <= a.max + 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** Position of `v` on `a` mapped to [0, 1]. */
function unit(a: Axis, v: number): number {
  if (a.log)
    return (Math.log10(Math.max(v, a.min)) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min));
  return (v - a.min) / (a.max - a.min);
}

function render_panel(p: ChartPanel, ox: number, oy: number): string[] {
  const xs = p.series.flatMap((s) => s.points.map((pt) => pt.x));
  const ys = p.series.flatMap((s) => s.points.map((pt) => pt.y));
  for (const h of p.hlines ?? []) ys.push(h.y);
  const xa = axis_for(xs, p.x_log);
  const ya = axis_for(p.diagonal ? [...ys, ...xs] : ys, p.y_log, p.y_min);
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const x0 = ox + MARGIN.left;
  const y0 = oy + MARGIN.top;
  const px = (v: number) => (x0 + unit(xa, v) * w).toFixed(1);
  const py = (v: number) => (y0 + h - unit(ya, v) * h).toFixed(1);
  const out: string[] = [
    `<text x="${x0}" y="${oy + 24}" font-size="13">${escape_xml(p.title)}</text>`,
    `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
  ];
  for (const t of ticks(xa)) {
    out.push(
      `<line x1="${px(t)}" y1="${y0}" x2="${px(t)}" y2="${y0 + h}" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${y0 + h + 14}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of ticks(ya)) {
    out.push(
      `<line x1="${x0}" y1="${py(t)}" x2="${x0 + w}" y2="${py(t)}" stroke="#eee"/>`,
      `<text x="${x0 - 4}" y="${(Number(py(t)) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + w / 2}" y="${y0 + h + 34}" text-anchor="middle">${escape_xml(p.x_label)}</text>`,
    `<text x="${ox + 14}" y="${y0 + h / 2}" text-anchor="middle" transform="rotate(-90 ${ox + 14} ${y0 + h / 2})">${escape_xml(p.y_label)}</text>`,
  );
  if (p.diagonal) {
    const lo = Math.max(xa.min, ya.min);
    const hi = Math.min(xa.max, ya.max);
    if (hi > lo) {
      out.push(
        `<line x1="${px(lo)}" y1="${py(lo)}" x2="${px(hi)}" y2="${py(hi)}" stroke="#888" stroke-dasharray="4 3"/>`,
        `<text x="${px(hi)}" y="${(Number(py(hi)) + 12).toFixed(1)}" text-anchor="end" fill="#888">committed = offered</text>`,
      );
    }
  }
  for (const line of p.hlines ?? []) {
    out.push(
      `<line x1="${x0}" y1="${py(line.y)}" x2="${x0 + w}" y2="${py(line.y)}" stroke="#c00" stroke-dasharray="5 3"/>`,
      `<text x="${x0 + w - 4}" y="${(Number(py(line.y)) - 4).toFixed(1)}" text-anchor="end" fill="#c00">${escape_xml(line.label)}</text>`,
    );
  }
  for (const s of p.series) {
    const pts = s.points.filter((pt) => Number.isFinite(pt.x) && Number.isFinite(pt.y));
    if (pts.length > 1) {
      const d = pts.map((pt) => `${px(pt.x)},${py(pt.y)}`).join(' ');
      out.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    }
    for (const pt of pts) {
      out.push(
        `<circle cx="${px(pt.x)}" cy="${py(pt.y)}" r="3.5" stroke="${s.color}" stroke-width="1.5" fill="${pt.hollow ? 'white' : s.color}"/>`,
      );
    }
  }
  return out;
}

/** A chart of `panels` side by side under `title`, with the series' colours and `legend` lines below. */
export function render_chart(title: string, panels: ChartPanel[], legend: string[]): string {
  const labels = new Map<string, string>();
  for (const p of panels) for (const s of p.series) labels.set(s.label, s.color);
  const legend_h = (labels.size + legend.length) * LEGEND_LINE_H + 16;
  const width = Math.max(1, panels.length) * PANEL_W + 20;
  const height = 30 + PANEL_H + legend_h;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<title>${escape_xml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="20" font-size="14">${escape_xml(title)}</text>`,
  ];
  panels.forEach((p, i) => {
    parts.push(...render_panel(p, 10 + i * PANEL_W, 30));
  });
  let y = 30 + PANEL_H + 12;
  for (const [label, color] of labels) {
    parts.push(
      `<rect x="20" y="${y - 9}" width="12" height="10" fill="${color}"/>`,
      `<text x="38" y="${y}">${escape_xml(label)}</text>`,
    );
    y += LEGEND_LINE_H;
  }
  for (const line of legend) {
    parts.push(`<text x="20" y="${y}">${escape_xml(line)}</text>`);
    y += LEGEND_LINE_H;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
