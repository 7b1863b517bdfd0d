// The page's state, in one object: the UI modules read and change it here rather than keeping
// variables of their own, so that what the page knows at any time is listed in one place.

export const state = {
  // The language and its formatters (i18n.js setLanguage).
  locale: { lang: 'en', strings: null, reasons: null, plural: null, num1: null, int: null },
  // Items dropped on the drop zone, {file, name} (the pickers hold their own files).
  dropped: [],
  // Workers: `active` runs the exports; `spare` is started in advance (once `active` is ready)
  // so that Cancel can switch to a loaded worker even if the web server is gone by then.
  // Each is {worker, ready, error}.
  active: null,
  spare: null,
  // The export under way, else null: {exportDate, started, scanTotal, facesTotal?, exportTotal,
  // phase, phaseStarted, last, savedName?, scratch?} (facesTotal: the bytes the head scans'
  // face removal read again, on the bar between the scan and the export).
  running: null,
  // A progress frame is already requested (progress messages come faster than frames).
  renderQueued: false,
  // Object URLs of the offered downloads, revoked when the results are cleared.
  urls: { zip: null, report: null, mapping: null },
  // The private file (worker/sink.js openScratch) behind the download link, if any.
  offered: null,
  // The worker's review: it holds original IDs (for the screen and the re-identification
  // table only).
  reviewData: null,
  // Per table of the review: {input, profile, edited}.
  reviewTables: [],
  // The site's pixel rules (the Clean Pixel Data option's rule file, {rules: [...]}), or null:
  // kept with the settings (ui/settings.js), sent to the worker as `pixelRules`.
  pixelRules: null,
  // The review's pixel series (ui/pixels.js), one per series the option would clean:
  // {key, info (the review's entry), boxes (image pixels), selected (index or -1), accepted,
  // edited, drag}.
  pixels: [],
  // The review's head scans (ui/faces.js), one per scan whose face the Clean Recognizable
  // Visual Features option removes: {key, info (the review's entry), remove (the user's
  // choice), view}.
  faces: [],
  // The last report, shown again in the other language when the language changes.
  lastReport: null,
  // The filling of the outcome table under way (ui/report.js appendOutcomes); replacing it
  // stops the previous one.
  outcomeRows: null,
};
