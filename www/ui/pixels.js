// The review's "Images with burned-in text" (the Clean Pixel Data option): per series whose
// pixels the option would clean, its first image with the proposed boxes (ui/boxes.js edits
// them), the boxes as text, "Export this series with these boxes" (needed where no rule matched),
// and "Save as rule" (the site's pixel rules, ui/settings.js). state.pixels holds the edits.
import { $, fragment, para } from '../dom.js';
import { t, tp } from '../i18n.js';
import { state } from '../state.js';
import { localDate } from '../util.js';
import { addMiddleBox, boxCanvas, drawBoxes, removeSelected } from './boxes.js';
import { savePixelRule } from './settings.js';

const block = () => $('review-pixels-block');

export function clearPixels() {
  state.pixels = [];
  $('review-pixels').replaceChildren();
  block().hidden = true;
}

/** The review's `pixels` (protocol.js review): one editor per series. */
export function showPixels(pixels) {
  state.pixels = pixels.map((info) => ({ key: info.key, info, boxes: (info.proposed || []).map((b) => ({ ...b })),
    selected: -1, accepted: !info.error && !info.needsAcceptance, drag: null, view: {} }));
  $('review-pixels').replaceChildren(fragment(state.pixels.map(seriesBlock)));
  block().hidden = !pixels.length;
}

/** For 'confirm': the series the user accepted, with their boxes. A series a rule matched is
 *  sent only when its boxes were changed (otherwise it is exported by its rules, as the CLI does). */
export function acceptedPixels() {
  const same = (s) => JSON.stringify(s.boxes) === JSON.stringify(s.info.proposed || []);
  return state.pixels.filter((s) => s.accepted && (s.info.needsAcceptance || !same(s)))
    .map((s) => ({ key: s.key, boxes: s.boxes.map(({ x, y, width, height }) => ({ x, y, width, height })) }));
}

function seriesBlock(s) {
  const div = document.createElement('div');
  div.className = 'pixel-series';
  div.dataset.key = s.key;
  const h = document.createElement('h4');
  h.textContent = s.info.label;
  div.append(h, infoLine(s));
  if (s.info.error) {
    div.append(para('msg msg-warn pixel-error', t('pixelPreviewFailed', { message: s.info.error })));
    return div;
  }
  const editor = document.createElement('div');
  editor.className = 'pixel-editor';
  s.view.canvas = boxCanvas(s, () => update(s));
  editor.append(s.view.canvas, sidePanel(s));
  div.append(editor, acceptChoice(s));
  update(s);
  return div;
}

/** Files, frames, and the matching rules or the need for acceptance. */
function infoLine(s) {
  const { files, frames, rules, needsAcceptance } = s.info;
  const parts = [tp('files', files.length), t('pixelFirstFile', { name: files[0] || '' })];
  if (frames) parts.push(tp('pixelFrames', frames));
  parts.push(needsAcceptance ? t('pixelNoRule') : t('pixelRuleMatched', { names: rules.join(', ') }));
  return para('pixel-info', parts.join(' · '));
}

/** Beside the canvas: the boxes as text, Add, Remove, Save as rule, and a status line. */
function sidePanel(s) {
  const side = document.createElement('div');
  side.className = 'pixel-side';
  s.view.list = document.createElement('ol');
  s.view.list.className = 'pixel-boxes';
  s.view.empty = para('pixel-none hint', t('pixelBoxesNone'));
  const actions = document.createElement('div');
  actions.className = 'actions';
  s.view.remove = button('pixel-remove', t('pixelRemove'), () => { removeSelected(s); update(s); });
  s.view.save = button('pixel-save-rule', t('pixelSaveRule'), () => saveRule(s));
  actions.append(button('pixel-add', t('pixelAdd'), () => { addMiddleBox(s); update(s); s.view.canvas.focus(); }),
    s.view.remove, s.view.save);
  s.view.status = para('pixel-status', '');
  s.view.status.setAttribute('role', 'status');
  side.append(s.view.list, s.view.empty, actions, s.view.status);
  return side;
}

function button(className, text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `btn btn-quiet ${className}`;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

/** "Export this series with these boxes": ticked by the user where no rule matched; ticked and
 *  fixed where a rule did (the core exports it by its rules). */
function acceptChoice(s) {
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = `pixel-accept-${state.pixels.indexOf(s)}`;
  box.className = 'pixel-accept';
  box.checked = s.accepted;
  box.disabled = !s.info.needsAcceptance;
  box.addEventListener('change', () => { s.accepted = box.checked; });
  const label = document.createElement('label');
  label.htmlFor = box.id;
  label.textContent = s.info.needsAcceptance ? t('pixelAccept') : t('pixelAcceptRule', { names: s.info.rules.join(', ') });
  const div = document.createElement('div');
  div.className = 'check pixel-accept-choice';
  div.append(box, label);
  return div;
}

/** A box as the list says it. */
const boxText = (b, i) => t('pixelBox', { n: i + 1, x: b.x, y: b.y, width: b.width, height: b.height });

/** After each change: the canvas, the list (the selected box marked), the data the tests read. */
function update(s) {
  drawBoxes(s);
  const { canvas, list } = s.view;
  canvas.dataset.boxes = JSON.stringify(s.boxes);
  canvas.dataset.selected = String(s.selected);
  canvas.setAttribute('aria-label', t('pixelCanvasLabel', { label: s.info.label, boxes: tp('pixelBoxCount', s.boxes.length) }));
  list.replaceChildren(fragment(s.boxes.map((b, i) => boxItem(s, b, i))));
  s.view.empty.hidden = s.boxes.length > 0;
  s.view.remove.disabled = s.selected < 0;
  s.view.save.disabled = !s.boxes.length; // a rule has at least one box
  const said = s.selected >= 0 ? boxText(s.boxes[s.selected], s.selected) : '';
  if (!s.drag && s.view.status.textContent !== said) s.view.status.textContent = said;
}

function boxItem(s, b, i) {
  const li = document.createElement('li');
  const choose = document.createElement('button');
  choose.type = 'button';
  choose.className = 'pixel-box';
  choose.dataset.box = JSON.stringify(b);
  choose.setAttribute('aria-pressed', String(i === s.selected));
  choose.textContent = boxText(b, i);
  choose.addEventListener('click', () => { s.selected = i; update(s); s.view.canvas.focus(); });
  li.append(choose);
  return li;
}

/** "Save as rule": this series' layout and boxes join the site's pixel rules. */
function saveRule(s) {
  const { manufacturer, model, sopClass, rows, columns } = s.info.match;
  const match = Object.fromEntries(Object.entries({ manufacturer, model, sopClass }).filter(([, v]) => v));
  Object.assign(match, { rows, columns });
  const name = [manufacturer, model, `${columns}×${rows}`].filter(Boolean).join(' ');
  const day = localDate().replace(/^(\d{4})(\d{2})(\d{2})$/, '$1-$2-$3');
  const boxes = s.boxes.map(({ x, y, width, height }) => ({ x, y, width, height }));
  savePixelRule({ name, source: `saved on ${day} from the review`, match, boxes });
  s.view.status.textContent = t('pixelRuleSaved', { name });
}
