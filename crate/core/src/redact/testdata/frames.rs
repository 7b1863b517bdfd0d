//! The detector's test frames: synthetic backgrounds drawn from a fixed seed (ultrasound speckle
//! fan, X-ray-like anatomy, noisy gradient, screenshot panels) with the text sprites of
//! make_frames.py blended in where frames.txt says; each planted line's box is known.

use crate::redact::{Luma, Rect};

/// A test frame and the boxes of the text lines planted in it.
pub struct Frame {
    pub name: String,
    pub luma: Luma,
    /// Each planted line's box and text.
    pub lines: Vec<(Rect, String)>,
}

/// xorshift64*: the same noise on every platform.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    }
}

/// Mean over a (2·rx+1) × (2·ry+1) box, edges clamped.
fn blur(src: &[i32], width: usize, height: usize, rx: usize, ry: usize) -> Vec<i32> {
    let mut out = vec![0; src.len()];
    for y in 0..height {
        for x in 0..width {
            let (mut sum, mut n) = (0, 0);
            for yy in y.saturating_sub(ry)..(y + ry + 1).min(height) {
                for xx in x.saturating_sub(rx)..(x + rx + 1).min(width) {
                    sum += src[yy * width + xx];
                    n += 1;
                }
            }
            out[y * width + x] = sum / n;
        }
    }
    out
}

/// Speckle: smoothed noise, squared (sparse bright grains, lateral longer than axial).
fn speckle(width: usize, height: usize, seed: u64) -> Vec<i32> {
    let mut noise = Noise(seed);
    let raw: Vec<i32> = (0..width * height).map(|_| noise.next() as i32).collect();
    blur(&raw, width, height, 2, 1).into_iter().map(|v| ((v - 128) * (v - 128) / 9).min(255)).collect()
}

/// An ultrasound sector on black: speckle fading with depth, an anechoic cyst, a bright curved
/// reflector (a thin high-contrast structure that is not text).
fn fan(width: usize, height: usize) -> Vec<u8> {
    let grains = speckle(width, height, 0x5eed_0001);
    let (ax, ay) = (width as i64 / 2, -(height as i64) / 8);
    let (r0, r1) = (height as i64 / 4, height as i64 * 17 / 16);
    let mut out = vec![0u8; width * height];
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = (x as i64 - ax, y as i64 - ay);
            let r2 = dx * dx + dy * dy;
            if dy <= 0 || dx.abs() * 100 > dy * 80 || r2 < r0 * r0 || r2 > r1 * r1 || y < 60 || y > height - 40 {
                continue;
            }
            let depth = (r2 as f64).sqrt() as i64;
            let tissue = 40 + grains[y * width + x] as i64 * (r1 * 2 - depth) / (r1 * 2);
            let (cx, cy) = (x as i64 - ax + width as i64 / 8, y as i64 - height as i64 * 11 / 20);
            let cyst = cx * cx * 4 + cy * cy * 9 < (height as i64 / 6).pow(2);
            let wall = ((y as i64 - height as i64 * 3 / 10) - dx * dx / (width as i64 * 2)).abs() < 3;
            out[y * width + x] = if cyst { (tissue / 8) as u8 } else if wall { (tissue + 150).min(255) as u8 } else { tissue.min(255) as u8 };
        }
    }
    out
}

/// An X-ray: dark air, soft tissue, bright smooth bones (soft edges), a little noise.
fn xray(width: usize, height: usize) -> Vec<u8> {
    let mut noise = Noise(0x5eed_0002);
    let (w, h) = (width as i64, height as i64);
    let bones = [(w / 3, h / 2, w / 14, h / 3), (w * 2 / 3, h / 2, w / 14, h / 3), (w / 2, h / 4, w / 4, h / 16), (w / 2, h * 3 / 5, w / 30, h / 4)];
    let mut out = vec![0u8; width * height];
    for y in 0..h {
        for x in 0..w {
            let body = (x - w / 2).pow(2) * 100 / (w * w / 4 * 60 / 100).max(1) + (y - h / 2).pow(2) * 100 / (h * h / 4).max(1);
            let mut v = if body < 100 { 90 + (100 - body) / 4 } else { 25 };
            for &(cx, cy, rx, ry) in &bones {
                let d = (x - cx).pow(2) * 1000 / (rx * rx) + (y - cy).pow(2) * 1000 / (ry * ry);
                if d < 1000 {
                    v = v.max(150 + (1000 - d) * 60 / 1000);
                }
            }
            out[(y * w + x) as usize] = (v + (noise.next() as i64 % 9) - 4).clamp(0, 255) as u8;
        }
    }
    out
}

/// A left-to-right gradient with strong noise (±16).
fn gradient(width: usize, height: usize) -> Vec<u8> {
    let mut noise = Noise(0x5eed_0003);
    (0..width * height).map(|i| (20 + (i % width) * 200 / width) as i32 + (noise.next() as i32 % 33) - 16).map(|v| v.clamp(0, 255) as u8).collect()
}

/// A viewer screenshot: dark header, light body, a mid-grey panel with a small speckle image,
/// button outlines and rules.
fn screen(width: usize, height: usize) -> Vec<u8> {
    let grains = speckle(width, height, 0x5eed_0004);
    let mut out = vec![0u8; width * height];
    for y in 0..height {
        for x in 0..width {
            let panel = (280..620).contains(&x) && (60..400).contains(&y);
            let image = (320..580).contains(&x) && (110..370).contains(&y);
            let button = (20..260).contains(&x) && (90..300).contains(&y) && (y - 90) % 40 < 26 && ((y - 90) % 40 == 0 || (y - 90) % 40 == 25 || x == 20 || x == 259);
            let rule = y == 58 || y == 405;
            out[y * width + x] = match () {
                _ if y < 56 => 50,
                _ if image => grains[y * width + x].min(255) as u8,
                _ if panel => 110,
                _ if button || rule => 90,
                _ if y >= 410 => 225,
                _ => 200,
            };
        }
    }
    out
}

/// A binary PGM (P5, 8 bits) as width, height, pixels.
fn pgm(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut fields = Vec::new();
    let mut at = 2;
    while fields.len() < 3 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..at]).unwrap().parse::<usize>().unwrap());
    }
    (fields[0], fields[1], bytes[at + 1..].to_vec())
}

/// Every frame of frames.txt, text blended in: out = bg + (grey − bg)·alpha/255.
pub fn frames() -> Vec<Frame> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/redact/testdata");
    let manifest = std::fs::read_to_string(dir.join("frames.txt")).unwrap();
    let mut frames: Vec<Frame> = Vec::new();
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let (fields, text) = line.split_once(" # ").unwrap_or((line, ""));
        let f: Vec<&str> = fields.split_whitespace().collect();
        let num = |i: usize| f[i].parse::<usize>().unwrap();
        if f[0] == "frame" {
            let (width, height) = (num(2), num(3));
            let pixels = match f[4] {
                "fan" => fan(width, height),
                "xray" => xray(width, height),
                "gradient" => gradient(width, height),
                _ => screen(width, height),
            };
            frames.push(Frame { name: f[1].into(), luma: Luma { width: width as u32, height: height as u32, pixels }, lines: Vec::new() });
            continue;
        }
        let frame = frames.last_mut().unwrap();
        let (w, h, alpha) = pgm(&std::fs::read(dir.join(f[1])).unwrap());
        let (x0, y0, grey) = (num(2), num(3), num(4) as i32);
        for y in 0..h {
            for x in 0..w {
                let p = &mut frame.luma.pixels[(y0 + y) * frame.luma.width as usize + x0 + x];
                *p = (*p as i32 + (grey - *p as i32) * alpha[y * w + x] as i32 / 255) as u8;
            }
        }
        frame.lines.push((Rect { x: x0 as u32, y: y0 as u32, width: w as u32, height: h as u32 }, text.into()));
    }
    frames
}
