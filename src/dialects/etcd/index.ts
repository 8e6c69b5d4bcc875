// The etcd 3.4 (rafthttp) dialect: public surface.
export { createEtcdTap, createEtcdTapWithState } from './tap.js';
export type { EtcdDecodeError, EtcdEventContext, EtcdTap, EtcdTapOptions, EtcdTapStats, EtcdErrorChannel } from './tap.js';
export { MemberNames, VoterTracker, parseMembersJson, decimalIdToHex, normaliseHexId } from './members.js';
export { convertMessage, convertEntry, payloadDigest } from './convert.js';
export { decodeMessage, decodeEntry, MessageType, EntryType, RAFTPB_PROTO_PATH } from './raftpb.js';
export type { EtcdChannel } from './streams.js';
