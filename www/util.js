// Small helpers of the page that touch neither the DOM nor the text.

/** Today in LOCAL time as YYYYMMDD. */
export function localDate(d = new Date()) {
  return String(d.getFullYear()).padStart(4, '0') + String(d.getMonth() + 1).padStart(2, '0')
    + String(d.getDate()).padStart(2, '0');
}

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An error's message for the user. */
export function errorText(err) {
  return err?.message || String(err);
}
