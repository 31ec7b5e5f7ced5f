import type { Summary } from './stats.js';

export type Backend = 'PostgreSQL' | 'PGlite';

/** The workloads, in table order. */
export const WORKLOADS = [
  { id: 'append-c1', label: 'append turn, concurrency 1' },
  { id: 'append-c8', label: 'append turn, concurrency 8 (own conversation each)' },
  { id: 'append-c8-one', label: 'append turn, concurrency 8 (one shared conversation)' },
  { id: 'latest100-many-c1', label: 'latest 100, random 100-msg conversation, concurrency 1' },
  { id: 'latest100-many-c8', label: 'latest 100, random 100-msg conversation, concurrency 8' },
  { id: 'latest100-big-c1', label: 'latest 100, the 100,000-msg conversation, concurrency 1' },
  { id: 'latest100-big-c8', label: 'latest 100, the 100,000-msg conversation, concurrency 8' },
] as const;

export type WorkloadId = (typeof WORKLOADS)[number]['id'];

/**
 * chatkeep opened as a plain role that row-level security binds
 * (PostgreSQL only, lib/rls-role.ts). Not a peer: the report sets it against
 * chatkeep opened as the owner, to show what the policies cost.
 */
export const CHATKEEP_RLS_TARGET = 'chatkeep, RLS role';

/** One measured cell: a workload on one target of one backend. */
export interface Measurement {
  readonly backend: Backend;
  readonly workload: WorkloadId;
  readonly target: string;
  readonly summary: Summary;
  /** CPU other processes used meanwhile, % of the machine (mean over rounds); see lib/interference.ts. */
  readonly otherCpuPct?: number;
}

/** What was seeded into one backend and how long it took per target. */
export interface BackendInfo {
  readonly backend: Backend;
  readonly location: string;
  readonly messagesPerTarget: Readonly<Record<string, number>>;
  readonly shape: string;
  readonly seedSeconds: Readonly<Record<string, number>>;
  /** Targets that do not exist on this backend, with the reason. */
  readonly notApplicable: Readonly<Record<string, string>>;
}

export interface Machine {
  readonly cpus: string;
  readonly memory: string;
  readonly os: string;
  readonly node: string;
  readonly postgres: string;
  readonly postgresSettings: string;
  readonly pglite: string;
  readonly langchain: string;
  readonly chatkeep: string;
  /** 1-minute load average at the start and end of the run: other work on the machine shows here. */
  readonly load: string;
}

export interface RunResult {
  readonly startedAt: string;
  readonly runSeconds: number;
  readonly command: string;
  readonly plan: Readonly<Record<string, number>>;
  readonly machine: Machine;
  readonly backends: readonly BackendInfo[];
  readonly measurements: readonly Measurement[];
}
