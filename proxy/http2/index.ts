// Public surface of the passive HTTP/2 + HPACK + gRPC reader.
export { createHttp2Tap, ConnectionReader } from './reader.js';
export type {
  GrpcMessage,
  GrpcMessageHandler,
  GrpcStreamEnd,
  Http2ReadError,
  Http2ReaderOptions,
  Http2ReaderStats,
  Http2TapFactory,
} from './reader.js';
export { HpackDecoder, HpackError, DynamicTable, STATIC_TABLE } from './hpack.js';
export { huffmanDecode } from './huffman.js';
