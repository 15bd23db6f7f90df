/**
 * Orders Service Bus settlements so that rhea 3.0.5 never writes two
 * different outcomes in one disposition frame.
 *
 * rhea collects the dispositions of one tick and writes them as ranges. When
 * a range holds one delivery it merges the next consecutive delivery into it
 * without comparing outcomes (`write_dispositions` in rhea/lib/session.js:
 * the outcome check only runs once the range has two deliveries), so a
 * complete and an abandon settled in the same tick both reach the broker as
 * whichever came first: an abandoned task reported completed is lost, a
 * completed one reported abandoned runs twice; a dead-letter can take
 * another's reason. Only `accepted` outcomes may share a frame (rhea treats
 * no other outcome as equivalent, and the broker applies the range's one
 * outcome to all of it).
 *
 * So completes run together, and any other settlement runs alone: it waits
 * until every settlement already issued has been answered by the broker
 * (after which its disposition frame has been written) and holds back all
 * later ones until its own answer. Settlements of one kind keep their order.
 */
export class SettlementGate {
  private readonly waiting: Array<{ kind: 'complete' | 'other'; start: () => void }> = [];
  private running = 0;
  private runningKind: 'complete' | 'other' | undefined;

  /** Runs `settle` when no settlement of a different outcome is in flight. */
  run<T>(kind: 'complete' | 'other', settle: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        this.runningKind = kind;
        let settled: Promise<T>;
        try {
          settled = settle();
        } catch (err) {
          settled = Promise.reject(err);
        }
        settled.then(resolve, reject).finally(() => {
          this.running--;
          this.pump();
        });
      };
      this.waiting.push({ kind, start });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      const free = this.running === 0;
      const joinsCompletes = next.kind === 'complete' && this.runningKind === 'complete';
      if (!free && !joinsCompletes) return;
      this.waiting.shift();
      next.start();
      if (next.kind === 'other') return;
    }
  }
}
