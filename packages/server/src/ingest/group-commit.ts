/**
 * Group commit: callers add work to a shared pending state, then `wait()`; one `write()` at a
 * time stores everything pending, and every caller waiting when it started learns its outcome.
 * Work that arrives during a write goes into the next one, so under load each write carries many
 * requests.
 */
export class GroupCommit {
  readonly #write: () => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #running: Promise<void> | null = null;
  #scheduled = false;

  constructor(write: () => Promise<void>, onError: (error: unknown) => void) {
    this.#write = write;
    this.#onError = onError;
  }

  /** Resolves after the next write that starts from now commits; rejects if it fails. */
  wait(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return p;
  }

  #schedule(): void {
    if (this.#running !== null || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#running === null) this.#run();
    });
  }

  #run(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#running = this.#write()
      .then(
        () => {
          for (const w of waiters) w.resolve();
        },
        (error) => {
          this.#onError(error);
          for (const w of waiters) w.reject(error);
        },
      )
      .finally(() => {
        this.#running = null;
        if (this.#waiters.length > 0) this.#schedule();
      });
  }
}
