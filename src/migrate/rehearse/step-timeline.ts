import type { MigrationDirection } from '../render-migration.js';
import type { MigrationEvent, MigrationEventListener } from '../migration-event.js';
import type { PlannedMigration } from '../planned-migration.js';

/** One step as it ran: its wall-clock interval (`performance.now()`), to which lock samples are attributed. */
export interface TimedStep {
  readonly index: number;
  readonly description: string;
  readonly start: number;
  readonly end: number;
  readonly status: 'done' | 'failed' | 'skipped';
}

export interface TimedMigration {
  readonly version: number;
  readonly name: string;
  readonly direction: MigrationDirection;
  readonly steps: readonly TimedStep[];
}

interface OpenStep {
  index: number;
  description: string;
  start: number;
}

interface OpenMigration {
  readonly version: number;
  readonly name: string;
  readonly direction: MigrationDirection;
  readonly start: number;
  readonly steps: TimedStep[];
  phased: boolean;
  open: OpenStep | undefined;
}

/**
 * Turns the migrator's events into step intervals. A phased migration's
 * steps are its phases (`phase-start` … `phase-end`); any other migration is
 * one step, from `migration-start` to its end, because it runs as one
 * transaction (or, with `transactional: false`, as statements in a row).
 * The listener runs synchronously inside the migrator, so the times are
 * taken as the events happen.
 */
export class StepTimeline {
  #plan: ReadonlyMap<number, PlannedMigration> = new Map();
  readonly #done: TimedMigration[] = [];
  #current: OpenMigration | undefined;

  /** The plan being run, which describes a migration that runs as one step (`3 statements in one transaction`). */
  usePlan(plan: readonly PlannedMigration[]): void {
    this.#plan = new Map(plan.map((p) => [p.version, p]));
  }

  readonly listener: MigrationEventListener = (event) => this.#on(event, performance.now());

  /** The migrations that started, in order, with their steps. */
  get migrations(): readonly TimedMigration[] {
    return this.#done;
  }

  #on(event: MigrationEvent, now: number): void {
    const current = this.#current;
    switch (event.type) {
      case 'migration-start':
        this.#current = {
          version: event.version ?? 0,
          name: event.name ?? '',
          direction: event.direction ?? 'up',
          start: now,
          steps: [],
          phased: false,
          open: undefined,
        };
        return;
      case 'phase-start':
        if (current === undefined) return;
        current.phased = true;
        current.open = { index: event.phase ?? current.steps.length, description: event.description ?? '', start: now };
        return;
      case 'phase-skipped':
        if (current === undefined) return;
        current.phased = true;
        current.steps.push({ index: event.phase ?? current.steps.length, description: event.description ?? '', start: now, end: now, status: 'skipped' });
        return;
      case 'phase-end':
        if (current?.open === undefined) return;
        current.steps.push({ ...current.open, end: now, status: 'done' });
        current.open = undefined;
        return;
      case 'migration-end':
      case 'migration-failed': {
        if (current === undefined) return;
        const failed = event.type === 'migration-failed';
        if (current.open !== undefined) current.steps.push({ ...current.open, end: now, status: 'failed' });
        else if (!current.phased) {
          current.steps.push({ index: 0, description: this.#describe(current.version), start: current.start, end: now, status: failed ? 'failed' : 'done' });
        }
        this.#done.push({ version: current.version, name: current.name, direction: current.direction, steps: current.steps });
        this.#current = undefined;
        return;
      }
      default:
        return;
    }
  }

  #describe(version: number): string {
    const planned = this.#plan.get(version);
    const n = planned?.statements.length ?? 0;
    const statements = `${n} statement${n === 1 ? '' : 's'}`;
    return planned?.transactional === false ? `${statements}, one by one (not transactional)` : `${statements} in one transaction`;
  }
}
