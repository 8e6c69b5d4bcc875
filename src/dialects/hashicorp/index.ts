// The HashiCorp raft (NetworkTransport, msgpack over TCP) dialect: public surface.
export { createHashicorpTap, createHashicorpTapWithState, DEFAULT_HASHICORP_LIMITS } from './tap.js';
export type { HashicorpDecodeError, HashicorpLimits, HashicorpTap, HashicorpTapOptions, HashicorpTapStats } from './tap.js';
export { MemberAddresses, type AddressedMember } from './members.js';
export { convertRequest, convertResponse, decodeVoters, LogType } from './convert.js';
export { RequestStream, ResponseStream, RpcType, RPC_NAMES, FramingError } from './transport.js';
export { MsgpackReader, MsgpackError, DEFAULT_MSGPACK_LIMITS } from './msgpack.js';
export type { MsgValue, MsgMap, MsgpackLimits } from './msgpack.js';
