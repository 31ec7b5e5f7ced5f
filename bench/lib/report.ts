import type { Summary } from './stats.js';
import {
  CHATKEEP_RLS_TARGET,
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

/** chatkeep (or the first summary given) relative to another target: >1 means chatkeep is faster. */
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
    const peers = targets.filter(
      (t) => t !== 'chatkeep' && t !== CHATKEEP_RLS_TARGET && info?.notApplicable[t] === undefined,
    );
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
    if (targets.includes(CHATKEEP_RLS_TARGET)) out.push(...rowLevelSecurityTable(result, backend));
  }
  return out.join('\n');
}

/**
 * chatkeep opened as a role the row-level security policies bind, against
 * chatkeep opened as the owner (whom they do not bind): the cost of the
 * policies and of setting the acting user on each reserved connection.
 */
function rowLevelSecurityTable(result: RunResult, backend: Backend): string[] {
  const out = [
    `Row-level security: chatkeep as a role bound by the policies ÷ chatkeep as the owner. ` +
      `RLS role ops ÷ owner ops (throughput) and owner ÷ RLS role (latency): below 1 means row-level security costs; ` +
      `"p50 added" is RLS role p50 − owner p50 (appends and history pages set the acting user inside their one statement; the cost left is the policy check on every row).`,
    '',
    `| workload | ops, RLS ÷ owner | p50, owner ÷ RLS | p99, owner ÷ RLS | p50 added |`,
    `|---|---|---|---|---|`,
  ];
  for (const w of WORKLOADS) {
    const owner = find(result.measurements, backend, w.id, 'chatkeep');
    const bound = find(result.measurements, backend, w.id, CHATKEEP_RLS_TARGET);
    if (owner === undefined || bound === undefined) {
      out.push(`| ${w.label} | | | | |`);
      continue;
    }
    const r = ratio(bound, owner);
    const added = bound.p50Ms - owner.p50Ms;
    const sign = added < 0 ? '−' : '+';
    out.push(
      `| ${w.label} | ${x(r.throughput)} | ${x(r.p50)} | ${x(r.p99)} | ${sign}${ms(Math.abs(added))} ms |`,
    );
  }
  out.push('');
  return out;
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
