import { describe, expect, it } from 'vitest';
import { CrashWindow } from '../../src/cli/crash-window.js';

/**
 * `serve --workers` gives up after more than 5 unexpected worker exits
 * within 60 s (a crash loop) and otherwise replaces every worker that dies
 * (test/cli/serve-workers.test.ts kills real workers; this is the counting).
 */
describe('the crash window of serve --workers', () => {
  const minute = 60_000;

  it('gives up on the sixth exit within the window', () => {
    const window = new CrashWindow(5, minute);
    const verdicts = [0, 1_000, 2_000, 3_000, 4_000, 5_000].map((t) => window.record(t));
    expect(verdicts.map((v) => v.giveUp)).toEqual([false, false, false, false, false, true]);
    expect(verdicts.at(-1)!.count).toBe(6);
  });

  it('forgets exits older than the window: one a minute, for ever, never gives up', () => {
    const window = new CrashWindow(5, minute);
    const verdicts = Array.from({ length: 20 }, (_, i) => window.record(i * (minute + 1)));
    expect(verdicts.every((v) => !v.giveUp && v.count === 1)).toBe(true);
  });

  it('counts only the exits still inside the window', () => {
    const window = new CrashWindow(5, minute);
    for (const t of [0, 10_000, 20_000, 30_000, 40_000]) window.record(t);
    // At 65 s the exits at 0 s and (at 70.001 s) 10 s have left the window.
    expect(window.record(65_000)).toEqual({ count: 5, giveUp: false });
    expect(window.record(70_001)).toEqual({ count: 5, giveUp: false });
    expect(window.record(70_002)).toEqual({ count: 6, giveUp: true });
  });
});
