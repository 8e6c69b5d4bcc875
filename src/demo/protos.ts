// Loads proto/raft.proto and proto/kv.proto with protobufjs and turns their services into
// @grpc/grpc-js service definitions (no @grpc/proto-loader: it is not a dependency).
// Messages cross the API as plain objects with snake_case keys (keepCase) and 64-bit integers
// as JS numbers (the demo never comes near 2^53).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ServiceDefinition } from '@grpc/grpc-js';

/** Walks up from this module to the directory that holds proto/raft.proto (works from src/ and dist/). */
export function findProtoDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'raft.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`proto/raft.proto not found above ${start}`);
    dir = parent;
  }
}

/** Repository root (the parent of proto/). */
export function findRepoRoot(): string {
  return dirname(findProtoDir());
}

let cachedRoot: protobuf.Root | undefined;

export function loadDemoRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const dir = findProtoDir();
  const root = new protobuf.Root();
  root.loadSync([join(dir, 'raft.proto'), join(dir, 'kv.proto')], { keepCase: true });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, bytes: Buffer, defaults: true, enums: String, arrays: true };

/** A grpc-js service definition whose (de)serialisers go through protobufjs. */
export function serviceDefinition(root: protobuf.Root, fqService: string): ServiceDefinition {
  const svc = root.lookupService(fqService);
  const def: Record<string, unknown> = {};
  for (const method of svc.methodsArray) {
    method.resolve();
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    def[method.name] = {
      path: `/${fqService}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (obj: object) => Buffer.from(req.encode(req.fromObject(obj)).finish()),
      requestDeserialize: (buf: Buffer) => req.toObject(req.decode(buf), TO_OBJECT),
      responseSerialize: (obj: object) => Buffer.from(res.encode(res.fromObject(obj)).finish()),
      responseDeserialize: (buf: Buffer) => res.toObject(res.decode(buf), TO_OBJECT),
      originalName: method.name,
    };
  }
  return def as unknown as ServiceDefinition;
}
