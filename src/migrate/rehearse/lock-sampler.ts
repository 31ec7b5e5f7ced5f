import pg from 'pg';
import { lockModeName } from './lock-modes.js';
import { CHATKEEP_TYPES } from '../../db/index.js';
import { unreachable } from './open-postgres.js';

/** The relation locks the watched sessions held at one instant. */
export interface LockSample {
  /** `performance.now()` halfway between sending the query and its answer. */
  readonly at: number;
  readonly locks: readonly SampledLock[];
}

export interface SampledLock {
  readonly oid: string;
  /** e.g. `ACCESS EXCLUSIVE`. */
  readonly mode: string;
  /** False when the monitor could not see the relation yet: the watched transaction created it. */
  readonly visible: boolean;
}

/** What a stopped sampler saw. */
export interface SampledLocks {
  readonly samples: readonly LockSample[];
  /** `schema.name` per oid; missing for a relation that no longer exists, undefined for system relations (not reported). */
  readonly names: ReadonlyMap<string, string | undefined>;
  /** Set when sampling stopped early (a lost connection); the samples before it stand. */
  readonly error?: string;
}

/**
 * Watches the rehearsal's sessions from a second session: every
 * `intervalMs` it reads the granted relation locks of every backend whose
 * `application_name` is the rehearsal's (parallel index-build workers
 * included) from `pg_locks`. A lock held for less than one interval can fall
 * between two samples.
 *
 * Relation names are read in the monitor's own snapshot, where a relation
 * the watched transaction created is not visible yet: such a lock is on a
 * new relation nobody else can see (so nobody waits for it), and its name is
 * looked up after the rehearsal, once it is committed.
 */
export class LockSampler {
  readonly #client: pg.Client;
  readonly #applicationName: string;
  readonly #intervalMs: number;
  readonly #samples: LockSample[] = [];
  readonly #names = new Map<string, string | undefined>();
  #running = true;
  #error: string | undefined;
  #loop: Promise<void> = Promise.resolve();
  /** Ends the pause between two samples early: `stop` must not wait out the rest of a long interval. */
  #wake: () => void = () => undefined;

  private constructor(client: pg.Client, applicationName: string, intervalMs: number) {
    this.#client = client;
    this.#applicationName = applicationName;
    this.#intervalMs = intervalMs;
  }

  /** Connects, takes a first sample (so a monitor that cannot work fails here, before anything runs), and keeps sampling. */
  static async start(url: string, applicationName: string, intervalMs: number): Promise<LockSampler> {
    const client = new pg.Client({ connectionString: url, application_name: 'chatkeep-rehearsal-monitor', connectionTimeoutMillis: 5000, types: CHATKEEP_TYPES });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (cause) {
      throw unreachable(url, cause);
    }
    const sampler = new LockSampler(client, applicationName, intervalMs);
    try {
      await sampler.#sample();
    } catch (cause) {
      await client.end().catch(() => undefined);
      throw cause;
    }
    sampler.#samples.length = 0;
    sampler.#loop = sampler.#run();
    return sampler;
  }

  /** Stops sampling, names the relations created meanwhile, and closes the monitor's session. */
  async stop(): Promise<SampledLocks> {
    this.#running = false;
    this.#wake();
    await this.#loop;
    try {
      const unnamed = [...new Set(this.#samples.flatMap((s) => s.locks.map((l) => l.oid)))].filter((oid) => !this.#names.has(oid));
      if (unnamed.length > 0 && this.#error === undefined) {
        const { rows } = await this.#client.query<{ oid: string; name: string; system: boolean }>(
          `select c.oid::text as oid, n.nspname || '.' || c.relname as name, ${SYSTEM} as system
             from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = any($1::oid[])`,
          [unnamed],
        );
        for (const row of rows) this.#names.set(row.oid, row.system ? undefined : row.name);
      }
    } catch (error) {
      this.#error ??= error instanceof Error ? error.message : String(error);
    } finally {
      await this.#client.end().catch(() => undefined);
    }
    return { samples: this.#samples, names: this.#names, ...(this.#error !== undefined ? { error: this.#error } : {}) };
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const started = performance.now();
      try {
        await this.#sample();
      } catch (error) {
        this.#error = error instanceof Error ? error.message : String(error);
        return;
      }
      const rest = this.#intervalMs - (performance.now() - started);
      if (rest > 0 && this.#running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, rest);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  async #sample(): Promise<void> {
    const sent = performance.now();
    const { rows } = await this.#client.query<{ oid: string; mode: string; name: string | null; system: boolean | null }>(SAMPLE, [this.#applicationName]);
    const at = (sent + performance.now()) / 2;
    const locks = new Map<string, SampledLock>();
    for (const row of rows) {
      if (row.system === true) continue;
      if (row.name !== null) this.#names.set(row.oid, row.name);
      const mode = lockModeName(row.mode);
      // One row per backend: a parallel worker repeats its leader's locks.
      locks.set(`${row.oid}/${mode}`, { oid: row.oid, mode, visible: row.name !== null });
    }
    this.#samples.push({ at, locks: [...locks.values()] });
  }
}

/** System relations (catalogues, TOAST) are locked by every DDL statement and say nothing about the application's tables. */
const SYSTEM = `(n.nspname in ('pg_catalog', 'information_schema') or n.nspname like 'pg\\_toast%')`;

const SAMPLE = `
  select l.relation::text as oid, l.mode, n.nspname || '.' || c.relname as name, ${SYSTEM} as system
    from pg_locks l
    left join pg_class c on c.oid = l.relation
    left join pg_namespace n on n.oid = c.relnamespace
   where l.locktype = 'relation' and l.granted
     and l.database = (select oid from pg_database where datname = current_database())
     and l.pid in (select pid from pg_stat_activity where application_name = $1)`;
