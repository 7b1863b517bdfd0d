//! The wasm binding of the capture core: a thin wasm-bindgen wrapper of [`Job`] for the Web
//! Worker (`www/worker.js`), which owns the wasm. Everything here converts values at the
//! boundary; the logic lives in the core (`crate/core`), which cannot import the browser.

use wasm_bindgen::prelude::*;

use capture::job::{Job, Scan, Settings};

#[wasm_bindgen(start)]
fn start() {
    // A panic reaches the worker's console with its message instead of "unreachable".
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Plain JS objects (not Maps) for the worker and the UI.
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&serializer).map_err(js_error)
}

/// Whether a file is a spreadsheet ([`capture::table::sheet::is_spreadsheet`]): the worker asks
/// before it opens a zip as a zip of inputs, since an `.xlsx` or `.ods` is a zip too.
#[wasm_bindgen(js_name = isSpreadsheet)]
pub fn is_spreadsheet(name: &str, head: &[u8]) -> bool {
    capture::table::sheet::is_spreadsheet(name, head)
}

#[wasm_bindgen]
pub struct WebJob {
    job: Job,
    /// The bytes of the file in hand, written by the worker through [`WebJob::buffer`]: one
    /// buffer for every file, so that reading a file leaves no garbage behind.
    buffer: Vec<u8>,
    /// The zip bytes of the last `exportUnreadable`, lent to the worker through views.
    out: Vec<Vec<u8>>,
}

/// `scan`'s answer: `{input}` once recorded, else `{needMore}` bytes of the file.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
enum ScanStep {
    Input(usize),
    NeedMore(f64),
}

#[derive(serde::Serialize)]
struct PlanStep<'a> {
    input: usize,
    path: &'a str,
}

#[wasm_bindgen]
impl WebJob {
    /// `settings`: a plain object (`{format: "dicom"}`); `secret`: the passphrase's
    /// UTF-8 bytes; `export_date`: today in local time, `YYYYMMDD`.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: JsValue, secret: &[u8], export_date: &str) -> Result<WebJob, JsError> {
        let settings: Settings = if settings.is_undefined() || settings.is_null() {
            Settings::default()
        } else {
            serde_wasm_bindgen::from_value(settings).map_err(js_error)?
        };
        Ok(WebJob { job: Job::new(settings, secret, export_date).map_err(js_error)?, buffer: Vec::new(), out: Vec::new() })
    }

    /// A view of `len` bytes of wasm memory for the worker to fill with (the start of) a file,
    /// then `scan` or `exportEach` them. The view is valid until the next call into the wasm (its
    /// memory may grow and move): fill it at once.
    pub fn buffer(&mut self, len: usize) -> js_sys::Uint8Array {
        self.buffer.resize(len, 0);
        // SAFETY: the view covers `buffer`'s initialised bytes; the worker writes them before
        // any other call into the wasm, which is when the memory could move.
        unsafe { js_sys::Uint8Array::view_mut_raw(self.buffer.as_mut_ptr(), len) }
    }

    /// First pass over one input of `size` bytes, given its first `len` bytes in `buffer`
    /// (or all of them); never throws for a bad file. `{input}`: its index; `{needMore: n}`:
    /// nothing recorded, scan it again with at least its first `n` bytes.
    pub fn scan(&mut self, name: &str, len: usize, size: f64) -> Result<JsValue, JsError> {
        let prefix = self.buffer.get(..len).ok_or_else(|| JsError::new("scan: more bytes than the buffer holds"))?;
        to_js(&match self.job.scan_prefix(name, prefix, size as u64) {
            Scan::Input(input) => ScanStep::Input(input),
            Scan::NeedMore(n) => ScanStep::NeedMore(n as f64),
        })
    }

    /// Records an input the browser could not read: skipped, `unreadable`; returns its index.
    pub fn unreadable(&mut self, name: &str, size: f64, reason: &str) -> usize {
        self.job.unreadable(name, size as u64, reason)
    }

    /// Records a zip entry the zip reader refused (`why`): skipped, `zip-entry-ignored`.
    #[wasm_bindgen(js_name = ignoredEntry)]
    pub fn ignored_entry(&mut self, name: &str, size: f64, why: &str) -> usize {
        self.job.ignored_entry(name, size as u64, why)
    }

    /// The export plan: `[{input, path}]` in output order.
    pub fn plan(&mut self) -> Result<JsValue, JsError> {
        let plan = self.job.plan().map_err(js_error)?;
        let steps: Vec<PlanStep> = plan.iter().map(|p| PlanStep { input: p.input, path: &p.path }).collect();
        to_js(&steps)
    }

    /// Second pass over one planned input, whole in the first `len` bytes of `buffer`: views of
    /// the zip bytes to append one after the other, handed to `write` (a JS function of an array
    /// of Uint8Array) as they are made (a cleaned cine frame by frame). The views die when
    /// `write` returns (no copy into a fresh JS buffer per file, nor of a NIfTI volume into the
    /// archive's buffer: write them out, or copy them, at once).
    #[wasm_bindgen(js_name = exportEach)]
    pub fn export_each(&mut self, input: usize, len: usize, write: &js_sys::Function) -> Result<(), JsError> {
        let bytes = self.buffer.get(..len).ok_or_else(|| JsError::new("export: more bytes than the buffer holds"))?;
        let mut failed = None;
        self.job
            .export_each(input, bytes, &mut |parts| {
                if failed.is_some() {
                    return;
                }
                // SAFETY: `parts` lives until this closure returns, and `write` is done with the
                // views by then (it writes or copies them); creating them allocates nothing in the wasm.
                let views: js_sys::Array =
                    parts.iter().filter(|p| !p.is_empty()).map(|p| unsafe { js_sys::Uint8Array::view(p) }).collect();
                failed = write.call1(&JsValue::NULL, &views).err();
            })
            .map_err(js_error)?;
        match failed {
            Some(e) => Err(JsError::new(&format!("the zip could not be written: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))),
            None => Ok(()),
        }
    }

    /// In place of `exportEach` for a planned input the browser could not read again: it is
    /// reported as skipped with `reason`; the views (an array of Uint8Array) are valid until the
    /// next call into the wasm.
    #[wasm_bindgen(js_name = exportUnreadable)]
    pub fn export_unreadable(&mut self, input: usize, reason: &str) -> Result<js_sys::Array, JsError> {
        self.out = self.job.export_unreadable(input, reason).map_err(js_error)?;
        Ok(self.views())
    }

    fn views(&self) -> js_sys::Array {
        // SAFETY: `out` lives until the next export; the worker writes the views out before
        // calling into the wasm again, and creating them allocates nothing in the wasm.
        self.out.iter().filter(|p| !p.is_empty()).map(|p| unsafe { js_sys::Uint8Array::view(p) }).collect()
    }

    /// The archive's last bytes.
    pub fn finish(&mut self) -> Result<Vec<u8>, JsError> {
        self.job.finish().map_err(js_error)
    }

    /// Before the first `exportEach`: record the UID and patient ID mapping for `mappingZip`
    /// (only when the user asks: it costs a look at every UID of each file).
    #[wasm_bindgen(js_name = recordMapping)]
    pub fn record_mapping(&mut self) -> Result<(), JsError> {
        self.job.record_mapping().map_err(js_error)
    }

    /// After `finish`, `recordMapping` having been called before the export: a zip of
    /// `patid_mapping.csv` and `uid_mapping.csv` (`id_old,id_new`). It holds original
    /// identifiers: offered on the user's request, never part of the export.
    #[wasm_bindgen(js_name = mappingZip)]
    pub fn mapping_zip(&self) -> Result<Vec<u8>, JsError> {
        self.job.mapping_zip().map_err(js_error)
    }

    /// The report as a plain object.
    pub fn report(&self) -> Result<JsValue, JsError> {
        to_js(&self.job.report())
    }

    /// After `plan`, before the first `exportEach`: what the user reviews before the zip is
    /// written, `{counts, descriptionAction, patients: [{patientResearchId, originalPatientId,
    /// visits: [{scanResearchId, studyDate, images, series: [{seriesNumber, modality,
    /// description, images}]}]}], excluded: [{input, name, size, outcome, reason}]}`.
    /// It holds original identifiers (for the screen and the re-identification table only).
    pub fn review(&self) -> Result<JsValue, JsError> {
        to_js(&self.job.review().map_err(js_error)?)
    }

    /// After the scans, before `plan`: the rules each EHR table would get, for the user to
    /// confirm. `[{input, name, table, encoding, delimiter, rows, malformedRows: [{line, fields,
    /// expected}], columns: [{name, output, rule, origin, reason, quasiIdentifier, samples}],
    /// profile}]`; `samples` are original values: show them, never store them.
    #[wasm_bindgen(js_name = tableReview)]
    pub fn table_review(&self) -> Result<JsValue, JsError> {
        to_js(&self.job.table_review())
    }

    /// After `plan`, with the Clean Pixel Data option: the series whose pixels it would clean,
    /// `[{key, inputs, modality, manufacturer, model, sopClass, rows, columns, rules,
    /// needsAcceptance}]` (`inputs[0]`: the file to preview; `needsAcceptance`: no rule matched,
    /// exported only if the user accepts its boxes).
    #[wasm_bindgen(js_name = pixelSeries)]
    pub fn pixel_series(&self) -> Result<JsValue, JsError> {
        to_js(&self.job.pixel_series())
    }

    /// The review's preview of input `input`, whole in the first `len` bytes of `buffer`:
    /// `{columns, rows, frames, thumbWidth, thumbHeight, thumb (Uint8Array, grey, row-major),
    /// proposed: [{x, y, width, height}]}` (boxes in image pixels: matching rules and detector).
    #[wasm_bindgen(js_name = pixelPreview)]
    pub fn pixel_preview(&self, input: usize, len: usize) -> Result<JsValue, JsError> {
        let bytes = self.buffer.get(..len).ok_or_else(|| JsError::new("pixelPreview: more bytes than the buffer holds"))?;
        let mut preview = self.job.pixel_preview(input, bytes).map_err(js_error)?;
        // The thumbnail as one Uint8Array, not an array of numbers.
        let thumb = std::mem::take(&mut preview.thumb);
        let out = to_js(&preview)?;
        js_sys::Reflect::set(&out, &JsValue::from_str("thumb"), &js_sys::Uint8Array::from(&thumb[..]))
            .map_err(|_| JsError::new("pixelPreview: could not set the thumbnail"))?;
        Ok(out)
    }

    /// After `plan`, before the export of the series `key`'s files: the boxes the user accepted
    /// on the review, `[{x, y, width, height}]` in image pixels; its files are then exported
    /// with exactly these boxes.
    #[wasm_bindgen(js_name = acceptPixelBoxes)]
    pub fn accept_pixel_boxes(&mut self, key: &str, boxes: JsValue) -> Result<(), JsError> {
        let boxes: Vec<capture::redact::Rect> = serde_wasm_bindgen::from_value(boxes).map_err(js_error)?;
        self.job.accept_pixel_boxes(key, boxes).map_err(js_error)
    }

    /// After `plan`, with the Clean Recognizable Visual Features option: the head scans whose
    /// face it removes, `[{key, label, modality, inputs, dims, voxel, chosen, fitted, failed}]`
    /// (`label`: series number and description, for the screen).
    #[wasm_bindgen(js_name = faceSeries)]
    pub fn face_series(&self) -> Result<JsValue, JsError> {
        to_js(&self.job.face_series())
    }

    /// One file of head scan `key`, input `input`, whole in the first `len` bytes of `buffer`:
    /// read again for the scan's registration.
    #[wasm_bindgen(js_name = faceAdd)]
    pub fn face_add(&mut self, key: &str, input: usize, len: usize) -> Result<(), JsError> {
        let bytes = self.buffer.get(..len).ok_or_else(|| JsError::new("faceAdd: more bytes than the buffer holds"))?;
        self.job.face_add(key, input, bytes).map_err(js_error)
    }

    /// Once all of head scan `key`'s files were added: its face placed, `{voxels, sagittal,
    /// axial}` with each picture `{width, height, rgba (Uint8Array)}`; an error says why it
    /// could not be placed (the scan is then held back unless the user keeps its face).
    #[wasm_bindgen(js_name = faceFit)]
    pub fn face_fit(&mut self, key: &str) -> Result<JsValue, JsError> {
        let preview = self.job.face_fit(key).map_err(js_error)?;
        let out = js_sys::Object::new();
        let set = |o: &js_sys::Object, k: &str, v: JsValue| js_sys::Reflect::set(o, &JsValue::from_str(k), &v).map(|_| ());
        let picture = |p: &capture::deface::Picture| {
            let o = js_sys::Object::new();
            set(&o, "width", p.width.into())?;
            set(&o, "height", p.height.into())?;
            set(&o, "rgba", js_sys::Uint8Array::from(&p.rgba[..]).into())?;
            Ok::<JsValue, JsValue>(o.into())
        };
        (|| {
            set(&out, "voxels", (preview.voxels as f64).into())?;
            set(&out, "sagittal", picture(&preview.sagittal)?)?;
            set(&out, "axial", picture(&preview.axial)?)
        })()
        .map_err(|_| JsError::new("faceFit: could not build the preview"))?;
        Ok(out.into())
    }

    /// The review's choice for head scan `key`: its face removed (the default) or kept.
    #[wasm_bindgen(js_name = chooseFace)]
    pub fn choose_face(&mut self, key: &str, remove: bool) -> Result<(), JsError> {
        self.job.choose_face(key, remove).map_err(js_error)
    }

    /// The confirmed rules of one table, before `plan` or between `plan` and the first
    /// `exportEach`: a profile
    /// `{columns: [{name, rule, quasiIdentifier}]}` (e.g. the review's `profile`, edited).
    #[wasm_bindgen(js_name = setTableProfile)]
    pub fn set_table_profile(&mut self, input: usize, profile: JsValue) -> Result<(), JsError> {
        self.job.set_table_profile(input, serde_wasm_bindgen::from_value(profile).map_err(js_error)?);
        Ok(())
    }
}

/// A file read synchronously through `read(position, length) → Uint8Array` (in the worker:
/// `FileReaderSync` over `File.slice`), so that a zip is read piece by piece, never whole.
struct JsReader {
    read: js_sys::Function,
    size: u64,
    pos: u64,
}

impl std::io::Read for JsReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = (buf.len() as u64).min(self.size.saturating_sub(self.pos));
        if len == 0 {
            return Ok(0);
        }
        let out = self
            .read
            .call2(&JsValue::NULL, &JsValue::from_f64(self.pos as f64), &JsValue::from_f64(len as f64))
            .map_err(|e| std::io::Error::other(e.as_string().unwrap_or_else(|| format!("{e:?}"))))?;
        let array = js_sys::Uint8Array::new(&out);
        let n = (array.length() as usize).min(len as usize);
        if n == 0 {
            return Err(std::io::Error::other("the zip file could not be read"));
        }
        array.subarray(0, n as u32).copy_to(&mut buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for JsReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| std::io::Error::other("seek before the start of the zip"))?;
        Ok(self.pos)
    }
}

/// An input zip (a PACS export), read entry by entry; see [`capture::unzip`].
#[wasm_bindgen]
pub struct WebZip {
    input: capture::unzip::ZipInput<std::io::BufReader<JsReader>>,
}

#[wasm_bindgen]
impl WebZip {
    /// `size`: the zip file's size; `read(position, length)`: its bytes, synchronously.
    /// Reads the central directory only.
    #[wasm_bindgen(constructor)]
    pub fn new(size: f64, read: js_sys::Function) -> Result<WebZip, JsError> {
        let reader = JsReader { read, size: size as u64, pos: 0 };
        let input = capture::unzip::ZipInput::open(std::io::BufReader::with_capacity(1 << 18, reader)).map_err(js_error)?;
        Ok(WebZip { input })
    }

    /// The file entries: `[{index, name, size, ignored?}]` (`ignored`: why it is not read).
    pub fn entries(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.input.entries())
    }

    /// One entry's bytes (only this entry is in memory).
    pub fn read(&mut self, index: usize) -> Result<Vec<u8>, JsError> {
        self.input.read(index).map_err(js_error)
    }
}
