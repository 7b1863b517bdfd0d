//! The Clean Pixel Data option on the page (issue 18): an ultrasound series with a name, an ID
//! and a date drawn into its pixels is held back for review; the review shows its first image
//! with the proposed boxes; the test draws one box with the mouse and adds one with the keyboard,
//! accepts the series and saves its layout as a rule; the page's zip then equals the CLI's run
//! with `--option clean-pixel-data --no-pixel-detect` and that rule (the boxes the page applied),
//! and the exported pixels are black inside the boxes.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const COLUMNS: u32 = 640;
const ROWS: u32 = 480;
const US_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.6.1";
const MANUFACTURER: &str = "ACME Ultrasound";
const MODEL: &str = "Sono 1";
/// The text burned into the pixels: (left, top, text), 5×7 glyphs drawn 2 pixels a dot.
const TEXT: &[(u32, u32, &str)] = &[(16, 10, "DOE JOHN"), (16, 34, "ID 4711 2019 03 17")];
const SCALE: u32 = 2;

const ARROW_DOWN: &str = "\u{E015}";
const SHIFT: &str = "\u{E008}";
const DELETE: &str = "\u{E017}";

#[test]
fn page_cleans_burned_in_text_with_the_reviewed_boxes_like_the_cli() {
    let work = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..2).map(|n| write_ultrasound(work.path(), n)).collect();
    let (_server, browser, _url) = open_page();
    let s = &browser.session;
    browser.enter(&inputs);
    s.find("#opt-clean-pixel-data").unwrap().click().unwrap();
    browser.run_to_review(Duration::from_secs(120));

    let shown = s.find("#review-pixels").and_then(|e| e.text()).unwrap_or_default();
    let canvas = s.find(".pixel-series canvas.pixel-canvas").unwrap_or_else(|e| panic!("no pixel series' image on the review ({e}); it shows: {shown:?}"));
    let proposed = boxes_of(s);
    assert!(!proposed.is_empty(), "no box proposed for the burned-in text");
    for &(x, y, _) in TEXT {
        assert!(proposed.iter().any(|b| covers(b, x + 3, y + 3)), "no proposed box over the text at ({x}, {y}): {proposed:?}");
    }
    assert!(canvas_is_drawn(s), "the thumbnail is not drawn");

    // The mouse draws a box in the lower right: from 3/4 to 11/12 of the width, 7/9 to 8/9 of
    // the height (offsets from the canvas's centre, in CSS pixels).
    // (WebDriver's origin is the centre of the element's part in view: all of it must be.)
    s.execute("document.querySelector('.pixel-canvas').scrollIntoView({block: 'center'});", vec![]).unwrap();
    let (w, h) = canvas_size(s);
    s.drag(&canvas, (w / 4, (h * 5) / 18), ((w * 5) / 12, (h * 7) / 18)).unwrap();
    let drawn = boxes_of(s);
    assert_eq!(drawn.len(), proposed.len() + 1, "the mouse drew no box: {drawn:?}");
    let mouse = *drawn.last().unwrap();
    let near = |got: u32, want: u32| got.abs_diff(want) <= 3;
    assert!(near(mouse[0], 480) && near(mouse[1], 373) && near(mouse[2], 107) && near(mouse[3], 53), "mouse box {mouse:?} (canvas {w} × {h})");

    // The keyboard adds a box in the middle (A), then moves it down 10 pixels and 1 more.
    s.press("a").unwrap();
    s.chord(&format!("{SHIFT}{ARROW_DOWN}")).unwrap();
    s.press(ARROW_DOWN).unwrap();
    let boxes = boxes_of(s);
    assert_eq!(boxes.last(), Some(&[240, 221, 160, 60]), "keyboard box: {boxes:?}");
    assert_eq!(boxes.len(), proposed.len() + 2);
    // A box added by mistake (A) is removed with Delete; the others stay as they were.
    s.press("a").unwrap();
    assert_eq!(boxes_of(s).len(), boxes.len() + 1);
    s.press(DELETE).unwrap();
    assert_eq!(boxes_of(s), boxes, "Delete removes the selected box only");
    let listed = s.find(".pixel-boxes").unwrap().text().unwrap();
    assert!(listed.contains("x 240, y 221, 160 × 60 pixels"), "the box list: {listed}");

    eprintln!("proposed on the review: {proposed:?}; applied: {boxes:?}");
    s.find(".pixel-accept").unwrap().click().unwrap();
    s.find(".pixel-save-rule").unwrap().click().unwrap();
    let rules = saved_rules(s);
    browser.confirm_review(Duration::from_secs(60));
    let page = browser.download_zip(Duration::from_secs(120));

    // The rule the page saved (the page's boxes, this scanner's layout) given to the CLI.
    assert_eq!(rules["rules"][0]["boxes"], json!(boxes.iter().map(|b| json!({"x": b[0], "y": b[1], "width": b[2], "height": b[3]})).collect::<Vec<_>>()));
    assert_eq!(rules["rules"][0]["match"], json!({"manufacturer": MANUFACTURER, "model": MODEL, "sopClass": US_IMAGE, "rows": ROWS, "columns": COLUMNS}));
    let rules_file = work.path().join("rules.json");
    std::fs::write(&rules_file, serde_json::to_vec_pretty(&rules).unwrap()).unwrap();
    let args = ["--format", "dicom", "--option", "clean-pixel-data", "--no-pixel-detect", "--pixel-rules", rules_file.to_str().unwrap()];
    let cli = cli::export(&inputs, &today(), &args);
    assert_same_zip(&page, &cli.zip, "ultrasound cleaned with the reviewed boxes");
    check_blacked_out(&page, &boxes);
}

/// The boxes of the first pixel series as the page lists them, `[x, y, width, height]`.
fn boxes_of(s: &webdriver::driver::Session) -> Vec<[u32; 4]> {
    let v = s
        .execute("return [...document.querySelectorAll('.pixel-series')[0].querySelectorAll('.pixel-box')].map((b) => JSON.parse(b.dataset.box));", vec![])
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| ["x", "y", "width", "height"].map(|k| b[k].as_u64().unwrap_or_else(|| panic!("box {b}")) as u32))
        .collect()
}

/// The canvas's size on screen, CSS pixels.
fn canvas_size(s: &webdriver::driver::Session) -> (i64, i64) {
    let r = s.execute("const r = document.querySelector('.pixel-canvas').getBoundingClientRect(); return [r.width, r.height];", vec![]).unwrap();
    (r[0].as_f64().unwrap().round() as i64, r[1].as_f64().unwrap().round() as i64)
}

fn covers(b: &[u32; 4], x: u32, y: u32) -> bool {
    x >= b[0] && y >= b[1] && x < b[0] + b[2] && y < b[1] + b[3]
}

/// Whether the canvas shows more than one grey (the thumbnail, not a blank canvas).
fn canvas_is_drawn(s: &webdriver::driver::Session) -> bool {
    let script = "const c = document.querySelector('.pixel-canvas'); \
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
        const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(d[i]); return seen.size;";
    s.execute(script, vec![]).unwrap().as_u64().unwrap_or(0) > 8
}

/// The site's pixel rules as the page stored them with its settings.
fn saved_rules(s: &webdriver::driver::Session) -> Value {
    let stored = s.execute("return JSON.parse(localStorage.getItem('capture.settings')).pixelRules;", vec![]).unwrap();
    assert_eq!(stored["rules"].as_array().map(Vec::len), Some(1), "stored pixel rules: {stored}");
    stored
}

/// Every exported image is black inside the boxes, and is not all black outside them.
fn check_blacked_out(zip: &[u8], boxes: &[[u32; 4]]) {
    let files: Vec<(String, Vec<u8>)> =
        capture_tests::scan::entries(zip).into_iter().filter(|(n, _)| n.ends_with(".dcm")).collect();
    assert_eq!(files.len(), 2, "two images exported");
    for (name, bytes) in files {
        let obj = dicom_object::from_reader(std::io::Cursor::new(&bytes[128..])).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().into_owned();
        assert_eq!(pixels.len(), (COLUMNS * ROWS) as usize, "{name}: 8-bit grey pixels");
        let at = |x: u32, y: u32| pixels[(y * COLUMNS + x) as usize];
        for b in boxes {
            for (x, y) in [(b[0], b[1]), (b[0] + b[2] - 1, b[1] + b[3] - 1), (b[0] + b[2] / 2, b[1] + b[3] / 2)] {
                assert_eq!(at(x, y), 0, "{name}: pixel ({x}, {y}) of box {b:?} not black");
            }
        }
        assert!(pixels.iter().any(|&p| p > 40), "{name}: the image lost its content");
    }
}

/// 5×7 glyphs of the burned-in text, a row a string.
fn glyph(c: char) -> [&'static str; 7] {
    match c {
        'D' => ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
        'O' => [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
        'E' => ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
        'J' => ["..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."],
        'H' => ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        'N' => ["#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"],
        'I' => ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "#####"],
        '0' => [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        '1' => ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        '2' => [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        '3' => ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
        '4' => ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
        '7' => ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
        '9' => [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
        _ => ["....."; 7],
    }
}

/// An ultrasound frame: a dark background, a smooth bright fan (the "anatomy", different per
/// file `n`), and the text of TEXT in bright thin strokes.
fn frame(n: u32) -> Vec<u8> {
    let mut px: Vec<u8> = (0..ROWS * COLUMNS)
        .map(|i| {
            let (x, y) = ((i % COLUMNS) as i64, (i / COLUMNS) as i64);
            let (dx, dy) = (x - 320, y - 80);
            let inside = y > 80 && dx.abs() * 3 < dy * 2 && dy < 380;
            if inside { (60 + (dy / 4) + ((dx + n as i64 * 7).rem_euclid(50)) / 5) as u8 } else { 12 }
        })
        .collect();
    for &(left, top, text) in TEXT {
        for (k, c) in text.chars().enumerate() {
            let x0 = left + k as u32 * 6 * SCALE;
            for (r, row) in glyph(c).iter().enumerate() {
                for (col, dot) in row.chars().enumerate() {
                    if dot != '#' {
                        continue;
                    }
                    for (dy, dx) in (0..SCALE).flat_map(|a| (0..SCALE).map(move |b| (a, b))) {
                        let (x, y) = (x0 + col as u32 * SCALE + dx, top + r as u32 * SCALE + dy);
                        px[(y * COLUMNS + x) as usize] = 230;
                    }
                }
            }
        }
    }
    px
}

/// Writes ultrasound image `n` of one series into `dir`.
fn write_ultrasound(dir: &Path, n: u32) -> PathBuf {
    let root = "1.2.826.0.1.3680043.10.5437.18";
    let sop = format!("{root}.4.{}", n + 1);
    let mut obj = InMemDicomObject::new_empty();
    let mut text = |tag, vr, value: &str| obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    text(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY");
    text(tags::SOP_CLASS_UID, VR::UI, US_IMAGE);
    text(tags::SOP_INSTANCE_UID, VR::UI, &sop);
    text(tags::STUDY_DATE, VR::DA, "20190317");
    text(tags::MODALITY, VR::CS, "US");
    text(tags::MANUFACTURER, VR::LO, MANUFACTURER);
    text(tags::MANUFACTURER_MODEL_NAME, VR::LO, MODEL);
    text(tags::PATIENT_NAME, VR::PN, "DOE^JOHN");
    text(tags::PATIENT_ID, VR::LO, "4711");
    text(tags::STUDY_INSTANCE_UID, VR::UI, &format!("{root}.1"));
    text(tags::SERIES_INSTANCE_UID, VR::UI, &format!("{root}.2"));
    text(tags::SERIES_NUMBER, VR::IS, "1");
    text(tags::INSTANCE_NUMBER, VR::IS, &(n + 1).to_string());
    text(tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
    text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    for (tag, value) in [(tags::SAMPLES_PER_PIXEL, 1u16), (tags::ROWS, ROWS as u16), (tags::COLUMNS, COLUMNS as u16),
        (tags::BITS_ALLOCATED, 8), (tags::BITS_STORED, 8), (tags::HIGH_BIT, 7), (tags::PIXEL_REPRESENTATION, 0)]
    {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(frame(n))));
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(US_IMAGE)
        .media_storage_sop_instance_uid(&sop)
        .transfer_syntax("1.2.840.10008.1.2.1")
        .implementation_class_uid("1.2.826.0.1.3680043.10.5437.99")
        .build()
        .expect("file meta");
    let path = dir.join(format!("us_{n}.dcm"));
    obj.with_exact_meta(meta).write_to_file(&path).expect("write the ultrasound image");
    path
}

/// The pixel rules file of step 2: a file that is not a rule file is refused with its reason;
/// a rule file is counted, kept across a reload and written into the settings file; "Forget"
/// removes it.
#[test]
fn pixel_rules_file_is_checked_and_kept_with_the_settings() {
    let work = tempfile::tempdir().unwrap();
    let (_server, browser, url) = open_page();
    let s = &browser.session;
    let status = || s.find("#pixel-rules-status").unwrap().text().unwrap();
    let class = || s.find("#pixel-rules-status").unwrap().attribute("class").unwrap().unwrap_or_default();
    let load = |name: &str, text: &str| {
        let path = work.path().join(name);
        std::fs::write(&path, text).unwrap();
        let before = status();
        s.find("#pixel-rules-file").unwrap().send_keys(&path.display().to_string()).unwrap();
        s.wait_for("the pixel rules status to change", Duration::from_secs(10), || Ok((status() != before).then_some(())))
            .unwrap_or_else(|e| panic!("{e}"));
    };
    assert_eq!(status(), "No pixel rules loaded.");

    load("no-list.json", r#"{"boxes": []}"#);
    assert!(status().contains("no-list.json") && status().contains("no “rules” list"), "{}", status());
    assert!(class().contains("msg-error"), "{}", class());
    load("empty-box.json", r#"{"rules": [{"name": "a", "boxes": [{"x": 0, "y": 0, "width": 0, "height": 9}]}]}"#);
    assert!(status().contains("rule 1 needs"), "{}", status());
    load("not-json.json", "{rules");
    assert!(status().contains("not-json.json"), "{}", status());

    let rules = json!({"rules": [
        {"name": "top band", "match": {"manufacturer": "ACME", "rows": 480, "columns": 640}, "boxes": [{"x": 0, "y": 0, "width": 640, "height": 60}]},
        {"name": "corner", "source": "measured", "boxes": [{"x": 600, "y": 440, "width": 40, "height": 40}]}]});
    load("site-rules.json", &rules.to_string());
    assert_eq!(status(), "2 pixel rules loaded.");
    assert!(!class().contains("msg-error"));
    s.goto(&url).unwrap();
    browser.wait_enabled("#run", Duration::from_secs(60));
    assert_eq!(status(), "2 pixel rules loaded.", "not kept across a reload");

    s.find("#settings-export").unwrap().click().unwrap();
    let file = browser.wait_downloaded("json", Duration::from_secs(20));
    let saved: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(saved["pixelRules"], rules, "the settings file's pixel rules");

    s.find("#pixel-rules-forget").unwrap().click().unwrap();
    assert_eq!(status(), "No pixel rules loaded.");
    let stored = s.execute("return JSON.parse(localStorage.getItem('capture.settings')).pixelRules ?? null;", vec![]).unwrap();
    assert_eq!(stored, Value::Null);
}
