import type { MigrationEvent, MigrationEventListener } from '../migrate/index.js';

/** The user `serve`'s demo API key is issued for, so a first try needs no setup. */
export const DEMO_USER = 'demo-user';

/** What decides whether `serve` issues the demo key. */
export interface DemoKeyConditions {
  /** `--no-demo-key` (or CHATKEEP_NO_DEMO_KEY) makes this false. */
  readonly demoKey: boolean;
  readonly jwtSecret?: string;
  readonly jwksUrl?: string;
}

/**
 * Whether `serve` issues (and prints) an API key for {@link DEMO_USER}: only
 * on the start that installed chatkeep's schema in the database, and only
 * when nothing says this is more than a try-out.
 *
 * - Not when JWT auth is configured (`--jwt-secret`, `--jwks-url`): the app
 *   authenticates its users itself, and a live key in its logs would be a
 *   credential nobody asked for (with `--agent openai`, one that spends
 *   model tokens).
 * - Not with `--no-demo-key`.
 * - Not on a database chatkeep was already installed in, even one without
 *   any key: "no key rows" also describes a production database whose keys
 *   were all revoked or erased (`DELETE /v1/me`), or one that only ever
 *   used JWTs, and a database migrated by `chatkeep migrate up` in a deploy
 *   step is not a first try either.
 *
 * Installing is decided by the migration lock, so when several servers
 * start on an empty database at once, only the one that ran the first
 * migration issues a key.
 *
 * @example
 * const install = watchInstall(migrationProgress(output, { toStderr: false }));
 * const store = await openStore({ ...storeOptions, onMigrationEvent: install.listener });
 * if (wantsDemoKey(options, install.installed())) await store.apiKeys.create(DEMO_USER, { name: 'first run of chatkeep serve' });
 */
export function wantsDemoKey(conditions: DemoKeyConditions, installedNow: boolean): boolean {
  return installedNow && conditions.demoKey && !conditions.jwtSecret && !conditions.jwksUrl;
}

/** A migration listener that passes every event on and notes whether this run applied chatkeep's first migration. */
export interface InstallWatch {
  readonly listener: MigrationEventListener;
  /** True once the first migration (0001, which creates the schema) was applied by this run. */
  installed(): boolean;
}

/** Wraps `listener` (e.g. the progress printer) in an {@link InstallWatch}. */
export function watchInstall(listener: MigrationEventListener): InstallWatch {
  let installed = false;
  return {
    listener: (event: MigrationEvent) => {
      if (
        event.type === 'migration-end' &&
        event.direction === 'up' &&
        event.version === FIRST_MIGRATION
      )
        installed = true;
      listener(event);
    },
    installed: () => installed,
  };
}

/** The version of chatkeep's first migration (src/schema/0001-conversations.ts): the one applied only on a database chatkeep is not installed in. */
const FIRST_MIGRATION = 1;
