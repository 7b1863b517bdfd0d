// The box editor of one pixel series on the review (ui/pixels.js): its first image's thumbnail on
// a canvas, the boxes to black out drawn over it, edited with the mouse (drag on the image: a new
// box; drag a box: move it) or the keyboard (the canvas takes focus: Tab/Shift+Tab or N/P select
// a box, arrows move it by one image pixel, Shift+arrows by ten, Alt+arrows resize it, A adds a
// box in the middle, Delete/Backspace removes it, Escape unselects). Boxes are kept in image
// pixels (whole numbers); the canvas only maps pointer positions to them.

// The canvas's longest side, in canvas pixels (CSS may shrink it: positions are mapped through
// its on-screen size).
const DISPLAY = 480;

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** The canvas of series `s` (state.pixels entry); `changed()` after each edit or selection. */
export function boxCanvas(s, changed) {
  const { width, height } = s.info.thumb;
  const k = DISPLAY / Math.max(width, height, 1);
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width * k));
  canvas.height = Math.max(1, Math.round(height * k));
  canvas.tabIndex = 0;
  canvas.className = 'pixel-canvas';
  canvas.setAttribute('role', 'application');
  canvas.setAttribute('aria-describedby', 'pixel-keys-help');
  s.view.thumb = thumbImage(s.info.thumb);
  canvas.addEventListener('pointerdown', (ev) => onPointerDown(s, ev, changed));
  canvas.addEventListener('pointermove', (ev) => onPointerMove(s, ev, changed));
  canvas.addEventListener('pointerup', (ev) => onPointerUp(s, ev, changed));
  canvas.addEventListener('pointercancel', () => { s.drag = null; changed(); });
  canvas.addEventListener('keydown', (ev) => onKey(s, ev, changed));
  return canvas;
}

/** The grey thumbnail as a canvas of its own size (drawn scaled onto the editor's). */
function thumbImage({ width, height, grey }) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  if (!width || !height) return c;
  const img = new ImageData(width, height);
  for (let i = 0; i < grey.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = grey[i];
    img.data[4 * i + 3] = 255;
  }
  c.getContext('2d').putImageData(img, 0, 0);
  return c;
}

/** Draws the thumbnail and the boxes (semi-transparent black, outlined; the selected one
 *  thicker and yellow) and, while one is being drawn, the new box. */
export function drawBoxes(s) {
  const { canvas } = s.view;
  const g = canvas.getContext('2d');
  g.imageSmoothingEnabled = true;
  g.drawImage(s.view.thumb, 0, 0, canvas.width, canvas.height);
  const sx = canvas.width / s.info.columns;
  const sy = canvas.height / s.info.rows;
  const boxes = s.drag?.mode === 'draw' && s.drag.box ? [...s.boxes, s.drag.box] : s.boxes;
  boxes.forEach((b, i) => {
    const r = [b.x * sx, b.y * sy, b.width * sx, b.height * sy];
    g.fillStyle = 'rgba(0, 0, 0, 0.6)';
    g.fillRect(...r);
    const selected = i === s.selected || i === s.boxes.length;
    g.lineWidth = selected ? 3 : 2;
    g.strokeStyle = selected ? '#ffd400' : '#ff3b30';
    g.strokeRect(...r);
  });
}

/** The image pixel under a pointer event (clamped to the image; the far edges included). */
function imagePoint(s, ev) {
  const r = s.view.canvas.getBoundingClientRect();
  const { columns, rows } = s.info;
  return {
    x: clamp(Math.round(((ev.clientX - r.left) * columns) / r.width), 0, columns),
    y: clamp(Math.round(((ev.clientY - r.top) * rows) / r.height), 0, rows),
  };
}

/** The topmost box holding point `p`, or -1. */
function boxAt(s, p) {
  for (let i = s.boxes.length - 1; i >= 0; i--) {
    const b = s.boxes[i];
    if (p.x >= b.x && p.x < b.x + b.width && p.y >= b.y && p.y < b.y + b.height) return i;
  }
  return -1;
}

function onPointerDown(s, ev, changed) {
  if (ev.button !== 0) return;
  ev.preventDefault();
  s.view.canvas.focus();
  s.view.canvas.setPointerCapture?.(ev.pointerId);
  const from = imagePoint(s, ev);
  s.selected = boxAt(s, from);
  s.drag = s.selected >= 0 ? { mode: 'move', from, box: { ...s.boxes[s.selected] } } : { mode: 'draw', from, box: null };
  changed();
}

function onPointerMove(s, ev, changed) {
  const p = imagePoint(s, ev);
  // Over a box, the pointer shows that it can be moved.
  s.view.canvas.classList.toggle('over-box', s.drag ? s.drag.mode === 'move' : boxAt(s, p) >= 0);
  if (!s.drag) return;
  const { from, box } = s.drag;
  if (s.drag.mode === 'move') s.boxes[s.selected] = placed(s, { ...box, x: box.x + p.x - from.x, y: box.y + p.y - from.y });
  else s.drag.box = spanned(from, p);
  changed();
}

function onPointerUp(s, ev, changed) {
  if (!s.drag) return;
  onPointerMove(s, ev, () => {});
  const { mode, box } = s.drag;
  s.drag = null;
  // A click on the image (no box of at least 2 × 2 pixels drawn) only unselects.
  if (mode === 'draw' && box && box.width >= 2 && box.height >= 2) {
    s.boxes.push(box);
    s.selected = s.boxes.length - 1;
  }
  changed();
}

/** The box with corners `a` and `b` (image pixels). */
function spanned(a, b) {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
}

/** `b` moved back inside the image, its size kept (at most the image's). */
function placed(s, b) {
  const width = clamp(b.width, 1, s.info.columns);
  const height = clamp(b.height, 1, s.info.rows);
  return { x: clamp(b.x, 0, s.info.columns - width), y: clamp(b.y, 0, s.info.rows - height), width, height };
}

/** A new box in the middle of the image, a quarter of its width and an eighth of its height. */
export function addMiddleBox(s) {
  const width = Math.max(1, Math.round(s.info.columns / 4));
  const height = Math.max(1, Math.round(s.info.rows / 8));
  s.boxes.push(placed(s, { x: Math.floor((s.info.columns - width) / 2), y: Math.floor((s.info.rows - height) / 2), width, height }));
  s.selected = s.boxes.length - 1;
}

/** Removes the selected box, if any (the next one, or else the last, is then selected). */
export function removeSelected(s) {
  if (s.selected < 0) return;
  s.boxes.splice(s.selected, 1);
  s.selected = Math.min(s.selected, s.boxes.length - 1);
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/** The selected box moved (or, with `resize`, its right and bottom edges moved) by dx, dy. */
function nudge(s, [dx, dy], step, resize) {
  const b = s.boxes[s.selected];
  if (!resize) {
    s.boxes[s.selected] = placed(s, { ...b, x: b.x + dx * step, y: b.y + dy * step });
    return;
  }
  const width = clamp(b.width + dx * step, 1, s.info.columns - b.x);
  const height = clamp(b.height + dy * step, 1, s.info.rows - b.y);
  s.boxes[s.selected] = { ...b, width, height };
}

/** What a key does on the canvas, as a function, or null (the browser then handles it: Tab past
 *  the last box leaves the canvas). */
function keyAction(s, ev) {
  const n = s.boxes.length;
  const has = s.selected >= 0;
  if (ev.ctrlKey || ev.metaKey) return null;
  if (ev.key === 'Tab') {
    const to = s.selected + (ev.shiftKey ? -1 : 1);
    return (ev.shiftKey ? has && to >= 0 : to < n) ? () => { s.selected = to; } : null;
  }
  if (ARROWS[ev.key]) return has ? () => nudge(s, ARROWS[ev.key], ev.shiftKey ? 10 : 1, ev.altKey) : null;
  if (ev.altKey) return null;
  switch (ev.key.toLowerCase()) {
    case 'n': return n ? () => { s.selected = (s.selected + 1) % n; } : null;
    case 'p': return n ? () => { s.selected = s.selected < 0 ? n - 1 : (s.selected - 1 + n) % n; } : null;
    case 'a': return () => addMiddleBox(s);
    case 'delete': case 'backspace': return has ? () => removeSelected(s) : null;
    case 'escape': return has ? () => { s.selected = -1; } : null;
    default: return null;
  }
}

function onKey(s, ev, changed) {
  const action = keyAction(s, ev);
  if (!action) return;
  ev.preventDefault();
  action();
  changed();
}
