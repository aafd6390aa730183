/**
 * What the benchmarks read about processes from /proc (Linux only): this process's children, the
 * pid of each validator a LocalNetwork started (sim/network.ts does not expose them), and resident
 * memory.
 * @module
 */

import { readdirSync, readFileSync } from 'node:fs';

/** This process's child processes whose command line mentions `needle`, by reading /proc (Linux). */
export function child_processes(needle: string): { pid: number; args: string[] }[] {
  const out: { pid: number; args: string[] }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const d of entries) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.includes(needle))) out.push({ pid: Number(d), args });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/**
 * The pid of each validator process of `homes` (LocalNetwork does not expose them): children of
 * this process started with `--home HOME`.
 */
export function validator_pids(homes: readonly string[]): number[] {
  const children = child_processes('--home');
  return homes.map((home, i) => {
    const child = children.find((c) => c.args[c.args.indexOf('--home') + 1] === home);
    if (child === undefined) throw new Error(`cannot find the process of validator ${i} (${home}) in /proc`);
    return child.pid;
  });
}

/** Resident memory of process `pid` (VmRSS), MB. */
export function rss_mb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/**
 * Linux reports process times in /proc in USER_HZ, which the kernel fixes at 100 for every
 * userspace interface (whatever the internal tick rate), so no sysconf call is needed.
 */
const USER_HZ = 100;

/** CPU time (user + system, every thread) that process `pid` has used so far, ms. */
export function cpu_ms(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15 (1-based, proc(5)).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`bad /proc/${pid}/stat`);
  return ((utime + stime) * 1000) / USER_HZ;
}
