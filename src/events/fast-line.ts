// The fast path of the capture reader: one pass over the bytes of an event line that builds the
// event directly, for the lines RaftGuard's own writers emit (JSON.stringify of an event: no
// whitespace, no escapes, no exponents, no fields beyond the contract's).
//
// Why: JSON.parse builds each object key by key through generic property transitions, and
// validateEvent then reads every field back. Here a key is recognised by comparing its bytes four
// at a time, values are read straight from the bytes into locals, and every event is one object
// literal of a single shape (see parseEventLine). The block is never decoded to a string: the parse itself finds
// where the line ends (a line is `{…}` followed by a newline), and the few string values are built
// from their bytes (ASCII only; a string with any other byte takes the general path, which decodes
// UTF-8). Decoding each 1 MiB read to text only to find newlines and slice short strings was a
// quarter of the reader's profile (Buffer#latin1Slice); whole replay x1.014-1.036 without it.
//
// Contract: parseEventLine returns an event only when `validateEvent(JSON.parse(line))` would
// accept the line and return an equal event: the same fields with the same values, plus the
// contract's other fields present as undefined (one shape for every event; see parseEventLine), so
// JSON.stringify writes both the same way.
// For anything else (a key it does not know, a value of the wrong type, an escape, an exponent,
// whitespace, a problem validateEvent would report) it returns undefined and the reader takes the
// general path, which also words the error. test/unit/events/fast-line.test.ts checks the contract
// on simulator and dialect captures and on mutated lines.

import type { AppendEvent, Entry, EntryKind, RaftEvent } from './types.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const DIGIT0 = 0x30;
const NL = 0x0a;

// Field bits: which fields a line carried, and which fields a type allows.
const F_TYPE = 1 << 0;
const F_T = 1 << 1;
const F_FROM = 1 << 2;
const F_TO = 1 << 3;
const F_TERM = 1 << 4;
const F_ID = 1 << 5;
const F_PREV_INDEX = 1 << 6;
const F_PREV_TERM = 1 << 7;
const F_ENTRIES = 1 << 8;
const F_COMMIT = 1 << 9;
const F_SUCCESS = 1 << 10;
const F_MATCH = 1 << 11;
const F_HINT = 1 << 12;
const F_LAST_INDEX = 1 << 13;
const F_LAST_TERM = 1 << 14;
const F_PRE = 1 << 15;
const F_GRANTED = 1 << 16;
// Entry fields.
const F_INDEX = 1 << 17;
const F_KIND = 1 << 18;
const F_DIGEST = 1 << 19;
const F_SIZE = 1 << 20;

const BASE = F_TYPE | F_T | F_FROM | F_TO | F_TERM;

// Event types on the fast path. `snapshot` with `voters` and `noop` (both rare) take the general path.
const T_APPEND = 1;
const T_APPEND_RESP = 2;
const T_HEARTBEAT = 3;
const T_HEARTBEAT_RESP = 4;
const T_VOTE = 5;
const T_VOTE_RESP = 6;
const T_SNAPSHOT = 7;
const T_SNAPSHOT_RESP = 8;
const T_TIMEOUT_NOW = 9;

/** Fields each type must carry (index = type code), as validateEvent requires them. */
const REQUIRED = [0, BASE | F_PREV_INDEX | F_PREV_TERM | F_ENTRIES | F_COMMIT, BASE | F_SUCCESS, BASE | F_COMMIT, BASE, BASE | F_LAST_INDEX | F_LAST_TERM, BASE | F_GRANTED, BASE | F_LAST_INDEX | F_LAST_TERM, BASE | F_SUCCESS, BASE];
/** Fields each type may carry. Any other field is one the general path keeps as an extra. */
const ALLOWED = [
  0,
  REQUIRED[T_APPEND]! | F_ID,
  REQUIRED[T_APPEND_RESP]! | F_ID | F_MATCH | F_HINT,
  REQUIRED[T_HEARTBEAT]! | F_ID,
  REQUIRED[T_HEARTBEAT_RESP]! | F_ID,
  REQUIRED[T_VOTE]! | F_ID | F_PRE,
  REQUIRED[T_VOTE_RESP]! | F_ID | F_PRE,
  REQUIRED[T_SNAPSHOT]! | F_ID,
  REQUIRED[T_SNAPSHOT_RESP]! | F_ID | F_MATCH | F_HINT,
  REQUIRED[T_TIMEOUT_NOW]! | F_ID,
];
const TYPE_NAMES = ['', 'append', 'append_resp', 'heartbeat', 'heartbeat_resp', 'vote', 'vote_resp', 'snapshot', 'snapshot_resp', 'timeout_now'] as const;

/** Powers of ten exactly representable as doubles. */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * A quoted literal (a key with its colon, or a string value) as four little-endian 32-bit words at
 * offsets 0, min(4, len-4), min(8, len-4) and len-4: together they cover every byte of a literal of
 * 4 to 16 bytes, so a literal is checked with four loads instead of a byte at a time.
 */
interface Literal {
  len: number;
  w0: number;
  o1: number;
  w1: number;
  o2: number;
  w2: number;
  o3: number;
  w3: number;
}

function literal(lit: string): Literal {
  const b = Buffer.from(lit, 'latin1');
  if (b.length < 4 || b.length > 16) throw new Error(`fast-line literal ${lit}: 4 to 16 bytes`);
  const o1 = Math.min(4, b.length - 4);
  const o2 = Math.min(8, b.length - 4);
  const o3 = b.length - 4;
  return { len: b.length, w0: b.readInt32LE(0), o1, w1: b.readInt32LE(o1), o2, w2: b.readInt32LE(o2), o3, w3: b.readInt32LE(o3) };
}

const K_T = literal('"t":');
const K_TO = literal('"to":');
const K_ID = literal('"id":');
const K_PRE = literal('"pre":');
const K_TYPE = literal('"type":');
const K_FROM = literal('"from":');
const K_TERM = literal('"term":');
const K_HINT = literal('"hint":');
const K_MATCH = literal('"match":');
const K_COMMIT = literal('"commit":');
const K_ENTRIES = literal('"entries":');
const K_SUCCESS = literal('"success":');
const K_GRANTED = literal('"granted":');
const K_PREV_TERM = literal('"prevTerm":');
const K_LAST_TERM = literal('"lastTerm":');
const K_PREV_INDEX = literal('"prevIndex":');
const K_LAST_INDEX = literal('"lastIndex":');
const K_INDEX = literal('"index":');
const K_KIND = literal('"kind":');
const K_DIGEST = literal('"digest":');
const K_SIZE = literal('"size":');

const V_APPEND = literal('"append"');
const V_APPEND_RESP = literal('"append_resp"');
const V_HEARTBEAT = literal('"heartbeat"');
const V_VOTE = literal('"vote"');
const V_VOTE_RESP = literal('"vote_resp"');
const V_SNAPSHOT = literal('"snapshot"');
const V_TIMEOUT_NOW = literal('"timeout_now"');
const V_DATA = literal('"data"');
const V_NOOP = literal('"noop"');
const V_CONFIG = literal('"config"');
const V_HEARTBEAT_RESP = literal('"heartbeat_resp"');
const V_SNAPSHOT_RESP = literal('"snapshot_resp"');

// Scanner state, module-level so a line costs no closure or state object: the bytes of the block,
// a view for 32-bit loads, the position, and the limit the line must end by. `var`, not `let`: a
// module-level `let` read from a function is checked for its temporal dead zone on every read, and
// these are read several times per byte of a line (measured: the parse ~7 % faster with var).
var bytes: Uint8Array = new Uint8Array(0);
var view = new DataView(bytes.buffer);
var pos = 0;
var end = 0;

/**
 * What the event literal holds in `t` until the parsed time is stored there. Events also come from
 * the general path, the dialects and the simulator in shapes of their own, and code that sees more
 * than a few shapes reads a property through V8's generic handler; a field that only ever held
 * numbers is stored as a double, and each such generic read of it allocated a fresh 16-byte number
 * (measured: the summary's one `ev.t > lastT` allocated 32 bytes per event). Created with a non-number
 * there, the field holds a reference to one number allocated with the event, which reads return as is.
 */
const T_UNSET = undefined as unknown as number;

/**
 * An append in the shape parseEventLine gives every event, from its contract fields: what code that
 * keeps an append for a long time stores instead of the object (see EntryWindow). For an append the
 * fast path read, it equals the original field for field (the same literal as parseEventLine's;
 * test/unit/events/fast-line.test.ts checks that they agree key for key).
 */
export function appendFromFields(t: number, from: string, to: string, term: number, id: string | undefined, prevIndex: number, prevTerm: number, entries: Entry[], commit: number): AppendEvent {
  const ev = {
    type: 'append',
    t: T_UNSET,
    from,
    to,
    term,
    id,
    prevIndex,
    prevTerm,
    entries,
    commit,
    success: undefined,
    match: undefined,
    hint: undefined,
    lastIndex: undefined,
    lastTerm: undefined,
    granted: undefined,
    pre: undefined,
  } as unknown as AppendEvent;
  ev.t = t;
  return ev;
}

/** Node ids seen so far (a handful per cluster): from/to reuse one string each instead of a slice per line. */
const nodeIds: string[] = [];
const nodeIdBytes: Uint8Array[] = [];
const MAX_NODE_IDS = 64;

/** The literal at `pos` (and inside the line)? Advances past it when so. */
function at(l: Literal): boolean {
  if (
    pos + l.len > end ||
    view.getInt32(pos, true) !== l.w0 ||
    view.getInt32(pos + l.o1, true) !== l.w1 ||
    view.getInt32(pos + l.o2, true) !== l.w2 ||
    view.getInt32(pos + l.o3, true) !== l.w3
  ) {
    return false;
  }
  pos += l.len;
  return true;
}

/**
 * The rest of the key literal at `pos` whose first four bytes the caller has already matched (the key
 * switches on them): one more load for a key of up to 8 bytes, two or three for longer ones, where
 * `at` would load all four words again.
 */
function rest(l: Literal): boolean {
  const n = l.len;
  if (pos + n > end) return false;
  if (n > 8) {
    if (view.getInt32(pos + 4, true) !== l.w1) return false;
    if (n > 12 && view.getInt32(pos + 8, true) !== l.w2) return false;
  }
  if (view.getInt32(pos + l.o3, true) !== l.w3) return false;
  pos += n;
  return true;
}

/** A string value literal at `pos`, followed by `,` or `}` (a longer string starting the same way is not it). */
function atValue(l: Literal): boolean {
  if (!at(l)) return false;
  const c = bytes[pos];
  if (c === COMMA || c === RBRACE) return true;
  pos -= l.len;
  return false;
}

function isDigit(c: number): boolean {
  return c >= DIGIT0 && c <= DIGIT0 + 9;
}

/**
 * A JSON number at `pos` without an exponent and with at most 15 significant digits, as the
 * double JSON.parse gives: the digits form an exact integer m < 10^15, and one IEEE division by an
 * exact power of ten rounds m / 10^k correctly, as JSON.parse does. NaN = not on the fast path.
 */
function readNumber(): number {
  let i = pos;
  let c = bytes[i]!;
  let negative = false;
  if (c === MINUS) {
    negative = true;
    c = bytes[++i]!;
  }
  if (!isDigit(c)) return NaN;
  let m = 0;
  let digits = 0;
  if (c === DIGIT0) {
    c = bytes[++i]!;
    if (isDigit(c)) return NaN; // a leading zero is not JSON
  } else {
    do {
      m = m * 10 + (c - DIGIT0);
      digits++;
      c = bytes[++i]!;
    } while (isDigit(c));
  }
  let scale = 0;
  if (c === DOT) {
    c = bytes[++i]!;
    if (!isDigit(c)) return NaN;
    do {
      m = m * 10 + (c - DIGIT0);
      digits++;
      scale++;
      c = bytes[++i]!;
    } while (isDigit(c));
  }
  if (c === 0x65 || c === 0x45 || digits > 15 || scale > 15 || i > end) return NaN; // an exponent, too many digits
  pos = i;
  const v = scale === 0 ? m : m / POW10[scale]!;
  return negative ? -v : v;
}

/** A non-negative integer, as validateEvent's isIndex wants; -1 = not one. */
function readIndex(): number {
  // The digits alone: an index has no sign, fraction or exponent on the writers' lines; any of
  // those (valid JSON all the same, "5.0" is index 5 to JSON.parse) takes the general path.
  let i = pos;
  let c = bytes[i]!;
  if (c === DIGIT0) {
    c = bytes[i + 1]!;
    if (isDigit(c) || c === DOT || c === 0x65 || c === 0x45 || i + 1 > end) return -1;
    pos = i + 1;
    return 0;
  }
  if (!isDigit(c)) return -1;
  let m = 0;
  let digits = 0;
  do {
    m = m * 10 + (c - DIGIT0);
    digits++;
    c = bytes[++i]!;
  } while (isDigit(c));
  if (c === DOT || c === 0x65 || c === 0x45 || digits > 15 || i > end) return -1;
  pos = i;
  return m;
}

/**
 * The closing quote of the string whose opening quote is at `pos`; -1 when it has an escape, a
 * control character (a newline included: a string never runs past its line) or a byte outside
 * ASCII (the general path decodes UTF-8), or does not close before the limit.
 */
function stringEnd(): number {
  for (let i = pos + 1; i < end; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) return i;
    if (c < 0x20 || c === BACKSLASH || c > 0x7f) return -1;
  }
  return -1;
}

/**
 * The ASCII bytes [from, to) as a flat string of its own. Up to 16 characters (node ids, message
 * ids, the writers' 16-character digests) in one String.fromCharCode call: measured ~30 ns for
 * 10 characters against ~85 ns for Buffer#latin1Slice, which crosses into C++. Longer strings are
 * rare and joined from pieces of 16.
 */
function copyText(from: number, to: number): string {
  const y = bytes;
  const i = from;
  switch (to - from) {
    case 0:
      return '';
    case 1:
      return String.fromCharCode(y[i]!);
    case 2:
      return String.fromCharCode(y[i]!, y[i + 1]!);
    case 3:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!);
    case 4:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!);
    case 5:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!);
    case 6:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!);
    case 7:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!);
    case 8:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!);
    case 9:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!);
    case 10:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!);
    case 11:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!, y[i + 10]!);
    case 12:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!, y[i + 10]!, y[i + 11]!);
    case 13:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!, y[i + 10]!, y[i + 11]!, y[i + 12]!);
    case 14:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!, y[i + 10]!, y[i + 11]!, y[i + 12]!, y[i + 13]!);
    case 15:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!, y[i + 10]!, y[i + 11]!, y[i + 12]!, y[i + 13]!, y[i + 14]!);
    case 16:
      return String.fromCharCode(y[i]!, y[i + 1]!, y[i + 2]!, y[i + 3]!, y[i + 4]!, y[i + 5]!, y[i + 6]!, y[i + 7]!, y[i + 8]!, y[i + 9]!, y[i + 10]!, y[i + 11]!, y[i + 12]!, y[i + 13]!, y[i + 14]!, y[i + 15]!);
  }
  let s = '';
  for (let k = from; k < to; k += 16) s += copyText(k, Math.min(k + 16, to));
  return s;
}

function readString(): string | undefined {
  if (bytes[pos] !== QUOTE) return undefined;
  const close = stringEnd();
  if (close < 0) return undefined;
  const s = copyText(pos + 1, close);
  pos = close + 1;
  return s;
}

function readNodeId(): string | undefined {
  if (bytes[pos] !== QUOTE) return undefined;
  const close = stringEnd();
  if (close < 0 || close === pos + 1) return undefined; // "" is not a node id: the general path says so
  const start = pos + 1;
  const len = close - start;
  pos = close + 1;
  next: for (let k = 0; k < nodeIdBytes.length; k++) {
    const b = nodeIdBytes[k]!;
    if (b.length !== len) continue;
    for (let j = 0; j < len; j++) if (bytes[start + j] !== b[j]) continue next;
    return nodeIds[k];
  }
  const id = copyText(start, close);
  if (nodeIds.length < MAX_NODE_IDS) {
    nodeIds.push(id);
    nodeIdBytes.push(bytes.slice(start, close));
  }
  return id;
}

/** true / false at `pos`; undefined when neither. */
function readBoolean(): boolean | undefined {
  // "true" and "fals" as little-endian words.
  const w = pos + 4 <= end ? view.getInt32(pos, true) : 0;
  if (w === 0x65757274) {
    pos += 4;
    return true;
  }
  if (w === 0x736c6166 && bytes[pos + 4] === 0x65) {
    pos += 5;
    return false;
  }
  return undefined;
}

/** The type code of the quoted type name at `pos`, advancing past it; 0 = not on the fast path. */
function readType(): number {
  switch (bytes[pos + 1]) {
    case 0x61: // a
      if (atValue(V_APPEND)) return T_APPEND;
      if (atValue(V_APPEND_RESP)) return T_APPEND_RESP;
      return 0;
    case 0x68: // h
      if (atValue(V_HEARTBEAT)) return T_HEARTBEAT;
      return atValue(V_HEARTBEAT_RESP) ? T_HEARTBEAT_RESP : 0;
    case 0x76: // v
      if (atValue(V_VOTE)) return T_VOTE;
      if (atValue(V_VOTE_RESP)) return T_VOTE_RESP;
      return 0;
    case 0x73: // s
      if (atValue(V_SNAPSHOT)) return T_SNAPSHOT;
      return atValue(V_SNAPSHOT_RESP) ? T_SNAPSHOT_RESP : 0;
    case 0x74: // t
      return atValue(V_TIMEOUT_NOW) ? T_TIMEOUT_NOW : 0;
  }
  return 0;
}

function readKind(): EntryKind | undefined {
  if (atValue(V_DATA)) return 'data';
  if (atValue(V_NOOP)) return 'noop';
  if (atValue(V_CONFIG)) return 'config';
  return undefined;
}

const ENTRY_REQUIRED = F_INDEX | F_TERM | F_KIND;

/** One entry object at `pos`: index, term, kind, optionally digest and size (`voters` takes the general path). */
function readEntry(): Entry | undefined {
  if (bytes[pos] !== LBRACE) return undefined;
  pos++;
  let seen = 0;
  let index = -1;
  let term = -1;
  let kind: EntryKind | undefined;
  let digest: string | undefined;
  let size = -1;
  for (;;) {
    // One dispatch per key, as in parseEventLine.
    if (pos + 4 > end) return undefined;
    switch (view.getInt32(pos, true)) {
      case K_INDEX.w0:
        if (!rest(K_INDEX) || (index = readIndex()) < 0) return undefined;
        seen |= F_INDEX;
        break;
      case K_TERM.w0:
        if (!rest(K_TERM) || (term = readIndex()) < 0) return undefined;
        seen |= F_TERM;
        break;
      case K_KIND.w0:
        if (!rest(K_KIND) || (kind = readKind()) === undefined) return undefined;
        seen |= F_KIND;
        break;
      case K_DIGEST.w0:
        if (!rest(K_DIGEST) || (digest = readString()) === undefined) return undefined;
        seen |= F_DIGEST;
        break;
      case K_SIZE.w0:
        if (!rest(K_SIZE) || (size = readIndex()) < 0) return undefined;
        seen |= F_SIZE;
        break;
      default:
        return undefined;
    }
    const c = bytes[pos++];
    if (c === RBRACE) break;
    if (c !== COMMA) return undefined;
  }
  if ((seen & ENTRY_REQUIRED) !== ENTRY_REQUIRED) return undefined;
  if ((seen & F_DIGEST) !== 0) return (seen & F_SIZE) !== 0 ? { index, term, kind: kind!, digest, size } : { index, term, kind: kind!, digest };
  return (seen & F_SIZE) !== 0 ? { index, term, kind: kind!, size } : { index, term, kind: kind! };
}

/** Entries of the line being read past the first, before they are copied into an array of their own. */
const moreEntries: Entry[] = [];

/**
 * The entries array, allocated at its exact length: one entry (most appends) in an array literal,
 * more through a scratch array and one slice. Pushing onto `[]` gave the array room for 16 elements:
 * 144 bytes of backing store for one entry, on every append the engine may keep.
 */
function readEntries(): Entry[] | undefined {
  if (bytes[pos] !== LBRACKET) return undefined;
  pos++;
  if (bytes[pos] === RBRACKET) {
    pos++;
    return [];
  }
  const e0 = readEntry();
  if (e0 === undefined) return undefined;
  let c = bytes[pos++];
  if (c === RBRACKET) return [e0];
  if (c !== COMMA) return undefined;
  const more = moreEntries;
  more.length = 0;
  more.push(e0);
  for (;;) {
    const e = readEntry();
    if (e === undefined) break;
    more.push(e);
    c = bytes[pos++];
    if (c === RBRACKET) {
      const entries = more.slice();
      more.length = 0;
      return entries;
    }
    if (c !== COMMA) break;
  }
  more.length = 0;
  return undefined;
}

/** Sets the block (bytes) the next lines come from. */
export function setBlock(blockBytes: Uint8Array): void {
  if (blockBytes !== bytes) {
    bytes = blockBytes;
    view = new DataView(blockBytes.buffer, blockBytes.byteOffset, blockBytes.byteLength);
  }
}

/** Where the line parseEventLine last accepted ends: `limit`, or the newline that ended it. */
export function lineEnd(): number {
  return pos;
}

/**
 * The event on the line that starts at byte `lineStart` of the current block and ends at the first
 * newline or at `limit` (exclusive), whichever comes first; undefined when the line is not on the
 * fast path (see the contract at the top). When it returns an event, lineEnd() is where the line
 * ended. The caller need not find the newline first: the parse stops at the line's closing brace,
 * and nothing it reads on the way (a key, a number, a string, true/false) can contain a newline.
 */
export function parseEventLine(lineStart: number, limit: number): RaftEvent | undefined {
  pos = lineStart;
  end = limit;
  if (bytes[pos] !== LBRACE) return undefined;
  pos++;
  let seen = 0;
  let type = 0;
  let t = 0;
  let from: string | undefined;
  let to: string | undefined;
  let term = 0;
  let id: string | undefined;
  let a = 0; // prevIndex or lastIndex
  let b = 0; // prevTerm or lastTerm
  let commit = 0;
  let entries: Entry[] | undefined;
  let flag = false; // success or granted
  let pre = false;
  let match = 0;
  let hint = 0;
  for (;;) {
    // One dispatch per key: its first four bytes pick the field, `rest` checks the bytes after them,
    // and the value is read in the same case. A key function returning a field bit and a second
    // switch on that bit made the parse ~10 % slower (measured from memory, 300k simulator events:
    // 453 -> 413 ns per line; the first, cold pass 982 -> 658).
    if (pos + 4 > end) return undefined;
    let bit: number;
    switch (view.getInt32(pos, true)) {
      case K_TYPE.w0:
        if (!rest(K_TYPE) || (type = readType()) === 0) return undefined;
        bit = F_TYPE;
        break;
      case K_T.w0:
        if (!rest(K_T)) return undefined;
        t = readNumber();
        if (t !== t) return undefined;
        bit = F_T;
        break;
      case K_FROM.w0:
        if (!rest(K_FROM) || (from = readNodeId()) === undefined) return undefined;
        bit = F_FROM;
        break;
      case K_TO.w0:
        if (!rest(K_TO) || (to = readNodeId()) === undefined) return undefined;
        bit = F_TO;
        break;
      case K_TERM.w0:
        if (!rest(K_TERM) || (term = readIndex()) < 0) return undefined;
        bit = F_TERM;
        break;
      case K_ID.w0:
        if (!rest(K_ID) || (id = readString()) === undefined) return undefined;
        bit = F_ID;
        break;
      case K_PRE.w0: // "pre", "prevIndex", "prevTerm"
        if (rest(K_PREV_INDEX)) {
          if ((a = readIndex()) < 0) return undefined;
          bit = F_PREV_INDEX;
        } else if (rest(K_PREV_TERM)) {
          if ((b = readIndex()) < 0) return undefined;
          bit = F_PREV_TERM;
        } else if (rest(K_PRE)) {
          const v = readBoolean();
          if (v === undefined) return undefined;
          pre = v;
          bit = F_PRE;
        } else {
          return undefined;
        }
        break;
      case K_LAST_INDEX.w0: // "lastIndex", "lastTerm"
        if (rest(K_LAST_INDEX)) {
          if ((a = readIndex()) < 0) return undefined;
          bit = F_LAST_INDEX;
        } else if (rest(K_LAST_TERM)) {
          if ((b = readIndex()) < 0) return undefined;
          bit = F_LAST_TERM;
        } else {
          return undefined;
        }
        break;
      case K_COMMIT.w0:
        if (!rest(K_COMMIT) || (commit = readIndex()) < 0) return undefined;
        bit = F_COMMIT;
        break;
      case K_MATCH.w0:
        if (!rest(K_MATCH) || (match = readIndex()) < 0) return undefined;
        bit = F_MATCH;
        break;
      case K_HINT.w0:
        if (!rest(K_HINT) || (hint = readIndex()) < 0) return undefined;
        bit = F_HINT;
        break;
      case K_ENTRIES.w0:
        if (!rest(K_ENTRIES) || (entries = readEntries()) === undefined) return undefined;
        bit = F_ENTRIES;
        break;
      case K_SUCCESS.w0: {
        if (!rest(K_SUCCESS)) return undefined;
        const v = readBoolean();
        if (v === undefined) return undefined;
        flag = v;
        bit = F_SUCCESS;
        break;
      }
      case K_GRANTED.w0: {
        if (!rest(K_GRANTED)) return undefined;
        const v = readBoolean();
        if (v === undefined) return undefined;
        flag = v;
        bit = F_GRANTED;
        break;
      }
      default:
        return undefined; // a key this path does not know: the general path keeps it
    }
    seen |= bit;
    const c = bytes[pos++];
    if (c === RBRACE) break;
    if (c !== COMMA) return undefined;
  }
  if (pos !== end && bytes[pos] !== NL) return undefined;
  if ((seen & REQUIRED[type]!) !== REQUIRED[type] || (seen & ~ALLOWED[type]!) !== 0) return undefined;
  if (type === T_APPEND) {
    const es = entries!;
    for (let i = 0; i < es.length; i++) if (es[i]!.index !== a + 1 + i) return undefined;
  }
  // Every event in one shape: all the contract's fields, in the writers' order, those the line did
  // not carry left undefined (JSON.stringify drops them, so the event writes back as the same line).
  // The view, every check and the summary read events of every type through the same code; with one
  // shape per type (a dozen in all) each of those reads went through V8's megamorphic handler, with
  // one shape they are monomorphic loads (measured: replay of 1M simulator events x1.07-1.08, the
  // engine and summary alone on pre-parsed events x1.17). A literal, not a class instance: `new` of a 16-argument
  // constructor made the parse 6-12 % slower (it is not inlined into this function).
  // prevIndex/lastIndex, prevTerm/lastTerm and success/granted share locals: no type allows both of a pair.
  const last = type === T_VOTE || type === T_SNAPSHOT;
  const ev = {
    type: TYPE_NAMES[type]!,
    t: T_UNSET,
    from: from!,
    to: to!,
    term,
    id: (seen & F_ID) !== 0 ? id : undefined,
    prevIndex: type === T_APPEND ? a : undefined,
    prevTerm: type === T_APPEND ? b : undefined,
    entries,
    commit: (seen & F_COMMIT) !== 0 ? commit : undefined,
    success: (seen & F_SUCCESS) !== 0 ? flag : undefined,
    match: (seen & F_MATCH) !== 0 ? match : undefined,
    hint: (seen & F_HINT) !== 0 ? hint : undefined,
    lastIndex: last ? a : undefined,
    lastTerm: last ? b : undefined,
    granted: (seen & F_GRANTED) !== 0 ? flag : undefined,
    pre: type === T_VOTE || type === T_VOTE_RESP ? pre : undefined, // false when absent, as validateEvent reads it
  } as unknown as RaftEvent;
  ev.t = t;
  return ev;
}
