// The file reader: reads the user's files for worker.js, in a worker of its own.
//
// Why a thread of its own: Chromium moves a Blob's bytes on the thread that reads it. Read in
// the wasm's worker, a file advanced only between two calls into the wasm, so the reads
// started ahead mostly waited. Here they advance while the wasm works.
//
// Protocol (worker/read.js is the only client):
//   → {type:'files', files: File[]}            the run's files; reads name them by index
//   → {type:'read', reads: [{id, file, len}]}  read the first `len` bytes of each (at most the file)
//   → {type:'give', buffers: ArrayBuffer[]}    buffers of earlier answers, free for reuse
//   ← {type:'read', buffer, reusable, reads: [{id, at, length, size} | {id, error}]}
//        (bytes of read `id` = buffer[at, at + length); `size` the file's; `reusable`: the
//        client gives the buffer back once every read in it is copied into the wasm)
// Without nested workers (some browsers) worker/read.js runs `reader` in the wasm's thread instead.

// Small reads (the starts of files that the scan reads, small files whole) are made reads of a
// Blob of GROUP of them, several groups at a time: the browser's cost is per file, not per
// byte, and it reads groups in parallel.
export const SMALL_FILE = 256 * 1024;
const GROUP = 32;
// Large files are read through BYOB readers into buffers that come back (give): a buffer per
// file (file.arrayBuffer()) was collected late by V8, and the renderer grew with the study.
// Several at a time: the browser reads them in parallel.
const STREAMS = 4;
// A read that gives no bytes for this long is stalled: it is tried once more as one whole read,
// then reported for its file. The export goes on either way; without this a browser read that
// never settled left the run waiting for ever with nothing on the page.
export const STALL_MS = 30000;

/** A reader of `files` whose answers go to `post(message, transfer)`; `stallMs` (tests) is how
 *  long a read may give no bytes. */
export function reader(post, { stallMs = STALL_MS } = {}) {
  const r = {
    post,
    stallMs,
    files: [],
    pool: [], // buffers given back, for reuse
    byob: null, // whether Blob streams have BYOB readers here (found on the first large read)
    queue: [], // large reads waiting for a stream
    streams: 0,
    // The readers with a read in flight, rooted: otherwise the stream, its pending read and the
    // async functions awaiting it only reference each other (without this root and the cancel
    // in readInto, long exports stalled with the worker idle).
    reading: new Set(),
  };
  return {
    files(list) { r.files = list; },
    give(buffers) { r.pool.push(...buffers); },
    read(reads) { read(r, reads); },
  };
}

function read(r, reads) {
  const few = [];
  for (const x of reads) {
    const blob = r.files[x.file];
    if (!blob) fail(r, x.id, new Error('no such file'));
    else if (!hasByob(r, blob)) whole(r, x);
    else if (Math.min(x.len, blob.size) > SMALL_FILE) r.queue.push(x);
    else few.push(x);
  }
  for (let i = 0; i < few.length; i += GROUP) small(r, few.slice(i, i + GROUP));
  next(r);
}

function fail(r, id, err) {
  r.post({ type: 'read', buffer: null, reusable: false, reads: [{ id, error: err?.message || String(err) }] }, []);
}

// The small reads of `list`, one BYOB read of a Blob of them all into a reused buffer (a
// fresh buffer per group, Blob.arrayBuffer(), stayed in the renderer's memory, which no
// garbage collection gave back).
async function small(r, list) {
  const parts = list.map((x) => part(r, x));
  const group = new Blob(parts);
  try {
    const { buffer, length } = await readInto(r, group, group.size);
    if (length !== group.size) throw new Error('short read');
    let at = 0;
    const reads = list.map((x, k) => {
      const n = parts[k].size;
      at += n;
      return { id: x.id, at: at - n, length: n, size: r.files[x.file].size };
    });
    r.post({ type: 'read', buffer, reusable: true, reads }, [buffer]);
  } catch {
    // One unreadable file must not fail the others: each is read alone, for its own error.
    for (const x of list) whole(r, x);
  }
}

function part(r, { file, len }) {
  const blob = r.files[file];
  return len < blob.size ? blob.slice(0, len) : blob;
}

// A buffer of at least `n` bytes: one given back if one is large enough.
function take(r, n) {
  const k = r.pool.findIndex((b) => b.byteLength >= n);
  return k >= 0 ? r.pool.splice(k, 1)[0] : new ArrayBuffer(Math.max(n, 1 << 16));
}

// Reads the first `n` bytes of `blob` through a BYOB reader into a reused buffer.
async function readInto(r, blob, n) {
  let buf = take(r, n);
  const stream = blob.stream().getReader({ mode: 'byob' });
  let at = 0;
  r.reading.add(stream);
  try {
    while (at < n) {
      const { value, done } = await patient(r, stream.read(new Uint8Array(buf, at, n - at)));
      buf = value ? value.buffer : new ArrayBuffer(buf.byteLength); // the buffer, transferred back
      if (done) break;
      at += value.byteLength;
    }
  } catch (err) {
    if (!buf.detached) r.pool.push(buf);
    throw err;
  } finally {
    // The stream was not read to its end: cancel it, so the browser does not keep the file's
    // reader open until V8 collects the stream.
    stream.cancel().catch(() => {});
    r.reading.delete(stream);
  }
  return { buffer: buf, length: at };
}

async function large(r, x) {
  const blob = r.files[x.file];
  let got;
  try {
    got = await readInto(r, part(r, x), Math.min(x.len, blob.size));
  } catch (err) {
    if (!(err instanceof Stalled)) throw err;
    whole(r, x); // once more, as one read
    return;
  }
  const { buffer, length } = got;
  r.post({ type: 'read', buffer, reusable: true, reads: [{ id: x.id, at: 0, length, size: blob.size }] }, [buffer]);
}

class Stalled extends Error {}

// `promise`, or a Stalled error once it has not settled for r.stallMs (more for a whole read of
// `bytes`: 1 s per 10 MB, slow disks included).
function patient(r, promise, bytes = 0) {
  const ms = r.stallMs + bytes / 10000;
  let timer;
  const stalled = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Stalled(
      `the browser gave no bytes of this file for ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, stalled]).finally(() => clearTimeout(timer));
}

// Starts the queued large reads, at most STREAMS at a time.
function next(r) {
  while (r.streams < STREAMS && r.queue.length) {
    const x = r.queue.shift();
    r.streams += 1;
    large(r, x).catch((err) => fail(r, x.id, err)).finally(() => { r.streams -= 1; next(r); });
  }
}

// One read into a fresh buffer (where Blob streams have no BYOB reader, or alone after its
// group failed).
function whole(r, x) {
  const blob = part(r, x);
  patient(r, blob.arrayBuffer(), blob.size).then(
    (buffer) => r.post({ type: 'read', buffer, reusable: false,
      reads: [{ id: x.id, at: 0, length: buffer.byteLength, size: r.files[x.file].size }] }, [buffer]),
    (err) => fail(r, x.id, err));
}

function hasByob(r, blob) {
  if (r.byob === null) {
    try {
      blob.slice(0, 0).stream().getReader({ mode: 'byob' }).cancel().catch(() => {});
      r.byob = true;
    } catch {
      r.byob = false;
    }
  }
  return r.byob;
}

// Started as a worker (worker/read.js names it 'reader'): answer its messages.
if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope && self.name === 'reader') {
  const files = reader((message, transfer) => self.postMessage(message, transfer));
  self.addEventListener('message', (ev) => {
    const m = ev.data || {};
    if (m.type === 'files') files.files(m.files);
    else if (m.type === 'give') files.give(m.buffers);
    else if (m.type === 'read') files.read(m.reads);
  });
}
