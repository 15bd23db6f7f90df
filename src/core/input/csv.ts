/**
 * One CSV record per line (RFC 4180 fields: commas, "quoted, fields" with ""
 * for a quote). Quoted fields cannot span lines: a file is read line by line
 * so that a bad line is reported with its number and the rest goes on.
 */
export function splitCsvLine(text: string): string[] | { error: string } {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote === -1) return { error: 'has a quoted field that does not end on this line' };
        value += text.slice(i, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      while (text[i] === ' ' || text[i] === '\t') i++;
      if (i < text.length && text[i] !== ',') return { error: `has text after a quoted field (column ${cells.length + 1})` };
      cells.push(value);
    } else {
      const comma = text.indexOf(',', i);
      const value = text.slice(i, comma === -1 ? text.length : comma);
      if (value.includes('"')) return { error: `has a quote inside an unquoted field (column ${cells.length + 1}); quote the whole field` };
      cells.push(value.trim());
      i = comma === -1 ? text.length : comma;
    }
    if (i >= text.length) return cells;
    i++; // the comma
    if (i === text.length) {
      cells.push('');
      return cells;
    }
  }
}

/** How a CSV cell becomes a value, from the item schema's field types (everything in CSV is text). */
export function cellValue(cell: string, type: string | undefined): unknown {
  if (cell === '') return undefined;
  if (type === 'integer' || type === 'number') {
    return /^-?(\d+(\.\d+)?|\.\d+)$/.test(cell) ? Number(cell) : cell;
  }
  if (type === 'boolean') {
    const lower = cell.toLowerCase();
    return lower === 'true' ? true : lower === 'false' ? false : cell;
  }
  return cell;
}

/** Checks a header against the item fields; the problem in one sentence, or undefined. */
export function csvHeaderProblem(columns: string[], fields: { all: string[]; required: string[] }): string | undefined {
  const seen = new Set<string>();
  const twice = columns.filter((c) => {
    if (seen.has(c)) return true;
    seen.add(c);
    return false;
  });
  const unknown = columns.filter((c) => !fields.all.includes(c));
  const missing = fields.required.filter((f) => !columns.includes(f));
  const problems = [
    ...(twice.length > 0 ? [`column ${quoteList(twice)} appears twice`] : []),
    ...(unknown.length > 0 ? [`unknown column${unknown.length > 1 ? 's' : ''} ${quoteList(unknown)}`] : []),
    ...(missing.length > 0 ? [`missing column${missing.length > 1 ? 's' : ''} ${quoteList(missing)}`] : []),
  ];
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function quoteList(names: string[]): string {
  return names.map((n) => JSON.stringify(n)).join(', ');
}
