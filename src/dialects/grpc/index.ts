// The schema-driven gRPC dialect (see dialect.ts), and the reference schema's location.
export * from './dialect.js';
