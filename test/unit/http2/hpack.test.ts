import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackError } from '../../../proxy/http2/hpack.js';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode } from '../../../proxy/http2/huffman.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(dec: HpackDecoder, block: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  dec.decode(block, 0, block.length, (n, v) => out.push([n, v]));
  return out;
}

function tableEntries(dec: HpackDecoder): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < dec.table.count; i++) out.push([dec.table.name(i), dec.table.value(i)]);
  return out;
}

/** Reference canonical Huffman encoder for round-trip tests, built from the derived code table. */
function huffmanEncode(data: Buffer): Buffer {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0;
  for (const b of data) {
    acc = (acc << BigInt(HUFFMAN_LENGTHS[b]!)) | BigInt(HUFFMAN_CODES[b]!);
    bits += HUFFMAN_LENGTHS[b]!;
    while (bits >= 8) {
      bits -= 8;
      out.push(Number((acc >> BigInt(bits)) & 0xffn));
    }
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

describe('Huffman code table (RFC 7541 Appendix B)', () => {
  it('derives the code points printed in the RFC from the code lengths', () => {
    // [symbol, code, length] copied from Appendix B, spread over all length groups.
    const rfc: Array<[number, number, number]> = [
      [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [22, 0x3ffffffe, 30],
      [31, 0xffffffb, 28], [32, 0x14, 6], [36, 0x1ff9, 13], [48, 0x0, 5], [60, 0x7ffc, 15], [92, 0x7fff0, 19],
      [94, 0x3ffc, 14], [122, 0x7b, 7], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [153, 0x1fffdc, 21],
      [171, 0xfffff0, 24], [192, 0x3ffffe0, 26], [199, 0x1ffffec, 25], [203, 0x7ffffde, 27], [208, 0x7fff2, 19],
      [220, 0xffffffd, 28], [239, 0x7ffff4, 23], [249, 0xffffffe, 28], [254, 0x7fffff0, 27], [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ];
    for (const [sym, code, len] of rfc) expect([sym, HUFFMAN_CODES[sym], HUFFMAN_LENGTHS[sym]]).toEqual([sym, code, len]);
    // A complete prefix code: Kraft sum exactly 1.
    let kraft = 0;
    for (let s = 0; s <= 256; s++) kraft += 2 ** -HUFFMAN_LENGTHS[s]!;
    expect(kraft).toBe(1);
  });

  it('derives exactly the Appendix B codes of symbols 128..255 (not exercised by text traffic)', () => {
    const appendixB = `fffe6 3fffd2 fffe7 fffe8 3fffd3 3fffd4 3fffd5 7fffd9 3fffd6 7fffda 7fffdb 7fffdc 7fffdd 7fffde ffffeb 7fffdf
      ffffec ffffed 3fffd7 7fffe0 ffffee 7fffe1 7fffe2 7fffe3 7fffe4 1fffdc 3fffd8 7fffe5 3fffd9 7fffe6 7fffe7 ffffef
      3fffda 1fffdd fffe9 3fffdb 3fffdc 7fffe8 7fffe9 1fffde 7fffea 3fffdd 3fffde fffff0 1fffdf 3fffdf 7fffeb 7fffec
      1fffe0 1fffe1 3fffe0 1fffe2 7fffed 3fffe1 7fffee 7fffef fffea 3fffe2 3fffe3 3fffe4 7ffff0 3fffe5 3fffe6 7ffff1
      3ffffe0 3ffffe1 fffeb 7fff1 3fffe7 7ffff2 3fffe8 1ffffec 3ffffe2 3ffffe3 3ffffe4 7ffffde 7ffffdf 3ffffe5 fffff1 1ffffed
      7fff2 1fffe3 3ffffe6 7ffffe0 7ffffe1 3ffffe7 7ffffe2 fffff2 1fffe4 1fffe5 3ffffe8 3ffffe9 ffffffd 7ffffe3 7ffffe4 7ffffe5
      fffec fffff3 fffed 1fffe6 3fffe9 1fffe7 1fffe8 7ffff3 3fffea 3fffeb 1ffffee 1ffffef fffff4 fffff5 3ffffea 7ffff4
      3ffffeb 7ffffe6 3ffffec 3ffffed 7ffffe7 7ffffe8 7ffffe9 7ffffea 7ffffeb ffffffe 7ffffec 7ffffed 7ffffee 7ffffef 7fffff0 3ffffee`
      .trim()
      .split(/\s+/)
      .map((h) => parseInt(h, 16));
    expect(appendixB.length).toBe(128);
    expect(Array.from(HUFFMAN_CODES.subarray(128, 256))).toEqual(appendixB);
  });

  it('decodes the RFC C.4/C.6 Huffman strings and round-trips every byte value', () => {
    const out = Buffer.alloc(256);
    const cases: Array<[string, string]> = [
      ['f1e3c2e5f23a6ba0ab90f4ff', 'www.example.com'], ['a8eb10649cbf', 'no-cache'],
      ['25a849e95ba97d7f', 'custom-key'], ['25a849e95bb8e8b4bf', 'custom-value'], ['6402', '302'],
      ['aec3771a4b', 'private'], ['d07abe941054d444a8200595040b8166e082a62d1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29ad171863c78f0b97c8e9ae82ae43d3', 'https://www.example.com'], ['9bd9ab', 'gzip'],
    ];
    for (const [h, text] of cases) {
      const src = hex(h);
      const n = huffmanDecode(src, 0, src.length, out);
      expect(out.subarray(0, Math.max(n, 0)).toString('latin1')).toBe(text);
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const enc = huffmanEncode(all);
    const big = Buffer.alloc(1024);
    const n = huffmanDecode(enc, 0, enc.length, big);
    expect(big.subarray(0, n).equals(all)).toBe(true);
  });

  it('rejects padding longer than 7 bits, padding with zeros, and an encoded EOS', () => {
    const out = Buffer.alloc(16);
    expect(huffmanDecode(hex('6402ff'), 0, 3, out)).toBe(-1); // "302" + 8 one-bits of padding
    expect(huffmanDecode(hex('64'), 0, 1, out)).toBe(-1); // '3' then two zero bits of padding
    expect(huffmanDecode(hex('ffffffff'), 0, 4, out)).toBe(-1); // EOS (30 ones) inside
  });
});

describe('HPACK decoder (RFC 7541 Appendix C)', () => {
  it('C.2 literal representations: with indexing, without, never indexed, indexed', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([['custom-key', 'custom-header']]);
    expect(d.table.size).toBe(55);
    const d2 = new HpackDecoder();
    expect(decodeAll(d2, hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([[':path', '/sample/path']]);
    expect(d2.table.count).toBe(0);
    expect(decodeAll(d2, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']]);
    expect(d2.table.count).toBe(0);
    expect(decodeAll(d2, hex('82'))).toEqual([[':method', 'GET']]);
  });

  const requests = [
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
  ];
  const requestTables = [
    { size: 57, entries: [[':authority', 'www.example.com']] },
    { size: 110, entries: [['cache-control', 'no-cache'], [':authority', 'www.example.com']] },
    { size: 164, entries: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']] },
  ];
  for (const [name, blocks] of [
    ['C.3 requests without Huffman', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['C.4 requests with Huffman', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ] as const) {
    it(`${name}: fields and dynamic table after each request`, () => {
      const d = new HpackDecoder();
      blocks.forEach((b, i) => {
        expect(decodeAll(d, hex(b))).toEqual(requests[i]);
        expect({ size: d.table.size, entries: tableEntries(d) }).toEqual(requestTables[i]);
      });
    });
  }

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses = [
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']],
    [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']],
    [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
  ];
  const responseTables = [
    { size: 222, entries: [['location', 'https://www.example.com'], ['date', date1], ['cache-control', 'private'], [':status', '302']] },
    { size: 222, entries: [[':status', '307'], ['location', 'https://www.example.com'], ['date', date1], ['cache-control', 'private']] },
    { size: 215, entries: [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]] },
  ];
  for (const [name, blocks] of [
    ['C.5 responses without Huffman (table 256, eviction)', [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ]],
    ['C.6 responses with Huffman (table 256, eviction)', [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ]],
  ] as const) {
    it(`${name}: fields and dynamic table after each response`, () => {
      const d = new HpackDecoder(256);
      blocks.forEach((b, i) => {
        expect(decodeAll(d, hex(b))).toEqual(responses[i]);
        expect({ size: d.table.size, entries: tableEntries(d) }).toEqual(responseTables[i]);
      });
    });
  }

  it('applies dynamic table size updates, evicting, and refuses one above the allowed size', () => {
    const d = new HpackDecoder();
    decodeAll(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')); // 57 octets in table
    decodeAll(d, hex('3f1a 82')); // size update to 57 (31 + 26), then :method GET
    expect(d.table.maxSize).toBe(57);
    expect(d.table.count).toBe(1);
    decodeAll(d, hex('20')); // size update to 0
    expect(d.table.count).toBe(0);
    expect(() => decodeAll(d, hex('3fe21f'))).toThrow(/above the allowed 4096/); // 4097
    expect(() => decodeAll(d, hex('82 20'))).toThrow(/after a header field/);
  });

  it('reports indices beyond the tables and truncated strings with the offset in the block', () => {
    const d = new HpackDecoder();
    let err: unknown;
    try {
      decodeAll(d, hex('82 be'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HpackError);
    expect((err as HpackError).offset).toBe(1);
    expect((err as Error).message).toMatch(/index 62 beyond the dynamic table/);
    expect(() => decodeAll(d, hex('400a 6375 7374'))).toThrow(/runs past the end/);
    expect(() => decodeAll(d, hex('80'))).toThrow(/index 0/);
  });
});
