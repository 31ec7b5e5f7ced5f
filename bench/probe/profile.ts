import { Session } from 'node:inspector/promises';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a sampled frame's code lives, coarse enough to read as layers. */
function layerOf(url: string, name: string): string {
  if (url === '') {
    if (name === '(idle)') return 'idle (waiting on I/O)';
    if (name === '(garbage collector)') return 'GC';
    if (name === '(program)') return 'V8/native';
    return `native: ${name}`;
  }
  if (url.startsWith('wasm://')) return 'PGlite WASM (PostgreSQL itself)';
  if (url.includes('/node_modules/@electric-sql/pglite/')) return 'PGlite JS wrapper';
  if (url.includes('/node_modules/zod/')) return 'zod (input validation)';
  if (url.includes('/node_modules/kysely/')) return 'Kysely (build/compile/execute)';
  if (/\/node_modules\/(pg|pg-pool|pg-protocol|pg-types|postgres-[a-z]+|pg-int8)\//.test(url))
    return 'pg driver (protocol, type parsing)';
  if (url.includes('/node_modules/@langchain/')) return 'LangChain';
  const dist = url.match(/\/work\/main\/dist\/([^/]+)\//);
  if (dist) return `chatkeep dist/${dist[1]}`;
  if (url.includes('/bench/')) return 'bench harness';
  if (url.startsWith('node:')) return 'Node core (net, crypto, timers…)';
  return url.replace(/^file:\/\//, '');
}

/** Self time by layer and the top functions, from a V8 CPU profile. */
export interface ProfileSummary {
  readonly totalMs: number;
  readonly layers: readonly { readonly layer: string; readonly ms: number; readonly pct: number }[];
  readonly top: readonly { readonly fn: string; readonly ms: number; readonly pct: number }[];
}

function summarize(profile: Profile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000),
  );
  const layers = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    total += ms;
    const layer = layerOf(url, functionName);
    layers.set(layer, (layers.get(layer) ?? 0) + ms);
    const short = url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '');
    const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }
  const sort = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total,
    layers: sort(layers).map(([layer, ms]) => ({ layer, ms, pct: (100 * ms) / total })),
    top: sort(fns)
      .slice(0, 12)
      .map(([fn, ms]) => ({ fn, ms, pct: (100 * ms) / total })),
  };
}

/** Runs `work` under the V8 sampling profiler of this very process. */
export async function profiled<T>(
  work: () => Promise<T>,
): Promise<{ result: T; profile: ProfileSummary }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const result = await work();
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
  session.disconnect();
  return { result, profile: summarize(profile) };
}

export function formatProfile(title: string, p: ProfileSummary): string {
  const lines = [`  CPU profile of ${title} (${p.totalMs.toFixed(0)} ms sampled):`];
  for (const l of p.layers)
    if (l.pct >= 1) lines.push(`    ${l.pct.toFixed(1).padStart(5)}%  ${l.layer}`);
  lines.push('    top functions (self time):');
  for (const f of p.top) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.fn}`);
  return lines.join('\n');
}
