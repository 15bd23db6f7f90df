/** Counts in messages, written one way wherever a message is made (the core's notices, the CLI's lines). */

/** A whole number with thousands separators: 3,000,000. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A count with its noun in the right number: "1 batch", "2 batches", "10,000 tasks". */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${formatCount(count)} ${count === 1 ? singular : pluralForm}`;
}
