/**
 * The dashboard's time charts (uPlot: small, fast, canvas-drawn, made for live time series):
 * committed transactions per second, and the load generator's commit latency (p50, p99).
 */

import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const WIDTH = 460;
const HEIGHT = 180;

/**
 * One live line chart. `data` is uPlot's `[xs, ...ys]`; `series` names and colours each y line.
 * The chart is made once and given new data on each render.
 */
export function LineChart({ title, data, series, unit }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const plot = useRef(/** @type {uPlot | null} */ (null));
  useEffect(() => {
    const opts = {
      width: WIDTH,
      height: HEIGHT,
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 56 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false }))],
      legend: { show: true },
    };
    plot.current = new uPlot(opts, data, box.current ?? undefined);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return html`<figure class="chart" data-chart=${title}>
    <figcaption>${title}</figcaption>
    <div ref=${box}></div>
  </figure>`;
}

/** The tx/s and latency charts from the feed's series. */
export function Charts({ series }) {
  const xs = series.t_s;
  return html`<section class="charts">
    <${LineChart}
      title="Committed transactions per second"
      unit="tx/s"
      data=${[xs, series.tps]}
      series=${[{ label: 'tx/s', color: '#2b6cb0' }]}
    />
    <${LineChart}
      title="Commit latency of the load generator"
      unit="ms"
      data=${[xs, series.latency_p50_ms, series.latency_p99_ms]}
      series=${[{ label: 'p50', color: '#2f855a' }, { label: 'p99', color: '#c05621' }]}
    />
  </section>`;
}
