/**
 * What `cloister sim up` and `npm start` run beside their validators to steer them: the control
 * server (sim/control_server.ts) with its token in `<dir>/control.json`, and the live dashboard
 * (sim/dashboard/server.ts), both over the network's load generator. One place for both commands,
 * so they start, report and close it alike.
 * @module
 */

import {
  type ControlServer,
  remove_control_file,
  start_control_server,
  write_control_file,
} from './control_server.js';
import { type Dashboard, start_dashboard } from './dashboard/server.js';
import type { LoadGenerator } from './load_generator.js';
import type { LocalNetwork, NodeEvent } from './network.js';

/** Events kept for the dashboard while it starts. */
export const EARLY_EVENTS_MAX = 2000;

/**
 * The validators' events from before the dashboard is up (their `started`, a first sync), kept
 * (at most {@link EARLY_EVENTS_MAX}) to hand over once it starts, so its faults list has them too.
 */
export class EarlyEvents {
  #events: NodeEvent[] | null = [];

  /** Keeps `e` while nothing took the events yet. */
  push(e: NodeEvent): void {
    if (this.#events !== null && this.#events.length < EARLY_EVENTS_MAX) this.#events.push(e);
  }

  /** The events kept, once; later pushes are dropped. */
  take(): NodeEvent[] {
    const events = this.#events ?? [];
    this.#events = null;
    return events;
  }
}

export interface SteeringOptions {
  network: LocalNetwork;
  /** The network folder: the control file goes there. */
  dir: string;
  load: LoadGenerator;
  /** The control server's port (default: the system chooses). */
  control_port?: number | undefined;
  /** The dashboard's port (0: the system chooses), or null for no dashboard. */
  dashboard_port: number | null;
  /** The events the dashboard missed while the network started. */
  early: EarlyEvents;
  /** `POST /stop` came. */
  on_stop: () => void;
  /** Prints one line (a control action, `control: v2 killed …`). */
  print: (line: string) => void;
}

export interface Steering {
  control: ControlServer;
  dashboard: Dashboard | null;
  /** Closes the dashboard and the control server, and removes the control file. */
  close(): Promise<void>;
}

/** Starts the control server (and writes its file), then the dashboard unless asked for none. */
export async function start_steering(opts: SteeringOptions): Promise<Steering> {
  const { network, dir, load } = opts;
  let dashboard: Dashboard | null = null;
  const control = await start_control_server({
    network,
    load,
    ...(opts.control_port === undefined ? {} : { port: opts.control_port }),
    on_stop: opts.on_stop,
    on_action: (message) => {
      opts.print(`control: ${message}`);
      dashboard?.action(message);
    },
  });
  write_control_file(dir, { pid: process.pid, url: control.url, token: control.token });
  // Whatever ends this process, its control file goes with it.
  process.once('exit', () => remove_control_file(dir, control.token));
  const close = async () => {
    await dashboard?.close();
    await control.close();
    remove_control_file(dir, control.token);
  };
  try {
    if (opts.dashboard_port !== null) {
      dashboard = await start_dashboard({
        network,
        chain_id: network.genesis().chain_id,
        behaviours: network.homes.map((_, i) => network.opts.behaviours.get(i) ?? 'honest'),
        control: { url: control.url, token: control.token },
        load,
        port: opts.dashboard_port,
      });
      dashboard.replay(opts.early.take());
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { control, dashboard, close };
}
