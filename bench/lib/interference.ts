import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * How much of the machine something other than the benchmark used while a
 * workload ran. The machine is shared (tests, builds), and on two cores a
 * test run next door moves every number; this makes that visible instead of
 * silently skewing one column.
 *
 * other = all CPU time the kernel counted (/proc/stat) − this process
 * (which includes PGlite) − PostgreSQL's processes (their own time plus that
 * of exited children such as parallel workers, which the postmaster reaps).
 * Linux only; elsewhere it reports nothing.
 */
export interface CpuSnapshot {
  readonly at: number;
  readonly machineTicks: number;
  readonly selfMicros: number;
  readonly postgresTicks: number;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond =
        Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function machineBusyTicks(): number {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal …
  const [, user, nice, system, , , irq, softirq, steal] = first.trim().split(/\s+/).map(Number);
  return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
}

function postgresTicks(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    if (comm !== 'postgres') continue;
    // Fields after "pid (comm) ": state is field 3; utime, stime, cutime, cstime are 14–17.
    const fields = stat.slice(close + 2).split(' ');
    total += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return total;
}

export function cpuSnapshot(): CpuSnapshot | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const u = process.cpuUsage();
    return {
      at: performance.now(),
      machineTicks: machineBusyTicks(),
      selfMicros: u.user + u.system,
      postgresTicks: postgresTicks(),
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU this process and PostgreSQL's processes used between two snapshots, in
 * µs (PostgreSQL's counted in clock ticks, 10 ms on Linux: measure seconds).
 */
export function cpuMicrosBetween(from: CpuSnapshot, to: CpuSnapshot): { readonly self: number; readonly postgres: number } {
  return {
    self: to.selfMicros - from.selfMicros,
    postgres: ((to.postgresTicks - from.postgresTicks) * 1e6) / clockTicks(),
  };
}

/** CPU used by other processes between two snapshots, as a percentage of the whole machine. */
export function otherCpuPercent(
  from: CpuSnapshot | undefined,
  to: CpuSnapshot | undefined,
): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const hz = clockTicks();
  const wallSeconds = (to.at - from.at) / 1000;
  // /proc counts in clock ticks (10 ms): too coarse to judge a shorter window.
  if (wallSeconds < 1) return undefined;
  const machine = (to.machineTicks - from.machineTicks) / hz;
  const self = (to.selfMicros - from.selfMicros) / 1e6;
  const postgres = (to.postgresTicks - from.postgresTicks) / hz;
  const other = Math.max(0, machine - self - postgres);
  return (100 * other) / (wallSeconds * os.availableParallelism());
}
