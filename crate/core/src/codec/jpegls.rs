//! A JPEG-LS decoder (ITU-T T.87 | ISO/IEC 14495-1), written from the standard: lossless
//! and near-lossless, 2- to 16-bit samples, one to four components in one scan each
//! (interleave mode 0) or together (line, mode 1; sample, mode 2), preset parameters (LSE)
//! and restart intervals. Not decoded: mapping tables (palettes), point transforms, HP's
//! colour transforms (APP8 "mrfx") and sub-sampled components; DICOM uses none of them.
//!
//! Sample-interleaved run interruptions follow CharLS (the codec dcm2niix and most encoders
//! use, so the bytes agree): each component's interruption sample is predicted from the
//! sample above it with the run context of type 0.
//!
//! Hostile input gives a typed error, never a panic or a long loop: the frame must have the
//! size the DICOM header gives (which bounds every allocation), each component is decoded
//! once, every read is checked, and each step of the scan consumes a bit or a sample.

/// Why a JPEG-LS stream could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum JpegLsError {
    /// The stream does not start with a JPEG SOI marker.
    NotJpeg,
    /// The stream ends inside a marker segment or a scan, or before every component.
    Truncated,
    /// A marker that has no place here (a JPEG frame other than JPEG-LS, a second
    /// frame, a scan before the frame, a restart marker out of place).
    Marker(u8),
    /// A marker segment whose length does not fit its content.
    Segment(u8),
    /// The frame is not the size the DICOM header says.
    Size {
        found: [usize; 3],
        expected: [usize; 3],
    },
    /// Samples wider than the DICOM sample that should hold them (or than 16 bits).
    Width { precision: u8, bits_allocated: usize },
    /// Preset parameters or NEAR outside what T.87 allows.
    Parameters(&'static str),
    /// A scan names a component the frame does not have, or one already decoded.
    Component(u8),
    /// Coded data that no conformant encoder writes.
    Corrupt(&'static str),
    /// A T.87 feature this decoder leaves out (DICOM does not use it).
    Unsupported(&'static str),
}

impl std::fmt::Display for JpegLsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JpegLsError::NotJpeg => write!(f, "JPEG-LS: no SOI marker"),
            JpegLsError::Truncated => write!(f, "JPEG-LS: stream truncated"),
            JpegLsError::Marker(m) => write!(f, "JPEG-LS: unexpected marker 0xFF{m:02X}"),
            JpegLsError::Segment(m) => write!(f, "JPEG-LS: malformed 0xFF{m:02X} segment"),
            JpegLsError::Size { found, expected } => write!(
                f,
                "JPEG-LS frame of {}×{}×{} (columns, rows, components), {}×{}×{} expected",
                found[0], found[1], found[2], expected[0], expected[1], expected[2]
            ),
            JpegLsError::Width { precision, bits_allocated } => write!(
                f,
                "JPEG-LS samples of {precision} bits in {bits_allocated}-bit DICOM samples"
            ),
            JpegLsError::Parameters(what) => write!(f, "JPEG-LS: invalid {what}"),
            JpegLsError::Component(id) => write!(f, "JPEG-LS: scan of unknown or repeated component {id}"),
            JpegLsError::Corrupt(what) => write!(f, "JPEG-LS: corrupt scan ({what})"),
            JpegLsError::Unsupported(what) => write!(f, "JPEG-LS: {what} not supported"),
        }
    }
}

/// The image the DICOM header describes, which the stream must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub columns: usize,
    pub rows: usize,
    pub samples: usize,
    /// 8 or 16: the width of each output sample.
    pub bits_allocated: usize,
}

/// More samples than this (512 MiB of 16-bit output) is no real frame: refused before allocating.
const MAX_SAMPLES: usize = 1 << 28;

/// Decodes a JPEG-LS stream into `bits_allocated`-bit little-endian samples, colour
/// interleaved (pixel by pixel), whatever the stream's interleave mode. Values are given as
/// coded: a signed image keeps its two's complement bits, as DICOM stores them.
pub fn decode(stream: &[u8], expected: Expected) -> Result<Vec<u8>, JpegLsError> {
    let mut reader = Markers { data: stream, pos: 0 };
    if reader.byte()? != 0xFF || reader.byte()? != 0xD8 {
        return Err(JpegLsError::NotJpeg);
    }
    let mut frame: Option<Frame> = None;
    let mut presets = Presets::default();
    let mut restart = 0usize;
    let mut out = Vec::new();
    loop {
        let Some(marker) = reader.marker()? else {
            break; // the data ends without EOI: fine once every component is there
        };
        match marker {
            0xD9 => break,
            0xF7 => {
                if frame.is_some() {
                    return Err(JpegLsError::Marker(marker));
                }
                let f = Frame::read(reader.segment(marker)?, expected)?;
                out = vec![0u8; f.columns * f.rows * f.ids.len() * f.bytes];
                frame = Some(f);
            }
            0xF8 => presets.read(reader.segment(marker)?)?,
            0xDD => {
                let payload = reader.segment(marker)?;
                if !(2..=4).contains(&payload.len()) {
                    return Err(JpegLsError::Segment(marker));
                }
                restart = payload.iter().fold(0, |r, &b| r << 8 | b as usize);
            }
            0xDA => {
                let f = frame.as_mut().ok_or(JpegLsError::Marker(marker))?;
                let header = reader.segment(marker)?;
                let scan = Scan::read(header, f, &presets)?;
                let end = scan.decode(&stream[reader.pos..], f, restart, &mut out)?;
                reader.pos += end;
            }
            0xE8 => {
                // HP's colour transform: a non-zero one would need the inverse applied.
                let payload = reader.segment(marker)?;
                if payload.len() >= 5 && &payload[..4] == b"mrfx" && payload[4] != 0 {
                    return Err(JpegLsError::Unsupported("HP colour transform"));
                }
            }
            // Other JPEG frames, restart markers outside a scan, SOI again, TEM.
            0xC0..=0xCF | 0xD0..=0xD8 | 0x01 => return Err(JpegLsError::Marker(marker)),
            _ => {
                reader.segment(marker)?; // APPn, COM and the like: skipped
            }
        }
    }
    match frame {
        Some(f) if f.done.iter().all(|&d| d) => Ok(out),
        _ => Err(JpegLsError::Truncated),
    }
}

/// Reading marker segments.
struct Markers<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Markers<'a> {
    fn byte(&mut self) -> Result<u8, JpegLsError> {
        let b = *self.data.get(self.pos).ok_or(JpegLsError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next marker's code, after any 0xFF fill bytes; `None` at the end of the data
    /// (or in trailing zero padding).
    fn marker(&mut self) -> Result<Option<u8>, JpegLsError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        // Checked only when the next byte is 0, so that many small segments stay linear.
        if rest.first().is_none_or(|&b| b == 0) && rest.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if self.byte()? != 0xFF {
            return Err(JpegLsError::Corrupt("data where a marker should be"));
        }
        loop {
            match self.byte()? {
                0xFF => continue,
                code => return Ok(Some(code)),
            }
        }
    }

    /// The payload of the marker segment that starts here (after its length field).
    fn segment(&mut self, marker: u8) -> Result<&'a [u8], JpegLsError> {
        let length = u16::from_be_bytes([self.byte()?, self.byte()?]) as usize;
        let payload_len = length.checked_sub(2).ok_or(JpegLsError::Segment(marker))?;
        let payload = self
            .data
            .get(self.pos..self.pos + payload_len)
            .ok_or(JpegLsError::Truncated)?;
        self.pos += payload_len;
        Ok(payload)
    }
}

/// The frame header (SOF55) and what has been decoded of it.
struct Frame {
    precision: u8,
    columns: usize,
    rows: usize,
    /// Component identifiers, in frame order (the order of the output samples).
    ids: Vec<u8>,
    /// Whether a scan has decoded each component.
    done: Vec<bool>,
    /// Bytes per output sample.
    bytes: usize,
}

impl Frame {
    fn read(payload: &[u8], expected: Expected) -> Result<Frame, JpegLsError> {
        let bad = JpegLsError::Segment(0xF7);
        let (&[precision, y0, y1, x0, x1, count], specs) =
            payload.split_first_chunk::<6>().ok_or(bad.clone())?;
        if specs.len() != 3 * count as usize || count == 0 {
            return Err(bad);
        }
        let rows = u16::from_be_bytes([y0, y1]) as usize;
        let columns = u16::from_be_bytes([x0, x1]) as usize;
        let found = [columns, rows, count as usize];
        let wanted = [expected.columns, expected.rows, expected.samples];
        if found != wanted {
            return Err(JpegLsError::Size { found, expected: wanted });
        }
        if columns.saturating_mul(rows).saturating_mul(count as usize) > MAX_SAMPLES {
            return Err(JpegLsError::Unsupported("a frame of over 2^28 samples"));
        }
        if !(2..=16).contains(&precision)
            || !matches!(expected.bits_allocated, 8 | 16)
            || precision as usize > expected.bits_allocated
        {
            return Err(JpegLsError::Width { precision, bits_allocated: expected.bits_allocated });
        }
        let ids: Vec<u8> = specs.chunks(3).map(|c| c[0]).collect();
        if specs.chunks(3).any(|c| c[1] != 0x11) {
            return Err(JpegLsError::Unsupported("sub-sampled components"));
        }
        if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
            return Err(bad);
        }
        Ok(Frame {
            precision,
            columns,
            rows,
            done: vec![false; ids.len()],
            ids,
            bytes: expected.bits_allocated / 8,
        })
    }
}

/// Preset coding parameters (LSE, ID 1); 0 means the default.
#[derive(Default, Clone, Copy)]
struct Presets {
    maxval: u16,
    t: [u16; 3],
    reset: u16,
}

impl Presets {
    fn read(&mut self, payload: &[u8]) -> Result<(), JpegLsError> {
        match payload.first() {
            Some(1) if payload.len() == 11 => {
                let word = |i: usize| u16::from_be_bytes([payload[1 + 2 * i], payload[2 + 2 * i]]);
                *self = Presets {
                    maxval: word(0),
                    t: [word(1), word(2), word(3)],
                    reset: word(4),
                };
                Ok(())
            }
            Some(1) | None => Err(JpegLsError::Segment(0xF8)),
            // Mapping tables (used only by scans that name one, refused) and oversize
            // dimensions (the frame must match DICOM's 16-bit Rows and Columns anyway).
            Some(_) => Ok(()),
        }
    }
}

/// Default thresholds T1, T2, T3 for MAXVAL and NEAR (T.87 C.2.4.1.1.1).
fn default_thresholds(maxval: i32, near: i32) -> [i32; 3] {
    // A computed value outside [floor, MAXVAL] falls back to the floor.
    let clamp = |v: i32, floor: i32| if v > maxval || v < floor { floor } else { v };
    let (t1, t2, t3);
    if maxval >= 128 {
        let factor = (maxval.min(4095) + 128) / 256;
        t1 = clamp(factor + 2 + 3 * near, near + 1);
        t2 = clamp(factor * 4 + 3 + 5 * near, t1);
        t3 = clamp(factor * 17 + 4 + 7 * near, t2);
    } else {
        let factor = 256 / (maxval + 1);
        t1 = clamp((3 / factor + 3 * near).max(2), near + 1);
        t2 = clamp((7 / factor + 5 * near).max(3), t1);
        t3 = clamp((21 / factor + 7 * near).max(4), t2);
    }
    [t1, t2, t3]
}

/// The order of the run-length code for each RUNindex (T.87 A.7.1.2).
const J: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];

/// One scan: its components (indices into the frame), NEAR, interleave mode and the
/// coding parameters in force.
struct Scan {
    components: Vec<usize>,
    interleave: u8,
    coder: Coder,
}

impl Scan {
    fn read(payload: &[u8], frame: &mut Frame, presets: &Presets) -> Result<Scan, JpegLsError> {
        let bad = JpegLsError::Segment(0xDA);
        let count = *payload.first().ok_or(bad.clone())? as usize;
        if count == 0 || payload.len() != 4 + 2 * count {
            return Err(bad);
        }
        let mut components = Vec::with_capacity(count);
        for spec in payload[1..1 + 2 * count].chunks(2) {
            let index = frame.ids.iter().position(|&id| id == spec[0]);
            match index {
                Some(i) if !frame.done[i] && !components.contains(&i) => components.push(i),
                _ => return Err(JpegLsError::Component(spec[0])),
            }
            if spec[1] != 0 {
                return Err(JpegLsError::Unsupported("mapping table"));
            }
        }
        let [near, interleave, transform] = payload[1 + 2 * count..] else {
            return Err(bad);
        };
        if transform != 0 {
            return Err(JpegLsError::Unsupported("point transform"));
        }
        let interleave = match (count, interleave) {
            (1, _) => 0, // one component: the mode does not matter
            (_, 1 | 2) => interleave,
            _ => return Err(JpegLsError::Parameters("interleave mode")),
        };
        let coder = Coder::new(frame.precision, presets, near as i32)?;
        for &i in &components {
            frame.done[i] = true;
        }
        Ok(Scan { components, interleave, coder })
    }

    /// Decodes the scan's coded data at the start of `data` into `out`; returns the number
    /// of bytes up to the marker that follows it.
    fn decode(
        mut self,
        data: &[u8],
        frame: &Frame,
        restart: usize,
        out: &mut [u8],
    ) -> Result<usize, JpegLsError> {
        let width = frame.columns;
        let mut bits = Bits::new(data);
        let fresh = self.coder.clone();
        let mut planes: Vec<Plane> = self.components.iter().map(|_| Plane::new(width)).collect();
        for row in 0..frame.rows {
            if restart > 0 && row > 0 && row % restart == 0 {
                // Restart interval (T.87 D.2): a marker RSTm, then as if the image began anew.
                let m = bits.next_marker();
                if data.get(m + 1) != Some(&(0xD0 + ((row / restart - 1) % 8) as u8)) {
                    return Err(JpegLsError::Corrupt("restart marker missing"));
                }
                bits = Bits::new(&data[m + 2..]);
                bits.base = m + 2;
                self.coder = fresh.clone();
                planes.iter_mut().for_each(|p| *p = Plane::new(width));
            }
            for plane in &mut planes {
                plane.start_line();
            }
            if self.interleave == 2 {
                self.coder.sample_line(&mut bits, &mut planes)?;
            } else {
                for plane in &mut planes {
                    self.coder.line(&mut bits, plane)?;
                }
            }
            for (plane, &c) in planes.iter_mut().zip(&self.components) {
                let stride = frame.ids.len();
                let first = row * width * stride + c;
                for (x, &v) in plane.cur[1..=width].iter().enumerate() {
                    let at = (first + x * stride) * frame.bytes;
                    match frame.bytes {
                        1 => out[at] = v as u8,
                        _ => out[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes()),
                    }
                }
                std::mem::swap(&mut plane.prev, &mut plane.cur);
            }
        }
        Ok(bits.next_marker())
    }
}

/// The two lines a component's samples are predicted from: `prev` (above) and `cur`, each
/// with one sample of margin either side (T.87 A.2.1 edge rules), and its RUNindex.
struct Plane {
    prev: Vec<i32>,
    cur: Vec<i32>,
    run_index: usize,
}

impl Plane {
    fn new(width: usize) -> Plane {
        Plane { prev: vec![0; width + 2], cur: vec![0; width + 2], run_index: 0 }
    }

    /// The margins before a line: Rd past the end is Rb, Ra of the first sample is the
    /// sample above it (and stays as Rc for the next line).
    fn start_line(&mut self) {
        let w = self.prev.len() - 2;
        self.prev[w + 1] = self.prev[w];
        self.cur[0] = self.prev[1];
    }
}

/// Regular-mode contexts (365) and the two run-interruption contexts (365, 366).
const CONTEXTS: usize = 367;

/// The coding parameters and adaptive state of a scan (T.87 A.2).
#[derive(Clone)]
struct Coder {
    near: i32,
    maxval: i32,
    range: i32,
    qbpp: u32,
    limit: u32,
    reset: i64,
    t: [i32; 3],
    a: [i64; CONTEXTS],
    b: [i64; CONTEXTS],
    c: [i32; CONTEXTS],
    n: [i64; CONTEXTS],
    /// Nn of the two run-interruption contexts.
    nn: [i64; 2],
}

/// ceil(log2(v)) for v >= 1.
fn bits_for(v: i32) -> u32 {
    32 - (v - 1).max(0).leading_zeros()
}

impl Coder {
    fn new(precision: u8, presets: &Presets, near: i32) -> Result<Coder, JpegLsError> {
        let top = (1i32 << precision) - 1;
        let maxval = match presets.maxval as i32 {
            0 => top,
            m if m <= top => m,
            _ => return Err(JpegLsError::Parameters("MAXVAL")),
        };
        if near > (maxval / 2).min(255) {
            return Err(JpegLsError::Parameters("NEAR"));
        }
        let defaults = default_thresholds(maxval, near);
        let mut t = [0; 3];
        for i in 0..3 {
            t[i] = match presets.t[i] as i32 {
                0 => defaults[i],
                v => v,
            };
        }
        if !(near + 1 <= t[0] && t[0] <= t[1] && t[1] <= t[2] && t[2] <= maxval) {
            return Err(JpegLsError::Parameters("thresholds"));
        }
        let reset = match presets.reset as i32 {
            0 => 64,
            r if (3..=maxval.max(255)).contains(&r) => r,
            _ => return Err(JpegLsError::Parameters("RESET")),
        };
        let range = (maxval + 2 * near) / (2 * near + 1) + 1;
        let bpp = bits_for(maxval + 1).max(2);
        let a0 = ((range as i64 + 32) / 64).max(2);
        Ok(Coder {
            near,
            maxval,
            range,
            qbpp: bits_for(range),
            limit: 2 * (bpp + bpp.max(8)),
            reset: reset as i64,
            t,
            a: [a0; CONTEXTS],
            b: [0; CONTEXTS],
            c: [0; CONTEXTS],
            n: [1; CONTEXTS],
            nn: [0; 2],
        })
    }

    /// Quantised gradient (T.87 A.3.3), -4..=4.
    fn quantize(&self, d: i32) -> i32 {
        let [t1, t2, t3] = self.t;
        match d {
            _ if d <= -t3 => -4,
            _ if d <= -t2 => -3,
            _ if d <= -t1 => -2,
            _ if d < -self.near => -1,
            _ if d <= self.near => 0,
            _ if d < t1 => 1,
            _ if d < t2 => 2,
            _ if d < t3 => 3,
            _ => 4,
        }
    }

    /// The signed context of a sample from its neighbours; 0 means run mode.
    fn context(&self, ra: i32, rb: i32, rc: i32, rd: i32) -> i32 {
        (self.quantize(rd - rb) * 9 + self.quantize(rb - rc)) * 9 + self.quantize(rc - ra)
    }

    /// The sample from its prediction and its (signed, quantised) error, brought back
    /// into range modulo RANGE and clamped (T.87 A.4.2, A.5.1).
    fn reconstruct(&self, predicted: i32, error: i32) -> i32 {
        let step = 2 * self.near + 1;
        let mut x = predicted + error * step;
        if x < -self.near {
            x += self.range * step;
        } else if x > self.maxval + self.near {
            x -= self.range * step;
        }
        x.clamp(0, self.maxval)
    }

    /// Decodes one line of one component (interleave modes 0 and 1).
    fn line(&mut self, bits: &mut Bits, plane: &mut Plane) -> Result<(), JpegLsError> {
        let width = plane.cur.len() - 2;
        let (prev, cur) = (&plane.prev, &mut plane.cur);
        let mut x = 1;
        while x <= width {
            let (ra, rb, rc, rd) = (cur[x - 1], prev[x], prev[x - 1], prev[x + 1]);
            let q = self.context(ra, rb, rc, rd);
            if q != 0 {
                cur[x] = self.regular(bits, q, predict(ra, rb, rc))?;
                x += 1;
                continue;
            }
            let (run, interrupted) = self.run(bits, &mut plane.run_index, width + 1 - x)?;
            cur[x..x + run].fill(ra);
            x += run;
            if interrupted {
                let rb = prev[x];
                cur[x] = if (ra - rb).abs() <= self.near {
                    let e = self.interruption(bits, 1, plane.run_index)?;
                    self.reconstruct(ra, e)
                } else {
                    let e = self.interruption(bits, 0, plane.run_index)?;
                    self.reconstruct(rb, if rb < ra { -e } else { e })
                };
                plane.run_index = plane.run_index.saturating_sub(1);
                x += 1;
            }
        }
        Ok(())
    }

    /// Decodes one line of all components, sample by sample (interleave mode 2): run mode
    /// when every component's context is 0, one RUNindex for all.
    fn sample_line(&mut self, bits: &mut Bits, planes: &mut [Plane]) -> Result<(), JpegLsError> {
        let width = planes[0].cur.len() - 2;
        let mut q = [0i32; 4];
        let q = &mut q[..planes.len().min(4)];
        if q.len() != planes.len() {
            return Err(JpegLsError::Unsupported("more than 4 components in a scan"));
        }
        let mut x = 1;
        while x <= width {
            for (q, p) in q.iter_mut().zip(planes.iter()) {
                *q = self.context(p.cur[x - 1], p.prev[x], p.prev[x - 1], p.prev[x + 1]);
            }
            if q.iter().any(|&q| q != 0) {
                for (&q, p) in q.iter().zip(planes.iter_mut()) {
                    let predicted = predict(p.cur[x - 1], p.prev[x], p.prev[x - 1]);
                    p.cur[x] = self.regular(bits, q, predicted)?;
                }
                x += 1;
                continue;
            }
            let mut run_index = planes[0].run_index;
            let (run, interrupted) = self.run(bits, &mut run_index, width + 1 - x)?;
            for p in planes.iter_mut() {
                let ra = p.cur[x - 1];
                p.cur[x..x + run].fill(ra);
            }
            x += run;
            if interrupted {
                for p in planes.iter_mut() {
                    let (ra, rb) = (p.cur[x - 1], p.prev[x]);
                    let e = self.interruption(bits, 0, run_index)?;
                    p.cur[x] = self.reconstruct(rb, if rb < ra { -e } else { e });
                }
                run_index = run_index.saturating_sub(1);
                x += 1;
            }
            planes[0].run_index = run_index;
        }
        Ok(())
    }

    /// Regular mode (T.87 A.4 to A.6): prediction, its correction, the Golomb-coded error
    /// and the context update.
    fn regular(&mut self, bits: &mut Bits, q: i32, predicted: i32) -> Result<i32, JpegLsError> {
        let (sign, q) = if q < 0 { (-1, (-q) as usize) } else { (1, q as usize) };
        let predicted = (predicted + sign * self.c[q]).clamp(0, self.maxval);
        let k = golomb_k(self.n[q], self.a[q]);
        let mapped = bits.golomb(k, self.limit, self.qbpp)?;
        if mapped > 2 * self.range as u64 + 1 {
            return Err(JpegLsError::Corrupt("error value out of range"));
        }
        let mapped = mapped as i32;
        let mut error = if mapped % 2 == 0 { mapped / 2 } else { -(mapped + 1) / 2 };
        if self.near == 0 && k == 0 && 2 * self.b[q] <= -self.n[q] {
            error = -error - 1; // the mapping is inverted where the bias is negative
        }
        self.update(q, error);
        Ok(self.reconstruct(predicted, sign * error))
    }

    /// The adaptive statistics and the bias correction of regular context `q` (A.6).
    fn update(&mut self, q: usize, error: i32) {
        let (a, b, c, n) = (&mut self.a[q], &mut self.b[q], &mut self.c[q], &mut self.n[q]);
        *b += (error * (2 * self.near + 1)) as i64;
        *a += error.unsigned_abs() as i64;
        if *n == self.reset {
            *a >>= 1;
            *b >>= 1;
            *n >>= 1;
        }
        *n += 1;
        if *b <= -*n {
            *b += *n;
            if *c > -128 {
                *c -= 1;
            }
            if *b <= -*n {
                *b = -*n + 1;
            }
        } else if *b > 0 {
            *b -= *n;
            if *c < 127 {
                *c += 1;
            }
            if *b > 0 {
                *b = 0;
            }
        }
    }

    /// The length of a run from here (at most `left` samples) and whether it ends in an
    /// interruption sample rather than at the end of the line (T.87 A.7.1).
    fn run(&mut self, bits: &mut Bits, run_index: &mut usize, left: usize) -> Result<(usize, bool), JpegLsError> {
        let mut run = 0;
        while bits.bit()? {
            let segment = 1usize << J[*run_index];
            let taken = segment.min(left - run);
            run += taken;
            // Only a whole segment raises the order (the one ending the line may be partial).
            if taken == segment && *run_index < 31 {
                *run_index += 1;
            }
            if run == left {
                return Ok((run, false));
            }
        }
        let rest = bits.read(J[*run_index])? as usize;
        if run + rest >= left {
            return Err(JpegLsError::Corrupt("run past the end of the line"));
        }
        Ok((run + rest, true))
    }

    /// A run-interruption sample's error (T.87 A.7.2), for RItype `kind`, with the code
    /// length limit of the current RUNindex.
    fn interruption(&mut self, bits: &mut Bits, kind: usize, run_index: usize) -> Result<i32, JpegLsError> {
        let q = 365 + kind;
        let temp = self.a[q] + if kind == 1 { self.n[q] >> 1 } else { 0 };
        let k = golomb_k(self.n[q], temp);
        let limit = self.limit.checked_sub(J[run_index] + 1).ok_or(JpegLsError::Corrupt("code limit"))?;
        let mapped = bits.golomb(k, limit, self.qbpp)?;
        if mapped > 2 * self.range as u64 + 1 {
            return Err(JpegLsError::Corrupt("error value out of range"));
        }
        let t = mapped as i64 + kind as i64;
        let map = t & 1;
        let magnitude = (t + map) / 2;
        // Which parity codes a negative error depends on k and on Nn against N.
        let negative_odd = k != 0 || 2 * self.nn[kind] >= self.n[q];
        let error = if (map == 1) == negative_odd { -magnitude } else { magnitude };
        self.update_interruption(kind, error as i32, mapped as i64);
        Ok(error as i32)
    }

    /// The statistics of run-interruption context 365 + `kind` after coding `error`
    /// as `mapped` (T.87 A.7.2.2).
    fn update_interruption(&mut self, kind: usize, error: i32, mapped: i64) {
        let q = 365 + kind;
        if error < 0 {
            self.nn[kind] += 1;
        }
        self.a[q] += (mapped + 1 - kind as i64) >> 1;
        if self.n[q] == self.reset {
            self.a[q] >>= 1;
            self.n[q] >>= 1;
            self.nn[kind] >>= 1;
        }
        self.n[q] += 1;
    }
}

/// The median edge detector (T.87 A.4.1).
fn predict(ra: i32, rb: i32, rc: i32) -> i32 {
    if rc >= ra.max(rb) {
        ra.min(rb)
    } else if rc <= ra.min(rb) {
        ra.max(rb)
    } else {
        ra + rb - rc
    }
}

/// The Golomb parameter: the least k with N·2^k >= A.
fn golomb_k(n: i64, a: i64) -> u32 {
    let mut k = 0;
    while k < 40 && (n << k) < a {
        k += 1;
    }
    k
}

/// The bits of a scan: after a 0xFF byte the next byte's top bit is a stuffed 0, and 0xFF
/// followed by a byte with its top bit set is a marker, which ends the coded data.
struct Bits<'a> {
    data: &'a [u8],
    /// Offset of `data` in the slice the scan started with.
    base: usize,
    pos: usize,
    acc: u64,
    count: u32,
    after_ff: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits { data, base: 0, pos: 0, acc: 0, count: 0, after_ff: false }
    }

    /// Tops the accumulator up to at least 57 bits, or to the end of the coded data.
    fn fill(&mut self) {
        while self.count <= 56 {
            let Some(&byte) = self.data.get(self.pos) else { return };
            if self.after_ff {
                self.acc = self.acc << 7 | (byte & 0x7F) as u64;
                self.count += 7;
                self.after_ff = false;
            } else {
                if byte == 0xFF && self.data.get(self.pos + 1).is_none_or(|&b| b & 0x80 != 0) {
                    return; // a marker (or the end of the data)
                }
                self.acc = self.acc << 8 | byte as u64;
                self.count += 8;
                self.after_ff = byte == 0xFF;
            }
            self.pos += 1;
        }
    }

    fn read(&mut self, n: u32) -> Result<u32, JpegLsError> {
        if n == 0 {
            return Ok(0);
        }
        if self.count < n {
            self.fill();
            if self.count < n {
                return Err(JpegLsError::Truncated);
            }
        }
        self.count -= n;
        Ok((self.acc >> self.count) as u32 & (u32::MAX >> (32 - n)))
    }

    fn bit(&mut self) -> Result<bool, JpegLsError> {
        Ok(self.read(1)? == 1)
    }

    /// A length-limited Golomb code (T.87 A.5.3): unary quotient and k low bits, or after
    /// `limit - qbpp - 1` zeros the value less one in qbpp bits.
    fn golomb(&mut self, k: u32, limit: u32, qbpp: u32) -> Result<u64, JpegLsError> {
        let escape = limit.checked_sub(qbpp + 1).ok_or(JpegLsError::Corrupt("code limit"))?;
        let mut zeros = 0;
        loop {
            if self.count == 0 {
                self.fill();
                if self.count == 0 {
                    return Err(JpegLsError::Truncated);
                }
            }
            let window = self.acc << (64 - self.count);
            let leading = window.leading_zeros().min(self.count);
            zeros += leading;
            self.count -= leading;
            if zeros > escape {
                return Err(JpegLsError::Corrupt("Golomb code too long"));
            }
            if self.count > 0 {
                self.count -= 1; // the terminating 1
                break;
            }
        }
        if zeros < escape {
            if k > 32 {
                return Err(JpegLsError::Corrupt("Golomb parameter"));
            }
            let low = if k == 0 { 0 } else { self.read(k.min(32))? as u64 };
            Ok((zeros as u64) << k | low)
        } else {
            Ok(self.read(qbpp)? as u64 + 1)
        }
    }

    /// Offset (from the scan's start) of the marker that follows the coded data, or the
    /// end of the data: the unread bits are padding.
    fn next_marker(&self) -> usize {
        let mut at = self.pos;
        while at < self.data.len() {
            if self.data[at] == 0xFF && self.data.get(at + 1).is_none_or(|&b| b & 0x80 != 0) {
                break;
            }
            at += 1;
        }
        self.base + at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence (xorshift).
    fn noise(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    /// A `width` × `height` image of `precision` bits: gradients, noise and flat stretches
    /// (for run mode), every sample within range.
    fn image(width: usize, height: usize, precision: u8, seed: u64) -> Vec<u16> {
        let max = (1u32 << precision) - 1;
        let mut rng = noise(seed);
        (0..width * height)
            .map(|i| {
                let (x, y) = (i % width, i / width);
                let v = match (x / 5 + y / 3) % 3 {
                    0 => 7 * x as u64 + 3 * y as u64,           // smooth
                    1 => rng() % 9 + (x * y) as u64,            // noisy
                    _ => max as u64 / 3,                        // flat: runs
                };
                (v % (max as u64 + 1)) as u16
            })
            .collect()
    }

    /// Bits of a test stream, stuffed after 0xFF as T.87 says.
    #[derive(Default)]
    struct Writer {
        out: Vec<u8>,
        acc: u8,
        count: u32,
        after_ff: bool,
    }

    impl Writer {
        fn bit(&mut self, one: bool) {
            self.acc = self.acc << 1 | one as u8;
            self.count += 1;
            if self.count == if self.after_ff { 7 } else { 8 } {
                self.out.push(self.acc);
                self.after_ff = self.acc == 0xFF;
                (self.acc, self.count) = (0, 0);
            }
        }

        fn bits(&mut self, value: u64, n: u32) {
            (0..n).rev().for_each(|i| self.bit(value >> i & 1 == 1));
        }

        fn golomb(&mut self, value: u64, k: u32, limit: u32, qbpp: u32) {
            let escape = limit - qbpp - 1;
            if value >> k < escape as u64 {
                self.bits(1, (value >> k) as u32 + 1);
                self.bits(value, k);
            } else {
                self.bits(1, escape + 1);
                self.bits(value - 1, qbpp);
            }
        }

        /// Zero bits to the byte boundary, and a zero byte after a final 0xFF.
        fn flush(&mut self) -> Vec<u8> {
            while self.count > 0 {
                self.bit(false);
            }
            if self.after_ff {
                self.out.push(0);
            }
            std::mem::take(self).out
        }
    }

    /// How the test encoder codes an image.
    #[derive(Clone, Copy, Default)]
    struct Coding {
        precision: u8,
        near: u8,
        interleave: u8,
        restart: usize,
        presets: Option<[u16; 5]>,
    }

    /// A T.87 encoder for the tests (written from the standard, sharing the decoder's
    /// context model): the stream and the samples a decoder must reconstruct.
    fn encode_planes(planes: &[Vec<u16>], w: usize, h: usize, o: Coding) -> (Vec<u8>, Vec<Vec<u16>>) {
        let nc = planes.len();
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xF7];
        out.extend_from_slice(&(8 + 3 * nc as u16).to_be_bytes());
        out.push(o.precision);
        out.extend_from_slice(&(h as u16).to_be_bytes());
        out.extend_from_slice(&(w as u16).to_be_bytes());
        out.push(nc as u8);
        (0..nc).for_each(|c| out.extend_from_slice(&[c as u8 + 1, 0x11, 0]));
        let mut presets = Presets::default();
        if let Some(p) = o.presets {
            out.extend_from_slice(&[0xFF, 0xF8, 0, 13, 1]);
            p.iter().for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
            presets = Presets { maxval: p[0], t: [p[1], p[2], p[3]], reset: p[4] };
        }
        if o.restart > 0 {
            out.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
            out.extend_from_slice(&(o.restart as u16).to_be_bytes());
        }
        let scans: Vec<Vec<usize>> = match o.interleave {
            0 => (0..nc).map(|c| vec![c]).collect(),
            _ => vec![(0..nc).collect()],
        };
        let mut recon = vec![vec![0u16; w * h]; nc];
        for comps in scans {
            out.extend_from_slice(&[0xFF, 0xDA, 0, 6 + 2 * comps.len() as u8, comps.len() as u8]);
            comps.iter().for_each(|&c| out.extend_from_slice(&[c as u8 + 1, 0]));
            out.extend_from_slice(&[o.near, if comps.len() == 1 { 0 } else { o.interleave }, 0]);
            let fresh = Coder::new(o.precision, &presets, o.near as i32).unwrap();
            let mut co = fresh.clone();
            let mut state: Vec<Plane> = comps.iter().map(|_| Plane::new(w)).collect();
            let mut wr = Writer::default();
            for y in 0..h {
                if o.restart > 0 && y > 0 && y % o.restart == 0 {
                    out.extend(wr.flush());
                    out.extend_from_slice(&[0xFF, 0xD0 + ((y / o.restart - 1) % 8) as u8]);
                    co = fresh.clone();
                    state.iter_mut().for_each(|p| *p = Plane::new(w));
                }
                state.iter_mut().for_each(Plane::start_line);
                let rows: Vec<&[u16]> = comps.iter().map(|&c| &planes[c][y * w..(y + 1) * w]).collect();
                if o.interleave == 2 && comps.len() > 1 {
                    encode_samples(&mut co, &mut wr, &mut state, &rows);
                } else {
                    for (p, row) in state.iter_mut().zip(&rows) {
                        encode_line(&mut co, &mut wr, p, row);
                    }
                }
                for (p, &c) in state.iter_mut().zip(&comps) {
                    for x in 0..w {
                        recon[c][y * w + x] = p.cur[x + 1] as u16;
                    }
                    std::mem::swap(&mut p.prev, &mut p.cur);
                }
            }
            out.extend(wr.flush());
        }
        out.extend_from_slice(&[0xFF, 0xD9]);
        (out, recon)
    }

    fn quantize_error(co: &Coder, e: i32) -> i32 {
        let (n, step) = (co.near, 2 * co.near + 1);
        if e > 0 { (n + e) / step } else { -((n - e) / step) }
    }

    fn reduce(co: &Coder, mut e: i32) -> i32 {
        if e < 0 {
            e += co.range;
        }
        if e >= (co.range + 1) / 2 {
            e -= co.range;
        }
        e
    }

    fn encode_regular(co: &mut Coder, wr: &mut Writer, q: i32, predicted: i32, x: i32) -> i32 {
        let (sign, q) = if q < 0 { (-1, (-q) as usize) } else { (1, q as usize) };
        let px = (predicted + sign * co.c[q]).clamp(0, co.maxval);
        let e = quantize_error(co, sign * (x - px));
        let rx = co.reconstruct(px, sign * e);
        let e = reduce(co, e);
        let k = golomb_k(co.n[q], co.a[q]);
        let inverted = co.near == 0 && k == 0 && 2 * co.b[q] <= -co.n[q];
        let m = match (inverted, e >= 0) {
            (true, true) => 2 * e + 1,
            (true, false) => -2 * (e + 1),
            (false, true) => 2 * e,
            (false, false) => -2 * e - 1,
        };
        wr.golomb(m as u64, k, co.limit, co.qbpp);
        co.update(q, e);
        rx
    }

    fn encode_interruption(co: &mut Coder, wr: &mut Writer, kind: usize, px: i32, sign: i32, x: i32, ri: usize) -> i32 {
        let e = quantize_error(co, sign * (x - px));
        let rx = co.reconstruct(px, sign * e);
        let e = reduce(co, e);
        let q = 365 + kind;
        let k = golomb_k(co.n[q], co.a[q] + if kind == 1 { co.n[q] >> 1 } else { 0 });
        let few = 2 * co.nn[kind] < co.n[q];
        let map = (k == 0 && e > 0 && few) || (e < 0 && !few) || (e < 0 && k != 0);
        let em = 2 * e.abs() - kind as i32 - map as i32;
        wr.golomb(em as u64, k, co.limit - J[ri] - 1, co.qbpp);
        co.update_interruption(kind, e, em as i64);
        rx
    }

    fn write_run(wr: &mut Writer, ri: &mut usize, mut run: usize, end_of_line: bool) {
        while run >= 1 << J[*ri] {
            wr.bit(true);
            run -= 1 << J[*ri];
            *ri = (*ri + 1).min(31);
        }
        if end_of_line {
            if run > 0 {
                wr.bit(true);
            }
        } else {
            wr.bit(false);
            wr.bits(run as u64, J[*ri]);
        }
    }

    fn encode_line(co: &mut Coder, wr: &mut Writer, p: &mut Plane, src: &[u16]) {
        let (w, mut x) = (src.len(), 1);
        while x <= w {
            let (ra, rb, rc, rd) = (p.cur[x - 1], p.prev[x], p.prev[x - 1], p.prev[x + 1]);
            let q = co.context(ra, rb, rc, rd);
            if q != 0 {
                p.cur[x] = encode_regular(co, wr, q, predict(ra, rb, rc), src[x - 1] as i32);
                x += 1;
                continue;
            }
            let mut run = 0;
            while x + run <= w && (src[x + run - 1] as i32 - ra).abs() <= co.near {
                run += 1;
            }
            let end = x + run > w;
            write_run(wr, &mut p.run_index, run, end);
            p.cur[x..x + run].fill(ra);
            x += run;
            if !end {
                let rb = p.prev[x];
                let kind = ((ra - rb).abs() <= co.near) as usize;
                let (px, sign) = if kind == 1 { (ra, 1) } else { (rb, if ra > rb { -1 } else { 1 }) };
                p.cur[x] = encode_interruption(co, wr, kind, px, sign, src[x - 1] as i32, p.run_index);
                p.run_index = p.run_index.saturating_sub(1);
                x += 1;
            }
        }
    }

    fn encode_samples(co: &mut Coder, wr: &mut Writer, ps: &mut [Plane], rows: &[&[u16]]) {
        let (w, mut x) = (rows[0].len(), 1);
        while x <= w {
            let qs: Vec<i32> =
                ps.iter().map(|p| co.context(p.cur[x - 1], p.prev[x], p.prev[x - 1], p.prev[x + 1])).collect();
            if qs.iter().any(|&q| q != 0) {
                for ((p, &q), row) in ps.iter_mut().zip(&qs).zip(rows) {
                    let predicted = predict(p.cur[x - 1], p.prev[x], p.prev[x - 1]);
                    p.cur[x] = encode_regular(co, wr, q, predicted, row[x - 1] as i32);
                }
                x += 1;
                continue;
            }
            let mut run = 0;
            while x + run <= w
                && ps.iter().zip(rows).all(|(p, row)| (row[x + run - 1] as i32 - p.cur[x - 1]).abs() <= co.near)
            {
                run += 1;
            }
            let end = x + run > w;
            let mut ri = ps[0].run_index;
            write_run(wr, &mut ri, run, end);
            for p in ps.iter_mut() {
                let ra = p.cur[x - 1];
                p.cur[x..x + run].fill(ra);
            }
            x += run;
            if !end {
                for (p, row) in ps.iter_mut().zip(rows) {
                    let (ra, rb) = (p.cur[x - 1], p.prev[x]);
                    let sign = if ra > rb { -1 } else { 1 };
                    p.cur[x] = encode_interruption(co, wr, 0, rb, sign, row[x - 1] as i32, ri);
                }
                ri = ri.saturating_sub(1);
                x += 1;
            }
            ps[0].run_index = ri;
        }
    }

    /// One grey image, lossless or near-lossless.
    fn encode(pixels: &[u16], width: usize, height: usize, precision: u8, near: u8) -> Vec<u8> {
        let coding = Coding { precision, near, ..Coding::default() };
        encode_planes(&[pixels.to_vec()], width, height, coding).0
    }

    fn expected(width: usize, height: usize, samples: usize, bits_allocated: usize) -> Expected {
        Expected { columns: width, rows: height, samples, bits_allocated }
    }

    fn bytes(samples: &[u16], bits_allocated: usize) -> Vec<u8> {
        match bits_allocated {
            8 => samples.iter().map(|&v| v as u8).collect(),
            _ => samples.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// Lossless grey streams decode to the original samples; near-lossless ones to what the
    /// encoder reconstructed, within NEAR of the original.
    #[test]
    fn grey_streams_decode() {
        let sizes = [(1, 1), (1, 17), (17, 1), (13, 7), (64, 40)];
        for (seed, &(w, h)) in sizes.iter().enumerate() {
            for precision in [2u8, 5, 8, 12, 16] {
                let bits = if precision <= 8 { 8 } else { 16 };
                let pixels = image(w, h, precision, seed as u64 + 1);
                let lossless = encode(&pixels, w, h, precision, 0);
                let decoded = decode(&lossless, expected(w, h, 1, bits));
                assert_eq!(decoded, Ok(bytes(&pixels, bits)), "{w}×{h}, {precision} bits");
                let max_near = ((1u32 << precision) - 1) / 2;
                for near in [1u8, 3].into_iter().filter(|&n| n as u32 <= max_near) {
                    let coding = Coding { precision, near, ..Coding::default() };
                    let (lossy, recon) = encode_planes(&[pixels.clone()], w, h, coding);
                    let ours = decode(&lossy, expected(w, h, 1, bits));
                    assert_eq!(ours, Ok(bytes(&recon[0], bits)), "{w}×{h}, {precision} bits, NEAR {near}");
                    for (a, b) in recon[0].iter().zip(&pixels) {
                        assert!(a.abs_diff(*b) <= near as u16);
                    }
                }
            }
        }
    }

    /// dcmtk's padding of an odd-length stream (a 0xFF fill byte before EOI), zero padding
    /// after EOI and a missing EOI all decode to the original samples.
    #[test]
    fn padded_streams_decode() {
        let pixels = image(12, 7, 12, 5);
        let stream = encode(&pixels, 12, 7, 12, 0);
        assert_eq!(stream[stream.len() - 2..], [0xFF, 0xD9]);
        let body = &stream[..stream.len() - 2];
        let filled = [body, &[0xFF, 0xFF, 0xD9]].concat();
        let zeroed = [&stream[..], &[0, 0, 0]].concat();
        for s in [&stream[..], &filled, &zeroed, body] {
            assert_eq!(decode(s, expected(12, 7, 1, 16)), Ok(bytes(&pixels, 16)));
        }
        assert_eq!(
            decode(&stream, expected(12, 7, 1, 8)),
            Err(JpegLsError::Width { precision: 12, bits_allocated: 8 })
        );
    }

    /// A colour frame in three scans (interleave mode 0, one component each, here in the
    /// order 3, 1, 2) comes out pixel-interleaved in the frame's component order.
    #[test]
    fn colour_in_three_scans_interleaves() {
        let (w, h) = (9, 6);
        let planes: Vec<Vec<u16>> = (0..3).map(|c| image(w, h, 8, 10 + c)).collect();
        let mut stream = vec![0xFF, 0xD8, 0xFF, 0xF7, 0, 17, 8, 0, h as u8, 0, w as u8, 3];
        stream.extend_from_slice(&[1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
        for c in [2, 0, 1] {
            let grey = encode(&planes[c], w, h, 8, 0);
            let sos = grey.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
            let mut scan = grey[sos..grey.len() - 2].to_vec();
            scan[5] = c as u8 + 1; // the component the scan codes
            stream.extend_from_slice(&scan);
        }
        stream.extend_from_slice(&[0xFF, 0xD9]);
        let interleaved: Vec<u8> = (0..w * h).flat_map(|i| planes.iter().map(move |p| p[i] as u8)).collect();
        assert_eq!(decode(&stream, expected(w, h, 3, 8)), Ok(interleaved));
        // The same component twice, or one missing.
        let sos = stream.windows(2).rposition(|m| m == [0xFF, 0xDA]).unwrap();
        let mut twice = stream.clone();
        twice[sos + 5] = 3;
        assert_eq!(decode(&twice, expected(w, h, 3, 8)), Err(JpegLsError::Component(3)));
        let missing = [&stream[..sos], &[0xFF, 0xD9]].concat();
        assert_eq!(decode(&missing, expected(w, h, 3, 8)), Err(JpegLsError::Truncated));
    }

    /// Colour in each interleave mode, lossless and near-lossless, with and without a
    /// restart interval and preset parameters: the decoder gives what the encoder
    /// reconstructed, pixel-interleaved.
    #[test]
    fn colour_in_every_interleave_mode() {
        let (w, h) = (23, 11);
        let planes: Vec<Vec<u16>> =
            (0..3).map(|c| image(w, h, 8, 20 + c).iter().map(|&v| v.min(200)).collect()).collect();
        for interleave in 0..3 {
            for near in [0u8, 2] {
                for (restart, presets) in [(0, None), (4, Some([200, 4, 9, 30, 32]))] {
                    let coding = Coding { precision: 8, near, interleave, restart, presets };
                    let (stream, recon) = encode_planes(&planes, w, h, coding);
                    let want: Vec<u8> = (0..w * h).flat_map(|i| recon.iter().map(move |p| p[i] as u8)).collect();
                    let label = format!("interleave {interleave}, NEAR {near}, restart {restart}");
                    assert_eq!(decode(&stream, expected(w, h, 3, 8)), Ok(want), "{label}");
                    for (r, p) in recon.iter().zip(&planes) {
                        assert!(r.iter().zip(p).all(|(a, b)| a.abs_diff(*b) <= near as u16), "{label}");
                    }
                }
            }
        }
    }

    /// The default thresholds T.87 gives for 8-bit and 12-bit (and wider) samples.
    #[test]
    fn default_thresholds_of_the_standard() {
        assert_eq!(default_thresholds(255, 0), [3, 7, 21]);
        assert_eq!(default_thresholds(4095, 0), [18, 67, 276]);
        assert_eq!(default_thresholds(65535, 0), [18, 67, 276]);
    }

    /// Headers that do not fit the DICOM frame, or use what DICOM does not, are refused.
    #[test]
    fn headers_that_do_not_fit_are_refused() {
        let pixels = image(10, 4, 8, 3);
        let stream = encode(&pixels, 10, 4, 8, 0);
        assert_eq!(decode(&stream[2..], expected(10, 4, 1, 8)), Err(JpegLsError::NotJpeg));
        assert_eq!(
            decode(&stream, expected(4, 10, 1, 8)),
            Err(JpegLsError::Size { found: [10, 4, 1], expected: [4, 10, 1] })
        );
        let sos = stream.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
        let mut mapped = stream.clone();
        mapped[sos + 6] = 1; // a mapping table
        assert_eq!(decode(&mapped, expected(10, 4, 1, 8)), Err(JpegLsError::Unsupported("mapping table")));
        let mut near = stream.clone();
        near[sos + 7] = 200; // NEAR above MAXVAL / 2
        assert_eq!(decode(&near, expected(10, 4, 1, 8)), Err(JpegLsError::Parameters("NEAR")));
    }

    /// Truncated and corrupted streams give an error (or, where the damage misses the coded
    /// data, the right image): never a panic, and quickly.
    #[test]
    fn hostile_streams_give_errors() {
        let (w, h) = (40, 30);
        let pixels = image(w, h, 12, 9);
        let grey = (encode(&pixels, w, h, 12, 0), expected(w, h, 1, 16), bytes(&pixels, 16));
        let planes: Vec<Vec<u16>> = (0..3).map(|c| image(w, h, 8, 30 + c)).collect();
        let coding = Coding { precision: 8, near: 1, interleave: 2, restart: 7, presets: None };
        let (stream, recon) = encode_planes(&planes, w, h, coding);
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| recon.iter().map(move |p| p[i] as u8)).collect();
        let colour = (stream, expected(w, h, 3, 8), rgb);
        let mut rng = noise(77);
        let started = std::time::Instant::now();
        for (stream, shape, good) in [grey, colour] {
            assert_eq!(decode(&stream[..stream.len() / 2], shape), Err(JpegLsError::Truncated));
            for cut in 0..stream.len() {
                if let Ok(v) = decode(&stream[..cut], shape) {
                    assert_eq!(v, good, "cut at {cut}");
                }
            }
            for _ in 0..3000 {
                let mut bad = stream.clone();
                for _ in 0..1 + rng() % 4 {
                    let at = rng() as usize % bad.len();
                    bad[at] = rng() as u8;
                }
                let _ = decode(&bad, shape);
            }
        }
        let shape = expected(w, h, 1, 16);
        let garbage: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xF7, 0, 11, 16, 0, h as u8, 0, w as u8, 1, 1, 0x11, 0]
            .into_iter()
            .chain([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0, 0])
            .chain((0..500).map(|_| rng() as u8))
            .collect();
        assert!(decode(&garbage, shape).is_err());
        assert!(started.elapsed().as_secs() < 20, "hostile streams took {:?}", started.elapsed());
    }
}
