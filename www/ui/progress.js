// Step 3, the progress bar and line: one bar over both passes (the scan reads every input; the
// export, once planned, what it writes), redrawn at most once a frame.
import { el, setStatus, announce } from '../dom.js';
import { t, tp, fmtInt, fmtMB, fmtDuration } from '../i18n.js';
import { state } from '../state.js';

const PHASES = { scan: 'phaseScan', preview: 'phasePreview', faces: 'phaseFaces', export: 'phaseExport' };
const phaseText = (phase) => t(PHASES[phase] || 'phaseExport');

/** A 'progress' message of the worker (protocol.js). */
export function onProgress(msg) {
  const r = state.running;
  if (msg.phase !== r.phase) {
    r.phase = msg.phase;
    el.progress.dataset.phase = msg.phase;
    r.phaseStarted = performance.now();
    announce(phaseText(msg.phase));
  }
  if (msg.phase === 'export') r.exportTotal = msg.bytesTotal;
  if (msg.phase === 'faces') r.facesTotal = msg.bytesTotal;
  r.last = msg;
  if (!state.renderQueued) {
    state.renderQueued = true;
    requestAnimationFrame(renderProgress);
  }
}

function renderProgress() {
  state.renderQueued = false;
  const r = state.running;
  if (!r || !r.last) return;
  const m = r.last;
  const exportTotal = r.exportTotal ?? r.scanTotal; // before the plan: assume everything is exported
  // The head scans read again for their faces sit between the scan and the export.
  const faces = r.facesTotal || 0;
  const total = r.scanTotal + faces + exportTotal;
  // The previews' reads are not in the bar's total: the bar waits at the end of the scan.
  const done = { scan: m.bytesDone, preview: r.scanTotal, faces: r.scanTotal + m.bytesDone }[m.phase]
    ?? r.scanTotal + faces + m.bytesDone;
  el.progress.max = Math.max(1, total);
  el.progress.value = Math.min(done, total);
  const elapsed = (performance.now() - r.phaseStarted) / 1000;
  const rate = elapsed > 0 ? m.bytesDone / elapsed : 0;
  const left = elapsed >= 1 && rate > 0
    ? t('timeLeft', { time: fmtDuration((total - done) / rate) })
    : t('estimating');
  setStatus(t('progressLine', {
    phase: phaseText(m.phase),
    filesDone: fmtInt(m.filesDone),
    files: tp('files', m.filesTotal),
    mbDone: fmtMB(m.bytesDone),
    mbTotal: fmtMB(m.bytesTotal),
    rate: fmtMB(rate),
    left,
  }));
}

/** The bar's start and end. */
export function setProgress(value, max) {
  el.progress.max = max;
  el.progress.value = value;
}
