/** The escape character that starts every terminal control sequence; the terminal tests check exactly these. */
export const ESC = '\u001b';

/** Clears from the cursor to the end of the line. */
export const CLEAR_LINE = `${ESC}[K`;
