import { describe, expect, it } from 'vitest';
import { cellValue, csvHeaderProblem, splitCsvLine } from '../../../src/core/input/csv.js';

describe('splitCsvLine', () => {
  it.each([
    ['1,2,3', ['1', '2', '3']],
    [' 1 , 2 ,3 ', ['1', '2', '3']],
    ['a,,c,', ['a', '', 'c', '']],
    ['"a, b","say ""hi""",c', ['a, b', 'say "hi"', 'c']],
    ['"",x', ['', 'x']],
  ])('splits %j', (line, cells) => {
    expect(splitCsvLine(line)).toEqual(cells);
  });

  it.each([
    ['"open, never closed', /quoted field that does not end on this line/],
    ['"a"b,c', /text after a quoted field \(column 1\)/],
    ['a,b"c', /quote inside an unquoted field \(column 2\)/],
  ])('refuses %j with a reason', (line, reason) => {
    const result = splitCsvLine(line);
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error).toMatch(reason);
  });
});

describe('CSV cells and headers', () => {
  it('turns cells into values by the field type of the item schema', () => {
    expect(cellValue('12', 'integer')).toBe(12);
    expect(cellValue('-0.5', 'number')).toBe(-0.5);
    expect(cellValue('0x10', 'integer')).toBe('0x10');
    expect(cellValue('007', 'string')).toBe('007');
    expect(cellValue('TRUE', 'boolean')).toBe(true);
    expect(cellValue('', 'string')).toBeUndefined();
  });

  it('names unknown, missing and repeated columns', () => {
    const fields = { all: ['z', 'x', 'y', 'note'], required: ['z', 'x', 'y'] };
    expect(csvHeaderProblem(['z', 'x', 'y'], fields)).toBeUndefined();
    expect(csvHeaderProblem(['y', 'x', 'z', 'note'], fields)).toBeUndefined();
    expect(csvHeaderProblem(['z', 'x', 'yy'], fields)).toBe('unknown column "yy"; missing column "y"');
    expect(csvHeaderProblem(['z', 'x', 'x', 'y'], fields)).toBe('column "x" appears twice');
  });
});
