import type { Summary } from '../lib/stats.js';
import type { VariantId } from './http-plan.js';

export type HttpBackend = 'PostgreSQL' | 'PGlite';
export type HttpWorkload = 'read-history' | 'append-turn';

/** Where a measurement was taken: the library in the bench process, or the HTTP server in its child process. */
export type Level = 'library' | VariantId;

/** One measured cell. */
export interface HttpMeasurement {
  readonly backend: HttpBackend;
  readonly workload: HttpWorkload;
  readonly concurrency: number;
  readonly level: Level;
  readonly summary: Summary;
  /** CPU other processes used meanwhile, % of the machine (the server's processes, wrk and PostgreSQL excluded). */
  readonly otherCpuPct?: number;
  /** HTTP only: CPU the server used, in cores (1 = one core busy the whole time): its process and all its descendants (serve --workers: primary + workers). */
  readonly serverCores?: number;
  /** HTTP only: CPU the load generator used, in cores: wrk's own process, or this process when it is autocannon. */
  readonly clientCores?: number;
  /** HTTP only: responses by status, and how many were not the expected one (the run is invalid unless 0). */
  readonly statuses?: Readonly<Record<string, number>>;
  readonly unexpected?: number;
  readonly errors?: number;
  readonly meanResponseBytes?: number;
}

export interface HttpBackendInfo {
  readonly backend: HttpBackend;
  readonly location: string;
  readonly messages: number;
  readonly conversations: number;
  readonly users: number;
  readonly seedSeconds: number;
  /** What was not measured on this backend, and why (e.g. a PostgreSQL-only variant on PGlite). */
  readonly notes?: readonly string[];
}

export interface HttpRunResult {
  readonly startedAt: string;
  readonly runSeconds: number;
  readonly command: string;
  readonly plan: Readonly<Record<string, number | string>>;
  readonly machine: Readonly<Record<string, string>>;
  readonly backends: readonly HttpBackendInfo[];
  readonly measurements: readonly HttpMeasurement[];
  /** Why the run is not valid (non-2xx responses, errors); empty when it is. */
  readonly invalid: readonly string[];
}
