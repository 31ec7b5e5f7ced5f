import { readFileSync, writeFileSync } from 'node:fs';
import { DISTURBED_PCT } from '../lib/report.js';
import type { Summary } from '../lib/stats.js';
import type { VariantId } from './http-plan.js';
import type { HttpMeasurement, HttpRunResult, HttpWorkload } from './http-results.js';

/** The issue's targets: the server adds < 30 % to library p50, and serves ≥ 3,000 history reads/s on PostgreSQL. */
export const TARGET_ADDED_P50 = 0.3;
export const TARGET_READS_PER_SEC = 3000;

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : int.format(value);
}

function cell(m: HttpMeasurement | undefined): string {
  if (m === undefined) return '';
  const s = m.summary;
  const disturbed =
    (m.otherCpuPct ?? 0) > DISTURBED_PCT ? ` ⚠${Math.round(m.otherCpuPct ?? 0)}%` : '';
  return `${int.format(s.opsPerSec)}/s · ${ms(s.p50Ms)} / ${ms(s.p99Ms)} ms${disturbed}`;
}

export const VARIANT_LABELS: Readonly<Record<VariantId, string>> = {
  floor: 'floor: bare node:http, JWT remembered, no log / rate limit',
  jwt: 'JWT, info log',
  'api-key': 'API key, info log',
  'jwt-no-log': 'JWT, log off',
  'jwt-2-workers': 'JWT, info log, 2 workers (serve --workers 2)',
  'jwt-db-limit': 'JWT, info log, rate limit counted in the database',
};

/** The production paths the verdict lines are about: one server process, and the CLI's cluster. */
const VERDICT_VARIANTS: readonly VariantId[] = ['jwt', 'jwt-2-workers'];

const WORKLOAD_LABELS: Readonly<Record<HttpWorkload, string>> = {
  'read-history': 'read history',
  'append-turn': 'append turn',
};

/** p50(HTTP) ÷ p50(library): 1.25 means the server adds 25 % to the library's median latency. */
export function p50Ratio(http: Summary, library: Summary): number {
  return http.p50Ms / library.p50Ms;
}

function cores(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2);
}

function times(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}×` : '–';
}

/** "a to b" of a list of values (or the one value), formatted. */
function range(values: readonly number[], format: (v: number) => string): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? format(lo) : `${format(lo)} to ${format(hi)}`;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${Math.round(v * 100)}%` : '–';
}

/** The results tables of one run, as Markdown. */
export function renderHttpMarkdown(result: HttpRunResult, pageLimit: number): string {
  const out: string[] = [];
  out.push(
    `Run ${result.startedAt}, ${int.format(result.runSeconds)} s in all. ` +
      `Cells: requests/s · p50 / p99 latency; ⚠N% where other processes used N% of the machine's CPU meanwhile (more than ${DISTURBED_PCT}%). ` +
      `Added = p50(HTTP) ÷ p50(library) − 1; target < ${TARGET_ADDED_P50 * 100}%. ` +
      `vs floor = p50 and throughput relative to the floor row of the same cell (bare node:http over the same library calls: what HTTP itself costs here). ` +
      `Server CPU and load gen CPU: cores the server (with serve --workers: its primary and workers together) and the load generator used (2 = both cores of the machine). ` +
      `HTTP load from ${result.plan['loadGenerator'] ?? 'autocannon'} (see "load generator" below).`,
    '',
  );
  if (result.invalid.length > 0) {
    out.push(`**This run is INVALID:** ${result.invalid.join('; ')}.`, '');
  }
  for (const info of result.backends) {
    const rows = result.measurements.filter((m) => m.backend === info.backend);
    out.push(
      `### ${info.backend}`,
      '',
      `${info.location}. Seeded through the library: ${int.format(info.messages)} messages ` +
        `(${int.format(info.conversations)} conversations of ${int.format(info.messages / info.conversations)} over ${int.format(info.users)} users) in ${info.seedSeconds} s.`,
      '',
      ...(info.notes ?? []).flatMap((note) => [note, '']),
      '| workload | c | library | server | HTTP | p50 HTTP ÷ library | added at p50 | vs floor: p50 · ops | non-2xx | server CPU | load gen CPU |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    const verdicts: string[] = [];
    const added = new Map<VariantId, { met: number; of: number }>();
    /** Per variant: added p50 over the library, and p50/throughput relative to the floor, over its cells. */
    const spans = new Map<VariantId, { added: number[]; p50: number[]; ops: number[] }>();
    for (const workload of ['read-history', 'append-turn'] as const) {
      const concurrencies = [
        ...new Set(rows.filter((m) => m.workload === workload).map((m) => m.concurrency)),
      ];
      for (const c of concurrencies) {
        const lib = rows.find(
          (m) => m.workload === workload && m.concurrency === c && m.level === 'library',
        );
        const floor = rows.find(
          (m) => m.workload === workload && m.concurrency === c && m.level === 'floor',
        );
        for (const http of rows.filter(
          (m) => m.workload === workload && m.concurrency === c && m.level !== 'library',
        )) {
          const r = lib === undefined ? Number.NaN : p50Ratio(http.summary, lib.summary);
          const ok = r - 1 < TARGET_ADDED_P50;
          const variant = http.level as VariantId;
          const vsFloor =
            floor === undefined || variant === 'floor'
              ? undefined
              : {
                  p50: p50Ratio(http.summary, floor.summary),
                  ops: http.summary.opsPerSec / floor.summary.opsPerSec,
                };
          const span = spans.get(variant) ?? { added: [], p50: [], ops: [] };
          if (Number.isFinite(r)) span.added.push(r - 1);
          if (vsFloor !== undefined) {
            span.p50.push(vsFloor.p50);
            span.ops.push(vsFloor.ops);
          }
          spans.set(variant, span);
          if (VERDICT_VARIANTS.includes(variant) && Number.isFinite(r)) {
            const tally = added.get(variant) ?? { met: 0, of: 0 };
            added.set(variant, { met: tally.met + (ok ? 1 : 0), of: tally.of + 1 });
          }
          const label =
            workload === 'read-history'
              ? `read history (${pageLimit} msgs)`
              : WORKLOAD_LABELS[workload];
          out.push(
            `| ${label} | ${c} | ${cell(lib)} | ${VARIANT_LABELS[variant]} | ${cell(http)} | ` +
              `${Number.isFinite(r) ? `${r.toFixed(2)}×` : '–'} | ${pct(r - 1)} ${ok ? '✅' : '❌'} | ` +
              `${variant === 'floor' ? '(the floor)' : vsFloor === undefined ? '–' : `${vsFloor.p50.toFixed(2)}× · ${vsFloor.ops.toFixed(2)}×`} | ` +
              `${http.unexpected ?? 0}${(http.errors ?? 0) > 0 ? ` (+${http.errors} errors)` : ''} | ` +
              `${cores(http.serverCores)} | ${cores(http.clientCores)} |`,
          );
        }
      }
    }
    out.push('');
    const floorSpan = spans.get('floor');
    if (floorSpan !== undefined && floorSpan.added.length > 0) {
      const met = floorSpan.added.filter((a) => a < TARGET_ADDED_P50).length;
      verdicts.push(
        `The floor itself (bare node:http over the same library calls) adds ${range(floorSpan.added, pct)} at p50; it would meet the < ${TARGET_ADDED_P50 * 100}% target in ${met} of ${floorSpan.added.length} cells.`,
      );
    }
    for (const variant of VERDICT_VARIANTS) {
      const span = spans.get(variant);
      if (span === undefined || span.p50.length === 0) continue;
      verdicts.push(
        `${VARIANT_LABELS[variant]} against the floor: p50 ${range(span.p50, times)}, throughput ${range(span.ops, times)} of the floor's.`,
      );
    }
    for (const variant of VERDICT_VARIANTS) {
      const cells = added.get(variant);
      if (cells === undefined || cells.of === 0) continue;
      verdicts.push(
        `Server overhead at p50 (production path: ${VARIANT_LABELS[variant]}), target < ${TARGET_ADDED_P50 * 100}%: met in ${cells.met} of ${cells.of} cells ${cells.met === cells.of ? '✅' : '❌'}.`,
      );
    }
    for (const variant of VERDICT_VARIANTS) {
      const reads = rows.filter((m) => m.workload === 'read-history' && m.level === variant);
      const best = reads.reduce<HttpMeasurement | undefined>(
        (a, m) => (a === undefined || m.summary.opsPerSec > a.summary.opsPerSec ? m : a),
        undefined,
      );
      if (best === undefined) continue;
      const onPg = info.backend === 'PostgreSQL';
      verdicts.push(
        `History reads over HTTP (${VARIANT_LABELS[variant]}): at most ${int.format(best.summary.opsPerSec)}/s (c=${best.concurrency})` +
          (onPg
            ? `; target ≥ ${int.format(TARGET_READS_PER_SEC)}/s on PostgreSQL ${best.summary.opsPerSec >= TARGET_READS_PER_SEC ? '✅' : '❌'}.`
            : ' (the throughput target is for PostgreSQL).'),
      );
    }
    out.push(...verdicts.map((v) => `- ${v}`), '');
  }
  return out.join('\n');
}

/** The machine and settings block. */
export function renderHttpMachine(result: HttpRunResult): string {
  return [
    '| | |',
    '|---|---|',
    ...Object.entries(result.machine).map(([k, v]) => `| ${k} | ${v} |`),
    `| plan | ${Object.entries(result.plan)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} |`,
  ].join('\n');
}

/**
 * Rewrites the `<!-- bench:http-results:start -->` … `end` block of the
 * README in place (the core bench's blocks are left alone). Nothing happens
 * when the markers are missing.
 */
export function updateReadmeBlock(path: string, content: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  const start = '<!-- bench:http-results:start -->';
  const end = '<!-- bench:http-results:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return false;
  writeFileSync(path, `${text.slice(0, i + start.length)}\n${content}\n${text.slice(j)}`);
  return true;
}
