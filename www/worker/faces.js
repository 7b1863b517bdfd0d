// The Clean Recognizable Visual Features option on the review: each head scan whose face the
// option removes (WebJob.faceSeries) has all its files read again (WebJob.faceAdd) and its face
// placed (WebJob.faceFit: the number of voxels removed and two pictures, the region tinted),
// for the user to check; the user's choices go back to the core before the export pass
// (WebJob.chooseFace). A series whose face could not be placed is held back while chosen.
import { current, messageOf, progress } from './post.js';
import { timed, timedSync } from './timing.js';
import { toPlain, toWasm } from './wasm.js';

/** The review's `faces` (protocol.js review), one entry per head scan, and the buffers of
 *  their pictures (to transfer with the message). */
export async function facePreviews(ctx) {
  const all = toPlain(ctx.job.faceSeries());
  const files = all.flatMap((s) => s.inputs.map((i) => ctx.inputs[i]));
  const shown = { filesDone: 0, filesTotal: files.length, bytesDone: 0, bytesTotal: files.reduce((n, f) => n + f.size, 0) };
  const faces = [];
  for (const series of all) {
    const entry = describe(series);
    let unread = null;
    try {
      unread = await addFiles(ctx, series, shown);
      Object.assign(entry, placed(timedSync('wasm', () => ctx.job.faceFit(series.key))));
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw err;
      // With a file unread the core places no face: the read error says why.
      entry.error = unread || messageOf(err);
    }
    faces.push(entry);
  }
  current.file = null;
  const transfer = faces.filter((f) => !f.error).flatMap((f) => [f.sagittal.rgba.buffer, f.axial.rgba.buffer]);
  return { faces, transfer };
}

/** What the review says of a head scan besides its pictures. */
function describe(s) {
  return { key: s.key, label: s.label, modality: s.modality, dims: s.dims, voxel: s.voxel, files: s.inputs.length };
}

/** Each file of head scan `series` read whole and given to the core, the bar advancing per
 *  file; gives the first read error's text, or null. The core places no face without all of
 *  them, so after a read error the series' other files are still counted but not added. */
async function addFiles(ctx, series, shown) {
  let unread = null;
  for (const input of series.inputs) {
    const file = ctx.inputs[input];
    current.file = file.name;
    if (!unread) unread = await addFile(ctx, series.key, input);
    shown.filesDone += 1;
    shown.bytesDone += file.size;
    progress({ phase: 'faces', ...shown, file: file.name }, shown.filesDone === shown.filesTotal);
  }
  return unread;
}

/** One file of a head scan into the core; gives the text of its read error, or null. */
async function addFile(ctx, key, input) {
  let got;
  try {
    got = await timed('read', () => ctx.inputs[input].read(Infinity));
  } catch (err) {
    return `${ctx.inputs[input].name}: ${messageOf(err)}`;
  }
  try {
    const len = toWasm(ctx.job, got);
    timedSync('wasm', () => ctx.job.faceAdd(key, input, len));
  } finally {
    got.release();
  }
  return null;
}

/** faceFit's result as the review's fields. */
function placed(fit) {
  const picture = (p) => ({ width: p.width, height: p.height, rgba: p.rgba });
  return { voxels: Number(fit.voxels), sagittal: picture(fit.sagittal), axial: picture(fit.axial) };
}

/** The user's choices (confirm's `faceChoices`), given to the core. */
export function chooseFaces(job, choices) {
  for (const { key, remove } of choices) job.chooseFace(key, remove);
}
