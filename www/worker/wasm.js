// Crossing the boundary with the wasm: its module's bytes, the values it returns, and the
// bytes it is given.
import { timedSync } from './timing.js';

/** The wasm module's bytes from pkg/capture_wasm.js (base64: the page's policy forbids fetching
 *  the .wasm). */
export function decodeWasm(src) {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (typeof src !== 'string' || src.length === 0) {
    throw new Error('The anonymiser engine (pkg/capture_wasm.js) is missing or empty');
  }
  if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(src);
  const bin = atob(src);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** A value from the wasm as plain JSON-compatible data: it may hold Maps or BigInts depending
 *  on how it was serialised. */
export function toPlain(v) {
  if (v instanceof Map) {
    const o = {};
    for (const [k, x] of v) o[k] = toPlain(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o = {};
    for (const k of Object.keys(v)) o[k] = toPlain(v[k]);
    return o;
  }
  return v;
}

/** Copies a read into the wasm's buffer (the one copy across the boundary); gives the length for
 *  WebJob.scan/export. The caller then releases the read (its buffer goes back to the reader). */
export function toWasm(job, got) {
  const n = got.bytes.length;
  timedSync('copy', () => job.buffer(n).set(got.bytes));
  return n;
}
