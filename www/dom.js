// The page's elements and the small DOM helpers the UI modules share.

export const $ = (id) => document.getElementById(id);

// Looked up once: the modules are evaluated after the document is parsed (type="module").
export const el = {
  files: $('files'), folder: $('folder'), dropzone: $('dropzone'), clear: $('clear'),
  selection: $('selection-summary'), secret: $('secret'), secretToggle: $('secret-toggle'),
  run: $('run'), cancel: $('cancel'), progress: $('progress'), status: $('status'),
  announce: $('announce'), messages: $('messages'), download: $('download'),
  downloadReport: $('download-report'), report: $('report'), reportCounts: $('report-counts'), reportAudit: $('report-audit'),
  downloadMapping: $('download-mapping'), mappingKeep: $('mapping-keep'),
  visits: document.querySelector('#visits tbody'), outcomes: document.querySelector('#file-outcomes tbody'),
  review: $('review'), reviewCounts: $('review-counts'), reviewDescription: $('review-description'),
  confirm: $('confirm'), reviewCancel: $('review-cancel'), reid: $('reid'),
  reviewPatients: $('review-patients'), reviewTables: $('review-tables'),
  reviewTablesBlock: $('review-tables-block'), reviewExcludedBlock: $('review-excluded-block'),
  reviewExcluded: document.querySelector('#review-excluded tbody'), saveMode: $('save-mode'),
};

export function setStatus(text) { el.status.textContent = text; }

export function announce(text) { el.announce.textContent = text; }

export function showMessage(kind, text) {
  const p = document.createElement('p');
  p.className = `msg msg-${kind}`;
  if (kind === 'error') p.setAttribute('role', 'alert');
  p.textContent = text;
  el.messages.append(p);
  return p;
}

/** A paragraph of class `className` holding `text`. */
export function para(className, text) {
  const p = document.createElement('p');
  p.className = className;
  p.textContent = text;
  return p;
}

/** `nodes` in one fragment (spread arguments have a limit; a review may list thousands). */
export function fragment(nodes) {
  const frag = document.createDocumentFragment();
  for (const node of nodes) frag.append(node);
  return frag;
}

/** Appends a cell of `text` to the table row `row`. */
export function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

/** A scrollable table: `headers` [[text, class?]], `rows` [[[text, class?], …]]. */
export function table(headers, rows) {
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  const tableEl = document.createElement('table');
  const thead = tableEl.createTHead().insertRow();
  for (const [text, cls] of headers) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    if (cls) th.className = cls;
    thead.append(th);
  }
  const tbody = tableEl.createTBody();
  for (const row of rows) {
    const tr = tbody.insertRow();
    for (const [text, cls] of row) cell(tr, text, cls);
  }
  wrap.append(tableEl);
  return wrap;
}

/** A table row headed by a file name: `<tr class="outcome-…"><th scope="row">name</th>`. */
export function outcomeRow(name, outcome) {
  const tr = document.createElement('tr');
  tr.className = `outcome-${String(outcome).replace(/[^a-z]/g, '')}`;
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = name;
  tr.append(th);
  return tr;
}

/** Offers `text` as a download named `name`, at once. */
export function downloadText(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
