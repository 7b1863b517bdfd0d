// The Clean Pixel Data option on the review: each series whose pixels the option would clean
// (WebJob.pixelSeries) is previewed from its first file, read whole (WebJob.pixelPreview: the
// first frame as a grey thumbnail and the proposed boxes), for the user to accept or correct its
// boxes; the accepted boxes go back to the core before the export pass (WebJob.acceptPixelBoxes).
import { current, messageOf, progress } from './post.js';
import { timed, timedSync } from './timing.js';
import { toPlain, toWasm } from './wasm.js';

/** The review's `pixels` (protocol.js review): one entry per pixel series, its preview or the
 *  error that stopped it (that series then stays held back unless a rule matched it). */
export async function pixelPreviews(ctx) {
  const out = [];
  const all = toPlain(ctx.job.pixelSeries());
  const firsts = all.map((s) => ctx.inputs[s.inputs[0]]);
  const shown = { filesDone: 0, filesTotal: all.length, bytesDone: 0, bytesTotal: firsts.reduce((n, f) => n + f.size, 0) };
  for (const [k, series] of all.entries()) {
    progress({ phase: 'preview', ...shown, file: firsts[k].name }, k === 0);
    shown.filesDone += 1;
    shown.bytesDone += firsts[k].size;
    const entry = describe(ctx, series);
    try {
      Object.assign(entry, await preview(ctx, series.inputs[0]));
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw err;
      entry.error = messageOf(err);
    }
    out.push(entry);
  }
  current.file = null;
  return out;
}

/** What the review says of a series besides its preview. */
function describe(ctx, s) {
  const label = [s.modality, s.manufacturer, s.model, `${s.columns} × ${s.rows}`].filter(Boolean).join(' · ');
  const match = { manufacturer: s.manufacturer, model: s.model, sopClass: s.sopClass, rows: s.rows, columns: s.columns };
  return { key: s.key, label, files: s.inputs.map((i) => ctx.inputs[i].name), rules: s.rules,
    needsAcceptance: s.needsAcceptance, match };
}

/** The preview of input `input` (read whole), as the review's fields. */
async function preview(ctx, input) {
  const file = ctx.inputs[input];
  current.file = file.name;
  const got = await timed('read', () => file.read(Infinity));
  let p;
  try {
    const len = toWasm(ctx.job, got);
    p = timedSync('wasm', () => ctx.job.pixelPreview(input, len));
  } finally {
    got.release();
  }
  return { columns: p.columns, rows: p.rows, frames: p.frames, proposed: toPlain(p.proposed),
    thumb: { width: p.thumbWidth, height: p.thumbHeight, grey: new Uint8Array(p.thumb) } };
}

/** The user's accepted boxes (confirm's `pixelAccepted`), given to the core. */
export function acceptBoxes(job, accepted) {
  for (const { key, boxes } of accepted) job.acceptPixelBoxes(key, boxes);
}
