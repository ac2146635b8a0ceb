/**
 * `Symbol.asyncDispose`, typed as such (so `await using` type-checks), with Node 20's
 * `nodejs.asyncDispose` fallback where the global symbol is missing.
 * @packageDocumentation
 */
export const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose)
