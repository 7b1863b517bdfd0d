// The page's languages: text lookup (t, tp), number and size formats, and the reasons a file
// is left out. The text itself is in i18n/<lang>.js, one module per language.
import * as en from './i18n/en.js';
import * as fr from './i18n/fr.js';
import { state } from './state.js';

const LANGUAGES = { en, fr };
const STORE_LANG = 'capture.lang';

// For the tests' check that every language has every key (webdriver/tests/i18n.rs).
globalThis.captureStrings = Object.fromEntries(Object.entries(LANGUAGES).map(([l, m]) => [l, m.strings]));
globalThis.captureReasons = Object.fromEntries(Object.entries(LANGUAGES).map(([l, m]) => [l, m.reasons]));

export function setLanguage(lang) {
  const code = LANGUAGES[lang] ? lang : 'en';
  state.locale = {
    lang: code,
    strings: LANGUAGES[code].strings,
    reasons: LANGUAGES[code].reasons,
    plural: new Intl.PluralRules(code),
    num1: new Intl.NumberFormat(code, { minimumFractionDigits: 1, maximumFractionDigits: 1 }),
    int: new Intl.NumberFormat(code),
  };
}

/** The language chosen on this computer before, else the browser's. */
export function pickLanguage() {
  let stored = null;
  try { stored = window.localStorage.getItem(STORE_LANG); } catch { /* no storage */ }
  const wanted = [stored, ...(navigator.languages || []), navigator.language];
  for (const l of wanted) {
    const base = String(l || '').toLowerCase().split('-')[0];
    if (LANGUAGES[base]) return base;
  }
  return 'en';
}

/** Remembers the language in this browser. */
export function storeLanguage() {
  try { window.localStorage.setItem(STORE_LANG, state.locale.lang); } catch { /* no storage */ }
}

/** Translate `key`, replacing {name} placeholders; plural entries choose by params.n. */
export function t(key, params = {}) {
  const { strings, plural } = state.locale;
  let s = strings[key];
  if (s && typeof s === 'object') s = s[plural.select(params.n)] || s.other;
  if (typeof s !== 'string') return key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

/** Plural entry `key` for the number n, e.g. tp('files', 3) → "3 files". */
export function tp(key, n) {
  const { strings, plural, int } = state.locale;
  const forms = strings[key];
  const s = forms[plural.select(n)] || forms.other;
  return s.replace('{n}', int.format(n));
}

/** Fills every data-i18n element under `root` and sets the page's language. */
export function applyStrings(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.documentElement.lang = state.locale.lang;
  const select = document.getElementById('lang');
  if (select) select.value = state.locale.lang;
}

export function fmtInt(n) { return state.locale.int.format(n); }

const MB = 1e6;
export function fmtMB(bytes) { return state.locale.num1.format(bytes / MB); }

export function fmtSize(bytes) {
  const { strings: { bytes: u }, int, num1 } = state.locale;
  if (bytes < 1e3) return u.B.replace('{n}', int.format(bytes));
  if (bytes < 1e6) return u.kB.replace('{n}', num1.format(bytes / 1e3));
  if (bytes < 1e9) return u.MB.replace('{n}', num1.format(bytes / 1e6));
  return u.GB.replace('{n}', num1.format(bytes / 1e9));
}

export function fmtDuration(seconds) {
  const u = state.locale.strings.units;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return u.s.replace('{n}', s);
  const m = Math.floor(s / 60);
  if (m < 60) return `${u.min.replace('{n}', m)} ${u.s.replace('{n}', String(s % 60).padStart(2, '0'))}`;
  return `${u.h.replace('{n}', Math.floor(m / 60))} ${u.min.replace('{n}', String(m % 60).padStart(2, '0'))}`;
}

/** 'skipped' / 'quarantined' in the page's language. */
export function outcomeWord(outcome) {
  const key = { skipped: 'outcomeSkipped', quarantined: 'outcomeQuarantined' }[outcome];
  return key ? t(key) : String(outcome);
}

/** Why a file is left out (a report row's `code`): in English the core's own words (as the CLI
 *  prints them); in other languages the text of its code, then its untranslated detail (a
 *  parser's message, a name). */
export function reasonText(x) {
  const { lang, reasons } = state.locale;
  const text = x.code && Object.hasOwn(reasons, x.code) ? reasons[x.code] : undefined;
  if (lang === 'en' || !text) return x.reason || '';
  return x.detail ? `${text} (${x.detail})` : text;
}
