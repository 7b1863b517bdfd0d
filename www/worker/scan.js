// Pass 1 of an export: scan every input, each plain file and each entry of each zip (named
// `<zip>/<entry path>`), in that order. The scan reads only the start of a DICOM file; the core
// asks for more when it needs it (WebJob.scan → {needMore}). An input the browser cannot read
// and a zip entry the zip reader refuses (unsafe path, encryption) are recorded by the core too
// (WebJob.unreadable, WebJob.ignoredEntry), so the report accounts for every input.
//
// ctx.inputs[i] is the input the core numbers i (scan, unreadable and ignoredEntry count in one
// sequence): {name, size, read(len)?, kept?}; the plan names inputs by that number.
import { WebZip, isSpreadsheet } from '../pkg/capture.js';
import { SMALL_FILE } from '../reader.js';
import { current, messageOf, progress } from './post.js';
import { ahead, readFile } from './read.js';
import { timed, timedSync } from './timing.js';
import { toPlain, toWasm } from './wasm.js';

// The scan reads this much of a file first (a DICOM header is rarely longer).
const SCAN_PREFIX = 64 * 1024;
// Small files read whole by the scan are kept for the export up to this many bytes: the
// browser's cost is per read, and these are most of a study's reads.
const KEPT_BYTES = 64 * 1024 * 1024;

export async function scanPass(ctx, files, names) {
  ctx.progress = { filesDone: 0, filesTotal: files.length, bytesDone: 0,
    bytesTotal: files.reduce((n, f) => n + f.size, 0) };
  ctx.keptBytes = 0;
  // The starts of the next files are read while the wasm works on this one.
  const starts = ahead(files.length, (f) => readFile(f, SCAN_PREFIX), (f) => Math.min(files[f].size, SCAN_PREFIX));
  for (let f = 0; f < files.length; f++) {
    let got = null;
    let error = null;
    try {
      got = await timed('read', () => starts.take(f));
    } catch (err) {
      error = err;
    }
    // A zip is recognised by the bytes the scan reads anyway (a separate read to sniff each
    // file would cost a round trip per file).
    const zip = got && openZipInput(files[f], names[f], got.bytes);
    if (zip) {
      got.release();
      await scanZip(ctx, zip, names[f], files[f].size);
    } else {
      await scanOne(ctx, plainInput(ctx, f, names[f], files[f]), async () => { if (error) throw error; return got; });
    }
  }
  current.file = null;
}

// A plain file: read again through the reader, or from the bytes the scan kept.
function plainInput(ctx, f, name, file) {
  const input = { name, size: file.size, kept: null, read: (len) => (input.kept
    ? Promise.resolve({ bytes: input.kept, size: input.size, release() { ctx.keptBytes -= input.size; input.kept = null; } })
    : readFile(f, len)) };
  return input;
}

/** Scans one input from its first read (`first()`), reading more while the core asks. */
async function scanOne(ctx, input, first) {
  current.file = input.name;
  try {
    const { index, got } = await scanSteps(ctx.job, input, first);
    ctx.inputs[index] = input;
    keepSmall(ctx, input, got);
    got.release();
  } catch (err) {
    // A trap leaves the wasm unusable: the run ends on this input (worker.js names it).
    if (err instanceof WebAssembly.RuntimeError) throw err;
    ctx.inputs[ctx.job.unreadable(input.name, input.size, messageOf(err))] = input;
  }
  const p = ctx.progress;
  p.filesDone += 1;
  p.bytesDone += input.size;
  progress({ phase: 'scan', ...p, file: input.name }, p.filesDone === p.filesTotal);
}

/** The core's index of `input` and the last read of it (not released). */
async function scanSteps(job, input, first) {
  let got = await first();
  for (;;) {
    const len = toWasm(job, got);
    const step = timedSync('wasm', () => job.scan(input.name, len, got.size));
    if (step.needMore === undefined) return { index: step.input, got };
    got.release();
    // Not decided from these bytes (a long header, compressed pixel data, a table): more.
    got = await timed('read', () => input.read(Math.max(step.needMore, len * 4)));
    if (got.bytes.length <= len) {
      got.release();
      throw new Error('the file changed while it was read');
    }
  }
}

// A small plain file the scan read whole is kept for the export, within KEPT_BYTES (a copy: the
// read's buffer goes back to the reader).
function keepSmall(ctx, input, got) {
  if ('kept' in input && input.size <= SMALL_FILE && got.bytes.length === input.size
      && ctx.keptBytes + input.size <= KEPT_BYTES) {
    input.kept = got.bytes.slice();
    ctx.keptBytes += input.size;
  }
}

/** The entries of an input zip, scanned in turn; each is read whole from the zip when scanned
 *  (and again when exported). */
async function scanZip(ctx, zip, zipName, zipSize) {
  ctx.zips.push(zip);
  const entries = toPlain(zip.entries());
  const kept = entries.filter((e) => !e.ignored);
  ctx.progress.filesTotal += kept.length - 1;
  ctx.progress.bytesTotal += kept.reduce((n, e) => n + e.size, 0) - zipSize;
  for (const entry of entries) {
    const name = `${zipName}/${entry.name}`;
    if (entry.ignored) {
      ctx.inputs[ctx.job.ignoredEntry(name, entry.size, entry.ignored)] = { name, size: entry.size };
      continue;
    }
    const read = async () => {
      const bytes = zip.read(entry.index); // whole: entries are read through the zip's own buffer
      return { bytes, size: bytes.length, release() {} };
    };
    await scanOne(ctx, { name, size: entry.size, read }, () => timed('read', read));
  }
}

/** The zip of inputs `file` is, from its first bytes `head`; null when it is not one. A
 *  spreadsheet (.xlsx, .ods) is a zip too: it is a table, not a zip of inputs. */
function openZipInput(file, name, head) {
  if (!isZip(head, file.size) || isSpreadsheet(name, head)) return null;
  try {
    return openZip(file);
  } catch {
    return null; // not a readable zip after all: the anonymiser reports it as not DICOM
  }
}

// A zip archive is recognised by content (a local file header or an empty archive's end
// record at the start, and no DICOM preamble), not by its name.
function isZip(head, size) {
  if (size < 22) return false;
  const at = (i, text) => [...text].every((c, k) => head[i + k] === c.charCodeAt(0));
  if (head.length >= 132 && at(128, 'DICM')) return false;
  return at(0, 'PK\x03\x04') || at(0, 'PK\x05\x06');
}

// Opens a zip without reading it whole: the wasm asks for the slices it needs (the central
// directory, then one entry at a time, at most 2 GiB each: crate/core/src/unzip.rs), read
// synchronously with FileReaderSync.
function openZip(file) {
  const reader = new FileReaderSync();
  return new WebZip(file.size, (pos, len) => new Uint8Array(reader.readAsArrayBuffer(file.slice(pos, pos + len))));
}
