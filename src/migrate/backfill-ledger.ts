/**
 * What a backfill has committed, for the journal. Batches are key ranges
 * handed out in key order, but with several workers they commit out of
 * order; the journal's position (`lastKey`) may only move to the end of the
 * longest run of committed ranges from the start, so a resumed run never
 * skips a range that had not committed. Ranges committed beyond that point
 * are walked again on resumption and change nothing: the backfill's `where`
 * no longer matches their rows.
 *
 * Journal writes are serialised through {@link lock}, held from the journal
 * write until the batch's commit, so two workers never write the journal
 * row in the opposite order of their commits.
 */
export class BackfillLedger {
  #mark: readonly string[] | undefined;
  #rows: number;
  #nextToSettle = 0;
  readonly #settled = new Map<number, readonly string[] | undefined>();
  #queue: Promise<void> = Promise.resolve();

  constructor(resumeFrom: { readonly lastKey?: readonly string[]; readonly rows?: number } | null) {
    this.#mark = resumeFrom?.lastKey;
    this.#rows = resumeFrom?.rows ?? 0;
  }

  /** The position to resume from: every range up to it has committed. */
  get mark(): readonly string[] | undefined {
    return this.#mark;
  }

  /** Rows changed by committed batches, in this run and the ones it resumes. */
  get rows(): number {
    return this.#rows;
  }

  /** Waits for the journal, returns its release. */
  async lock(): Promise<() => void> {
    let release!: () => void;
    const previous = this.#queue;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return release;
  }

  /** The journal entry if range `index`, ending at `end`, commits with `rows` changed rows. */
  progressWith(index: number, end: readonly string[] | undefined, rows: number): { lastKey?: readonly string[]; rows: number } {
    const mark = this.#advance(new Map(this.#settled).set(index, end)).mark;
    return { ...(mark !== undefined ? { lastKey: mark } : {}), rows: this.#rows + rows };
  }

  /** Records range `index` as committed. */
  committed(index: number, end: readonly string[] | undefined, rows: number): void {
    this.#settled.set(index, end);
    this.#rows += rows;
    const { mark, next } = this.#advance(this.#settled);
    for (let i = this.#nextToSettle; i < next; i++) this.#settled.delete(i);
    this.#mark = mark;
    this.#nextToSettle = next;
  }

  #advance(settled: ReadonlyMap<number, readonly string[] | undefined>): { mark: readonly string[] | undefined; next: number } {
    let mark = this.#mark;
    let next = this.#nextToSettle;
    while (settled.has(next)) {
      mark = settled.get(next) ?? mark;
      next++;
    }
    return { mark, next };
  }
}
