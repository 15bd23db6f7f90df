import { wrapText } from '../format.js';
import type { Output } from '../output.js';

/** A result line of prose, wrapped at spaces to fit the terminal (continuation lines take `indent`). */
export function paragraph(output: Output, text: string, indent = '  '): void {
  if (!output.fitted) {
    output.line(text);
    return;
  }
  // Every line wrapped to leave room for the indent, so continuation lines fit too.
  for (const [i, part] of wrapText(text, output.width - 1 - indent.length).entries()) output.line(i === 0 ? part : `${indent}${part}`);
}
