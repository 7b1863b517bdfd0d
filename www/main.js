// The page's entry point (index.html): sets the language, wires the controls and starts the
// anonymiser's worker. The page only handles the screen: the wasm runs in worker.js.
import { $, el, setStatus } from './dom.js';
import { applyStrings, pickLanguage, setLanguage, storeLanguage, t } from './i18n.js';
import { state } from './state.js';
import { updateControls } from './ui/controls.js';
import { renderReport } from './ui/report.js';
import { downloadReidTable } from './ui/review.js';
import { cancelRun, confirmRun, startRun, sweepScratch } from './ui/run.js';
import { generateKeyFile, loadKeyFile, rememberSecret, restoreSecret, toggleSecret } from './ui/secret.js';
import { clearSelection, setupDropzone, updateSelection } from './ui/selection.js';
import { exportSettings, forgetPixelRules, importSettings, loadPixelRules, restoreSettings, settingControls, showPixelRules,
  storeSettings } from './ui/settings.js';
import { showStartFailure, spawnWorker } from './ui/workers.js';

/** The language switch: remembered in this browser; the page's text follows at once. */
function changeLanguage() {
  setLanguage($('lang').value);
  storeLanguage();
  applyStrings();
  updateSelection();
  showPixelRules();
  if (state.lastReport) renderReport(state.lastReport);
  else if (!state.running && state.active?.ready) setStatus(t('readyStatus'));
}

function wire() {
  el.files.addEventListener('change', updateSelection);
  el.folder.addEventListener('change', updateSelection);
  el.clear.addEventListener('click', clearSelection);
  el.secretToggle.addEventListener('click', toggleSecret);
  el.run.addEventListener('click', startRun);
  el.cancel.addEventListener('click', cancelRun);
  el.confirm.addEventListener('click', confirmRun);
  el.reviewCancel.addEventListener('click', cancelRun);
  el.reid.addEventListener('click', downloadReidTable);
  $('lang').addEventListener('change', changeLanguage);
  $('secret-generate').addEventListener('click', generateKeyFile);
  $('secret-file').addEventListener('change', loadKeyFile);
  $('secret-remember').addEventListener('change', rememberSecret);
  el.secret.addEventListener('change', rememberSecret);
  for (const c of settingControls()) c.addEventListener('change', storeSettings);
  $('settings-export').addEventListener('click', exportSettings);
  $('settings-import').addEventListener('change', importSettings);
  $('pixel-rules-file').addEventListener('change', loadPixelRules);
  $('pixel-rules-forget').addEventListener('click', forgetPixelRules);
  window.addEventListener('beforeunload', (ev) => {
    if (state.running) { ev.preventDefault(); ev.returnValue = t('leaveWarning'); }
  });
}

function init() {
  setLanguage(pickLanguage());
  applyStrings();
  setStatus(t('loading'));
  updateSelection();
  wire();
  restoreSettings();
  restoreSecret();
  setupDropzone();
  state.active = spawnWorker();
  sweepScratch();
  if (state.active.error) showStartFailure(state.active.error);
  updateControls();
}

init();
