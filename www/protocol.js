// The messages between the page (ui/workers.js) and the anonymiser's worker (worker.js), both
// directions. Each message is built by one function below and checked (its type, and the type
// of each field) by `check` when it is built and again when it is received, so that a change to
// a message shows at once on both sides. (reader.js has its own, smaller protocol with worker.js.)
//
// The run of one export:
//   worker → page   ready                        the wasm is initialised: 'run' may be sent
//   page → worker   run                          scan the files, plan, and send 'review'
//   worker → page   progress …                   after each file, at most every 100 ms
//   worker → page   review                       the job waits for 'confirm'
//   page → worker   confirm                      write the zip
//   worker → page   progress …, then done
//   worker → page   error                        at any time; the page then drops the worker
// Cancel (or leaving the review) terminates the worker: that frees the wasm memory at once.
// After an error the page discards the worker too (the wasm may be left in a bad state).

// Field types: a name of TYPES, '?' after it when null or absent is allowed too, or a list of
// the allowed values.
const TYPES = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number' && !Number.isNaN(v),
  boolean: (v) => typeof v === 'boolean',
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  array: (v) => Array.isArray(v),
  blob: (v) => v instanceof Blob,
  'blob[]': (v) => Array.isArray(v) && v.every((x) => x instanceof Blob),
  'string[]': (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  'pixels[]': (v) => Array.isArray(v) && v.every(pixelSeriesFits),
  'accepted[]': (v) => Array.isArray(v) && v.every((a) => TYPES.object(a) && typeof a.key === 'string' && boxesFit(a.boxes)),
  'faces[]': (v) => Array.isArray(v) && v.every(faceSeriesFits),
  'faceChoices[]': (v) => Array.isArray(v) && v.every((c) => TYPES.object(c) && typeof c.key === 'string' && typeof c.remove === 'boolean'),
};

// A box in image pixels: {x, y, width, height}, whole numbers, not negative.
const boxesFit = (boxes) => Array.isArray(boxes) && boxes.every((b) => TYPES.object(b)
  && ['x', 'y', 'width', 'height'].every((k) => Number.isInteger(b[k]) && b[k] >= 0));

// One series of the review's 'pixels' (see `review` below): its preview, or its `error`.
function pixelSeriesFits(p) {
  if (!TYPES.object(p) || typeof p.key !== 'string' || typeof p.label !== 'string') return false;
  if (!TYPES['string[]'](p.files) || !TYPES['string[]'](p.rules) || typeof p.needsAcceptance !== 'boolean') return false;
  if (!TYPES.object(p.match)) return false;
  if (typeof p.error === 'string') return true;
  const th = p.thumb;
  return ['columns', 'rows', 'frames'].every((k) => Number.isInteger(p[k])) && boxesFit(p.proposed)
    && TYPES.object(th) && th.grey instanceof Uint8Array && th.grey.length === th.width * th.height;
}

// A picture of the review's 'faces': {width, height, rgba (Uint8Array, 4 bytes a pixel)}.
const pictureFits = (p) => TYPES.object(p) && Number.isInteger(p.width) && Number.isInteger(p.height)
  && p.width >= 0 && p.height >= 0 && p.rgba instanceof Uint8Array && p.rgba.length === 4 * p.width * p.height;

// One head scan of the review's 'faces' (see `review` below): its pictures, or its `error`.
function faceSeriesFits(f) {
  if (!TYPES.object(f) || !['key', 'label', 'modality'].every((k) => typeof f[k] === 'string')) return false;
  const three = (a) => Array.isArray(a) && a.length === 3 && a.every((x) => TYPES.number(x));
  if (!three(f.dims) || !three(f.voxel) || !Number.isInteger(f.files)) return false;
  if (typeof f.error === 'string') return true;
  return Number.isInteger(f.voxels) && pictureFits(f.sagittal) && pictureFits(f.axial);
}

const PAGE_TO_WORKER = {
  run: { files: 'blob[]', names: 'string[]', secret: 'string', exportDate: 'string', settings: 'object' },
  confirm: { handle: 'object?', profiles: 'array', scratch: 'string?', mapping: 'boolean', pixelAccepted: 'accepted[]',
    faceChoices: 'faceChoices[]' },
};

const WORKER_TO_PAGE = {
  ready: {},
  progress: { phase: ['scan', 'preview', 'faces', 'export'], filesDone: 'number', filesTotal: 'number', bytesDone: 'number',
    bytesTotal: 'number', file: 'string' },
  review: { review: 'object', tables: 'array', exportFiles: 'number', exportBytes: 'number', pixels: 'pixels[]',
    faces: 'faces[]' },
  done: { zip: 'blob?', size: 'number', saved: 'boolean', scratch: 'string?', report: 'object',
    mapping: 'blob?', wasmMemory: 'number', timing: 'object' },
  error: { message: 'string', file: 'string?', fatal: 'boolean', code: ['engine-stopped', undefined] },
};

function fits(value, type) {
  if (Array.isArray(type)) return type.includes(value);
  if (type.endsWith('?') && value == null) return true;
  return TYPES[type.replace(/\?$/, '')](value);
}

/** `msg` if it is a message of `specs` (a known type, every field of the right type), else
 *  throws an Error that names the first wrong field. */
function check(msg, specs, direction) {
  const spec = msg && typeof msg === 'object' && Object.hasOwn(specs, msg.type) ? specs[msg.type] : null;
  if (!spec) throw new Error(`${direction}: unknown message ${JSON.stringify(msg?.type)}`);
  for (const [field, type] of Object.entries(spec)) {
    if (!fits(msg[field], type)) throw new Error(`${direction}: '${msg.type}' has a wrong ${field}`);
  }
  return msg;
}

/** A message the page received from the worker, checked. */
export function fromWorker(msg) { return check(msg, WORKER_TO_PAGE, 'worker → page'); }

/** A message the worker received from the page, checked. */
export function fromPage(msg) { return check(msg, PAGE_TO_WORKER, 'page → worker'); }

const toPage = (msg) => check(msg, WORKER_TO_PAGE, 'worker → page');
const toWorker = (msg) => check(msg, PAGE_TO_WORKER, 'page → worker');

/** page → worker: export `files` (File[]) named `names` (their relative paths, in order) with
 *  `secret` (the passphrase), `exportDate` ('YYYYMMDD', local) and `settings` (the wasm's
 *  Settings, ui/settings.js deidSettings). */
export function run({ files, names, secret, exportDate, settings }) {
  return toWorker({ type: 'run', files, names, secret, exportDate, settings });
}

/** page → worker: the user confirmed the review. The zip goes straight into the file of
 *  `handle` when given (File System Access API, chunk by chunk), else into the private file
 *  named `scratch` (worker/sink.js openScratch), else a Blob of parts. `profiles`
 *  [{input, profile}]: the table rules the user changed on the review (WebJob.setTableProfile:
 *  the tables' columns are decided again; their paths, and the review, stay). `mapping`: record
 *  the UID and patient ID mapping (WebJob.recordMapping). `pixelAccepted` [{key, boxes}]: the
 *  pixel series (review's `pixels`) the user accepted, with the boxes to black out, in image
 *  pixels (WebJob.acceptPixelBoxes). `faceChoices` [{key, remove}]: per head scan of the
 *  review's `faces`, whether its face is removed (WebJob.chooseFace; unticked: exported with
 *  its face). */
export function confirm({ handle = null, profiles = [], scratch = null, mapping = false, pixelAccepted = [],
  faceChoices = [] }) {
  return toWorker({ type: 'confirm', handle, profiles, scratch, mapping, pixelAccepted, faceChoices });
}

/** worker → page: the wasm is initialised; 'run' may be sent. */
export function ready() {
  return toPage({ type: 'ready' });
}

/** worker → page: `phase` ('scan', 'preview': the first file of each series with burned-in
 *  text read for the review, 'faces': the files of each head scan read and its face placed,
 *  or 'export') has handled `filesDone` of `filesTotal` inputs,
 *  `bytesDone` of `bytesTotal` bytes; `file` is the name of the input just handled. */
export function progress({ phase, filesDone, filesTotal, bytesDone, bytesTotal, file }) {
  return toPage({ type: 'progress', phase, filesDone, filesTotal, bytesDone, bytesTotal, file });
}

/** worker → page: the scan and the plan are done; the job stays alive until 'confirm'.
 *  `review` = WebJob.review(), `tables` = WebJob.tableReview() (both hold original identifiers,
 *  for the screen only); `exportFiles` and `exportBytes`: the inputs the plan exports.
 *  `pixels`: with the Clean Pixel Data option, the series whose pixels would be cleaned
 *  (WebJob.pixelSeries), each [{key, label, files (input names), rules (matching rules' names),
 *  needsAcceptance, match ({manufacturer, model, sopClass, rows, columns}: for a new rule),
 *  columns, rows, frames, thumb: {width, height, grey (Uint8Array, row-major)}, proposed (boxes
 *  in image pixels)}], or {key, label, files, rules, needsAcceptance, match, error}
 *  when its preview failed (the series then stays held back); [] without the option.
 *  `faces`: with the Clean Recognizable Visual Features option, the head scans whose face it
 *  removes (WebJob.faceSeries), each [{key, label, modality, dims, voxel (mm), files (count),
 *  voxels (removed), sagittal, axial: {width, height, rgba (Uint8Array, the region tinted)}}],
 *  or {key, label, modality, dims, voxel, files, error} when its face could not be placed (the
 *  series is then held back unless the user keeps its face); [] without the option. The
 *  pictures' buffers are transferred (worker/faces.js). */
export function review({ review, tables, exportFiles, exportBytes, pixels = [], faces = [] }) {
  return toPage({ type: 'review', review, tables, exportFiles, exportBytes, pixels, faces });
}

/** worker → page: the zip is written. `zip`: a Blob to offer (null when `saved` in the user's
 *  file), `size` its bytes, `scratch` the private file behind it if any; `report` =
 *  WebJob.report(); `mapping`: with confirm's `mapping`, WebJob.mappingZip() as a Blob (original
 *  identifiers), else null; `wasmMemory`: bytes of wasm memory, its peak (it never shrinks);
 *  `timing`: ms the worker spent by step (worker/timing.js). */
export function done({ zip, size, saved, scratch, report, mapping, wasmMemory, timing }) {
  return toPage({ type: 'done', zip, size, saved, scratch, report, mapping, wasmMemory, timing });
}

/** worker → page (or made by the page when the worker fails to load): `message`, the input being
 *  handled (`file`, or null), whether the run is over (`fatal`), and `code` 'engine-stopped'
 *  when the wasm trapped (out of memory, or a bug) on `file`: the page says what that means. */
export function error({ message, file = null, fatal, code }) {
  return toPage({ type: 'error', message: String(message), file, fatal: !!fatal, code });
}
