// What the worker tells the page (protocol.js): errors naming the input being handled, and
// progress at a bounded rate.
import * as protocol from '../protocol.js';

// The input being handled, named in an error.
export const current = { file: null };

/** Posts `message`, moving the buffers of `transfer` to the page (the worker loses them). */
export function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

export function postError(message, fatal, code) {
  post(protocol.error({ message, file: current.file, fatal, code }));
}

/** An error's message, whatever was thrown (the wasm throws strings and objects too). */
export function messageOf(err) {
  if (err instanceof Error) return err.message || String(err);
  if (typeof err === 'string') return err;
  try { return JSON.stringify(err); } catch { return String(err); }
}

// Progress at most every 100 ms (thousands of small files would flood the page), and always
// the last one of a phase.
const throttle = { last: 0 };

export function progress(fields, last) {
  const now = performance.now();
  if (!last && now - throttle.last < 100) return;
  throttle.last = now;
  post(protocol.progress(fields));
}
