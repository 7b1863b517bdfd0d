// The review's "Head scans: face removal" (the Clean Recognizable Visual Features option): per
// head scan whose face the option removes, its size, a mid-sagittal and an axial picture with
// the region to remove tinted, how many voxels go, and "Remove the face" (ticked by default;
// unticked, the series is exported with its face). state.faces holds the choices.
import { $, fragment, para } from '../dom.js';
import { t, tp, fmtInt } from '../i18n.js';
import { state } from '../state.js';

const block = () => $('review-faces-block');

export function clearFaces() {
  state.faces = [];
  $('review-faces').replaceChildren();
  block().hidden = true;
}

/** The review's `faces` (protocol.js review): one block per head scan. */
export function showFaces(faces) {
  state.faces = faces.map((info) => ({ key: info.key, info, remove: true, view: {} }));
  $('review-faces').replaceChildren(fragment(state.faces.map(seriesBlock)));
  block().hidden = !faces.length;
}

/** For 'confirm': each head scan's choice. */
export function faceChoices() {
  return state.faces.map(({ key, remove }) => ({ key, remove }));
}

function seriesBlock(s, n) {
  const div = document.createElement('div');
  div.className = 'face-series';
  div.dataset.key = s.key;
  const h = document.createElement('h4');
  h.textContent = s.info.label || t('faceNoLabel');
  div.append(h, para('face-info', infoText(s.info)));
  const error = para('msg msg-warn face-error', t('faceFailed', { message: s.info.error }));
  error.id = `face-error-${n}`;
  if (s.info.error) div.append(error);
  else div.append(pictures(s.info), para('face-voxels', tp('faceVoxels', s.info.voxels)));
  s.view.note = para('face-note', '');
  s.view.note.id = `face-note-${n}`;
  s.view.note.setAttribute('role', 'status');
  div.append(removeChoice(s, n), s.view.note);
  showNote(s);
  return div;
}

/** Modality, dimensions, voxel size and files of a head scan. */
function infoText(info) {
  const mm = (x) => String(Math.round(x * 100) / 100);
  const parts = [info.modality, info.dims.map(fmtInt).join(' × '), t('faceVoxel', { size: info.voxel.map(mm).join(' × ') }),
    tp('files', info.files)];
  return parts.filter(Boolean).join(' · ');
}

/** The two pictures, each a canvas with its text alternative and caption. */
function pictures(info) {
  const row = document.createElement('div');
  row.className = 'face-pictures';
  row.append(picture(info, 'sagittal', t('faceSagittal'), t('faceSagittalView')),
    picture(info, 'axial', t('faceAxial'), t('faceAxialView')));
  return row;
}

/** A picture of the review (`info[view]`) on a canvas, its caption and text alternative. */
function picture(info, view, caption, described) {
  const p = info[view];
  const figure = document.createElement('figure');
  figure.className = `face-picture face-${view}`;
  const canvas = document.createElement('canvas');
  canvas.width = p.width;
  canvas.height = p.height;
  canvas.setAttribute('role', 'img');
  const label = info.label || t('faceNoLabel');
  canvas.setAttribute('aria-label', t('facePictureLabel', { view: described, label, voxels: tp('faceVoxels', info.voxels) }));
  if (p.width && p.height) {
    const rgba = new Uint8ClampedArray(p.rgba.buffer, p.rgba.byteOffset, p.rgba.length);
    canvas.getContext('2d').putImageData(new ImageData(rgba, p.width, p.height), 0, 0);
  }
  const figcaption = document.createElement('figcaption');
  figcaption.textContent = caption;
  figure.append(canvas, figcaption);
  return figure;
}

/** "Remove the face": ticked by default; unticking keeps the face in the export. */
function removeChoice(s, n) {
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = `face-remove-${n}`;
  box.className = 'face-remove';
  box.checked = s.remove;
  box.setAttribute('aria-describedby', s.info.error ? `face-error-${n} face-note-${n}` : `face-note-${n}`);
  box.addEventListener('change', () => { s.remove = box.checked; showNote(s); });
  const label = document.createElement('label');
  label.htmlFor = box.id;
  label.textContent = t('faceRemove');
  const div = document.createElement('div');
  div.className = 'check face-remove-choice';
  div.append(box, label);
  return div;
}

/** What happens to the series with the current choice. */
function showNote(s) {
  const key = !s.remove ? 'faceKept' : s.info.error ? 'faceHeldBack' : 'faceRemoved';
  s.view.note.textContent = t(key);
  s.view.note.className = `face-note ${s.remove ? 'hint' : 'msg msg-warn'}`;
}
