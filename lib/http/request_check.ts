// What a client may put in a request head, checked before anything is
// written. A method, target or field that carried CR LF would end the
// request line or a field early and start a second request on the wire
// (request splitting), so every piece is checked against its grammar:
//
// - method: a token (RFC 9110 section 9.1, token in section 5.6.2);
// - request target: visible ASCII only, no space or control byte (RFC 9112
//   section 3.2; URLs percent-encode the rest);
// - field name: a token (RFC 9110 section 5.1);
// - field value: no CR, LF or NUL (RFC 9110 section 5.5); other control
//   bytes and obs-text are let through, as the section allows.
//
// Each check throws a TypeError naming what is wrong. Pure: no I/O.

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Quoted for a message, and cut short: the text may be long or hostile. */
function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? text.slice(0, 64) + "..." : text);
}

/** Throws TypeError unless `method` is a token. */
export function checkMethod(method: string): void {
  if (!isToken(method)) throw new TypeError(`invalid request method ${shown(method)}`);
}

/** Throws TypeError unless `target` is non-empty visible ASCII (0x21-0x7e). */
export function checkTarget(target: string): void {
  let ok = target.length > 0;
  for (let i = 0; ok && i < target.length; i++) {
    const c = target.charCodeAt(i);
    ok = c > 0x20 && c < 0x7f;
  }
  if (!ok) throw new TypeError(`invalid request target ${shown(target)}`);
}

/** Throws TypeError unless `name` is a token and `value` has no CR, LF or NUL. */
export function checkRequestField(name: string, value: string): void {
  if (!isToken(name)) throw new TypeError(`invalid header field name ${shown(name)}`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) {
      throw new TypeError(`invalid value for header field ${shown(name)}: ${shown(value)}`);
    }
  }
}

/**
 * Throws TypeError unless `text` is whole field lines: each a token name,
 * a colon, a value without CR, LF or NUL, and CR LF. A line starting with
 * SP or HTAB (obs-fold), an empty line or a bare CR or LF is refused.
 */
export function checkFieldLines(text: string): void {
  let at = 0;
  while (at < text.length) {
    const start = at;
    let c = text.charCodeAt(at);
    while (c !== 0x3a) {
      if (c >= 128 || TCHAR[c] !== 1) throw badLine(text, start);
      c = text.charCodeAt(++at); // NaN past the end: not a tchar
    }
    if (at === start) throw badLine(text, start);
    for (c = text.charCodeAt(++at); c !== 0x0d; c = text.charCodeAt(++at)) {
      if (c === 0 || c === 0x0a || at >= text.length) throw badLine(text, start);
    }
    if (text.charCodeAt(at + 1) !== 0x0a) throw badLine(text, start);
    at += 2;
  }
}

function badLine(text: string, start: number): TypeError {
  const end = text.indexOf("\n", start);
  return new TypeError(
    `invalid header field line ${shown(text.slice(start, end === -1 ? undefined : end + 1))}`,
  );
}

/** Checks a whole request head: method, target and every field. */
export function checkRequestHead(
  method: string,
  target: string,
  fields: Iterable<readonly [string, string]>,
): void {
  checkMethod(method);
  checkTarget(target);
  for (const [name, value] of fields) checkRequestField(name, value);
}
