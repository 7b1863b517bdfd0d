// One export, for the 'run' message: the scan pass (scan.js), the plan and the review, the wait
// for the user's 'confirm', the export pass, and the result ('done'). Files are read ahead of the
// wasm (read.js) into reused buffers, then copied into the wasm's own buffer (WebJob.buffer), so
// memory stays bounded by the largest file plus the read-ahead. The export reads each file whole
// again and the core checks that its header did not change (a file the browser can no longer
// read is reported: WebJob.exportUnreadable).
import * as protocol from '../protocol.js';
import { WebJob } from '../pkg/capture.js';
import { current, messageOf, post, progress } from './post.js';
import { ahead, useFiles } from './read.js';
import { scanPass } from './scan.js';
import { chooseFaces, facePreviews } from './faces.js';
import { acceptBoxes, pixelPreviews } from './pixels.js';
import { openSink } from './sink.js';
import { timing, resetTiming, timed, timedSync } from './timing.js';
import { toPlain, toWasm } from './wasm.js';

// The resolve function of the review waiting for 'confirm', while it waits.
const waiting = { confirm: null };

/** A 'confirm' message (protocol.js): the review's answer, if one is awaited. */
export function onConfirm({ handle, profiles, scratch, mapping, pixelAccepted, faceChoices }) {
  const resolve = waiting.confirm;
  waiting.confirm = null;
  resolve?.({ handle, profiles, scratch, mapping, pixelAccepted, faceChoices });
}

/** Runs the export of a 'run' message (protocol.js); `wasm` is the module's exports (for its
 *  memory size). Everything it allocated is freed at the end, also on an error. */
export async function run({ files, names, secret, exportDate, settings }, wasm) {
  const ctx = { job: null, zips: [], inputs: [], sink: null, progress: null, keptBytes: 0 };
  try {
    resetTiming();
    useFiles(files);
    ctx.job = new WebJob(settings, new TextEncoder().encode(secret), exportDate);
    await scanPass(ctx, files, names);
    const { plan, exportTotal, choice } = await reviewPass(ctx, settings);
    await exportPass(ctx, plan, choice, exportTotal);
    await finish(ctx, choice.mapping, wasm);
  } finally {
    if (ctx.sink) await ctx.sink.abort();
    for (const z of ctx.zips) { try { z.free(); } catch { /* wasm trapped */ } }
    try { ctx.job?.free(); } catch { /* already freed or wasm trapped */ }
  }
}

/** Whether the run's settings choose the Annex E option `name` (e.g. 'clean-pixel-data'). */
function chosen(settings, name) {
  return Array.isArray(settings?.options) && settings.options.includes(name);
}

/** The plan, then the review: the user checks it before anything is written (with the
 *  options of `settings`, the previews of the series the Clean Pixel Data option would clean
 *  and of the head scans whose face the Clean Recognizable Visual Features option removes).
 *  Gives the plan, the bytes it exports, and the user's 'confirm'. */
async function reviewPass(ctx, settings) {
  const { job } = ctx;
  const planStarted = performance.now();
  const tables = toPlain(job.tableReview());
  const plan = toPlain(job.plan());
  const review = toPlain(job.review());
  const exportFiles = new Set(plan.map((p) => p.input)).size;
  const exportTotal = plan.reduce((n, p) => n + ctx.inputs[p.input].size, 0);
  timing.plan += performance.now() - planStarted;
  const pixels = chosen(settings, 'clean-pixel-data') ? await pixelPreviews(ctx) : [];
  const { faces, transfer } = chosen(settings, 'clean-visual-features') ? await facePreviews(ctx) : { faces: [], transfer: [] };
  post(protocol.review({ review, tables, exportFiles, exportBytes: exportTotal, pixels, faces }), transfer);
  const choice = await timed('review', () => new Promise((resolve) => { waiting.confirm = resolve; }));
  for (const { input, profile } of choice.profiles) job.setTableProfile(input, profile);
  acceptBoxes(job, choice.pixelAccepted);
  chooseFaces(job, choice.faceChoices);
  if (choice.mapping) job.recordMapping();
  return { plan, exportTotal, choice };
}

/** Pass 2: export the planned inputs in output order, into the sink of the user's choice. */
async function exportPass(ctx, plan, { handle, scratch }, exportTotal) {
  const { job } = ctx;
  ctx.sink = await timed('open', () => openSink(handle, scratch, exportTotal));
  let bytesDone = 0;
  const planned = (k) => ctx.inputs[plan[k].input];
  // The next files are read while the wasm works on this one.
  const wholes = ahead(plan.length, (k) => planned(k).read(Infinity), (k) => planned(k).size);
  for (let k = 0; k < plan.length; k++) {
    const input = planned(k);
    current.file = input.name;
    let got = null;
    let unreadable = null;
    try {
      got = await timed('read', () => wholes.take(k));
    } catch (err) {
      unreadable = messageOf(err); // reported for this file; the export goes on
    }
    // Views of wasm memory: written out before the next call into the wasm.
    let parts = [];
    if (got) {
      const len = toWasm(job, got);
      got.release();
      // A cleaned cine comes frame by frame: written at once where the sink can (its views
      // die with the call), else copied and written after.
      const write = ctx.sink.writeSync
        ? (views) => { for (const v of views) ctx.sink.writeSync(v); }
        : (views) => { for (const v of views) parts.push(v.slice()); };
      timedSync('wasm', () => job.exportEach(plan[k].input, len, write));
    } else {
      parts = job.exportUnreadable(plan[k].input, unreadable);
    }
    for (const part of parts) await timed('write', () => ctx.sink.write(part));
    bytesDone += input.size;
    progress({ phase: 'export', filesDone: k + 1, filesTotal: plan.length,
      bytesDone, bytesTotal: exportTotal, file: input.name }, k + 1 === plan.length);
  }
  current.file = null;
}

/** The zip's end, the report and the mapping: 'done'. */
async function finish(ctx, mapping, wasm) {
  const { job } = ctx;
  await ctx.sink.write(job.finish());
  const out = await timed('close', () => ctx.sink.close());
  ctx.sink = null;
  const report = timedSync('report', () => toPlain(job.report()));
  const mappingZip = mapping ? new Blob([job.mappingZip()], { type: 'application/zip' }) : null;
  // wasm memory only grows: its size now is this worker's peak.
  post(protocol.done({ ...out, report, mapping: mappingZip, wasmMemory: wasm.memory.buffer.byteLength, timing }));
}
