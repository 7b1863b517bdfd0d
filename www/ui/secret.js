// Step 2, the site secret: passphrase, key file, new key file, optional memory in this browser.
import { $, el, showMessage, downloadText } from '../dom.js';
import { t } from '../i18n.js';
import { errorText, localDate, randomHex } from '../util.js';

const STORE_SECRET = 'capture.secret';

export function storage() {
  try { return window.localStorage; } catch { return null; }
}

/** 256 random bits as RFC 4648 base32 (52 characters, no padding). */
function newKey() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bits = 0, value = 0, out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) { out += alphabet[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function setSecret(value) {
  el.secret.value = value;
  rememberSecret();
}

export function rememberSecret() {
  const store = storage();
  if (!store) return;
  if ($('secret-remember').checked && el.secret.value) store.setItem(STORE_SECRET, el.secret.value);
  else store.removeItem(STORE_SECRET);
}

export function restoreSecret() {
  const secret = storage()?.getItem(STORE_SECRET);
  if (secret) {
    el.secret.value = secret;
    $('secret-remember').checked = true;
  }
}

export function generateKeyFile() {
  const key = newKey();
  const name = `site-key-${localDate()}.key`;
  downloadText(name, key + '\n', 'text/plain');
  setSecret(key);
  showMessage('warn', t('secretGenerated', { name }));
}

export async function loadKeyFile() {
  const file = $('secret-file').files[0];
  if (!file) return;
  try {
    // As the CLI's --secret-file: the file's text, trailing line breaks ignored.
    setSecret((await file.text()).replace(/[\r\n]+$/, ''));
    showMessage('info', t('secretLoaded', { name: file.name }));
  } catch (err) {
    showMessage('error', t('secretFileFailed', { message: errorText(err) }));
  }
  $('secret-file').value = '';
}

export function toggleSecret() {
  const show = el.secret.type === 'password';
  el.secret.type = show ? 'text' : 'password';
  el.secretToggle.setAttribute('aria-pressed', String(show));
}

/** The passphrase for a run; a random one (and a warning) when none was entered. */
export function secretForRun() {
  if (el.secret.value !== '') return el.secret.value;
  showMessage('warn', t('randomSecret'));
  return randomHex(32);
}
