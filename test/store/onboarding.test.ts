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
  });
}
