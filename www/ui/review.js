// The review: after the scan and the plan, before anything is written. What the export will
// hold per patient and visit, the rules of each EHR table's columns (the user may change them),
// and the files left out.
import { el, cell, fragment, table, outcomeRow, setStatus, announce, downloadText } from '../dom.js';
import { t, tp, fmtInt, outcomeWord, reasonText } from '../i18n.js';
import { state } from '../state.js';
import { localDate } from '../util.js';
import { updateControls } from './controls.js';
import { clearFaces, showFaces } from './faces.js';
import { clearPixels, showPixels } from './pixels.js';
import { setProgress } from './progress.js';

// The column rules of the core (crate/core/src/table/mod.rs, Rule), as the review offers them.
const RULES = ['keep', 'drop', 'patient-id', 'visit', 'date', 'birth-date'];
const RULE_KEYS = { keep: 'ruleKeep', drop: 'ruleDrop', 'patient-id': 'rulePatientId', visit: 'ruleVisit',
  date: 'ruleDate', 'birth-date': 'ruleBirthDate' };

// The patient ID normalisations of the core (crate/core/src/patient_id.rs, Normalise).
const NORMALISE_KEYS = { 'leading-zeros': 'normLeadingZeros', case: 'normCase', separators: 'normSeparators' };

const COUNTS = ['patients', 'visits', 'series', 'images', 'tables', 'skipped', 'quarantined'];

export function clearReview() {
  state.reviewData = null;
  state.reviewTables = [];
  el.review.hidden = true;
  el.reviewCounts.textContent = '';
  for (const k of COUNTS) delete el.reviewCounts.dataset[k];
  el.reviewPatients.replaceChildren();
  el.reviewTables.replaceChildren();
  el.reviewExcluded.replaceChildren();
  clearPixels();
  clearFaces();
}

/** A 'review' message of the worker (protocol.js): show it and wait for the user. */
export function onReview({ review, tables, exportBytes, pixels, faces }) {
  const r = state.running;
  r.phase = 'review';
  r.exportTotal = exportBytes;
  state.reviewData = review;
  showCounts(review);
  el.reviewPatients.replaceChildren(fragment((review.patients || []).map(patientBlock)));
  showTables(tables || []);
  showExcluded(review.excluded || []);
  showPixels(pixels || []);
  showFaces(faces || []);
  const before = r.scanTotal + (r.facesTotal || 0);
  setProgress(before, Math.max(1, before + exportBytes));
  setStatus(t('phaseReview'));
  announce(t('phaseReview'));
  el.review.hidden = false;
  updateControls();
  el.review.focus();
}

function showCounts(review) {
  const c = review.counts || {};
  // For the tests: the counts as numbers.
  Object.assign(el.reviewCounts.dataset, Object.fromEntries(COUNTS.map((k) => [k, c[k]])));
  el.reviewCounts.textContent = t('reviewCounts', {
    patients: tp('patients', c.patients || 0),
    visits: tp('visits', c.visits || 0),
    series: tp('series', c.series || 0),
    images: tp('images', c.images || 0),
    tables: tp('tables', c.tables || 0),
    skipped: fmtInt(c.skipped || 0),
    quarantined: fmtInt(c.quarantined || 0),
  });
  const descKey = { kept: 'descKept', cleaned: 'descCleaned', removed: 'descRemoved' }[review.descriptionAction]
    || 'descReplaced';
  el.reviewDescription.textContent = t(descKey);
  el.reviewDescription.className = review.descriptionAction === 'kept' ? 'msg msg-warn' : 'msg';
}

/** One patient of the review: research and original IDs, then each visit's series. */
function patientBlock(p) {
  const block = document.createElement('div');
  block.className = 'review-patient';
  const h = document.createElement('h4');
  const id = document.createElement('span');
  id.className = 'id';
  id.textContent = t('reviewPatient', { id: p.patientResearchId });
  const orig = document.createElement('span');
  orig.className = 'original';
  orig.textContent = ` (${t('reviewOriginal', { id: p.originalPatientId || '—' })})`;
  h.append(id, orig);
  block.append(h);
  for (const v of p.visits || []) block.append(...visitLines(v));
  return block;
}

function visitLines(v) {
  const vh = document.createElement('p');
  vh.className = 'review-visit';
  vh.textContent = `${t('reviewVisit', { id: v.scanResearchId })}`
    + (v.studyDate ? ` · ${t('reviewStudyDate', { date: v.studyDate })}` : '')
    + ` · ${tp('images', v.images || 0)}`;
  const withNifti = (v.series || []).some((se) => (se.nifti || []).length);
  const headers = [[t('colSeriesNo'), 'num'], [t('colModality')], [t('colDescription')], [t('colImages'), 'num']];
  const series = table(
    withNifti ? [...headers, [t('colNifti')]] : headers,
    (v.series || []).map((se) => {
      const row = [
        [se.seriesNumber == null ? '' : String(se.seriesNumber), 'num'],
        [se.modality || ''],
        [se.description || t('noDescription'), 'description'],
        [fmtInt(se.images || 0), 'num'],
      ];
      return withNifti ? [...row, [(se.nifti || []).map(volumeText).join('\n'), 'nifti']] : row;
    }),
  );
  return [vh, series];
}

/** One planned NIfTI volume as a researcher checks it: file, size, voxel, TR, time points, and
 *  its gradients (diffusion) or whether its slice timing is known (fMRI). */
export function volumeText(vol) {
  const num = (x) => String(Math.round(x * 100) / 100);
  const parts = [
    vol.file,
    (vol.dimensions || []).join(' × '),
    t('niftiVoxel', { size: (vol.voxelSize || []).map(num).join(' × ') }),
  ];
  if (vol.repetitionTime) parts.push(t('niftiTr', { tr: num(vol.repetitionTime) }));
  parts.push(tp('niftiVolumes', vol.volumes || 1));
  if (vol.diffusion) {
    parts.push(t('niftiDiffusion', { directions: tp('niftiDirections', vol.diffusion.directions || 0),
      b: (vol.diffusion.bValues || []).map(num).join(', ') }));
  } else if (vol.sliceTiming || (vol.volumes || 1) > 1) {
    parts.push(t(vol.sliceTiming ? 'niftiTimingKnown' : 'niftiTimingUnknown'));
  }
  if (vol.problem) parts.push(t('niftiProblem', { why: vol.problem }));
  return parts.join(' · ');
}

function showTables(tables) {
  // A workbook's sheets are tables of one input: ids take the table's index too.
  tables.forEach((tb, ti) => { tb.uid = `${tb.input}-${ti}`; });
  state.reviewTables = tables.map((tb) => ({ input: tb.input, profile: tb.profile, edited: false, hidden: !!tb.hidden, include: false }));
  el.reviewTables.replaceChildren(fragment(tables.map((tb, ti) => tableRulesBlock(tb, state.reviewTables[ti]))));
  el.reviewTablesBlock.hidden = !tables.length;
}

function showExcluded(excluded) {
  const rows = excluded.map((x) => {
    const tr = outcomeRow(x.name, x.outcome);
    cell(tr, outcomeWord(x.outcome), 'outcome');
    cell(tr, reasonText(x));
    return tr;
  });
  el.reviewExcluded.replaceChildren(fragment(rows));
  el.reviewExcludedBlock.hidden = !excluded.length;
}

/** A table's near misses (counts and options only, never an ID), as warnings. */
export function nearMissLines(tb) {
  return (tb.nearMisses || []).map((m) => {
    const p = document.createElement('p');
    p.className = 'msg msg-warn near-miss';
    p.dataset.options = (m.options || []).join(',');
    p.dataset.patientIds = m.patientIds || 0;
    p.textContent = t('nearMiss', {
      ids: tp('patientIds', m.patientIds || 0),
      options: (m.options || []).map((o) => t(NORMALISE_KEYS[o] || o)).join(' + '),
    });
    return p;
  });
}

/** One table of the review: its columns, each with a rule the user may change. `edits` is its
 *  entry of state.reviewTables: the profile sent with 'confirm' once edited. */
function tableRulesBlock(tb, edits) {
  const block = document.createElement('div');
  block.className = 'review-table';
  const h = document.createElement('h4');
  const name = tb.sheet ? t('tableSheet', { name: tb.name, sheet: tb.sheet }) : tb.name;
  h.textContent = t('reviewTable', { name, rows: tp('rows', tb.rows || 0) });
  block.append(h, ...nearMissLines(tb));
  if (tb.hidden) block.append(hiddenSheetChoice(tb, edits));
  const wrap = table([[t('colColumn')], [t('colRule')], [t('colExamples')], [t('colReason')]], []);
  const tbody = wrap.querySelector('tbody');
  (tb.columns || []).forEach((col, ci) => columnRow(tbody.insertRow(), tb, col, ci, edits));
  block.append(wrap);
  return block;
}

/** A hidden sheet's table: left out unless the user ticks it (its profile is then sent,
 *  which chooses it). */
function hiddenSheetChoice(tb, edits) {
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = `hidden-sheet-${tb.uid}`;
  box.className = 'hidden-sheet';
  box.dataset.table = tb.table;
  box.addEventListener('change', () => {
    edits.include = box.checked;
    edits.edited = edits.edited || box.checked;
  });
  const label = document.createElement('label');
  label.htmlFor = box.id;
  label.textContent = t('hiddenSheetInclude', { sheet: tb.sheet || tb.table });
  const p = document.createElement('p');
  p.className = 'warning';
  p.append(box, ' ', label);
  return p;
}

function columnRow(tr, tb, col, ci, edits) {
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = col.name;
  tr.append(th);
  const select = ruleSelect(tb, col, ci);
  // The profile entry of this column, created on the first change.
  const entry = () => {
    let e = edits.profile.columns.find((c) => c.name === col.name);
    if (!e) {
      e = { name: col.name, rule: select.value, quasiIdentifier: !!col.quasiIdentifier };
      edits.profile.columns.push(e);
    }
    return e;
  };
  select.addEventListener('change', () => {
    entry().rule = select.value;
    edits.edited = true;
  });
  const quasi = quasiCheckbox(tb, col, ci);
  quasi.addEventListener('change', () => {
    entry().quasiIdentifier = quasi.checked;
    edits.edited = true;
  });
  const quasiLabel = document.createElement('label');
  quasiLabel.htmlFor = quasi.id;
  quasiLabel.className = 'quasi-label';
  quasiLabel.textContent = t('quasiLabel');
  tr.insertCell().append(select, ' ', quasi, quasiLabel);
  cell(tr, (col.samples || []).slice(0, 3).join(' · '), 'samples');
  const reason = cell(tr, col.reason || '');
  if (col.dateReadings) {
    reason.append(dateOrderChoice(tb, col, ci, (order) => {
      entry().dateOrder = order;
      edits.edited = true;
    }));
  }
}

/** An ambiguous date column (every day and month 12 or less): one value read both ways and
 *  a choice of the order, saved in the table's profile (dateOrder). */
function dateOrderChoice(tb, col, ci, onChange) {
  const r = col.dateReadings;
  const box = document.createElement('div');
  box.className = 'date-order-choice';
  const text = document.createElement('p');
  text.className = 'warning';
  text.textContent = t('ambiguousDates', { sample: r.sample, dayFirst: r.dayFirst, monthFirst: r.monthFirst });
  const select = document.createElement('select');
  select.id = `date-order-${tb.uid}-${ci}`;
  select.className = 'date-order';
  select.dataset.column = col.name;
  select.setAttribute('aria-label', t('dateOrderFor', { column: col.name, table: tb.name }));
  for (const [order, key, reading] of [['day-first', 'dateDayFirst', r.dayFirst], ['month-first', 'dateMonthFirst', r.monthFirst]]) {
    const o = document.createElement('option');
    o.value = order;
    o.textContent = t(key, { reading });
    select.append(o);
  }
  select.value = col.dateOrder || 'day-first';
  select.addEventListener('change', () => onChange(select.value));
  box.append(text, select);
  return box;
}

function ruleSelect(tb, col, ci) {
  const select = document.createElement('select');
  select.id = `rule-${tb.uid}-${ci}`;
  select.className = 'rule';
  select.dataset.table = tb.table;
  select.dataset.column = col.name;
  select.setAttribute('aria-label', t('ruleFor', { column: col.name, table: tb.name }));
  for (const rule of RULES) {
    const o = document.createElement('option');
    o.value = rule;
    o.textContent = t(RULE_KEYS[rule]);
    select.append(o);
  }
  select.value = typeof col.rule === 'string' ? col.rule : 'drop';
  return select;
}

// Marked columns (sex, birth year, postcode...) are counted in the k-anonymity hint.
function quasiCheckbox(tb, col, ci) {
  const quasi = document.createElement('input');
  quasi.type = 'checkbox';
  quasi.id = `quasi-${tb.uid}-${ci}`;
  quasi.className = 'quasi';
  quasi.dataset.column = col.name;
  quasi.checked = !!col.quasiIdentifier;
  quasi.title = t('quasiFor', { column: col.name, table: tb.name });
  return quasi;
}

/** The table profiles the user changed, for 'confirm'. */
export function editedProfiles() {
  return state.reviewTables.filter((tb) => tb.edited && (!tb.hidden || tb.include)).map(({ input, profile }) => ({ input, profile }));
}

/** Original patient ID ↔ research IDs, as CSV, downloaded on the user's explicit request. */
export function downloadReidTable() {
  const review = state.reviewData;
  if (!review) return;
  const q = (v) => `"${String(v ?? '').replace(/"/g, '""')}"`;
  const lines = ['original_patient_id,patient_research_id,scan_research_id,study_date'];
  for (const p of review.patients || []) {
    for (const v of p.visits || []) {
      lines.push([p.originalPatientId, p.patientResearchId, v.scanResearchId, v.studyDate].map(q).join(','));
    }
  }
  const name = `reidentification-${state.running?.exportDate || localDate()}.csv`;
  downloadText(name, lines.join('\r\n') + '\r\n', 'text/csv');
}
