import { describe, expect, it } from 'vitest';
import { openStore } from '../../../src/store/index.js';
import { buildServer } from '../../../src/server/index.js';
import { demoAgent, demoStreamingAgent } from '../../../src/agents/index.js';
import { RateLimitCounts } from '../../../src/server/cluster/rate-limit-counts.js';

/**
 * The primary's shared rate-limit counts for `chatkeep serve --workers`
 * (the whole cluster is tested in test/cli/serve-workers.test.ts): fixed
 * windows per key, as @fastify/rate-limit's in-memory store counts them.
 */
describe('RateLimitCounts', () => {
  it('counts per key within a window and starts a new window once it has ended', () => {
    let now = 1_000_000;
    const counts = new RateLimitCounts(() => now);
    expect(counts.hit('user:a', 60_000)).toEqual({ current: 1, ttl: 60_000 });
    now += 10_000;
    expect(counts.hit('user:a', 60_000)).toEqual({ current: 2, ttl: 50_000 });
    expect(counts.hit('user:b', 60_000)).toEqual({ current: 1, ttl: 60_000 });
    now += 50_000; // user:a's window ends exactly now
    expect(counts.hit('user:a', 60_000)).toEqual({ current: 1, ttl: 60_000 });
    expect(counts.hit('user:b', 60_000)).toEqual({ current: 2, ttl: 10_000 });
  });

  it('a hit after its window ended starts a new count of 1 at once, not only once ended windows are next forgotten', () => {
    let now = 0;
    const counts = new RateLimitCounts(() => now);
    expect(counts.hit('user:a', 100)).toEqual({ current: 1, ttl: 100 });
    expect(counts.hit('user:a', 100)).toEqual({ current: 2, ttl: 100 });
    // Ended windows are dropped at most once a second; this hit comes well before the next drop.
    now += 150;
    expect(counts.hit('user:a', 100)).toEqual({ current: 1, ttl: 100 });
    now += 100; // the second window ends exactly now
    expect(counts.hit('user:a', 100)).toEqual({ current: 1, ttl: 100 });
  });

  it('forgets ended windows, so memory follows recent users rather than every user seen', () => {
    let now = 0;
    const counts = new RateLimitCounts(() => now);
    for (let i = 0; i < 1000; i++) counts.hit(`user:${i}`, 1000);
    expect(counts.size).toBe(1000);
    now += 5000;
    counts.hit('user:late', 1000);
    expect(counts.size).toBe(1);
  });
});

describe('rateLimit.scope "cluster" outside a cluster worker', () => {
  it('is refused with CK_CONFIG naming the field, before the server exists', async () => {
    const store = await openStore({ dataDir: 'memory://' });
    try {
      await expect(
        buildServer(store, {
          auth: {},
          agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() },
          rateLimit: { max: 10, windowMs: 60_000, scope: 'cluster' },
          logger: false,
        }),
      ).rejects.toMatchObject({ code: 'CK_CONFIG', details: { field: 'rateLimit.scope' } });
    } finally {
      await store.close();
    }
  });
});
