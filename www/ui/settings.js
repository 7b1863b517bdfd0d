// Step 2, the settings: remembered in this browser, saved to and loaded from one JSON file, and
// given to the worker as the wasm's `Settings`. The site's pixel rules (the Clean Pixel Data
// option's rule file, state.pixelRules) are kept with them.
import { $, showMessage, downloadText } from '../dom.js';
import { t, tp } from '../i18n.js';
import { state } from '../state.js';
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
  if (state.pixelRules) settings.pixelRules = state.pixelRules;
  // The page's review accepts the boxes of images no pixel rule matches (the core holds them
  // back until then).
  settings.pixelReview = true;
  return settings;
}

export function settingControls() {
  return [...document.querySelectorAll('#deid-settings select, #deid-settings input:not([type="file"]), #layout-settings input, #save-mode, input[name="format"]')];
}

function currentSettings() {
  const out = { version: 1 };
  for (const c of settingControls()) {
    if (c.type === 'radio') { if (c.checked) out[c.name] = c.value; }
    else if (c.type === 'checkbox') out[c.id] = c.checked;
    else out[c.id] = c.value;
  }
  if (state.pixelRules) out.pixelRules = state.pixelRules;
  return out;
}

/** Applies a settings object (stored, or a settings file); throws, changing nothing, when its
 *  pixel rules are not a rule file. */
function applySettings(settings) {
  const problem = settings.pixelRules == null ? null : rulesProblem(settings.pixelRules);
  if (problem) throw new Error(t('pixelRulesInSettings', { message: problem }));
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
  if ('pixelRules' in settings) setPixelRules(settings.pixelRules ?? null);
}

export function storeSettings() {
  storage()?.setItem(STORE_SETTINGS, JSON.stringify(currentSettings()));
}

export function restoreSettings() {
  try {
    const settings = JSON.parse(storage()?.getItem(STORE_SETTINGS) || 'null');
    if (settings) applySettings(settings);
  } catch { /* ignore a damaged entry */ }
  showPixelRules();
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

// A box of a rule: whole image pixels, not empty.
const isBox = (b) => b && typeof b === 'object' && ['x', 'y', 'width', 'height'].every((k) => Number.isInteger(b[k]) && b[k] >= 0)
  && b.width > 0 && b.height > 0;
// The keys of a rule and of its match (crate/core/src/redact/rules.rs refuses others).
const RULE_KEYS = ['name', 'source', 'match', 'boxes'];
const MATCH_KEYS = ['modality', 'manufacturer', 'model', 'sopClass', 'rows', 'columns', 'imageType'];
const only = (o, keys) => Object.keys(o).every((k) => keys.includes(k));

/** Whether `r` is a rule the core reads: a name, a match of known keys, at least one box. */
function isRule(r) {
  if (!r || typeof r !== 'object' || Array.isArray(r) || !only(r, RULE_KEYS) || typeof r.name !== 'string') return false;
  const m = r.match ?? {};
  return typeof m === 'object' && !Array.isArray(m) && only(m, MATCH_KEYS)
    && Array.isArray(r.boxes) && r.boxes.length > 0 && r.boxes.every(isBox);
}

/** What is wrong with a pixel rule file's content (the CLI's `--pixel-rules`), in the page's
 *  language, or null when it is a rule file: `{rules: [{name, source?, match, boxes}]}`. */
export function rulesProblem(rules) {
  if (!rules || typeof rules !== 'object' || !Array.isArray(rules.rules)) return t('pixelRulesNoList');
  const bad = rules.rules.findIndex((r) => !isRule(r));
  return bad < 0 ? null : t('pixelRulesBadRule', { n: bad + 1 });
}

/** The site's pixel rules become `rules` (or none): shown, and stored with the settings. */
export function setPixelRules(rules) {
  state.pixelRules = rules;
  showPixelRules();
}

/** The pixel rules' line of step 2: how many are loaded (or the load's error, `error`). */
export function showPixelRules(error = null) {
  const status = $('pixel-rules-status');
  const n = state.pixelRules?.rules.length;
  status.textContent = error || (n == null ? t('pixelRulesNone') : tp('pixelRulesLoaded', n));
  status.className = error ? 'msg msg-error' : 'hint';
  status.setAttribute('role', error ? 'alert' : 'status');
  $('pixel-rules-forget').hidden = n == null;
}

/** The pixel rules file input: a JSON rule file, checked, then kept with the settings. */
export async function loadPixelRules() {
  const input = $('pixel-rules-file');
  const file = input.files[0];
  if (!file) return;
  let problem;
  try {
    const rules = JSON.parse(await file.text());
    problem = rulesProblem(rules);
    if (!problem) setPixelRules(rules);
  } catch (err) {
    problem = errorText(err);
  }
  if (problem) showPixelRules(t('pixelRulesFailed', { name: file.name, message: problem }));
  else storeSettings();
  input.value = '';
}

export function forgetPixelRules() {
  setPixelRules(null);
  storeSettings();
}

// Two rule matches are the same when every key has the same value.
function sameMatch(a = {}, b = {}) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/** Adds `rule` to the site's pixel rules (in place of a rule with the same match) and stores it. */
export function savePixelRule(rule) {
  const rules = (state.pixelRules?.rules || []).filter((r) => !sameMatch(r.match, rule.match));
  setPixelRules({ ...(state.pixelRules || {}), rules: [...rules, rule] });
  storeSettings();
}
