//! The architecture's rules, checked on the sources (`cargo test -p capture-tests --test
//! architecture`): no import cycle between the core's top-level modules, no core file over
//! 700 lines outside `codec/`, no function over 80 lines, a core that lists no platform
//! crate, and a page text for every report reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use capture::error::Reason;
use capture_tests::fixtures::workspace_root;

/// Longest function allowed, in lines from its `fn` to its closing brace.
const MAX_FUNCTION: usize = 80;
/// Longest core source file allowed, outside the codecs.
const MAX_FILE: usize = 700;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&workspace_root().join(dir), &mut files);
    files.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect()
}

/// The source with comments, string and character literals blanked (newlines kept), so that
/// braces and paths are counted in code only.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        let end = if c == '/' && next == Some('/') {
            (i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len())
        } else if c == '/' && next == Some('*') {
            block_comment_end(&chars, i)
        } else if c == '"' {
            string_end(&chars, i + 1)
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !is_ident(chars.get(i.wrapping_sub(1))) {
            raw_string_end(&chars, i + 1).unwrap_or(i + 1)
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            (i + 1..chars.len()).find(|&j| chars[j] == '\'' && chars[j - 1] != '\\' || j > i + 1 && chars[j] == '\'' && chars[j - 2] == '\\' && chars[j - 1] == '\\').map_or(chars.len(), |j| j + 1)
        } else {
            out.push(c);
            i += 1;
            continue;
        };
        out.extend(chars[i..end].iter().map(|&c| blank(c)));
        i = end;
    }
    out
}

fn is_ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

fn block_comment_end(chars: &[char], start: usize) -> usize {
    let (mut depth, mut j) = (0, start);
    while j + 1 < chars.len() {
        match (chars[j], chars[j + 1]) {
            ('/', '*') => (depth, j) = (depth + 1, j + 2),
            ('*', '/') => {
                (depth, j) = (depth - 1, j + 2);
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    chars.len()
}

fn string_end(chars: &[char], mut j: usize) -> usize {
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            '"' => return j + 1,
            _ => j += 1,
        }
    }
    chars.len()
}

/// `r"…"`, `r#"…"#`: the index after the closing quote and hashes.
fn raw_string_end(chars: &[char], from: usize) -> Option<usize> {
    let hashes = chars[from..].iter().take_while(|&&c| c == '#').count();
    (chars.get(from + hashes) == Some(&'"')).then_some(())?;
    let mut j = from + hashes + 1;
    while j < chars.len() {
        if chars[j] == '"' && chars[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

/// Every function of a source: its name, first line and length in lines.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let bytes = code.as_bytes();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("fn ") {
        let at = from + found;
        from = at + 3;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let name: String = code[at + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let Some(open) = code[at..].find(['{', ';']).map(|o| at + o).filter(|&o| bytes[o] == b'{') else { continue };
        let mut depth = 0;
        let close = (open..bytes.len()).find(|&j| {
            depth += match bytes[j] {
                b'{' => 1,
                b'}' => -1,
                _ => 0,
            };
            depth == 0
        });
        let close = close.unwrap_or(bytes.len() - 1);
        out.push((name, line_of(at), line_of(close) - line_of(at) + 1));
    }
    out
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for dir in ["crate/core/src", "crate/web/src", "crate/cli/src"] {
        for (path, source) in sources(dir) {
            if path.components().any(|c| c.as_os_str() == "codec") {
                continue;
            }
            for (name, line, len) in functions(&code_only(&source)) {
                if len > MAX_FUNCTION {
                    long.push(format!("{}:{line} fn {name}: {len} lines", path.strip_prefix(workspace_root()).unwrap().display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FUNCTION} lines:\n{}", long.join("\n"));
}

#[test]
fn the_length_check_sees_a_long_function() {
    let body = "    let x = \"}{\";\n".repeat(MAX_FUNCTION);
    let source = format!("fn short() {{ '}}' }}\n// fn commented() {{\nfn long() {{\n{body}}}\n");
    let found = functions(&code_only(&source));
    assert_eq!(found, vec![("short".into(), 1, 1), ("long".into(), 3, MAX_FUNCTION + 2)]);
}

#[test]
fn no_core_file_outside_codec_is_longer_than_700_lines() {
    let long: Vec<String> = sources("crate/core/src")
        .into_iter()
        .filter(|(path, _)| !path.components().any(|c| c.as_os_str() == "codec"))
        .filter(|(_, source)| source.lines().count() > MAX_FILE)
        .map(|(path, source)| format!("{}: {} lines", path.display(), source.lines().count()))
        .collect();
    assert!(long.is_empty(), "core files over {MAX_FILE} lines:\n{}", long.join("\n"));
}

/// The core's top-level modules and those each names in its code (`crate::x`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = workspace_root().join("crate/core/src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, source) in sources("crate/core/src") {
        let rel = path.strip_prefix(&root).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let code = code_only(&source);
        let uses = graph.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name != module {
                uses.insert(name);
            }
        }
    }
    graph
}

/// The modules on a cycle, each with the path back to itself.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for start in graph.keys() {
        let mut paths = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = paths.pop() {
            for next in graph.get(path.last().unwrap()).into_iter().flatten() {
                if next == start {
                    out.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    paths.push([path.clone(), vec![next.clone()]].concat());
                }
            }
        }
    }
    out
}

#[test]
fn core_modules_import_each_other_without_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 8 && graph["job"].contains("dicom"), "the graph was not read: {graph:?}");
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles between the core's modules:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let edge = |a: &str, b: &str| (a.to_string(), BTreeSet::from([b.to_string()]));
    let graph = BTreeMap::from([edge("error", "report"), edge("report", "nifti"), edge("nifti", "error")]);
    assert_eq!(cycles(&graph).len(), 3);
}

#[test]
fn the_core_lists_no_platform_crate() {
    let manifest = std::fs::read_to_string(workspace_root().join("crate/core/Cargo.toml")).unwrap();
    for line in manifest.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for platform in ["wasm-bindgen", "js-sys", "web-sys", "serde-wasm-bindgen", "console_error_panic_hook", "clap", "chrono", "getrandom"] {
            assert!(!line.trim_start().starts_with(platform), "crate/core/Cargo.toml lists {platform}: {line}");
        }
    }
}

/// The keys of `export const reasons = { … };` in one of the page's language modules.
fn page_reasons(language: &str) -> BTreeSet<String> {
    let path = workspace_root().join(format!("www/i18n/{language}.js"));
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = source.find("export const reasons = {").expect("a reasons table");
    let end = start + source[start..].find("\n};").expect("the reasons table's end");
    source[start..end]
        .lines()
        .skip(1)
        .filter_map(|l| l.trim_start().strip_prefix('\'')?.split_once('\'').map(|(k, _)| k.to_string()))
        .collect()
}

#[test]
fn the_page_has_a_text_for_every_report_reason_in_each_language() {
    let codes: BTreeSet<String> =
        Reason::ALL.iter().map(|r| serde_json::to_value(r).unwrap().as_str().unwrap().to_string()).collect();
    assert_eq!(codes.len(), Reason::ALL.len());
    for language in ["en", "fr"] {
        assert_eq!(page_reasons(language), codes, "www/i18n/{language}.js's reasons against error::Reason");
    }
}
