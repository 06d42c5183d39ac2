// Text as the review's merge sees it: lines without terminators, with the
// file's layout (BOM, line-ending style, final newline) held apart so that a
// layout difference between two versions never reads as an edit to a line.

export type Eol = '\n' | '\r\n';

export interface LineText {
  /** The lines, without their terminators; an empty text has none. */
  lines: string[];
  bom: boolean;
  finalNewline: boolean;
}

const BOM = '\uFEFF';
const CR = 13;

// git looks at the same window to decide whether a file is text.
const BINARY_SNIFF_BYTES = 8000;

/** Splits text into lines. CRLF and LF both end a line; a lone CR is kept as content. */
export function splitLines(text: string): LineText {
  const bom = text.startsWith(BOM);
  const body = (bom ? text.slice(BOM.length) : text).replace(/\r\n/g, '\n');
  if (body === '') return { lines: [], bom, finalNewline: false };
  const finalNewline = body.endsWith('\n');
  const lines = (finalNewline ? body.slice(0, -1) : body).split('\n');
  return { lines, bom, finalNewline };
}

/** The line ending most lines use; undefined when the text has no line ending or CRLF and LF tie. */
export function detectEol(text: string): Eol | undefined {
  let crlf = 0;
  let lf = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) {
    if (i > 0 && text.charCodeAt(i - 1) === CR) crlf++;
    else lf++;
  }
  if (crlf > lf) return '\r\n';
  if (lf > crlf) return '\n';
  return undefined;
}

/** A NUL byte near the start means the bytes are not text; such files are chosen whole, never merged by line. */
export function isProbablyBinary(bytes: Uint8Array): boolean {
  return bytes.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}
