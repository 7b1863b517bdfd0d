//! Sequential DCT JPEG with Huffman coding and 8-bit samples (baseline, and extended with
//! 8-bit precision), decoded with the integer arithmetic of dcm2niix's built-in decoder
//! (its `ujpeg`, a NanoJPEG): the same fixed-point IDCT, chroma upsampling filter and
//! YCbCr → RGB, so that a lossy JPEG series gives dcm2niix's voxels byte for byte. Lossy
//! decoders may round as they like; matching the reference is what lets the NIfTI tests
//! compare these series byte for byte too.
//!
//! What that decoder does not handle (other processes, precisions and component counts,
//! one scan per component, chroma planes narrower than 3 samples) is `Unsupported`: the
//! caller decodes it another way. Hostile input is expected: the frame must have the size
//! the DICOM header declares before anything is allocated, every index is checked, and a
//! stream that runs out of data is an error, not an image of padding.

/// Whether three components are YCbCr to convert to RGB, or RGB already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// Y, Cb, Cr (JFIF): converted to R, G, B.
    Ycbcr,
    /// Samples are kept as coded (DICOM Photometric Interpretation RGB).
    AsCoded,
}

/// The frame the DICOM header declares: the JPEG frame must be exactly this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub columns: usize,
    pub rows: usize,
    pub samples: usize,
}

/// Why a JPEG stream could not be decoded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JpegError {
    /// No start-of-image marker.
    NotJpeg,
    /// A marker segment runs past the end of the stream, or the coded data ends early.
    Truncated,
    /// A coding process other than sequential DCT with Huffman coding (SOF marker).
    Process(u8),
    /// Sample precision other than 8 bits.
    Precision(u8),
    /// A form dcm2niix's decoder does not handle either.
    Unsupported(&'static str),
    /// Malformed stream.
    Invalid(&'static str),
    /// The frame is not the one the DICOM header declares.
    Size {
        width: usize,
        height: usize,
        components: usize,
        expected: Expected,
    },
}

impl JpegError {
    /// Whether another decoder may still decode the stream (it is not malformed, only
    /// outside of what this one does).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            JpegError::Process(_) | JpegError::Precision(_) | JpegError::Unsupported(_)
        )
    }
}

impl std::fmt::Display for JpegError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JpegError::NotJpeg => write!(f, "JPEG: no start-of-image marker"),
            JpegError::Truncated => write!(f, "JPEG: the stream ends early"),
            JpegError::Process(m) => write!(
                f,
                "JPEG: coding process of marker SOF{} is not sequential DCT with Huffman coding",
                m.wrapping_sub(0xC0)
            ),
            JpegError::Precision(p) => write!(f, "JPEG: {p}-bit samples, 8 expected"),
            JpegError::Unsupported(what) => write!(f, "JPEG: {what} is not supported"),
            JpegError::Invalid(why) => write!(f, "JPEG: {why}"),
            JpegError::Size {
                width,
                height,
                components,
                expected,
            } => write!(
                f,
                "JPEG frame of {width} × {height} × {components}, the DICOM header declares {} × {} × {}",
                expected.columns, expected.rows, expected.samples
            ),
        }
    }
}

/// A size that does not fit in memory's addresses (on wasm32, 4 GiB).
const TOO_LARGE: JpegError = JpegError::Invalid("frame too large to decode");

/// `a × b`, or `TOO_LARGE`.
fn area(a: usize, b: usize) -> Result<usize, JpegError> {
    a.checked_mul(b).ok_or(TOO_LARGE)
}

/// Natural (row-major) position of the `k`-th coefficient in zig-zag order.
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Decodes `stream` into 8-bit samples, rows top-down, colour interleaved.
pub fn decode(stream: &[u8], expected: Expected, colour: Colour) -> Result<Vec<u8>, JpegError> {
    if !stream.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegError::NotJpeg);
    }
    let mut at = 2;
    let mut tables = Tables::default();
    let mut frame: Option<Frame> = None;
    let mut restart_interval = 0usize;
    loop {
        let marker = next_marker(stream, &mut at)?;
        match marker {
            0xC0 | 0xC1 => {
                if frame.is_some() {
                    return Err(JpegError::Invalid("more than one frame header"));
                }
                frame = Some(Frame::parse(segment(stream, &mut at)?, expected)?);
            }
            0xC4 => tables.huffman(segment(stream, &mut at)?)?,
            0xDB => tables.quantisation(segment(stream, &mut at)?)?,
            0xDD => {
                let s = segment(stream, &mut at)?;
                let n = s.get(..2).ok_or(JpegError::Invalid("short DRI segment"))?;
                restart_interval = u16::from_be_bytes([n[0], n[1]]) as usize;
            }
            0xDA => {
                let mut frame = frame.ok_or(JpegError::Invalid("scan before the frame header"))?;
                let header = segment(stream, &mut at)?;
                let data = stream.get(at..).unwrap_or(&[]);
                frame.decode_scan(header, data, &tables, restart_interval)?;
                // Whatever follows the first scan (its EOI, padding) is not read, as dcm2niix.
                return frame.into_samples(colour);
            }
            0xE0..=0xEF | 0xFE => {
                segment(stream, &mut at)?;
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(JpegError::Process(marker))
            }
            0xD9 => return Err(JpegError::Invalid("end of image before any scan")),
            _ => {
                return Err(JpegError::Unsupported(
                    "a marker other than SOF, DHT, DQT, DRI, SOS, APPn, COM",
                ))
            }
        }
    }
}

/// The code of the marker at `at` (after any 0xFF fill bytes), moving past it.
fn next_marker(stream: &[u8], at: &mut usize) -> Result<u8, JpegError> {
    if stream.get(*at) != Some(&0xFF) {
        return match stream.get(*at) {
            None => Err(JpegError::Truncated),
            Some(_) => Err(JpegError::Invalid("marker expected")),
        };
    }
    while stream.get(*at) == Some(&0xFF) {
        *at += 1;
    }
    let code = *stream.get(*at).ok_or(JpegError::Truncated)?;
    *at += 1;
    Ok(code)
}

/// The payload of the marker segment at `at` (after its 2-byte length), moving past it.
fn segment<'a>(stream: &'a [u8], at: &mut usize) -> Result<&'a [u8], JpegError> {
    let length = stream.get(*at..*at + 2).ok_or(JpegError::Truncated)?;
    let length = u16::from_be_bytes([length[0], length[1]]) as usize;
    if length < 2 {
        return Err(JpegError::Invalid("marker segment length below 2"));
    }
    let payload = stream
        .get(*at + 2..*at + length)
        .ok_or(JpegError::Truncated)?;
    *at += length;
    Ok(payload)
}

/// A Huffman table in canonical form (ITU T.81 Annex C and F.2.2.3).
struct Huffman {
    /// Per code length 1..=16: the largest code of that length (-1 when none), and the
    /// index in `symbols` of its smallest code minus that code.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
    /// Codes of up to `LOOKUP_BITS` bits, looked up at once: (length, symbol); length 0
    /// when the code is longer.
    lookup: Vec<(u8, u8)>,
}

const LOOKUP_BITS: u32 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman, JpegError> {
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
        let (mut code, mut index) = (0i32, 0usize);
        for length in 1..=16usize {
            let count = counts[length - 1] as usize;
            // More codes of this length than remain free: not a prefix code.
            if code + count as i32 > 1 << length {
                return Err(JpegError::Invalid("Huffman table with too many codes"));
            }
            if count > 0 {
                offset[length] = index as i32 - code;
                for (i, &symbol) in symbols[index..index + count].iter().enumerate() {
                    if length as u32 <= LOOKUP_BITS {
                        let shift = LOOKUP_BITS - length as u32;
                        let first = ((code as usize + i) << shift) as usize;
                        lookup[first..first + (1 << shift)].fill((length as u8, symbol));
                    }
                }
                code += count as i32;
                index += count;
                max_code[length] = code - 1;
            }
            code <<= 1;
        }
        Ok(Huffman {
            max_code,
            offset,
            symbols: symbols.to_vec(),
            lookup,
        })
    }

    fn decode(&self, bits: &mut Bits) -> Result<u8, JpegError> {
        let (length, symbol) = self.lookup[bits.peek(LOOKUP_BITS) as usize];
        if length > 0 {
            bits.skip(length as u32);
            return Ok(symbol);
        }
        let mut code = bits.peek(LOOKUP_BITS) as i32;
        bits.skip(LOOKUP_BITS);
        for length in LOOKUP_BITS as usize + 1..=16 {
            code = (code << 1) | bits.peek(1) as i32;
            bits.skip(1);
            if code <= self.max_code[length] {
                let index = (self.offset[length] + code) as usize;
                if let Some(&symbol) = self.symbols.get(index) {
                    return Ok(symbol);
                }
                break;
            }
        }
        // The padding after the data (all 1 bits) is no code of a valid table.
        Err(match bits.overrun() {
            true => JpegError::Truncated,
            false => JpegError::Invalid("bad Huffman code"),
        })
    }
}

/// Quantisation and Huffman tables, by destination 0..=3.
#[derive(Default)]
struct Tables {
    quantisation: [Option<[u16; 64]>; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
}

impl Tables {
    fn quantisation(&mut self, mut s: &[u8]) -> Result<(), JpegError> {
        while let Some((&pq_tq, rest)) = s.split_first() {
            let (wide, id) = (pq_tq >> 4, (pq_tq & 15) as usize);
            if wide > 1 || id > 3 {
                return Err(JpegError::Invalid("bad quantisation table header"));
            }
            let size = if wide == 1 { 128 } else { 64 };
            let values = rest
                .get(..size)
                .ok_or(JpegError::Invalid("short DQT segment"))?;
            let mut table = [0u16; 64];
            for (k, v) in table.iter_mut().enumerate() {
                *v = match wide {
                    1 => u16::from_be_bytes([values[2 * k], values[2 * k + 1]]),
                    _ => values[k] as u16,
                };
            }
            self.quantisation[id] = Some(table);
            s = &rest[size..];
        }
        Ok(())
    }

    fn huffman(&mut self, mut s: &[u8]) -> Result<(), JpegError> {
        while let Some((&tc_th, rest)) = s.split_first() {
            let (class, id) = (tc_th >> 4, (tc_th & 15) as usize);
            if class > 1 || id > 3 {
                return Err(JpegError::Invalid("bad Huffman table header"));
            }
            let counts: [u8; 16] = rest
                .get(..16)
                .and_then(|c| c.try_into().ok())
                .ok_or(JpegError::Invalid("short DHT segment"))?;
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let symbols = rest
                .get(16..16 + total)
                .ok_or(JpegError::Invalid("short DHT segment"))?;
            let table = Some(Huffman::new(&counts, symbols)?);
            match class {
                0 => self.dc[id] = table,
                _ => self.ac[id] = table,
            }
            s = &rest[16 + total..];
        }
        Ok(())
    }
}

/// The entropy-coded data of a scan, read most significant bit first, without the zero
/// stuffed after each 0xFF. It stops at a marker; reading on gives 1 bits (as dcm2niix
/// pads), but a block that needs them is an error (`Truncated`).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
    /// Bits not yet read, left-aligned; `count` of them are valid.
    buffer: u64,
    count: u32,
    /// How many of the valid bits are padding, not data.
    padding: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            at: 0,
            buffer: 0,
            count: 0,
            padding: 0,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = match (self.data.get(self.at), self.data.get(self.at + 1)) {
                (Some(0xFF), Some(0x00)) => {
                    self.at += 2;
                    0xFF
                }
                // A marker (or the end of the data): padding from here on.
                (Some(0xFF), _) | (None, _) => {
                    self.padding += 8;
                    0xFF
                }
                (Some(&b), _) => {
                    self.at += 1;
                    b
                }
            };
            self.buffer |= (byte as u64) << (56 - self.count);
            self.count += 8;
        }
    }

    /// The next `n` (1..=16) bits, not consumed.
    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.fill();
        }
        (self.buffer >> (64 - n)) as u32
    }

    fn skip(&mut self, n: u32) {
        self.buffer <<= n;
        self.count -= n;
    }

    /// Reads the `size`-bit magnitude of a coefficient and gives its signed value (T.81
    /// F.2.2.1 EXTEND).
    fn signed(&mut self, size: u8) -> Result<i32, JpegError> {
        if size == 0 {
            return Ok(0);
        }
        let size = size as u32;
        let v = self.peek(size) as i32;
        self.skip(size);
        Ok(match v < 1 << (size - 1) {
            true => v - (1 << size) + 1,
            false => v,
        })
    }

    /// Whether bits past the data have been consumed.
    fn overrun(&self) -> bool {
        self.count < self.padding
    }

    /// Drops the bits left in the current byte and reads restart marker RSTn.
    fn restart(&mut self, n: u8) -> Result<(), JpegError> {
        if self.overrun() {
            return Err(JpegError::Truncated);
        }
        self.buffer = 0;
        self.count = 0;
        self.padding = 0;
        while self.data.get(self.at) == Some(&0xFF) && self.data.get(self.at + 1) == Some(&0xFF) {
            self.at += 1;
        }
        match self.data.get(self.at..self.at + 2) {
            Some(&[0xFF, m]) if m == 0xD0 + n => {
                self.at += 2;
                Ok(())
            }
            Some(&[0xFF, 0xD0..=0xD7]) => Err(JpegError::Invalid("restart marker out of sequence")),
            None => Err(JpegError::Truncated),
            _ => Err(JpegError::Invalid("restart marker expected")),
        }
    }
}

/// One component: its sampling factors, tables and the plane it is decoded into.
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quantisation: usize,
    dc: usize,
    ac: usize,
    prediction: i32,
    plane: Plane,
}

/// 8-bit samples of one component: `width` × `height` of them are the image's, rows
/// `stride` apart (a decoded plane holds whole blocks, so more).
struct Plane {
    width: usize,
    height: usize,
    stride: usize,
    samples: Vec<u8>,
}

struct Frame {
    width: usize,
    height: usize,
    /// MCUs across and down.
    mcus: (usize, usize),
    components: Vec<Component>,
}

impl Frame {
    fn parse(s: &[u8], expected: Expected) -> Result<Frame, JpegError> {
        let header = s.get(..6).ok_or(JpegError::Invalid("short frame header"))?;
        if header[0] != 8 {
            return Err(JpegError::Precision(header[0]));
        }
        let height = u16::from_be_bytes([header[1], header[2]]) as usize;
        let width = u16::from_be_bytes([header[3], header[4]]) as usize;
        let count = header[5] as usize;
        if width != expected.columns || height != expected.rows || count != expected.samples {
            return Err(JpegError::Size {
                width,
                height,
                components: count,
                expected,
            });
        }
        if width == 0 || height == 0 {
            return Err(JpegError::Invalid("empty frame"));
        }
        if count != 1 && count != 3 {
            return Err(JpegError::Unsupported(
                "a component count other than 1 or 3",
            ));
        }
        let specs = s
            .get(6..6 + 3 * count)
            .ok_or(JpegError::Invalid("short frame header"))?;
        let mut factors = Vec::with_capacity(count);
        for spec in specs.chunks_exact(3) {
            let (h, v) = ((spec[1] >> 4) as usize, (spec[1] & 15) as usize);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || spec[2] > 3 {
                return Err(JpegError::Invalid("bad component in the frame header"));
            }
            if h == 3 || v == 3 {
                return Err(JpegError::Unsupported("a sampling factor of 3"));
            }
            // One component is coded in 8 × 8 MCUs whatever its factors say (T.81 A.2.2).
            let (h, v) = if count == 1 { (1, 1) } else { (h, v) };
            factors.push((spec[0], h, v, spec[2] as usize));
        }
        let h_max = factors.iter().map(|f| f.1).max().unwrap_or(1);
        let v_max = factors.iter().map(|f| f.2).max().unwrap_or(1);
        let mcus = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
        let mut components = Vec::with_capacity(count);
        for (id, h, v, quantisation) in factors {
            let plane_width = (width * h).div_ceil(h_max);
            let plane_height = (height * v).div_ceil(v_max);
            // The chroma filter reads three samples of a subsampled plane at each edge.
            if (plane_width < 3 && h != h_max) || (plane_height < 3 && v != v_max) {
                return Err(JpegError::Unsupported(
                    "a subsampled plane under 3 samples wide",
                ));
            }
            let stride = mcus.0 * h * 8;
            components.push(Component {
                id,
                h,
                v,
                quantisation,
                dc: 0,
                ac: 0,
                prediction: 0,
                plane: Plane {
                    width: plane_width,
                    height: plane_height,
                    stride,
                    samples: vec![0; area(stride, mcus.1 * v * 8)?],
                },
            });
        }
        Ok(Frame {
            width,
            height,
            mcus,
            components,
        })
    }

    fn decode_scan(
        &mut self,
        header: &[u8],
        data: &[u8],
        tables: &Tables,
        restart_interval: usize,
    ) -> Result<(), JpegError> {
        let (&count, rest) = header
            .split_first()
            .ok_or(JpegError::Invalid("short scan header"))?;
        if count as usize != self.components.len() {
            return Err(JpegError::Unsupported(
                "a scan of fewer components than the frame",
            ));
        }
        let specs = rest
            .get(..2 * count as usize + 3)
            .ok_or(JpegError::Invalid("short scan header"))?;
        for (c, spec) in self.components.iter_mut().zip(specs.chunks_exact(2)) {
            if spec[0] != c.id {
                return Err(JpegError::Invalid(
                    "scan components not those of the frame, in order",
                ));
            }
            (c.dc, c.ac) = ((spec[1] >> 4) as usize, (spec[1] & 15) as usize);
            if c.dc > 3 || c.ac > 3 {
                return Err(JpegError::Invalid("bad Huffman table selector"));
            }
        }
        let progression = &specs[2 * count as usize..];
        if progression != [0, 63, 0] {
            return Err(JpegError::Unsupported(
                "spectral selection or successive approximation",
            ));
        }
        // Tables, resolved once: a missing one is an error before any block.
        let mut used = Vec::with_capacity(self.components.len());
        for c in &self.components {
            let missing = JpegError::Invalid("a table the scan uses is not defined");
            used.push((
                tables.quantisation[c.quantisation]
                    .as_ref()
                    .ok_or(missing.clone())?,
                tables.dc[c.dc].as_ref().ok_or(missing.clone())?,
                tables.ac[c.ac].as_ref().ok_or(missing)?,
            ));
        }
        let mut bits = Bits::new(data);
        let mut block = [0i32; 64];
        let total = self.mcus.0 * self.mcus.1;
        for mcu in 0..total {
            if restart_interval > 0 && mcu > 0 && mcu % restart_interval == 0 {
                bits.restart(((mcu / restart_interval - 1) % 8) as u8)?;
                for c in &mut self.components {
                    c.prediction = 0;
                }
            }
            let (mx, my) = (mcu % self.mcus.0, mcu / self.mcus.0);
            for (c, &(q, dc, ac)) in self.components.iter_mut().zip(&used) {
                for by in 0..c.v {
                    for bx in 0..c.h {
                        decode_block(&mut bits, dc, ac, q, &mut c.prediction, &mut block)?;
                        if bits.overrun() {
                            return Err(JpegError::Truncated);
                        }
                        let (x, y) = ((mx * c.h + bx) * 8, (my * c.v + by) * 8);
                        c.plane.put_block(&mut block, x, y)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The image: grey, or three components brought to full size and interleaved.
    fn into_samples(self, colour: Colour) -> Result<Vec<u8>, JpegError> {
        let (width, height) = (self.width, self.height);
        let mut planes = Vec::with_capacity(self.components.len());
        for c in self.components {
            let mut plane = c.plane;
            // Doubling across, then down, until full size: dcm2niix's order of filtering.
            while plane.width < width || plane.height < height {
                if plane.width < width {
                    plane = plane.doubled_across()?;
                }
                if plane.height < height {
                    plane = plane.doubled_down()?;
                }
            }
            if plane.samples.len() < area(height - 1, plane.stride)? + width {
                return Err(JpegError::Invalid("plane smaller than the image"));
            }
            planes.push(plane);
        }
        fn row(p: &Plane, y: usize, width: usize) -> &[u8] {
            &p.samples[y * p.stride..y * p.stride + width]
        }
        let mut out = Vec::with_capacity(area(area(width, height)?, planes.len())?);
        match planes.as_slice() {
            [grey] => (0..height).for_each(|y| out.extend_from_slice(row(grey, y, width))),
            [a, b, c] => {
                for y in 0..height {
                    let (ra, rb, rc) = (row(a, y, width), row(b, y, width), row(c, y, width));
                    for x in 0..width {
                        let (p, q, r) = (ra[x], rb[x], rc[x]);
                        match colour {
                            Colour::AsCoded => out.extend_from_slice(&[p, q, r]),
                            Colour::Ycbcr => out.extend_from_slice(&ycbcr_to_rgb(p, q, r)),
                        }
                    }
                }
            }
            _ => {
                return Err(JpegError::Unsupported(
                    "a component count other than 1 or 3",
                ))
            }
        }
        Ok(out)
    }
}

/// dcm2niix's fixed-point JFIF conversion: coefficients × 256 (1.402, 0.344, 0.714, 1.772),
/// rounded to the nearest.
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let y = (y as i32) << 8;
    let (cb, cr) = (cb as i32 - 128, cr as i32 - 128);
    [
        clip((y + 359 * cr + 128) >> 8),
        clip((y - 88 * cb - 183 * cr + 128) >> 8),
        clip((y + 454 * cb + 128) >> 8),
    ]
}

fn clip(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Decodes one 8 × 8 block's coefficients, dequantised, into `block` (natural order).
fn decode_block(
    bits: &mut Bits,
    dc: &Huffman,
    ac: &Huffman,
    q: &[u16; 64],
    prediction: &mut i32,
    block: &mut [i32; 64],
) -> Result<(), JpegError> {
    *block = [0; 64];
    let size = dc.decode(bits)?;
    if size > 15 {
        return Err(JpegError::Invalid("DC difference of more than 15 bits"));
    }
    // Wrapping as dcm2niix's `int`s do: only hostile streams get near the limits.
    *prediction = prediction.wrapping_add(bits.signed(size)?);
    block[0] = prediction.wrapping_mul(q[0] as i32);
    let mut k = 0;
    while k < 63 {
        let rs = ac.decode(bits)?;
        let (run, size) = ((rs >> 4) as usize, rs & 15);
        match (run, size) {
            (0, 0) => break, // end of block
            (15, 0) => k += 16,
            (_, 0) => return Err(JpegError::Invalid("bad AC code")),
            _ => k += run + 1,
        }
        if k > 63 {
            return Err(JpegError::Invalid(
                "AC coefficients past the end of a block",
            ));
        }
        block[ZIGZAG[k] as usize] = bits.signed(size)?.wrapping_mul(q[k] as i32);
    }
    Ok(())
}

/// The IDCT constants: 2048 × √2 × cos(kπ/16), k = 1, 2, 3, 5, 6, 7.
const W1: i64 = 2841;
const W2: i64 = 2676;
const W3: i64 = 2408;
const W5: i64 = 1609;
const W6: i64 = 1108;
const W7: i64 = 565;

/// One 8-point pass of the Chen–Wang integer IDCT that dcm2niix uses, before its final
/// shift. The row pass and the column pass scale and round differently: `dc_shift` and
/// `bias` place the DC term, and each rotation adds `round` and shifts right by `shift`.
fn idct_pass(s: [i64; 8], dc_shift: u32, bias: i64, (round, shift): (i64, u32)) -> [i64; 8] {
    let rotate = |a: i64, b: i64, wa: i64, wb: i64, wsum: i64| {
        let common = wsum * (a + b) + round;
        ((common + wa * a) >> shift, (common - wb * b) >> shift)
    };
    // Odd part: (s1, s7) and (s5, s3) rotated; even part: s0 ± s4, and (s2, s6) rotated.
    let (o1, o7) = rotate(s[1], s[7], W1 - W7, W1 + W7, W7);
    let (o5, o3) = rotate(s[5], s[3], W5 - W3, W3 + W5, W3);
    let (c2, c6) = rotate(s[2], s[6], W2 - W6, W2 + W6, W6);
    let e0 = (s[0] << dc_shift) + bias;
    let e4 = s[4] << dc_shift;
    let (sum, diff) = (e0 + e4, e0 - e4);
    let (a, d) = (sum + c2, sum - c2);
    let (b, c) = (diff + c6, diff - c6);
    let (p, q) = (o1 + o5, o1 - o5);
    let (r, t) = (o7 + o3, o7 - o3);
    let m = (181 * (q + t) + 128) >> 8;
    let n = (181 * (q - t) + 128) >> 8;
    [a + p, b + m, c + n, d + r, d - r, c - n, b - m, a - p]
}

impl Plane {
    /// The inverse DCT of `block` (rows, then columns), level-shifted and clipped, at
    /// column `x` and row `y` of the plane.
    fn put_block(&mut self, block: &mut [i32; 64], x: usize, y: usize) -> Result<(), JpegError> {
        for row in block.chunks_exact_mut(8) {
            let s = std::array::from_fn(|i| row[i] as i64);
            let out = idct_pass(s, 11, 128, (0, 0));
            // Stored in 32 bits between the passes, as dcm2niix does.
            for (v, o) in row.iter_mut().zip(out) {
                *v = (o >> 8) as i32;
            }
        }
        for column in 0..8 {
            let s = std::array::from_fn(|i| block[8 * i + column] as i64);
            let out = idct_pass(s, 8, 8192, (4, 3));
            for (i, o) in out.into_iter().enumerate() {
                let at = (y + i) * self.stride + x + column;
                let sample = self
                    .samples
                    .get_mut(at)
                    .ok_or(JpegError::Invalid("block outside its plane"))?;
                *sample = ((o >> 14) + 128).clamp(0, 255) as u8;
            }
        }
        Ok(())
    }

    /// Twice as wide: each row through `double_line`. The right edge is filtered from the
    /// last three samples of the row's stride, the padding of the last blocks included
    /// (what dcm2niix reads there).
    fn doubled_across(&self) -> Result<Plane, JpegError> {
        let (w, h, stride) = (self.width, self.height, self.stride);
        if w < 3 || stride < w || self.samples.len() < area(h, stride)? {
            return Err(JpegError::Invalid("plane too small to upsample"));
        }
        let mut samples = vec![0u8; area(2 * w, h)?];
        for (row, out) in self
            .samples
            .chunks_exact(stride)
            .zip(samples.chunks_exact_mut(2 * w))
        {
            double_line(|i| row[i], w, stride, |i, v| out[i] = v);
        }
        Ok(Plane {
            width: 2 * w,
            height: h,
            stride: 2 * w,
            samples,
        })
    }

    /// Twice as tall: each column through `double_line`.
    fn doubled_down(&self) -> Result<Plane, JpegError> {
        let (w, h, stride) = (self.width, self.height, self.stride);
        if h < 3 || stride < w || self.samples.len() < area(h, stride)? {
            return Err(JpegError::Invalid("plane too small to upsample"));
        }
        let mut samples = vec![0u8; area(w, 2 * h)?];
        for x in 0..w {
            let column = |i: usize| self.samples[i * stride + x];
            double_line(column, h, h, |i, v| samples[i * w + x] = v);
        }
        Ok(Plane {
            width: w,
            height: 2 * h,
            stride: w,
            samples,
        })
    }
}

/// dcm2niix's chroma filter (NanoJPEG's "bicubic" upsampling): a line of `n` samples
/// (`n` ≥ 3) becomes `2n`, each output from up to four inputs with weights summing to
/// 128. The last three outputs come from the three samples before `end` (`end` ≥ 3).
fn double_line(get: impl Fn(usize) -> u8, n: usize, end: usize, mut put: impl FnMut(usize, u8)) {
    let filter = |taps: &[(i32, usize)]| {
        let sum: i32 = taps.iter().map(|&(w, i)| w * get(i) as i32).sum();
        clip((sum + 64) >> 7)
    };
    // Left edge: outputs 0, 1, 2 from inputs 0, 1, 2.
    put(0, filter(&[(139, 0), (-11, 1)]));
    put(1, filter(&[(104, 0), (27, 1), (-3, 2)]));
    put(2, filter(&[(28, 0), (109, 1), (-9, 2)]));
    // Between inputs x + 1 and x + 2: two outputs from inputs x..x + 4.
    for x in 0..n - 3 {
        put(
            2 * x + 3,
            filter(&[(-9, x), (111, x + 1), (29, x + 2), (-3, x + 3)]),
        );
        put(
            2 * x + 4,
            filter(&[(-3, x), (29, x + 1), (111, x + 2), (-9, x + 3)]),
        );
    }
    // Right edge, mirrored, from the three inputs before `end`.
    let (a, b, c) = (end - 1, end - 2, end - 3);
    put(2 * n - 3, filter(&[(28, a), (109, b), (-9, c)]));
    put(2 * n - 2, filter(&[(104, a), (27, b), (-3, c)]));
    put(2 * n - 1, filter(&[(139, a), (-11, b)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    /// `width` × `height` samples of `colour` (Luma or Rgb), smooth with one sharp edge.
    fn image(width: usize, height: usize, channels: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(width * height * channels);
        for y in 0..height {
            for x in 0..width {
                for c in 0..channels {
                    let edge = if x > width / 2 { 60 } else { 0 };
                    out.push((x * 3 + y * 2 + c * 40 + edge).min(255) as u8);
                }
            }
        }
        out
    }

    fn encode(
        pixels: &[u8],
        (width, height): (usize, usize),
        colour: ColorType,
        setup: impl FnOnce(&mut Encoder<&mut Vec<u8>>),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, 90);
        setup(&mut encoder);
        encoder
            .encode(pixels, width as u16, height as u16, colour)
            .unwrap();
        out
    }

    fn expected(columns: usize, rows: usize, samples: usize) -> Expected {
        Expected {
            columns,
            rows,
            samples,
        }
    }

    fn largest_difference(a: &[u8], b: &[u8]) -> u8 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    }

    /// Grey, odd size (partial blocks): another decoder's samples within its IDCT rounding.
    #[test]
    fn grey_agrees_with_another_decoder() {
        let (w, h) = (37, 21);
        let stream = encode(&image(w, h, 1), (w, h), ColorType::Luma, |_| {});
        let ours = decode(&stream, expected(w, h, 1), Colour::Ycbcr).unwrap();
        let theirs = jpeg_decoder::Decoder::new(&stream[..]).decode().unwrap();
        assert!(largest_difference(&ours, &theirs) <= 1);
    }

    /// Quality 100 (all quantisers 1) of a flat grey image: exactly its value.
    #[test]
    fn flat_grey_is_exact() {
        let stream = {
            let mut out = Vec::new();
            Encoder::new(&mut out, 100)
                .encode(&[93; 16 * 9], 16, 9, ColorType::Luma)
                .unwrap();
            out
        };
        assert_eq!(
            decode(&stream, expected(16, 9, 1), Colour::Ycbcr).unwrap(),
            [93; 16 * 9]
        );
    }

    /// Colour in every subsampling, odd sizes, with and without restart intervals: near the
    /// source, and restart markers do not change a sample.
    #[test]
    fn colour_subsampled_and_restarted() {
        let (w, h) = (45, 29);
        let source = image(w, h, 3);
        for sampling in [
            SamplingFactor::R_4_4_4,
            SamplingFactor::R_4_2_2,
            SamplingFactor::R_4_2_0,
            SamplingFactor::R_4_4_0,
        ] {
            let plain = encode(&source, (w, h), ColorType::Rgb, |e| {
                e.set_sampling_factor(sampling)
            });
            let restarted = encode(&source, (w, h), ColorType::Rgb, |e| {
                e.set_sampling_factor(sampling);
                e.set_restart_interval(2);
            });
            let rst = |m: &[u8]| m[0] == 0xFF && (0xD0..=0xD7).contains(&m[1]);
            assert!(restarted.windows(2).any(rst), "{sampling:?}");
            let ours = decode(&plain, expected(w, h, 3), Colour::Ycbcr).unwrap();
            assert_eq!(
                decode(&restarted, expected(w, h, 3), Colour::Ycbcr).unwrap(),
                ours
            );
            // Away from the sharp edge the subsampled chroma is close to the source.
            for y in 0..h {
                for x in (0..w).filter(|x| x.abs_diff(w / 2) > 4) {
                    let at = (y * w + x) * 3;
                    let d = largest_difference(&ours[at..at + 3], &source[at..at + 3]);
                    assert!(d <= 6, "{sampling:?} at ({x}, {y}): {d}");
                }
            }
        }
    }

    /// Photometric Interpretation RGB: the coded samples, not converted.
    #[test]
    fn rgb_is_kept_as_coded() {
        let (w, h) = (16, 8);
        let coded = image(w, h, 3);
        // Coded as "YCbCr" samples, so the encoder does not convert them.
        let stream = encode(&coded, (w, h), ColorType::Ycbcr, |e| {
            e.set_sampling_factor(SamplingFactor::R_4_4_4)
        });
        let kept = decode(&stream, expected(w, h, 3), Colour::AsCoded).unwrap();
        assert!(largest_difference(&kept, &coded) <= 8);
        let converted = decode(&stream, expected(w, h, 3), Colour::Ycbcr).unwrap();
        let again: Vec<u8> = kept
            .chunks(3)
            .flat_map(|p| ycbcr_to_rgb(p[0], p[1], p[2]))
            .collect();
        assert_eq!(converted, again);
    }

    /// dcm2niix's fixed-point YCbCr → RGB, by hand.
    #[test]
    fn ycbcr_to_rgb_rounds_as_dcm2niix() {
        assert_eq!(ycbcr_to_rgb(100, 128, 128), [100, 100, 100]);
        // R: (359 × -128 + 128) >> 8 < 0; G: (-88 × 127 + 183 × 128 + 128) >> 8 = 48;
        // B: (454 × 127 + 128) >> 8 = 225.
        assert_eq!(ycbcr_to_rgb(0, 255, 0), [0, 48, 225]);
        // G: (65280 + 88 × 128 - 183 × 127 + 128) >> 8 = 208; B: (65280 - 454 × 128 + 128) >> 8 = 28.
        assert_eq!(ycbcr_to_rgb(255, 0, 255), [255, 208, 28]);
    }

    /// The chroma filter keeps a flat line flat, and takes its right edge from the three
    /// samples before `end` (a decoded row's padding), not from the last of the `n`.
    #[test]
    fn chroma_filter_edges() {
        let mut out = [0u8; 8];
        double_line(|_| 77, 4, 4, |i, v| out[i] = v);
        assert_eq!(out, [77; 8]);
        let line = [10u8, 20, 30, 200, 250];
        let mut out = [0u8; 6];
        double_line(|i| line[i], 3, 5, |i, v| out[i] = v);
        // Outputs 3..6 from inputs 4, 3, 2: (28 × 250 + 109 × 200 - 9 × 30 + 64) >> 7 = 223,
        // (104 × 250 + 27 × 200 - 3 × 30 + 64) >> 7 = 245, (139 × 250 - 11 × 200 + 64) >> 7 = 254.
        assert_eq!(out[3..], [223, 245, 254]);
        // Output 0: (139 × 10 - 11 × 20 + 64) >> 7 = 9.
        assert_eq!(out[0], 9);
    }

    /// The integer IDCT is within 1 of the exact transform for a spread of blocks.
    #[test]
    fn idct_is_near_exact() {
        let mut seed = 12345u32;
        for _ in 0..200 {
            let mut block = [0i32; 64];
            for v in block.iter_mut().take(20) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *v = ((seed >> 16) % 201) as i32 - 100;
            }
            let coefficients = block;
            let mut plane = Plane {
                width: 8,
                height: 8,
                stride: 8,
                samples: vec![0; 64],
            };
            plane.put_block(&mut block, 0, 0).unwrap();
            for (i, &got) in plane.samples.iter().enumerate() {
                let (y, x) = ((i / 8) as f64, (i % 8) as f64);
                let mut sum = 0.0;
                for (k, &c) in coefficients.iter().enumerate() {
                    let (v, u) = ((k / 8) as f64, (k % 8) as f64);
                    let cu = if u == 0.0 { 0.5f64.sqrt() } else { 1.0 };
                    let cv = if v == 0.0 { 0.5f64.sqrt() } else { 1.0 };
                    let pi = std::f64::consts::PI;
                    sum += cu
                        * cv
                        * c as f64
                        * ((2.0 * x + 1.0) * u * pi / 16.0).cos()
                        * ((2.0 * y + 1.0) * v * pi / 16.0).cos();
                }
                let exact = (sum / 4.0 + 128.0).round().clamp(0.0, 255.0);
                assert!((got as f64 - exact).abs() <= 1.0, "{got} vs {exact}");
            }
        }
    }

    #[test]
    fn errors() {
        let (w, h) = (24, 16);
        let stream = encode(&image(w, h, 3), (w, h), ColorType::Rgb, |_| {});
        let sof = stream.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        let sos = stream.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
        let e = expected(w, h, 3);
        assert_eq!(decode(b"GIF89a", e, Colour::Ycbcr), Err(JpegError::NotJpeg));
        assert_eq!(
            decode(&[0xFF, 0xD8, 0x12], e, Colour::Ycbcr),
            Err(JpegError::Invalid("marker expected"))
        );
        assert_eq!(
            decode(&stream[..sof + 6], e, Colour::Ycbcr),
            Err(JpegError::Truncated)
        );
        // Cut inside the coded data.
        assert_eq!(
            decode(&stream[..sos + 40], e, Colour::Ycbcr),
            Err(JpegError::Truncated)
        );
        let size = decode(&stream, expected(w, h + 1, 3), Colour::Ycbcr).unwrap_err();
        assert!(
            matches!(
                size,
                JpegError::Size {
                    width: 24,
                    height: 16,
                    components: 3,
                    ..
                }
            ),
            "{size}"
        );
        assert!(!size.is_unsupported());
        // 12-bit samples, and progressive coding: left to another decoder.
        let mut twelve = stream.clone();
        twelve[sof + 4] = 12;
        assert_eq!(
            decode(&twelve, e, Colour::Ycbcr),
            Err(JpegError::Precision(12))
        );
        let progressive = encode(&image(w, h, 3), (w, h), ColorType::Rgb, |e| {
            e.set_progressive(true)
        });
        let error = decode(&progressive, e, Colour::Ycbcr).unwrap_err();
        assert_eq!(error, JpegError::Process(0xC2));
        assert!(error.is_unsupported());
        // One scan per component (the encoder's way with a sampling factor of 4).
        let separate = encode(&image(w, h, 3), (w, h), ColorType::Rgb, |e| {
            e.set_sampling_factor(SamplingFactor::R_4_1_1)
        });
        let error = decode(&separate, e, Colour::Ycbcr).unwrap_err();
        assert_eq!(
            error,
            JpegError::Unsupported("a scan of fewer components than the frame")
        );
        assert!(error.is_unsupported());
        // A restart marker out of its sequence.
        let mut restarted = encode(&image(w, h, 3), (w, h), ColorType::Rgb, |e| {
            e.set_restart_interval(1)
        });
        let rst = restarted
            .windows(2)
            .position(|m| m == [0xFF, 0xD1])
            .unwrap();
        restarted[rst + 1] = 0xD3;
        assert_eq!(
            decode(&restarted, e, Colour::Ycbcr),
            Err(JpegError::Invalid("restart marker out of sequence"))
        );
    }

    /// A large declared frame with almost no coded data stops at the first block that
    /// runs past the data.
    #[test]
    fn large_frame_without_data_is_refused() {
        let stream = encode(&image(8, 8, 1), (8, 8), ColorType::Luma, |_| {});
        let sof = stream.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        let mut large = stream.clone();
        large[sof + 5..sof + 9].copy_from_slice(&[0x10, 0x00, 0x10, 0x00]); // 4096 × 4096
        let started = std::time::Instant::now();
        assert_eq!(
            decode(&large, expected(4096, 4096, 1), Colour::Ycbcr),
            Err(JpegError::Truncated)
        );
        assert!(started.elapsed().as_secs() < 2);
    }

    /// Every prefix, and every byte changed three ways, of small streams: an image or an
    /// error, never a panic.
    #[test]
    fn damaged_streams_do_not_panic() {
        let (w, h) = (19, 11);
        let streams = [
            encode(&image(w, h, 1), (w, h), ColorType::Luma, |e| {
                e.set_restart_interval(1)
            }),
            encode(&image(w, h, 3), (w, h), ColorType::Rgb, |e| {
                e.set_sampling_factor(SamplingFactor::R_4_2_0);
                e.set_restart_interval(1);
            }),
        ];
        for (stream, samples) in streams.iter().zip([1, 3]) {
            let e = expected(w, h, samples);
            for end in 0..stream.len() {
                let _ = decode(&stream[..end], e, Colour::Ycbcr);
            }
            for at in 0..stream.len() {
                for value in [0x00, 0xFF, stream[at] ^ 0x55] {
                    let mut damaged = stream.clone();
                    damaged[at] = value;
                    if let Ok(samples) = decode(&damaged, e, Colour::Ycbcr) {
                        assert_eq!(samples.len(), w * h * e.samples);
                    }
                }
            }
        }
    }
}
