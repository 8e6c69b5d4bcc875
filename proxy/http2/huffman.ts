// HPACK Huffman decoding (RFC 7541 §5.2, Appendix B).
// The Appendix B code is canonical: codes are assigned in order of (length, symbol). So the fact table
// kept here is only the code length of each symbol 0..256 (256 = EOS); the codes are derived from it at
// load and checked by the tests against code points printed in the RFC.
// Decoding walks a byte-at-a-time state table: a state is an internal node of the code tree (256 of
// them for 257 leaves), and for each (state, input byte) the table holds the next state and the 0–2
// symbols completed on the way. One table lookup per input byte, no per-bit loop on the hot path.

/** Code length in bits of symbols 0..256, from RFC 7541 Appendix B. */
const CODE_LENGTHS: readonly number[] = [
  // 0..31 (control characters)
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32..63  ' ' ! " # $ % & ' ( ) * + , - . / 0..9 : ; < = > ?
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64..95  @ A..Z [ \ ] ^ _
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96..127 ` a..z { | } ~ DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128..255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // 256 = EOS
  30,
];

export const EOS = 256;

/** Canonical codes (right-aligned) and lengths per symbol, derived from CODE_LENGTHS. */
export const HUFFMAN_CODES: Uint32Array = new Uint32Array(257);
export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.from(CODE_LENGTHS);

function assignCanonicalCodes(): void {
  if (CODE_LENGTHS.length !== 257) throw new Error(`huffman: expected 257 code lengths, have ${CODE_LENGTHS.length}`);
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
  let code = 0;
  let len = CODE_LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const sym = order[i]!;
    const l = CODE_LENGTHS[sym]!;
    code <<= l - len; // 30-bit codes stay within 31 bits: safe for JS bit operators
    len = l;
    HUFFMAN_CODES[sym] = code;
    code++;
  }
}
assignCanonicalCodes();

// ---- byte-at-a-time decode table ----
// Tree nodes: internal nodes numbered 0..255 (0 = root); children stored as node id, or ~symbol for leaves.
const STATES = 256;
/** next internal state after consuming a byte from a state. */
const NEXT = new Uint8Array(STATES * 256);
/** packed emitted symbols: bits 0-1 count (0..2), bits 2-9 first symbol, bits 10-17 second symbol; bit 31 = EOS hit. */
const EMIT = new Int32Array(STATES * 256);
/** 1 when ending the input in this state is valid padding (RFC 7541 §5.2: at most 7 bits, all ones). */
const ACCEPTING = new Uint8Array(STATES);
const FAIL_BIT = 1 << 30;

function buildDecodeTable(): void {
  const child0 = new Int32Array(STATES).fill(0x7fffffff);
  const child1 = new Int32Array(STATES).fill(0x7fffffff);
  let nodes = 1;
  for (let sym = 0; sym <= 256; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    const len = HUFFMAN_LENGTHS[sym]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = (code >>> b) & 1;
      const arr = bit ? child1 : child0;
      if (b === 0) {
        arr[node] = ~sym;
      } else {
        let next = arr[node]!;
        if (next === 0x7fffffff) {
          next = nodes++;
          arr[node] = next;
        }
        node = next;
      }
    }
  }
  if (nodes !== STATES) throw new Error(`huffman: code tree has ${nodes} internal nodes, expected ${STATES}`);

  // Accepting states: reached from the root by 0..7 one-bits.
  let node = 0;
  ACCEPTING[0] = 1;
  for (let depth = 1; depth <= 7; depth++) {
    node = child1[node]!;
    ACCEPTING[node] = 1;
  }

  for (let state = 0; state < STATES; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let cur = state;
      let count = 0;
      let packed = 0;
      for (let b = 7; b >= 0; b--) {
        const next = ((byte >>> b) & 1 ? child1 : child0)[cur]!;
        if (next < 0) {
          const sym = ~next;
          if (sym === EOS) {
            packed |= FAIL_BIT;
            cur = 0;
            break;
          }
          packed |= sym << (2 + 8 * count);
          count++;
          cur = 0;
        } else {
          cur = next;
        }
      }
      NEXT[state * 256 + byte] = cur;
      EMIT[state * 256 + byte] = packed | count;
    }
  }
}
buildDecodeTable();

/**
 * Decodes `src[start..end)` into `out` from offset 0. Returns the number of bytes written, or -1 when
 * the input is invalid (EOS symbol inside, or padding longer than 7 bits / not all ones), or -2 when
 * `out` is too small. Huffman never expands more than 8/5 times, so `out.length >= ceil(len*8/5)` is enough.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let w = 0;
  const cap = out.length;
  for (let i = start; i < end; i++) {
    const k = (state << 8) | src[i]!;
    const e = EMIT[k]!;
    if (e !== 0) {
      if (e & FAIL_BIT) return -1;
      const count = e & 3;
      if (w + count > cap) return -2;
      out[w++] = (e >>> 2) & 0xff;
      if (count === 2) out[w++] = (e >>> 10) & 0xff;
    }
    state = NEXT[k]!;
  }
  return ACCEPTING[state] ? w : -1;
}
