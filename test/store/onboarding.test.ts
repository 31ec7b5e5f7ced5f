import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/** SPEC R-ONB-1, R-ONB-2. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: onboarding sessions`, () => {
    const fixture = useStore(backend.name);

    it('start creates a session; starting again resumes the same one', async () => {
      const store = fixture.get();
      const user = newUser();
      const first = await store.onboarding.start(user, { flow: 'running-coach', phase: 'welcome', goals: ['5k'], context: { level: 'new' } });
      expect(first.resumed).toBe(false);
      expect(first.session).toMatchObject({ flow: 'running-coach', phase: 'welcome', progress: 0, status: 'active', goals: ['5k'], context: { level: 'new' } });
      const again = await store.onboarding.start(user, { flow: 'running-coach', phase: 'ignored' });
      expect(again.resumed).toBe(true);
      expect(again.session.id).toBe(first.session.id);
      expect(again.session.phase).toBe('welcome');
    });

    it('ten concurrent starts of one flow leave exactly one active session', async () => {
      const store = fixture.get();
      const user = newUser();
      const results = await Promise.all(Array.from({ length: 10 }, () => store.onboarding.start(user, { flow: 'coach', phase: 'welcome' })));
      expect(new Set(results.map((r) => r.session.id)).size).toBe(1);
      expect(results.filter((r) => !r.resumed)).toHaveLength(1);
      expect(await store.onboarding.list(user)).toHaveLength(1);
    });

    it('advance updates phase and progress, merges step state and context, replaces goals', async () => {
      const store = fixture.get();
      const user = newUser();
      const { session } = await store.onboarding.start(user, { flow: 'coach', phase: 'welcome', context: { a: 1 }, steps: { welcome: { seen: true } } });
      const advanced = await store.onboarding.advance(user, session.id, {
        phase: 'goals',
        progress: 40,
        steps: { goals: { answered: 2 } },
        context: { b: 2 },
        goals: ['run 10k', { target: 'marathon' }],
      });
      expect(advanced).toMatchObject({
        phase: 'goals',
        progress: 40,
        steps: { welcome: { seen: true }, goals: { answered: 2 } },
        context: { a: 1, b: 2 },
        goals: ['run 10k', { target: 'marathon' }],
      });
      expect(advanced.updatedAt.getTime()).toBeGreaterThanOrEqual(session.updatedAt.getTime());
    });

    it('complete and abandon end a session; an ended session cannot be advanced; a new start begins anew', async () => {
      const store = fixture.get();
      const user = newUser();
      const { session } = await store.onboarding.start(user, { flow: 'coach', phase: 'welcome' });
      const done = await store.onboarding.complete(user, session.id, { context: { finished: true } });
      expect(done).toMatchObject({ status: 'completed', progress: 100, context: { finished: true } });
      expect(done.completedAt).toBeInstanceOf(Date);
      const error = await caught(() => store.onboarding.advance(user, session.id, { phase: 'again' }));
      expect(error.code).toBe('CK_SESSION_NOT_ACTIVE');
      expect((await store.onboarding.get(user, session.id)).phase).toBe('welcome');

      const next = await store.onboarding.start(user, { flow: 'coach', phase: 'welcome' });
      expect(next.resumed).toBe(false);
      const abandoned = await store.onboarding.abandon(user, next.session.id);
      expect(abandoned.status).toBe('abandoned');
      expect(abandoned.abandonedAt).toBeInstanceOf(Date);
      expect((await store.onboarding.list(user, { flow: 'coach' })).map((s) => s.status)).toEqual(['abandoned', 'completed']);
      expect(await store.onboarding.active(user, 'coach')).toBeNull();
    });

    it('a linked conversation can be deleted; the session stays and forgets the link', async () => {
      const store = fixture.get();
      const user = newUser();
      const conversation = await store.conversations.create(user);
      const { session } = await store.onboarding.start(user, { flow: 'coach', phase: 'chat', conversationId: conversation.id });
      expect(session.conversationId).toBe(conversation.id);
      await store.conversations.delete(user, conversation.id);
      expect((await store.onboarding.get(user, session.id)).conversationId).toBeNull();
    });

    it('flows are independent: one active session per user and flow', async () => {
      const store = fixture.get();
      const user = newUser();
      const a = await store.onboarding.start(user, { flow: 'coach', phase: 'x' });
      const b = await store.onboarding.start(user, { flow: 'nutrition', phase: 'y' });
      expect(a.session.id).not.toBe(b.session.id);
      expect(await store.onboarding.list(user, { status: 'active' })).toHaveLength(2);
    });

    it('merging steps and context cannot grow them past 64 KiB: CK_VALIDATION naming the field, nothing written', async () => {
      const store = fixture.get();
      const user = newUser();
      const { session } = await store.onboarding.start(user, { flow: 'grow', phase: 'welcome' });
      const chunk = 'x'.repeat(40_000);
      // Each input is within 64 KiB; merged with what is stored, the second is not.
      for (const field of ['context', 'steps'] as const) {
        await store.onboarding.advance(user, session.id, { [field]: { first: chunk } });
        const error = await caught(() => store.onboarding.advance(user, session.id, { [field]: { second: chunk }, phase: 'changed' }));
        expect([error.code, error.details?.['field']]).toEqual(['CK_VALIDATION', field]);
        const stored = await store.onboarding.get(user, session.id);
        expect([stored.phase, Object.keys(stored[field])]).toEqual(['welcome', ['first']]);
      }
      const error = await caught(() => store.onboarding.complete(user, session.id, { context: { second: chunk } }));
      expect([error.code, error.details?.['field']]).toEqual(['CK_VALIDATION', 'context']);
      expect((await store.onboarding.get(user, session.id)).status).toBe('active');
      // Replacing a key keeps the size in bounds, so it is accepted.
      const replaced = await store.onboarding.advance(user, session.id, { context: { first: 'short' } });
      expect(replaced.context).toEqual({ first: 'short' });
    });

    it('JSON nested deeper than 1000 levels is refused naming the field, at any depth and stack size', async () => {
      const store = fixture.get();
      const user = newUser();
      const nest = (depth: number) => {
        let value: Record<string, unknown> = {};
        for (let i = 1; i < depth; i++) value = { a: value };
        return value;
      };
      const { session } = await store.onboarding.start(user, { flow: 'deep', phase: 'p', context: nest(1000) });
      // 1001 levels: JSON.stringify manages it, the rule does not; 100,000 levels overflows the stack.
      for (const depth of [1001, 100_000]) {
        const error = await caught(() => store.onboarding.advance(user, session.id, { steps: nest(depth) }));
        expect([error.code, error.details?.['field'], error.message]).toEqual(['CK_VALIDATION', 'steps', 'steps: must be nested at most 1000 levels deep']);
        const goals = await caught(() => store.onboarding.advance(user, session.id, { goals: [nest(depth)] }));
        expect([goals.details?.['field'], goals.message]).toEqual(['goals', 'goals: must be nested at most 1000 levels deep']);
      }
      expect((await store.onboarding.get(user, session.id)).steps).toEqual({});
    });

    it('advances racing a complete: each lands before it or gets CK_SESSION_NOT_ACTIVE; the completed session keeps its progress of 100', async () => {
      const store = fixture.get();
      const user = newUser();
      const { session } = await store.onboarding.start(user, { flow: 'race', phase: 'p0' });
      const advances = Array.from({ length: 12 }, (_, i) => store.onboarding.advance(user, session.id, { phase: `p${i + 1}`, progress: i + 1, steps: { [`s${i}`]: true } }));
      const completing = store.onboarding.complete(user, session.id);
      const outcomes = await Promise.allSettled(advances);
      const done = await completing;
      const landed = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as { code?: string }).code).toBe('CK_SESSION_NOT_ACTIVE');
      const final = await store.onboarding.get(user, session.id);
      expect([final.status, final.progress]).toEqual(['completed', 100]);
      expect(final).toEqual(done);
      // Every advance that succeeded is in the stored step state; none that failed is.
      const stepKeys = Object.keys(final.steps).sort();
      expect(stepKeys).toEqual(landed.flatMap((s) => [`s${Number(s.phase.slice(1)) - 1}`]).sort());
    });
  });
}
