// Where the zip goes: the user's file on disk (FileSystemWritableFileStream), a private file of
// the origin (openScratch), or a list of Blob parts. Each sink has write(chunk), close() →
// {zip, size, saved, scratch?} and abort(); the private file and the Blobs also writeSync(chunk),
// which is done with `chunk` when it returns (for views of wasm memory).

// The private file is written this much at a time (one write of a large volume was several
// times slower than the same bytes in pieces).
const WRITE_PIECE = 4 * 1024 * 1024;
// Chunks smaller than this are gathered (in a buffer of WRITE_PIECE) and written together:
// each write has a fixed cost whatever its size.
const GATHER_BELOW = 256 * 1024;

/** The sink for 'confirm': `handle` (the user's file) if given, else the private file `name`,
 *  else Blob parts. `expected` is about the zip's size (the planned inputs' bytes). */
export async function openSink(handle, name, expected) {
  if (handle) return gathering(diskSink(await handle.createWritable()));
  const scratch = name && await openScratch(name, expected);
  return gathering(scratch ? scratchSink(scratch, name) : blobSink());
}

function diskSink(writable) {
  let size = 0;
  return {
    async write(chunk) { size += chunk.length; await writable.write(chunk); },
    async close() { await writable.close(); return { zip: null, size, saved: true }; },
    async abort() { try { await writable.abort(); } catch { /* already closed */ } },
  };
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

function scratchSink({ dir, file, access }, name) {
  let at = 0;
  const writeSync = (chunk) => {
    for (let from = 0; from < chunk.length; from += WRITE_PIECE) {
      const piece = chunk.subarray(from, from + WRITE_PIECE);
      const n = access.write(piece, { at });
      if (n !== piece.length) throw new Error('The browser\'s storage is full');
      at += n;
    }
  };
  return {
    writeSync,
    async write(chunk) { writeSync(chunk); },
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

function blobSink() {
  const parts = [];
  const writeSync = (chunk) => { parts.push(new Blob([chunk])); };
  return {
    writeSync,
    async write(chunk) { writeSync(chunk); },
    async close() {
      const zip = new Blob(parts, { type: 'application/zip' });
      return { zip, size: zip.size, saved: false };
    },
    async abort() { parts.length = 0; },
  };
}

/** `sink` with its small writes gathered (and writeSync where `sink` has it). */
function gathering(sink) {
  const stage = new Uint8Array(WRITE_PIECE);
  let used = 0;
  const flush = async () => {
    if (used) await sink.write(stage.subarray(0, used));
    used = 0;
  };
  const gathered = {
    async write(chunk) {
      if (used + chunk.length > stage.length || chunk.length >= GATHER_BELOW) await flush();
      if (chunk.length >= GATHER_BELOW) return sink.write(chunk);
      stage.set(chunk, used);
      used += chunk.length;
    },
    async close() { await flush(); return sink.close(); },
    abort: () => sink.abort(),
  };
  if (sink.writeSync) {
    gathered.writeSync = (chunk) => {
      if (used + chunk.length > stage.length || chunk.length >= GATHER_BELOW) {
        if (used) sink.writeSync(stage.subarray(0, used));
        used = 0;
      }
      if (chunk.length >= GATHER_BELOW) return sink.writeSync(chunk);
      stage.set(chunk, used);
      used += chunk.length;
    };
  }
  return gathered;
}
