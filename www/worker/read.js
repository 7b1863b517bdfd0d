// Reading the run's plain files for the wasm. The file reader (reader.js) runs in a worker of its
// own where the browser allows nested workers (else in this thread): there the browser moves
// their bytes while the wasm works. readFile(f, len) reads the first `len` bytes of the run's
// file `f` (at most the file) and gives {bytes, size, release}: `size` the file's; release()
// once its bytes are in the wasm (the reader reuses a buffer once all the reads in it are
// released: fresh buffers stayed in the renderer's memory). Reads started in the
// same turn (ahead() starts many at once) go to the reader as one message, so that it can join
// the small ones.
import { reader } from '../reader.js';

const pending = {
  reader: null, // {files(list), give(buffers), read(reads)}
  reads: new Map(), // read id → {file, len, resolve, reject}, until answered
  nextId: 0,
  batch: null, // reads of this turn, not sent yet
  files: [], // the run's files, for a reader started during the run
};

// Reads inputs ahead of the wasm, several at a time: each read of a File costs the worker a
// round trip to the browser's file thread whatever its size, so one read at a time left the
// wasm idle on many small files. At most AHEAD_FILES reads and AHEAD_BYTES of them are in
// flight or waiting (one more when that is the next file), so memory stays bounded.
const AHEAD_FILES = 1024;
const AHEAD_BYTES = 32 * 1024 * 1024;

function answer({ buffer, reusable, reads: answers }) {
  // A reused buffer goes back to the reader once each of its reads is released.
  let left = answers.length;
  const release = () => {
    left -= 1;
    if (left === 0 && reusable) pending.reader.give([buffer]);
  };
  for (const a of answers) {
    const r = pending.reads.get(a.id);
    pending.reads.delete(a.id);
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

function nestedReader() {
  const worker = new Worker(new URL('../reader.js', import.meta.url), { type: 'module', name: 'reader' });
  worker.addEventListener('message', (ev) => answer(ev.data));
  // The reader could not start or stopped: this thread reads from now on, the pending reads
  // included (nothing is lost, only the overlap with the wasm).
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    worker.terminate();
    pending.reader = reader(answer);
    pending.reader.files(pending.files);
    pending.reader.read([...pending.reads].map(([id, r]) => ({ id, file: r.file, len: r.len })));
  });
  return {
    files(list) { worker.postMessage({ type: 'files', files: list }); },
    give(buffers) { worker.postMessage({ type: 'give', buffers }, buffers); },
    read(list) { worker.postMessage({ type: 'read', reads: list }); },
  };
}

export function startReader() {
  try {
    pending.reader = nestedReader();
  } catch {
    pending.reader = reader(answer);
  }
}

/** The run's files: readFile(f) reads files[f]. */
export function useFiles(files) {
  pending.files = files;
  pending.reader.files(files);
}

export function readFile(file, len) {
  return new Promise((resolve, reject) => {
    const id = pending.nextId++;
    pending.reads.set(id, { file, len, resolve, reject });
    if (!pending.batch) {
      const list = pending.batch = [];
      queueMicrotask(() => { pending.batch = null; pending.reader.read(list); });
    }
    pending.batch.push({ id, file, len });
  });
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

/** Reads ahead: read(i) starts reading input i, size(i) its bytes; take(i) (in order) waits for
 *  input i's read. Reads are started in bulk once half have been taken, so that small ones are
 *  read together (reader.js). */
export function ahead(count, read, size) {
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
