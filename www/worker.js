// Module Web Worker that owns the wasm anonymiser. The UI thread (app.js) never runs wasm.
//
// Protocol:
//   worker → main  {type:'ready'}                         wasm initialised, 'run' may be sent
//   main → worker  {type:'run', files: File[], names: string[], secret: string,
//                   exportDate: 'YYYYMMDD', settings: object}
//   worker → main  {type:'progress', phase:'scan'|'export', filesDone, filesTotal,
//                   bytesDone, bytesTotal, file}           after each file (file = name just handled)
//   worker → main  {type:'review', review: object, tables: object[], exportFiles, exportBytes}
//                   after the scan and the plan; the job stays alive until 'confirm'
//                   (review = WebJob.review(), tables = WebJob.tableReview(); both hold original
//                   identifiers for the screen only)
//   main → worker  {type:'confirm', handle?: FileSystemFileHandle, profiles?: [{input, profile}],
//                   scratch?: string, mapping?: boolean}
//                   writes the zip: straight into the file of `handle` when given (File System
//                   Access API, chunk by chunk), else into the private file named `scratch`
//                   (openScratch) or a Blob of parts; `profiles` are the
//                   table rules the user changed on the review (WebJob.setTableProfile: the
//                   tables' columns are decided again; their paths, and the review, stay);
//                   `mapping`: record the UID and patient ID mapping (WebJob.recordMapping)
//   worker → main  {type:'done', zip: Blob|null, size: number, saved: boolean, scratch?: string, report: object,
//                   mapping: Blob|null (with `mapping`: WebJob.mappingZip, original identifiers),
//                   wasmMemory: number, timing: {read, copy, wasm, write, plan, review, open, close, report}}
//                   (wasmMemory: bytes of wasm memory, its peak, as it never shrinks; timing:
//                   ms the worker spent waiting for reads, copying in, in the wasm, writing out)
//   worker → main  {type:'error', message: string, file: string|null, fatal: boolean,
//                   code?: 'engine-stopped'}   (code: the wasm trapped — out of memory or a bug —
//                   on `file`; the page explains it in plain words)
// Cancel (or leaving the review) terminates this worker: that frees the wasm memory at once.
// After an error the main thread discards this worker (the wasm may be left in a bad state).
// Files are read ahead of the wasm (ahead: AHEAD_FILES, AHEAD_BYTES) by reader.js, in a worker of
// its own, into reused buffers (readFile), then copied into the wasm's own buffer
// (WebJob.buffer), so memory stays bounded by the largest file plus AHEAD_BYTES; the scan reads only the
// start of a DICOM file (64 KiB, more when the core asks: WebJob.scan → {needMore}); the export
// reads each file whole again and the core checks that its header did not change (a file the
// browser can no longer read is reported, WebJob.exportUnreadable). The zip goes
// to disk (the user's file, or a private file for the download link).
// Input zips (recognised by content) are read through File.slice: their central directory, then
// one entry at a time (at most 2 GiB each, crate/src/unzip.rs), never the whole zip.

import init, { WebJob, WebZip, isSpreadsheet } from './pkg/capture.js';
import { reader, SMALL_FILE } from './reader.js';
import wasmB64 from './pkg/capture_wasm.js';

let currentFile = null;
let busy = false;

function postError(message, fatal, code) {
  self.postMessage({ type: 'error', message: String(message), file: currentFile, fatal: !!fatal, code });
}

function messageOf(err) {
  if (err instanceof Error) return err.message || String(err);
  if (typeof err === 'string') return err;
  try { return JSON.stringify(err); } catch { return String(err); }
}

// The worker never dies silently.
self.addEventListener('error', (ev) => {
  ev.preventDefault(); // reported here; do not also raise it on the Worker object
  postError(ev.message || 'Unexpected error in the worker', true);
});
self.addEventListener('unhandledrejection', (ev) => {
  postError(messageOf(ev.reason), true);
});

function decodeWasm(src) {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (typeof src !== 'string' || src.length === 0) {
    throw new Error('The anonymiser engine (pkg/capture_wasm.js) is missing or empty');
  }
  if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(src);
  const bin = atob(src);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

// Values coming from wasm may be Maps or BigInts depending on how they were serialised;
// turn them into plain JSON-compatible data.
function toPlain(v) {
  if (v instanceof Map) {
    const o = {};
    for (const [k, x] of v) o[k] = toPlain(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o = {};
    for (const k of Object.keys(v)) o[k] = toPlain(v[k]);
    return o;
  }
  return v;
}

// A read started ahead must not reject unobserved while the wasm works on another file:
// settle() keeps its outcome, unsettle() turns it back into a value or a throw.
function settle(promise) {
  return promise.then((value) => ({ value }), (error) => ({ error }));
}
async function unsettle(settled) {
  const { value, error } = await settled;
  if (error) throw error;
  return value;
}

// Progress at most every 100 ms (thousands of small files would flood the UI thread), and
// always the last one of a phase.
let lastProgress = 0;
function progress(message, last) {
  const now = performance.now();
  if (!last && now - lastProgress < 100) return;
  lastProgress = now;
  self.postMessage(message);
}

// Plain files are read by the file reader (reader.js), in a worker of its own where the browser
// allows nested workers (else in this thread): there the browser moves their bytes while the
// wasm works. readFile(f, len) reads the first `len` bytes of the run's file `f` (at most the
// file) and gives {bytes, size, release}: `size` the file's; release() once its bytes are in
// the wasm (the reader reuses a buffer once all the reads in it are released: fresh buffers
// stayed in the renderer's memory, make test-big). Reads started in the same turn (ahead()
// starts many at once) go to the reader as one message, so that it can join the small ones.
let fileReader = null; // the reader: {files(list), give(buffers), read(reads)}
const reads = new Map(); // read id → {file, len, resolve, reject}, until answered
let readId = 0;
let requests = null; // reads of this turn, not sent yet
let runFiles = [];

function answer({ buffer, reusable, reads: answers }) {
  // A reused buffer goes back to the reader once each of its reads is released.
  let left = answers.length;
  const release = () => {
    left -= 1;
    if (left === 0 && reusable) fileReader.give([buffer]);
  };
  for (const a of answers) {
    const r = reads.get(a.id);
    reads.delete(a.id);
    if (!r || a.error !== undefined) {
      release();
      r?.reject(new Error(a.error));
      continue;
    }
    const bytes = new Uint8Array(buffer, a.at, a.length);
    let released = false;
    r.resolve({ bytes, size: a.size, release() { if (!released) { released = true; release(); } } });
  }
}

function startReader() {
  let worker;
  try {
    worker = new Worker(new URL('./reader.js', import.meta.url), { type: 'module', name: 'reader' });
  } catch {
    return reader(answer);
  }
  worker.addEventListener('message', (ev) => answer(ev.data));
  // The reader could not start or stopped: this thread reads from now on, the pending reads
  // included (nothing is lost, only the overlap with the wasm).
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    worker.terminate();
    fileReader = reader(answer);
    fileReader.files(runFiles);
    fileReader.read([...reads].map(([id, r]) => ({ id, file: r.file, len: r.len })));
  });
  return {
    files(list) { worker.postMessage({ type: 'files', files: list }); },
    give(buffers) { worker.postMessage({ type: 'give', buffers }, buffers); },
    read(list) { worker.postMessage({ type: 'read', reads: list }); },
  };
}

function readFile(file, len) {
  return new Promise((resolve, reject) => {
    const id = readId++;
    reads.set(id, { file, len, resolve, reject });
    if (!requests) {
      const list = requests = [];
      queueMicrotask(() => { requests = null; fileReader.read(list); });
    }
    requests.push({ id, file, len });
  });
}

// Reads inputs ahead of the wasm, several at a time: each read of a File costs the worker a
// round trip to the browser's file thread (about 2 ms here, whatever the size), so one read at
// a time left the wasm idle most of the time on many small files (make bench, mr4d: 3,000
// files of 10 KB, 2.5 ms per file in the scan). At most AHEAD_FILES reads and AHEAD_BYTES
// of them are in flight or waiting (one more when that is the next file), so memory stays
// bounded; they are started in bulk once half have been taken, so that small ones are read
// together (reader.js). ahead(count, read, size): read(i) starts reading input i, size(i)
// its bytes; take(i) (in order) waits for input i's read.
// (1,024 rather than 256: make bench, mr4d page 1.71 -> 1.48 s; 2,048 gained nothing more.)
const AHEAD_FILES = 1024;
const AHEAD_BYTES = 32 * 1024 * 1024;
// Small files read whole by the scan are kept for the export up to this many bytes.
const KEPT_BYTES = 64 * 1024 * 1024;
let keptBytes = 0;
function ahead(count, read, size) {
  const waiting = new Map();
  let started = 0;
  let bytes = 0;
  const fill = (next) => {
    if (started - next > AHEAD_FILES / 2) return;
    while (started < count && started - next < AHEAD_FILES && (bytes < AHEAD_BYTES || started === next)) {
      const i = started++;
      const n = size(i);
      bytes += n;
      waiting.set(i, { read: settle(read(i)), n });
    }
  };
  return {
    async take(i) {
      fill(i);
      const { read: r, n } = waiting.get(i);
      waiting.delete(i);
      try {
        return await unsettle(r);
      } finally {
        bytes -= n;
        fill(i + 1);
      }
    },
  };
}

// Where the worker's time goes, in ms (posted with 'done'; make bench prints it): waiting for
// reads, copying into the wasm, in the wasm, and writing the zip out.
// Also: the plan and review (wasm and posting), waiting for the user's confirmation, opening
// and closing the output, and the report (wasm and its conversion).
const timing = { read: 0, copy: 0, wasm: 0, write: 0, plan: 0, review: 0, open: 0, close: 0, report: 0 };
async function timed(key, work) {
  const t = performance.now();
  try { return await work(); } finally { timing[key] += performance.now() - t; }
}
function timedSync(key, work) {
  const t = performance.now();
  try { return work(); } finally { timing[key] += performance.now() - t; }
}

// Copies a read into the wasm's buffer (the one copy across the boundary); gives the length for
// WebJob.scan/export. The caller then releases the read (its buffer goes back to the reader).
function toWasm(job, got) {
  const n = got.bytes.length;
  timedSync('copy', () => job.buffer(n).set(got.bytes));
  return n;
}

// The scan reads this much of a file first (a DICOM header is rarely longer); the core asks
// for more when it needs it (WebJob.scan → {needMore}).
const SCAN_PREFIX = 64 * 1024;

// A zip archive is recognised by content (a local file header or an empty archive's end
// record at the start, and no DICOM preamble), not by its name.
function isZip(head, size) {
  if (size < 22) return false;
  const at = (i, text) => [...text].every((c, k) => head[i + k] === c.charCodeAt(0));
  if (head.length >= 132 && at(128, 'DICM')) return false;
  return at(0, 'PK\x03\x04') || at(0, 'PK\x05\x06');
}

// Opens a zip without reading it whole: the wasm asks for the slices it needs (the central
// directory, then one entry at a time), read synchronously with FileReaderSync.
function openZip(file) {
  const reader = new FileReaderSync();
  return new WebZip(file.size, (pos, len) => new Uint8Array(reader.readAsArrayBuffer(file.slice(pos, pos + len))));
}

let confirmed = null; // resolve function of the pending review, set while waiting

function waitForConfirm() {
  return new Promise((resolve) => { confirmed = resolve; });
}

// The download-link mode's zip, in a file of the origin's private file system (on disk, in the
// browser's profile; the page deletes it when it is no longer offered): a Blob of parts would
// stay in the browser's memory (Chromium keeps up to about 2 GB of Blobs in memory). Null when
// the browser lacks synchronous access handles or has less room than the export needs (e.g.
// private windows).
async function openScratch(name, expected) {
  try {
    if (!navigator.storage?.getDirectory || !self.FileSystemSyncAccessHandle) return null;
    const { quota = 0, usage = 0 } = await navigator.storage.estimate();
    if (quota - usage < expected * 1.05 + 64 * 1024 * 1024) return null;
    const dir = await navigator.storage.getDirectory();
    const file = await dir.getFileHandle(name, { create: true });
    const access = await file.createSyncAccessHandle();
    access.truncate(0);
    return { dir, file, access };
  } catch {
    return null; // the Blob parts then
  }
}

// The private file is written this much at a time.
const WRITE_PIECE = 4 * 1024 * 1024;
// Chunks smaller than this are gathered (in a buffer of WRITE_PIECE) and written together: each
// write costs about 0.1 ms whatever its size (make bench, mr4d NIfTI: 3,000 slices of 8 KB
// written one by one took 0.27 s).
const GATHER_BELOW = 256 * 1024;

// `sink` with its small writes gathered.
function gathering(sink) {
  const stage = new Uint8Array(WRITE_PIECE);
  let used = 0;
  const flush = async () => {
    if (used) await sink.write(stage.subarray(0, used));
    used = 0;
  };
  return {
    async write(chunk) {
      if (used + chunk.length > stage.length || chunk.length >= GATHER_BELOW) await flush();
      if (chunk.length >= GATHER_BELOW) return sink.write(chunk);
      stage.set(chunk, used);
      used += chunk.length;
    },
    async close() { await flush(); return sink.close(); },
    abort: () => sink.abort(),
  };
}

// Where the zip goes: a file on disk (FileSystemWritableFileStream), a private file (openScratch)
// or a list of Blob parts. `expected` is about the zip's size (the planned inputs' bytes).
async function openSink(handle, name, expected) {
  if (handle) {
    const writable = await handle.createWritable();
    let size = 0;
    return {
      async write(chunk) { size += chunk.length; await writable.write(chunk); },
      async close() { await writable.close(); return { zip: null, size, saved: true }; },
      async abort() { try { await writable.abort(); } catch { /* already closed */ } },
    };
  }
  const scratch = name && await openScratch(name, expected);
  if (scratch) {
    const { dir, file, access } = scratch;
    let at = 0;
    return {
      async write(chunk) {
        // In pieces: one write of a 315 MB volume took 1.2 s, four times the same bytes
        // written as 600 files (make bench, ct600).
        for (let from = 0; from < chunk.length; from += WRITE_PIECE) {
          const piece = chunk.subarray(from, from + WRITE_PIECE);
          const n = access.write(piece, { at });
          if (n !== piece.length) throw new Error('The browser\'s storage is full');
          at += n;
        }
      },
      async close() {
        access.flush();
        access.close();
        const zip = await file.getFile();
        return { zip, size: zip.size, saved: false, scratch: name };
      },
      async abort() {
        try { access.close(); } catch { /* already closed */ }
        try { await dir.removeEntry(name); } catch { /* the page removes it later */ }
      },
    };
  }
  const parts = [];
  return {
    async write(chunk) { parts.push(new Blob([chunk])); },
    async close() {
      const zip = new Blob(parts, { type: 'application/zip' });
      return { zip, size: zip.size, saved: false };
    },
    async abort() { parts.length = 0; },
  };
}

async function run({ files, names, secret, exportDate, settings }) {
  const zips = [];
  const unreadable = [];
  let job = null;
  let sink = null;
  try {
    for (const key of Object.keys(timing)) timing[key] = 0;
    keptBytes = 0;
    runFiles = files;
    fileReader.files(files);
    job = new WebJob(settings, new TextEncoder().encode(secret), exportDate);
    // Pass 1: scan every input: each plain file and each entry of each zip (named
    // `<zip>/<entry path>`), in that order. A zip is recognised by the first bytes the scan
    // reads anyway (a separate read per file to sniff cost 0.5 ms per file); entries the zip
    // reader refuses (unsafe paths, encrypted) are reported as skipped.
    // inputs[k]: the k-th input; scanned[i] = index in `inputs` of the i-th scanned input,
    // which is the input index the wasm uses in its plan.
    const inputs = [];
    const scanned = [];
    let filesTotal = files.length;
    let bytesTotal = files.reduce((n, f) => n + f.size, 0);
    let filesDone = 0;
    let bytesDone = 0;
    // Scans one input from its first read (`first()`), reading more while the core asks.
    const scanOne = async (input, first) => {
      const k = inputs.push(input) - 1;
      currentFile = input.name;
      try {
        let got = await first();
        for (;;) {
          const len = toWasm(job, got);
          const step = timedSync('wasm', () => job.scan(input.name, len, got.size));
          if (step.needMore === undefined) break;
          got.release();
          // Not decided from these bytes (a long header, compressed pixel data, a table): more.
          got = await timed('read', () => input.read(Math.max(step.needMore, len * 4)));
          if (got.bytes.length <= len) {
            got.release();
            throw new Error('the file changed while it was read');
          }
        }
        scanned.push(k);
        // A small file the scan read whole is kept for the export, within KEPT_BYTES: the
        // browser's cost is per read, and these are most of a study's reads (mr4d: 3,000).
        // (A copy: the read's buffer goes back to the reader.)
        if ('kept' in input && input.size <= SMALL_FILE && got.bytes.length === input.size
            && keptBytes + input.size <= KEPT_BYTES) {
          input.kept = got.bytes.slice();
          keptBytes += input.size;
        }
        got.release();
      } catch (err) {
        unreadable.push({ name: input.name, size: input.size, outcome: 'skipped',
          reason: 'could not read the file: ' + messageOf(err), code: 'unreadable', detail: messageOf(err) });
      }
      filesDone += 1;
      bytesDone += input.size;
      progress({ type: 'progress', phase: 'scan', filesDone, filesTotal,
        bytesDone, bytesTotal, file: input.name }, filesDone === filesTotal);
    };
    // The starts of the next files are read while the wasm works on this one.
    const starts = ahead(files.length, (f) => readFile(f, SCAN_PREFIX), (f) => Math.min(files[f].size, SCAN_PREFIX));
    for (let f = 0; f < files.length; f++) {
      const file = files[f];
      const input = { name: names[f], size: file.size, kept: null, read: (len) => (input.kept
        ? Promise.resolve({ bytes: input.kept, size: input.size, release() { keptBytes -= input.size; input.kept = null; } })
        : readFile(f, len)) };
      let got = null;
      let error = null;
      try {
        got = await timed('read', () => starts.take(f));
      } catch (err) {
        error = err;
      }
      let zip = null;
      // A spreadsheet (.xlsx, .ods) is a zip too: it is a table, not a zip of inputs.
      if (got && isZip(got.bytes, file.size) && !isSpreadsheet(names[f], got.bytes)) {
        try {
          zip = openZip(file);
        } catch {
          zip = null; // not a readable zip after all: the anonymiser reports it as not DICOM
        }
      }
      if (!zip) {
        await scanOne(input, async () => { if (error) throw error; return got; });
        continue;
      }
      got.release();
      zips.push(zip);
      const entries = toPlain(zip.entries());
      const kept = entries.filter((e) => !e.ignored);
      filesTotal += kept.length - 1;
      bytesTotal += kept.reduce((n, e) => n + e.size, 0) - file.size;
      for (const entry of entries) {
        const name = `${names[f]}/${entry.name}`;
        if (entry.ignored) {
          unreadable.push({ name, size: entry.size, outcome: 'skipped', reason: 'ignored: ' + entry.ignored,
            code: 'zip-entry-ignored', detail: entry.ignored });
          continue;
        }
        const read = async () => {
          const bytes = zip.read(entry.index); // whole: entries are read through the zip's own buffer
          return { bytes, size: bytes.length, release() {} };
        };
        await scanOne({ name, size: entry.size, read }, () => timed('read', read));
      }
    }
    currentFile = null;

    // The plan, then the review: the user checks it before anything is written.
    const planStarted = performance.now();
    const tables = toPlain(job.tableReview());
    const plan = toPlain(job.plan());
    const review = toPlain(job.review());
    for (const u of unreadable) {
      review.excluded.push({ input: null, ...u });
      review.counts.inputs += 1;
      review.counts.skipped += 1;
    }
    const exportFiles = new Set(plan.map((p) => p.input)).size;
    const exportTotal = plan.reduce((n, p) => n + inputs[scanned[p.input]].size, 0);
    self.postMessage({ type: 'review', review, tables, exportFiles, exportBytes: exportTotal });
    timing.plan += performance.now() - planStarted;
    const { handle, profiles, scratch, mapping } = await timed('review', () => waitForConfirm());
    for (const { input, profile } of profiles) job.setTableProfile(input, profile);
    if (mapping) job.recordMapping();

    // Pass 2: export the planned inputs in output order.
    sink = gathering(await timed('open', () => openSink(handle, scratch, exportTotal)));
    let exportDone = 0;
    const planned = (k) => inputs[scanned[plan[k].input]];
    // The next files are read while the wasm works on this one (within AHEAD_BYTES).
    const wholes = ahead(plan.length, (k) => planned(k).read(Infinity), (k) => planned(k).size);
    for (let k = 0; k < plan.length; k++) {
      const input = planned(k);
      currentFile = input.name;
      let got = null;
      let unreadable = null;
      try {
        got = await timed('read', () => wholes.take(k));
      } catch (err) {
        unreadable = messageOf(err); // reported for this file; the export goes on
      }
      // Views of wasm memory: written out before the next call into the wasm.
      let parts;
      if (got) {
        const len = toWasm(job, got);
        got.release();
        parts = timedSync('wasm', () => job.export(plan[k].input, len));
      } else {
        parts = job.exportUnreadable(plan[k].input, unreadable);
      }
      for (const part of parts) await timed('write', () => sink.write(part));
      exportDone += input.size;
      progress({ type: 'progress', phase: 'export', filesDone: k + 1, filesTotal: plan.length,
        bytesDone: exportDone, bytesTotal: exportTotal, file: input.name }, k + 1 === plan.length);
    }
    currentFile = null;
    await sink.write(job.finish());
    const out = await timed('close', () => sink.close());
    sink = null;
    const report = timedSync('report', () => toPlain(job.report()));
    mergeUnreadable(report, unreadable);
    const mappingZip = mapping ? new Blob([job.mappingZip()], { type: 'application/zip' }) : null;
    // wasm memory only grows: its size now is this worker's peak (shown to tests, see app.js).
    self.postMessage({ type: 'done', ...out, report, mapping: mappingZip, wasmMemory: wasm.memory.buffer.byteLength, timing });
  } finally {
    if (sink) await sink.abort();
    for (const z of zips) { try { z.free(); } catch { /* wasm trapped */ } }
    try { job?.free(); } catch { /* already freed or wasm trapped */ }
  }
}

// Files the browser could not read never reached the wasm; list them in the report anyway.
function mergeUnreadable(report, unreadable) {
  if (!unreadable.length) return;
  report.files = (report.files || []).concat(unreadable);
  const c = report.counts || (report.counts = {});
  c.inputs = (c.inputs || 0) + unreadable.length;
  c.skipped = (c.skipped || 0) + unreadable.length;
}

let wasm = null; // the module's exports, for its memory size
fileReader = startReader();
const ready = (async () => {
  wasm = await init({ module_or_path: decodeWasm(wasmB64) });
})();

ready.then(
  () => self.postMessage({ type: 'ready' }),
  (err) => postError('Could not start the anonymiser: ' + messageOf(err), true),
);

self.addEventListener('message', async (ev) => {
  const msg = ev.data || {};
  if (msg.type === 'confirm') {
    if (confirmed) {
      const resolve = confirmed;
      confirmed = null;
      resolve({ handle: msg.handle || null, profiles: Array.isArray(msg.profiles) ? msg.profiles : [],
        scratch: typeof msg.scratch === 'string' ? msg.scratch : null, mapping: msg.mapping === true });
    }
    return;
  }
  if (msg.type !== 'run') return;
  if (busy) {
    self.postMessage({ type: 'error', message: 'An export is already running', file: null, fatal: false });
    return;
  }
  busy = true;
  try {
    await ready;
    await run(msg);
  } catch (err) {
    // A trap (out of memory, or a panic under panic=abort) says only "unreachable": the code
    // lets the page say what it means for the user.
    postError(messageOf(err), true, err instanceof WebAssembly.RuntimeError ? 'engine-stopped' : undefined);
  } finally {
    busy = false;
    currentFile = null;
  }
});
