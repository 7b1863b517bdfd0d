// Module Web Worker that owns the wasm anonymiser; the page (main.js) never runs wasm. This file
// only starts the wasm and dispatches the page's messages (protocol.js): 'run' to worker/run.js,
// 'confirm' to the run waiting for it.
import init from './pkg/capture.js';
import wasmB64 from './pkg/capture_wasm.js';
import * as protocol from './protocol.js';
import { current, messageOf, post, postError } from './worker/post.js';
import { startReader } from './worker/read.js';
import { onConfirm, run } from './worker/run.js';
import { decodeWasm } from './worker/wasm.js';

// The worker never dies silently.
self.addEventListener('error', (ev) => {
  ev.preventDefault(); // reported here; do not also raise it on the Worker object
  postError(ev.message || 'Unexpected error in the worker', true);
});
self.addEventListener('unhandledrejection', (ev) => {
  postError(messageOf(ev.reason), true);
});

startReader();
const ready = init({ module_or_path: decodeWasm(wasmB64) });
ready.then(
  () => post(protocol.ready()),
  (err) => postError('Could not start the anonymiser: ' + messageOf(err), true),
);

const runs = { busy: false };

async function onRun(msg) {
  if (runs.busy) {
    post(protocol.error({ message: 'An export is already running', file: null, fatal: false }));
    return;
  }
  runs.busy = true;
  try {
    await run(msg, await ready);
  } catch (err) {
    // A trap (out of memory, or a panic under panic=abort) says only "unreachable": the code
    // lets the page say what it means for the user.
    postError(messageOf(err), true, err instanceof WebAssembly.RuntimeError ? 'engine-stopped' : undefined);
  } finally {
    runs.busy = false;
    current.file = null;
  }
}

self.addEventListener('message', (ev) => {
  let msg;
  try {
    msg = protocol.fromPage(ev.data);
  } catch (err) {
    postError(messageOf(err), false);
    return;
  }
  if (msg.type === 'confirm') onConfirm(msg);
  else if (msg.type === 'run') onRun(msg);
});
