import type { Summary } from './stats.js';
import {
  WORKLOADS,
  type Backend,
  type Measurement,
  type RunResult,
  type WorkloadId,
} from './results.js';

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : int.format(value);
}

/** Other processes' CPU share above which a cell is flagged as disturbed. */
export const DISTURBED_PCT = 10;

function cell(m: Measurement | undefined): string {
  if (m === undefined) return '';
  const s = m.summary;
  const few = s.ops < 100 ? ` (n=${s.ops})` : '';
  const disturbed =
    (m.otherCpuPct ?? 0) > DISTURBED_PCT ? ` ⚠${Math.round(m.otherCpuPct ?? 0)}%` : '';
  return `${int.format(s.opsPerSec)}/s · ${ms(s.p50Ms)} / ${ms(s.p99Ms)} ms${few}${disturbed}`;
}

/** chatkeep relative to another target: >1 means chatkeep is faster. */
export interface Ratio {
  /** chatkeep ops/s ÷ other ops/s. */
  readonly throughput: number;
  /** other p50 ÷ chatkeep p50. */
  readonly p50: number;
  /** other p99 ÷ chatkeep p99. */
  readonly p99: number;
}

export function ratio(chatkeep: Summary, other: Summary): Ratio {
  return {
    throughput: chatkeep.opsPerSec / other.opsPerSec,
    p50: other.p50Ms / chatkeep.p50Ms,
    p99: other.p99Ms / chatkeep.p99Ms,
  };
}

const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

function measurement(
  m: readonly Measurement[],
  backend: Backend,
  workload: WorkloadId,
  target: string,
): Measurement | undefined {
  return m.find((r) => r.backend === backend && r.workload === workload && r.target === target);
}

function find(
  m: readonly Measurement[],
  backend: Backend,
  workload: WorkloadId,
  target: string,
): Summary | undefined {
  return measurement(m, backend, workload, target)?.summary;
}

function targetsOf(result: RunResult, backend: Backend): string[] {
  const names: string[] = [];
  for (const r of result.measurements)
    if (r.backend === backend && !names.includes(r.target)) names.push(r.target);
  const info = result.backends.find((b) => b.backend === backend);
  for (const name of Object.keys(info?.notApplicable ?? {}))
    if (!names.includes(name)) names.push(name);
  return names;
}

/** The results table(s) and ratio table(s) of one run, as Markdown. */
export function renderMarkdown(result: RunResult): string {
  const out: string[] = [];
  const backends = [...new Set(result.measurements.map((m) => m.backend))];
  out.push(
    `Run ${result.startedAt}, ${int.format(result.runSeconds)} s in all. Cells: throughput · p50 / p99 latency; ` +
      `\`n=\` where a peer's sample count was capped to keep the run bounded; ` +
      `⚠N% where other processes on the machine used N% of its CPU during that measurement (more than ${DISTURBED_PCT}%).`,
    '',
  );
  for (const backend of backends) {
    const info = result.backends.find((b) => b.backend === backend);
    const targets = targetsOf(result, backend);
    out.push(`### ${backend}`, '');
    if (info !== undefined) {
      out.push(`${info.location}. Seeded: ${info.shape}.`, '');
      const na = Object.entries(info.notApplicable);
      for (const [name, why] of na) out.push(`${name}: n/a — ${why}.`, '');
    }
    out.push(
      `| workload | ${targets.join(' | ')} |`,
      `|---|${targets.map(() => '---').join('|')}|`,
    );
    for (const w of WORKLOADS) {
      const cells = targets.map((t) =>
        info?.notApplicable[t] !== undefined
          ? 'n/a'
          : cell(measurement(result.measurements, backend, w.id, t)),
      );
      out.push(`| ${w.label} | ${cells.join(' | ')} |`);
    }
    out.push('');
    const peers = targets.filter((t) => t !== 'chatkeep' && info?.notApplicable[t] === undefined);
    out.push(
      `Ratios, chatkeep ÷ peer (throughput) and peer ÷ chatkeep (latency): above 1 means chatkeep is faster. ` +
        `Target: ≥ 0.8× raw SQL, > 1× LangChain, on throughput and p50.`,
      '',
      `| workload | ${peers.map((p) => `vs ${p}: ops · p50 · p99`).join(' | ')} | verdict |`,
      `|---|${peers.map(() => '---').join('|')}|---|`,
    );
    for (const w of WORKLOADS) {
      const ck = find(result.measurements, backend, w.id, 'chatkeep');
      const verdicts: string[] = [];
      const cells = peers.map((p) => {
        const other = find(result.measurements, backend, w.id, p);
        if (ck === undefined || other === undefined) return '';
        const r = ratio(ck, other);
        const worst = Math.min(r.throughput, r.p50);
        if (p.startsWith('raw SQL')) verdicts.push(worst >= 0.8 ? `${p} ✅` : `${p} ❌`);
        else verdicts.push(worst > 1 ? `${p} ✅` : `${p} ❌`);
        return `${x(r.throughput)} · ${x(r.p50)} · ${x(r.p99)}`;
      });
      out.push(`| ${w.label} | ${cells.join(' | ')} | ${verdicts.join(', ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** The machine and versions block. */
export function renderMachine(result: RunResult): string {
  const m = result.machine;
  return [
    `| | |`,
    `|---|---|`,
    `| CPU | ${m.cpus} |`,
    `| memory | ${m.memory} |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| PostgreSQL | ${m.postgres} |`,
    `| PostgreSQL settings | ${m.postgresSettings} |`,
    `| PGlite | ${m.pglite} |`,
    `| LangChain | ${m.langchain} |`,
    `| chatkeep | ${m.chatkeep} |`,
    `| load average (1 min) | ${m.load} |`,
    `| plan | ${Object.entries(result.plan)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} |`,
  ].join('\n');
}
