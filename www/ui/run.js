// Step 3, running an export: Run (the scan and the plan), Write (after the review), Cancel, and
// the result: the downloads and the report, or the error.
import * as protocol from '../protocol.js';
import { el, setStatus, announce, showMessage } from '../dom.js';
import { t, tp, fmtInt, fmtSize, fmtDuration } from '../i18n.js';
import { state } from '../state.js';
import { localDate, randomHex, errorText } from '../util.js';
import { updateControls } from './controls.js';
import { setProgress } from './progress.js';
import { clearReport, renderReport } from './report.js';
import { faceChoices } from './faces.js';
import { acceptedPixels } from './pixels.js';
import { clearReview, editedProfiles } from './review.js';
import { secretForRun } from './secret.js';
import { selectedItems } from './selection.js';
import { deidSettings } from './settings.js';
import { replaceActive } from './workers.js';

export function startRun() {
  if (state.running || !state.active?.ready) return;
  const items = selectedItems();
  clearResults();
  if (!items.length) {
    showMessage('warn', t('noFiles'));
    el.files.focus();
    return;
  }
  const secret = secretForRun();
  const exportDate = localDate();
  const settings = deidSettings();
  const scanTotal = items.reduce((n, { file }) => n + file.size, 0);
  const now = performance.now();
  state.running = { exportDate, started: now, scanTotal, exportTotal: null, phase: null, phaseStarted: now, last: null };
  setProgress(0, Math.max(1, 2 * scanTotal));
  setStatus(t('starting'));
  announce(t('starting'));
  state.active.worker.postMessage(protocol.run({
    files: items.map((i) => i.file),
    names: items.map((i) => i.name),
    secret,
    exportDate,
    settings,
  }));
  updateControls();
  el.cancel.focus();
}

/** 'disk' (File System Access API) or 'link' (Blob + #download). */
function saveMode() {
  const forced = new URLSearchParams(location.search).get('save');
  if (forced === 'link') return 'link';
  if (typeof window.showSaveFilePicker !== 'function') return 'link';
  if (el.saveMode.value === 'link') return 'link';
  // A save dialog cannot be answered by an automated browser: keep the download link there.
  if (navigator.webdriver && forced !== 'disk') return 'link';
  return 'disk';
}

/** The file the user chose for the zip: a handle, null for the download link, or undefined
 *  when the user closed the dialog (the review stays). */
async function pickZipFile(r) {
  try {
    // Called first thing in the click handler: the picker needs the user's gesture.
    const handle = await window.showSaveFilePicker({
      suggestedName: `capture-${r.exportDate}.zip`,
      types: [{ description: 'Zip', accept: { 'application/zip': ['.zip'] } }],
    });
    r.savedName = handle.name;
    return handle;
  } catch (err) {
    if (err?.name === 'AbortError') return undefined;
    showMessage('warn', t('saveFailed', { message: errorText(err) }));
    return null;
  }
}

/** Write: the user confirmed the review. */
export async function confirmRun() {
  const r = state.running;
  if (!r || r.phase !== 'review') return;
  let handle = null;
  if (saveMode() === 'disk') {
    handle = await pickZipFile(r);
    if (handle === undefined || state.running !== r || r.phase !== 'review') return;
  }
  r.phase = 'export';
  r.phaseStarted = performance.now();
  el.review.hidden = true;
  // Without a file chosen, the worker writes the zip to this private file (when it can).
  r.scratch = handle ? null : `export-${randomHex(8)}.zip`;
  state.active.worker.postMessage(protocol.confirm({
    handle, profiles: editedProfiles(), scratch: r.scratch, mapping: el.mappingKeep.checked,
    pixelAccepted: acceptedPixels(), faceChoices: faceChoices(),
  }));
  setStatus(t('phaseExport'));
  announce(t('phaseExport'));
  updateControls();
  el.cancel.focus();
}

export function cancelRun() {
  if (!state.running) return;
  const scratch = state.running.scratch;
  state.running = null;
  replaceActive();
  removeScratch(scratch);
  clearResults();
  setStatus(t('cancelled'));
  announce(t('cancelled'));
  updateControls();
  el.run.focus();
}

/** A 'done' message of the worker (protocol.js): offer the downloads and show the report. */
export function onDone(msg) {
  const shown = performance.now();
  const r = state.running;
  state.running = null;
  clearReview();
  // For tests and support: the worker's peak wasm memory, where its time went (ms), and this
  // page's JS heap (Chromium).
  el.report.dataset.wasmMemory = msg.wasmMemory ?? '';
  el.report.dataset.timing = JSON.stringify(msg.timing ?? {});
  el.report.dataset.jsHeap = performance.memory?.usedJSHeapSize ?? '';
  setProgress(1, 1);
  const name = r.savedName || `capture-${r.exportDate}.zip`;
  showDoneStatus(r, msg, name);
  offerDownloads(r, msg, name);
  renderReport(msg.report);
  updateControls();
  announce(t('doneAnnounce'));
  (msg.zip ? el.download : el.downloadReport).focus();
  // ms this page spent showing the result (make bench prints it with the worker's timing).
  el.report.dataset.timing = JSON.stringify({ ...msg.timing, page: performance.now() - shown });
}

function showDoneStatus(r, { saved, report }, name) {
  const seconds = (performance.now() - r.started) / 1000;
  const c = report.counts || {};
  setStatus(t(saved ? 'savedStatus' : 'doneStatus', {
    time: fmtDuration(seconds),
    exported: tp('files', c.exported || 0),
    skipped: fmtInt((c.skipped || 0) + (c.quarantined || 0)),
    inputs: tp('files', c.inputs || 0),
    name,
  }));
  if (!c.exported) showMessage('warn', t('nothingExported'));
}

function offerDownloads(r, { zip, size, scratch, report, mapping }, name) {
  if (zip) {
    state.offered = scratch || null;
    offer('zip', el.download, zip, name, t('download', { name, size: fmtSize(size ?? zip.size) }));
  }
  const json = new Blob([JSON.stringify(report, null, 2) + '\n'], { type: 'application/json' });
  offer('report', el.downloadReport, json, `capture-${r.exportDate}-report.json`, t('downloadReport'));
  if (mapping) {
    offer('mapping', el.downloadMapping, mapping, `capture-${r.exportDate}-mapping.zip`, t('downloadMapping'));
  }
}

function offer(key, a, blob, name, text) {
  state.urls[key] = URL.createObjectURL(blob);
  a.href = state.urls[key];
  a.download = name;
  a.textContent = text;
  a.hidden = false;
}

/** An 'error' message of the worker during a run (protocol.js). */
export function onRunError(msg) {
  removeScratch(state.running?.scratch);
  state.running = null;
  showMessage('error', msg.file
    ? t(msg.code === 'engine-stopped' ? 'engineStopped' : 'fileError', { file: msg.file, message: msg.message })
    : t('generalError', { message: msg.message }));
  setStatus(t('failedStatus'));
  announce(t('failedStatus'));
  el.progress.value = 0;
  // The wasm may be in a bad state after an error: continue with a fresh worker.
  replaceActive();
}

function clearResults() {
  for (const k of Object.keys(state.urls)) {
    if (state.urls[k]) URL.revokeObjectURL(state.urls[k]);
    state.urls[k] = null;
  }
  removeScratch(state.offered);
  state.offered = null;
  for (const a of [el.download, el.downloadReport, el.downloadMapping]) {
    a.hidden = true;
    a.removeAttribute('href');
    a.textContent = '';
  }
  el.messages.replaceChildren();
  clearReport();
  clearReview();
  setProgress(0, 1);
}

// The download link's zip may live in a file of the origin's private file system: remove it
// once it is no longer offered. Just after a worker was stopped, its lock may still hold: retry.
async function removeScratch(name, retries = 3) {
  if (!name || !navigator.storage?.getDirectory) return;
  try {
    await (await navigator.storage.getDirectory()).removeEntry(name);
  } catch (err) {
    if (err?.name !== 'NotFoundError' && retries > 0) setTimeout(() => removeScratch(name, retries - 1), 1000);
  }
}

/** Removes the exports left by tabs closed a day ago or more (a tab still offering one keeps it). */
export async function sweepScratch() {
  try {
    const dir = await navigator.storage.getDirectory();
    for await (const [name, handle] of dir.entries()) {
      if (!/^export-.*\.zip$/.test(name) || handle.kind !== 'file') continue;
      const file = await handle.getFile();
      if (Date.now() - file.lastModified > 24 * 3600 * 1000) removeScratch(name, 0);
    }
  } catch { /* no private file system: nothing to sweep */ }
}
