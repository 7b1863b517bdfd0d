// The browser peers of `make bench`, driven by webdriver/src/bin/bench.rs:
//   window.benchRun('dcmjs' | 'niivue-dcm2niix') starts a run on the files of #files and sets
//   window.__bench = { done, ms, files, outBytes, error } when it finishes (timed in the page).
import { Dcm2niix } from './vendor/dcm2niix/index.js';

let niivue = null;

// dcmjs: parse, dcmjs.anonymizer.cleanTags (its de-identification), write; one Blob per file
// (held in memory like a download; no zip, which favours the peer).
async function runDcmjs(files) {
  const outs = [];
  let outBytes = 0;
  for (const f of files) {
    const dict = dcmjs.data.DicomMessage.readFile(await f.arrayBuffer());
    dcmjs.anonymizer.cleanTags(dict.dict);
    const bytes = dict.write();
    outBytes += bytes.byteLength;
    outs.push(new Blob([bytes], { type: 'application/dicom' }));
  }
  window.__benchKeep = outs;
  return outBytes;
}

// @niivue/dcm2niix: dcm2niix compiled to WebAssembly, in its own worker; -z n (no gzip).
async function runNiivue(files) {
  const out = await niivue.input(files).z('n').run();
  window.__benchKeep = out;
  return out.reduce((n, f) => n + f.size, 0);
}

// Loads the wasm before the timed part, as the library's README does (init() before input()).
window.benchInit = async (tool) => {
  if (tool === 'niivue-dcm2niix' && !niivue) {
    niivue = new Dcm2niix();
    await niivue.init();
  }
  return true;
};

window.benchRun = (tool) => {
  const files = Array.from(document.getElementById('files').files);
  window.__bench = { done: false };
  window.__benchKeep = null;
  const t0 = performance.now();
  (tool === 'dcmjs' ? runDcmjs(files) : runNiivue(files)).then(
    (outBytes) => { window.__bench = { done: true, ms: performance.now() - t0, files: files.length, outBytes }; },
    (e) => { window.__bench = { done: true, error: String(e?.stack || e) }; },
  );
  return true;
};
