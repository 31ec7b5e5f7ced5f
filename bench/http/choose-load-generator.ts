import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { autocannonLoad } from './autocannon-load.js';
import { LOAD_GENERATORS, type LoadGenerator, type LoadGeneratorId } from './load-generator.js';
import { wrkLoad } from './wrk-load.js';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** /usr/bin/wrk (Debian's package `wrk`), else the first `wrk` on PATH. */
export function findWrk(): string | undefined {
  const candidates = [
    '/usr/bin/wrk',
    ...(process.env['PATH'] ?? '')
      .split(delimiter)
      .filter((dir) => dir !== '')
      .map((dir) => join(dir, 'wrk')),
  ];
  return candidates.find(executable);
}

/**
 * The load generator `BENCH_HTTP_LOADGEN` asks for (`wrk` or `autocannon`).
 * Unset, it is wrk when installed — on a 2-core machine the generator shares
 * the cores with the server and PostgreSQL, and wrk spends far less CPU per
 * request than autocannon (Node.js) — else autocannon, with a note on stderr.
 */
export function chooseLoadGenerator(note: (message: string) => void): LoadGenerator {
  const raw = process.env['BENCH_HTTP_LOADGEN'] ?? '';
  if (raw !== '' && !(LOAD_GENERATORS as readonly string[]).includes(raw))
    throw new Error(
      `BENCH_HTTP_LOADGEN: unknown load generator ${raw} (known: ${LOAD_GENERATORS.join(', ')})`,
    );
  const wanted = raw === '' ? undefined : (raw as LoadGeneratorId);
  if (wanted === 'autocannon') return autocannonLoad;
  const wrk = findWrk();
  if (wrk !== undefined) return wrkLoad(wrk);
  if (wanted === 'wrk')
    throw new Error('BENCH_HTTP_LOADGEN=wrk, but wrk is not installed (apt-get install -y wrk)');
  note(
    'wrk not found (apt-get install -y wrk): load from autocannon, whose own CPU on this machine caps the measured throughput',
  );
  return autocannonLoad;
}
