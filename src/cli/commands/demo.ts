import type { Command } from 'commander';
import { MEMORY_DATA_DIR } from '../../db/database-options.js';
import type { Message, OnboardingSession, Store } from '../../store/index.js';
import { loadAgents, loadStore } from '../lazy-modules.js';
import { UsageError } from '../exit-codes.js';
import { databaseOptions, globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { migrationProgress } from '../migration-progress.js';
import type { Output } from '../output.js';

const DEMO_USER = 'demo-user';
const DEMO_FLOW = 'getting-started';

/** What the demo says, one user message per turn. */
const SCRIPT = [
  'Hi! I am trying chatkeep for the first time.',
  'Can you remember what I said a moment ago?',
  'Great, that is all I needed. Thanks!',
] as const;

/** The onboarding phases the demo walks through, after starting in `welcome`. */
const PHASES = [
  { phase: 'profile', progress: 40, steps: { welcome: { done: true } } },
  { phase: 'first-chat', progress: 80, steps: { profile: { done: true, name: 'Demo User' } } },
] as const;

interface DemoOptions {
  readonly memory?: boolean;
  readonly json?: boolean;
}

/**
 * `chatkeep demo`: a guided tour of the store that runs offline in a few
 * seconds: a three-turn conversation with the built-in demo agent and an
 * onboarding flow walked to completion, then printed.
 */
export function registerDemo(program: Command, output: Output): Command {
  return program
    .command('demo')
    .description(
      'run a scripted 3-turn conversation and an onboarding flow with the built-in offline demo agent, then print them',
    )
    .option('--memory', 'use a throw-away in-memory database (like --data-dir memory://; beats $DATABASE_URL and $CHATKEEP_DATA_DIR; not with --database-url or --data-dir)')
    .option('--json', 'print the conversation and sessions as JSON')
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep demo --memory',
        'chatkeep demo --data-dir ./demo-data',
        'chatkeep demo --database-url postgres://postgres@localhost/postgres',
      ),
    )
    .action(async (options: DemoOptions, command: Command) => {
      const globals = globalOptions(command);
      // --memory is `--data-dir memory://` typed on the command line: it beats
      // the environment, and another database typed beside it is a contradiction.
      if (options.memory === true && globals.given !== undefined) {
        throw new UsageError(`--memory cannot be combined with ${globals.given}: both name a database`);
      }
      const json = options.json === true;
      const { openStore } = await loadStore();
      const store = await openStore({
        ...(options.memory === true ? { dataDir: MEMORY_DATA_DIR } : databaseOptions(globals)),
        schema: globals.schema,
        onMigrationEvent: migrationProgress(output, { toStderr: json, phases: 'slow' }),
      });
      try {
        const result = await runDemo(store);
        if (json) output.json({ database: store.description, schema: globals.schema, ...result });
        else printDemo(output, store, globals.schema, result);
      } finally {
        await store.close();
      }
    });
}

interface DemoResult {
  readonly userId: string;
  readonly conversationId: string;
  readonly messages: readonly Message[];
  readonly onboarding: readonly { readonly action: string; readonly session: OnboardingSession }[];
}

async function runDemo(store: Store): Promise<DemoResult> {
  const { demoAgent } = await loadAgents();
  const conversation = await store.conversations.create(DEMO_USER, {
    title: 'chatkeep demo',
    metadata: { source: 'chatkeep demo' },
  });
  for (const message of SCRIPT) {
    await store.turns.run(DEMO_USER, conversation.id, message, demoAgent, { timeoutMs: 5_000 });
  }
  const { messages } = await store.messages.list(DEMO_USER, conversation.id, { limit: 100 });

  const onboarding: { action: string; session: OnboardingSession }[] = [];
  const started = await store.onboarding.start(DEMO_USER, {
    flow: DEMO_FLOW,
    phase: 'welcome',
    progress: 0,
    goals: ['store a conversation', 'finish onboarding'],
    conversationId: conversation.id,
  });
  // A run that was interrupted earlier left its session active; `start` resumes it.
  onboarding.push({ action: started.resumed ? 'resumed' : 'started', session: started.session });
  let session = started.session;
  for (const step of PHASES) {
    session = await store.onboarding.advance(DEMO_USER, session.id, {
      phase: step.phase,
      progress: step.progress,
      steps: step.steps,
    });
    onboarding.push({ action: 'advanced', session });
  }
  session = await store.onboarding.complete(DEMO_USER, session.id, {
    context: { finishedBy: 'chatkeep demo' },
  });
  onboarding.push({ action: 'completed', session });

  return { userId: DEMO_USER, conversationId: conversation.id, messages, onboarding };
}

function printDemo(output: Output, store: Store, schema: string, result: DemoResult): void {
  output.line(
    `chatkeep demo: ${SCRIPT.length} turns with the built-in demo agent (offline, deterministic), then onboarding.`,
  );
  output.line();
  output.line(
    `Conversation ${result.conversationId} of ${result.userId} (${result.messages.length} messages):`,
  );
  for (const m of result.messages)
    output.line(`  ${String(m.seq).padStart(3)}  ${m.role.padEnd(9)}  ${m.content}`);
  output.line();
  output.line(`Onboarding flow "${DEMO_FLOW}" of ${result.userId}:`);
  for (const { action, session } of result.onboarding) {
    output.line(
      `  ${action.padEnd(9)}  phase ${session.phase.padEnd(10)}  progress ${`${session.progress}%`.padStart(4)}  status ${session.status}`,
    );
  }
  output.line();
  output.line(`Data lives in: ${store.description} (schema "${schema}")`);
  if (store.description === 'PGlite in memory')
    output.line('(in memory: it is gone now that the demo has finished)');
  else
    output.line(
      'Run the demo again with the same options to add another conversation; `chatkeep migrate status` shows the schema.',
    );
}
