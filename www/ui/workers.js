// The anonymiser's workers (worker.js): `state.active` runs the exports; `state.spare` is started
// in advance, once the active one is ready, so that Cancel can switch to a loaded worker even if
// the web server is gone by then. Messages follow protocol.js.
import * as protocol from '../protocol.js';
import { el, setStatus, showMessage } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../state.js';
import { errorText } from '../util.js';
import { updateControls } from './controls.js';
import { onProgress } from './progress.js';
import { onReview } from './review.js';
import { onDone, onRunError } from './run.js';

/** A new worker, {worker, ready, error}; its messages go to onWorkerMessage. */
export function spawnWorker() {
  const entry = { worker: null, ready: false, error: null };
  try {
    entry.worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
  } catch (err) {
    entry.error = errorText(err);
    return entry;
  }
  const fail = (message) => onWorkerMessage(entry, protocol.error({ message, file: null, fatal: true }));
  entry.worker.addEventListener('message', (ev) => {
    let msg;
    try {
      msg = protocol.fromWorker(ev.data);
    } catch (err) {
      return fail(errorText(err));
    }
    onWorkerMessage(entry, msg);
  });
  entry.worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    fail(ev.message || t('loadFailed'));
  });
  entry.worker.addEventListener('messageerror', () => fail('message could not be decoded'));
  return entry;
}

/** Discards the active worker and continues with the spare one (or a new one). */
export function replaceActive() {
  state.active?.worker?.terminate();
  state.active = state.spare && !state.spare.error ? state.spare : spawnWorker();
  state.spare = null;
  if (state.active.ready) state.spare = spawnWorker();
  if (state.active.error) showStartFailure(state.active.error);
  updateControls();
}

export function showStartFailure(message) {
  setStatus('');
  showMessage('error', t('startFailed', { message }));
}

function onWorkerMessage(entry, msg) {
  if (entry !== state.active) {
    // The spare only reports whether it loaded.
    if (msg.type === 'ready') entry.ready = true;
    else if (msg.type === 'error' && !entry.ready) entry.error = msg.message;
    return;
  }
  const running = !!state.running;
  switch (msg.type) {
    case 'ready': onReady(entry); break;
    case 'progress': if (running) onProgress(msg); break;
    case 'review': if (running) onReview(msg); break;
    case 'done': if (running) onDone(msg); break;
    case 'error': onError(entry, msg); break;
    default: break;
  }
}

function onReady(entry) {
  entry.ready = true;
  if (!state.running && el.status.textContent === t('loading')) setStatus(t('readyStatus'));
  if (!state.spare) state.spare = spawnWorker();
  updateControls();
}

function onError(entry, msg) {
  if (state.running) {
    onRunError(msg);
  } else if (!entry.ready) {
    entry.error = msg.message;
    showStartFailure(msg.message);
    updateControls();
  } else {
    showMessage('error', t('generalError', { message: msg.message }));
  }
}
