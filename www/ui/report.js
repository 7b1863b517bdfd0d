// The report after the export: counts, the output audit, the visits, the EHR tables and their
// linkage to the images, and the outcome of every input.
import { $, el, cell, fragment, outcomeRow } from '../dom.js';
import { t, tp, fmtInt, fmtSize, outcomeWord, reasonText } from '../i18n.js';
import { state } from '../state.js';
import { nearMissLines } from './review.js';

// The table of every input's outcome is filled this many rows at a time, the next ones in a
// later task, so that the result and the download link show at once on a large study.
const OUTCOME_ROWS = 500;

export function clearReport() {
  el.report.hidden = true;
  el.visits.replaceChildren();
  state.outcomeRows = null;
  el.outcomes.replaceChildren();
  el.reportCounts.textContent = '';
  el.reportAudit.textContent = '';
  state.lastReport = null;
}

/** Shows `report` (WebJob.report()) in the page's language. */
export function renderReport(report) {
  state.lastReport = report;
  const visits = report.visits || [];
  showCounts(report, visits.length);
  el.visits.replaceChildren(visitRows(visits));
  el.outcomes.replaceChildren();
  appendOutcomes(state.outcomeRows = { files: report.files || [] }, 0);
  renderTablesReport(report);
  el.report.hidden = false;
}

function showCounts(report, visits) {
  const c = report.counts || {};
  el.reportCounts.textContent = t('reportCounts', {
    inputs: tp('files', c.inputs || 0),
    exported: tp('files', c.exported || 0),
    visits: tp('visits', visits),
    skipped: fmtInt(c.skipped || 0),
    quarantined: fmtInt(c.quarantined || 0),
  });
  const audit = report.audit || { files: 0, heldBack: 0 };
  el.reportAudit.textContent = t(audit.heldBack ? 'reportAuditHeld' : 'reportAuditClean', {
    files: tp('files', audit.files || 0),
    held: fmtInt(audit.heldBack || 0),
  });
}

function visitRows(visits) {
  const rows = visits.map((v) => {
    const tr = document.createElement('tr');
    cell(tr, v.patientResearchId ?? '', 'id');
    cell(tr, v.scanResearchId ?? '', 'id');
    cell(tr, fmtInt(v.series ?? 0), 'num');
    cell(tr, fmtInt(v.files ?? 0), 'num');
    return tr;
  });
  if (!visits.length) {
    const tr = document.createElement('tr');
    cell(tr, t('noVisits')).colSpan = 4;
    rows.push(tr);
  }
  return fragment(rows);
}

// `rows` is the filling under way (state.outcomeRows); another one (or none) stops it.
function appendOutcomes(rows, from) {
  if (state.outcomeRows !== rows) return;
  const { files } = rows;
  el.outcomes.append(fragment(files.slice(from, from + OUTCOME_ROWS).map((f) => {
    const tr = outcomeRow(f.name, f.outcome);
    cell(tr, typeof f.size === 'number' ? fmtSize(f.size) : '', 'num');
    cell(tr, outcomeText(f), 'outcome');
    return tr;
  })));
  if (from + OUTCOME_ROWS < files.length) setTimeout(() => appendOutcomes(rows, from + OUTCOME_ROWS), 0);
}

function outcomeText(f) {
  if (f.outcome === 'exported' && f.path) return t('outcomeExported', { path: f.path });
  const reason = reasonText(f);
  return reason ? t('outcomeOther', { outcome: outcomeWord(f.outcome), reason }) : outcomeWord(f.outcome);
}

/** The EHR tables after the export: how they link to the images, and each k-anonymity warning. */
function renderTablesReport(report) {
  const tables = report.tables || [];
  const l = report.linkage;
  $('report-tables-block').hidden = !tables.length && !l;
  showLinkage(l);
  $('report-tables').replaceChildren(fragment(tables.map((tb) => {
    const li = document.createElement('li');
    const name = tb.sheet ? t('tableSheet', { name: tb.name, sheet: tb.sheet }) : tb.name;
    li.textContent = t('reportTable', { name, rows: tp('rows', tb.rows || 0), path: tb.path || t('notExported') });
    const k = tb.kAnonymity;
    if (k && k.warning) {
      const w = document.createElement('p');
      w.className = 'msg msg-warn k-warning';
      w.textContent = t('kWarning', { k: k.k, min: 5, columns: (k.columns || []).join(', ') });
      li.append(w);
    }
    li.append(...nearMissLines(tb), ...unlinkedLines(tb, l));
    return li;
  })));
}

function showLinkage(l) {
  const linkage = $('report-linkage');
  linkage.textContent = '';
  if (!l) return;
  const n = (side) => side?.count || 0;
  // For the tests: the counts as numbers.
  Object.assign(linkage.dataset, {
    both: n(l.both), tablesOnly: n(l.tablesOnly), imagesOnly: n(l.imagesOnly),
    visitValues: l.visitValues || 0, visitValuesMatched: l.visitValuesMatched || 0,
  });
  linkage.textContent = t('linkage', {
    both: tp('patients', n(l.both)), tablesOnly: tp('patients', n(l.tablesOnly)),
    imagesOnly: tp('patients', n(l.imagesOnly)),
  }) + (l.visitValues ? ' ' + t('linkageVisits', {
    matched: fmtInt(l.visitValuesMatched || 0), values: fmtInt(l.visitValues),
  }) : '');
}

/** The rows of one exported table that link to no image, and those without an ID (by number). */
function unlinkedLines(tb, linkage) {
  const rows = (linkage?.tables || []).find((x) => x.path === tb.path);
  if (!tb.path || !rows) return [];
  const lines = [['unlinkedRows', rows.unlinkedRows], ['rowsWithoutId', rows.rowsWithoutPatientId]];
  return lines.filter(([, r]) => r && r.count).map(([key, r]) => {
    const p = document.createElement('p');
    p.className = `msg ${key === 'unlinkedRows' ? 'unlinked-rows' : 'rows-without-id'}`;
    p.dataset.count = r.count;
    p.textContent = t(key, { table: tb.name, rows: tp('rows', r.count), list: rowList(r) });
    return p;
  });
}

/** Row ranges [[first, last], …] as `1, 4-5`, at most 20 ranges. */
function rowList(rows) {
  const ranges = (rows?.ranges || []).slice(0, 20).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  return ranges.join(', ') + ((rows?.ranges || []).length > 20 ? ', …' : '');
}
