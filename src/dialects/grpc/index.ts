// The schema-driven gRPC dialect (see dialect.ts), and the reference schema's location.
export * from './dialect.js';
export * from './tap.js';
export { METHOD_ALIASES, ROLE_ALIASES } from './schema.js';
