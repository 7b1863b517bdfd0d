// Where the worker's time goes, in ms (sent with 'done'; make bench prints it): waiting for
// reads, copying into the wasm, in the wasm, and writing the zip out; also the plan and review
// (wasm and posting), waiting for the user's confirmation, opening and closing the output, and
// the report (wasm and its conversion).
export const timing = { read: 0, copy: 0, wasm: 0, write: 0, plan: 0, review: 0, open: 0, close: 0, report: 0 };

export function resetTiming() {
  for (const key of Object.keys(timing)) timing[key] = 0;
}

/** Awaits `work()`, its time added to `timing[key]`. */
export async function timed(key, work) {
  const t = performance.now();
  try { return await work(); } finally { timing[key] += performance.now() - t; }
}

/** Runs `work()`, its time added to `timing[key]`. */
export function timedSync(key, work) {
  const t = performance.now();
  try { return work(); } finally { timing[key] += performance.now() - t; }
}
