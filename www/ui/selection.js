// Step 1, the selection: files from the file picker, the folder picker and drops, each item
// {file, name} where name is the relative path given to the anonymiser.
import { el, showMessage } from '../dom.js';
import { t, tp, fmtSize } from '../i18n.js';
import { state } from '../state.js';
import { errorText } from '../util.js';
import { updateControls } from './controls.js';

export function selectedItems() {
  const items = [
    ...Array.from(el.files.files, (file) => ({ file, name: file.name })),
    ...Array.from(el.folder.files, (file) => ({ file, name: file.webkitRelativePath || file.name })),
    ...state.dropped,
  ];
  // No de-duplication by name, size or date: distinct files often share all three (IM0001 of
  // each series folder picked together). The same instance chosen twice is recognised by the
  // anonymiser (same SOP Instance UID) and reported as a duplicate, so nothing is lost silently.
  return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function updateSelection() {
  const items = selectedItems();
  const size = items.reduce((n, { file }) => n + file.size, 0);
  el.selection.textContent = items.length
    ? t('selSome', { files: tp('files', items.length), size: fmtSize(size) })
    : t('selNone');
  updateControls();
}

export function clearSelection() {
  el.files.value = '';
  el.folder.value = '';
  state.dropped.length = 0;
  updateSelection();
}

// Drag and drop, including folders (webkitGetAsEntry + readEntries until it returns nothing).
function entryFile(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walkEntry(entry, out) {
  if (entry.isFile) {
    out.push({ file: await entryFile(entry), name: entry.fullPath.replace(/^\/+/, '') });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    const children = [];
    for (let batch = await readBatch(reader); batch.length; batch = await readBatch(reader)) {
      children.push(...batch);
    }
    for (const child of children) await walkEntry(child, out);
  }
}

async function collectDrop(dataTransfer) {
  // Entries must be taken synchronously, before the first await (the DataTransfer expires).
  const items = Array.from(dataTransfer.items || []).filter((i) => i.kind === 'file');
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (!entries.length || !entries.every(Boolean)) {
    return Array.from(dataTransfer.files, (file) => ({ file, name: file.name }));
  }
  const out = [];
  for (const entry of entries) await walkEntry(entry, out);
  return out;
}

async function onDrop(ev) {
  if (state.running) return;
  try {
    for (const item of await collectDrop(ev.dataTransfer)) state.dropped.push(item);
  } catch (err) {
    showMessage('warn', t('dropFailed', { message: errorText(err) }));
  }
  updateSelection();
}

export function setupDropzone() {
  const zone = el.dropzone;
  let depth = 0; // dragenter/dragleave also fire for the zone's children
  const isFiles = (ev) => Array.from(ev.dataTransfer?.types || []).includes('Files');
  zone.addEventListener('dragenter', (ev) => {
    if (!isFiles(ev) || state.running) return;
    ev.preventDefault();
    depth++;
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (ev) => {
    if (!isFiles(ev) || state.running) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    if (--depth <= 0) { depth = 0; zone.classList.remove('dragging'); }
  });
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    onDrop(ev);
  });
  // A file dropped next to the zone must not make the browser navigate away from the page.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (ev) => { if (!zone.contains(ev.target)) ev.preventDefault(); });
  }
}
