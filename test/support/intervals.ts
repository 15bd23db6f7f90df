/** The most intervals that share one moment; at equal times an end comes first, so touching intervals do not overlap. */
export function mostAtOnce(list: ReadonlyArray<{ start: number; end: number }>): number {
  const events = list.flatMap((i) => [
    { at: i.start, step: 1 },
    { at: i.end, step: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.step - b.step);
  let running = 0;
  let most = 0;
  for (const e of events) {
    running += e.step;
    most = Math.max(most, running);
  }
  return most;
}
