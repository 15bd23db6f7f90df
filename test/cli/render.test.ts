import { describe, expect, it } from 'vitest';
import { fitText, formatDuration, formatDurationOption, plural, textWidth, wrapText } from '../../src/cli/format.js';
import { Output } from '../../src/cli/output.js';
import { progressLine, rateOf, startProgress } from '../../src/cli/progress.js';
import { type Column, formatTable } from '../../src/cli/table.js';
import { type OutStream, Screen } from '../../src/cli/terminal.js';
import { CLEAR_LINE, ESC } from '../support/ansi.js';

/** A stream that records what is written, with the size a terminal would report. */
function fakeStream(columns: number, isTTY = columns > 0): OutStream & { text: string } {
  return {
    text: '',
    write(text: string) {
      this.text += text;
    },
    isTTY,
    columns,
    get interactive() {
      return isTTY && columns > 0;
    },
  };
}

describe('formatTable', () => {
  const columns: Column[] = [
    { header: 'batch' },
    { header: 'tasks', align: 'right', drop: 2 },
    { header: 'attempts', align: 'right', drop: 1 },
    { header: 'last error', flex: true },
  ];
  const rows = [
    ['s1-b0', '100', '3', 'connect ECONNREFUSED 10.0.0.4:5671 while sending to queue geo-tasks'],
    ['s1-b12', '7', '12', ''],
  ];

  it('at full width keeps every column and right-aligns numbers', () => {
    const { text, hidden, cut } = formatTable(columns, rows, 0);
    expect(text.split('\n')).toEqual([
      'batch   tasks  attempts  last error',
      's1-b0     100         3  connect ECONNREFUSED 10.0.0.4:5671 while sending to queue geo-tasks',
      's1-b12      7        12',
    ]);
    expect({ hidden, cut }).toEqual({ hidden: [], cut: false });
  });

  it('on a narrow terminal drops the highest drop rank first, then cuts the flexible column', () => {
    const { text, hidden, cut } = formatTable(columns, rows, 50);
    expect(hidden).toEqual(['tasks']);
    expect(cut).toBe(true);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(49);
    expect(text.split('\n')[1]).toBe('s1-b0          3  connect ECONNREFUSED 10.0.0.4:…');
  });

  it('leaves the flexible column out when it would be narrower than 8', () => {
    expect(formatTable(columns, rows, 20).text.split('\n')[1]).toBe('s1-b0   connect EC…');
    const { text, hidden } = formatTable(columns, rows, 14);
    expect(hidden).toEqual(['tasks', 'attempts', 'last error']);
    expect(text.split('\n')).toEqual(['batch', 's1-b0', 's1-b12']);
  });

  it('a spanning row runs across the columns after its cells and wraps under itself', () => {
    const { text } = formatTable(
      [{ header: 'path' }, { header: 'mode' }, { header: 'tasks', align: 'right' }],
      [['local', 'aligned', '10,000'], { cells: ['servicebus'], span: 'skipped: not configured (GEO_SERVICEBUS_CONNECTION_STRING)' }],
      50,
    );
    expect(text.split('\n')).toEqual([
      'path        mode      tasks',
      'local       aligned  10,000',
      'servicebus  skipped: not configured',
      '            (GEO_SERVICEBUS_CONNECTION_STRING)',
    ]);
  });

  it('measures what a terminal shows: wide characters take two columns, so columns stay aligned and lines fit', () => {
    const { text } = formatTable(
      [{ header: 'city' }, { header: 'tasks', align: 'right' }, { header: 'last error', flex: true }],
      [
        ['東京', '10', 'タイルサーバーが応答しませんでした (503)'],
        ['paris', '200', 'refused'],
      ],
      36,
    );
    const lines = text.split('\n');
    // Right-aligned under its header: each line's tasks cell ends at the terminal column where "tasks" ends.
    const endOf = (line: string, cell: string) => textWidth(line.slice(0, line.indexOf(cell) + cell.length));
    expect([endOf(lines[0]!, 'tasks'), endOf(lines[1]!, '10'), endOf(lines[2]!, '200')]).toEqual([12, 12, 12]);
    for (const line of lines) expect(textWidth(line), line).toBeLessThanOrEqual(35);
    expect(lines[1]).toMatch(/^東京 {6}10 {2}タイル.*…$/);
    expect(fitText('東京大阪', 5)).toBe('東京…');
    expect(textWidth(progressLine({ done: 5, total: 10, unit: 'tasks', label: 'checking 東京.csv' }, 3, 40))).toBeLessThanOrEqual(39);
  });

  it('wrap splits at spaces and never returns a line over the width', () => {
    const lines = wrapText('latency: per batch from INSERT to recorded send (aligned), per task (individual)', 30);
    expect(lines).toEqual(['latency: per batch from INSERT', 'to recorded send (aligned),', 'per task (individual)']);
  });
});

describe('the progress line', () => {
  const state = { done: 1_440_000, total: 3_000_000, unit: 'tasks' };

  it('fits any width below the terminal width, the bar taking what the words leave', () => {
    for (const columns of [120, 80, 60, 40, 20]) {
      const line = progressLine(state, 142_385, columns);
      expect(line.length, line).toBeLessThanOrEqual(columns - 1);
    }
    expect(progressLine(state, 142_385, 80)).toMatch(/^\[█+░+\] {2}48% {2}1,440,000 \/ 3,000,000 tasks {2}142,385\/s {2}ETA 11s$/);
    // Too narrow for a bar of 10: the figures alone, cut at the edge.
    expect(progressLine(state, 142_385, 40)).toBe(' 48%  1,440,000 / 3,000,000 tasks  142…');
  });

  it('without a total: the count and the rate, no bar and no ETA', () => {
    expect(progressLine({ done: 1_200, unit: 'batches claimed', note: '120,000 tasks re-queued' }, 50, 80)).toBe(
      '1,200 batches claimed       50/s  120,000 tasks re-queued',
    );
  });

  it('rate comes from the samples kept; none before two', () => {
    expect(rateOf([{ at: 0, done: 0 }])).toBeUndefined();
    expect(
      rateOf([
        { at: 1_000, done: 100 },
        { at: 3_000, done: 500 },
      ]),
    ).toBe(200);
  });

  it('is drawn only on an interactive stderr (an ora spinner, then the bar), and erased when it stops', () => {
    const tty = fakeStream(80);
    const screen = new Screen(fakeStream(80), tty);
    const progress = startProgress(screen, { done: 0, total: 10, unit: 'tasks' });
    progress.stop();
    // Drawn from the line's start, spinner frame first; cleared to the line's end when stopped.
    const drawn = withoutStyles(tty.text);
    expect(drawn.endsWith(CLEAR_LINE)).toBe(true);
    expect(drawn.slice(0, -CLEAR_LINE.length)).toMatch(/^\r\S \[░+\] {3}0% {3}0 \/ 10 tasks\r$/);
    expect(
      withoutStyles(tty.text)
        .split('\r')
        .every((state) => state.replace(CLEAR_LINE, '').length <= 79),
    ).toBe(true);

    for (const stderr of [fakeStream(0, true), fakeStream(0, false)]) {
      const quiet = startProgress(new Screen(fakeStream(80), stderr), { done: 0, total: 10, unit: 'tasks' });
      quiet.update({ done: 5, total: 10, unit: 'tasks' });
      quiet.stop();
      expect(stderr.text).toBe('');
    }
  });

  it('a line printed meanwhile clears the bar first and draws it again after', async () => {
    const tty = fakeStream(40);
    const output = new Output(false, false, new Screen(tty, tty));
    const progress = await output.progress({ done: 1, total: 2, unit: 'tasks' });
    output.notice('geo: a notice');
    progress.stop();
    const parts = withoutStyles(tty.text).split('\r');
    expect(parts).toEqual(['', expect.stringMatching(/^\S \[█+░+\]/), '\x1b[Kgeo: a notice\n', expect.stringMatching(/^\S \[█+░+\]/), '\x1b[K']);
  });
});

/** Colours (SGR) and synchronized-output brackets. */
const STYLES = new RegExp(String.raw`${ESC}\[\d*(;\d+)*m|${ESC}\[\?2026[hl]`, 'g');

/** What was written less colours and ora's synchronized-output brackets: line moves and clears stay. */
function withoutStyles(text: string): string {
  return text.replace(STYLES, '');
}

describe('words and durations', () => {
  it('plural', () => {
    expect([plural(0, 'batch', 'batches'), plural(1, 'batch', 'batches'), plural(10_000, 'task')]).toEqual(['0 batches', '1 batch', '10,000 tasks']);
  });

  it('durations as options take them, and for people', () => {
    expect([1_800, 0, 90, 3_600, 86_400, 5_400].map(formatDurationOption)).toEqual(['30m', '0s', '90s', '1h', '1d', '90m']);
    expect([11_000, 185_000, 7_620_000].map(formatDuration)).toEqual(['11s', '3m 05s', '2h 07m']);
  });
});
