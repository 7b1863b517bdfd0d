// Step 2, the settings: remembered in this browser, saved to and loaded from one JSON file, and
// given to the worker as the wasm's `Settings`.
import { $, showMessage, downloadText } from '../dom.js';
import { t } from '../i18n.js';
import { errorText } from '../util.js';
import { storage } from './secret.js';

const STORE_SETTINGS = 'capture.settings';

/** The de-identification settings as the wasm's `Settings` reads them. */
export function deidSettings() {
  const checked = (name) => [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((o) => o.value);
  const settings = {
    format: document.querySelector('input[name="format"]:checked')?.value || 'dicom',
    preset: $('preset').value,
    options: checked('option'),
    visitBy: $('visit-by').value,
    patientIdNormalise: checked('patient-id-normalise'),
    includeQuarantined: $('include-quarantined').checked,
    readyMarker: $('ready-marker').checked,
    yearFolder: $('year-folder').checked,
    niftiGzip: $('nifti-gzip').checked,
  };
  const dates = $('dates').value;
  if (dates) settings.dates = dates;
  return settings;
}

export function settingControls() {
  return [...document.querySelectorAll('#deid-settings select, #deid-settings input, #layout-settings input, #save-mode, input[name="format"]')];
}

function currentSettings() {
  const out = { version: 1 };
  for (const c of settingControls()) {
    if (c.type === 'radio') { if (c.checked) out[c.name] = c.value; }
    else if (c.type === 'checkbox') out[c.id] = c.checked;
    else out[c.id] = c.value;
  }
  return out;
}

function applySettings(settings) {
  for (const c of settingControls()) {
    if (c.type === 'radio') {
      if (c.name in settings) c.checked = settings[c.name] === c.value && !c.disabled;
    } else if (c.type === 'checkbox') {
      if (typeof settings[c.id] === 'boolean') c.checked = settings[c.id];
    } else if (typeof settings[c.id] === 'string' && [...(c.options || [])].some((o) => o.value === settings[c.id])) {
      c.value = settings[c.id];
    }
  }
  if (!document.querySelector('input[name="format"]:checked')) $('format-dicom').checked = true;
}

export function storeSettings() {
  storage()?.setItem(STORE_SETTINGS, JSON.stringify(currentSettings()));
}

export function restoreSettings() {
  try {
    const settings = JSON.parse(storage()?.getItem(STORE_SETTINGS) || 'null');
    if (settings) applySettings(settings);
  } catch { /* ignore a damaged entry */ }
}

export function exportSettings() {
  downloadText('capture-settings.json', JSON.stringify(currentSettings(), null, 2) + '\n', 'application/json');
}

export async function importSettings() {
  const input = $('settings-import');
  const file = input.files[0];
  if (!file) return;
  try {
    const settings = JSON.parse(await file.text());
    if (!settings || typeof settings !== 'object') throw new Error('not a settings object');
    applySettings(settings);
    storeSettings();
    showMessage('info', t('settingsLoaded', { name: file.name }));
  } catch (err) {
    showMessage('error', t('settingsFailed', { message: errorText(err) }));
  }
  input.value = '';
}
