#!/usr/bin/env python3
"""scan_leaks.py MANIFEST ZIP OPTIONS_JSON [--details FILE]
   scan_leaks.py --self-test MANIFEST ZIP OPTIONS_JSON

Scans an export zip for the needles that make_corpus.py planted (MANIFEST) and reports every one
that survived where the chosen options do not explicitly keep it. OPTIONS_JSON (a file, or the
JSON itself) says what the export was run with and where its report is:
    {"preset": "mip"|"basic", "options": ["clean-descriptors", ...], "dates": "keep"|"month"|
     "shift"|"remove"|null, "includeQuarantined": bool, "report": "report.json", "label": "..."}

What is allowed is computed from PS3.15 Table E.1-1 (the JSON the manifest names), never from
the engine. THE READING THAT LEAKS NOTHING:
  * A needle may survive only where it was planted, and only when the action at EVERY level of
    its planted path is K under the options (a tag that no row names is neutral: the profile
    acts on the rows it lists). Of a row's actions, a retain option's K wins over a clean
    option's C, which wins over the Basic Profile's action.
  * X removes, Z empties (a sequence: no items), D replaces with a dummy: a dummy SEQUENCE
    carries NO original content from its items. X/Z, X/D, Z/D, X/Z/D likewise never keep the
    original. U replaces UIDs. X/Z/U* keeps the references but with their UIDs replaced and
    nothing identifying in the items (a plant's marker token, which identifies nobody, may stay;
    dates follow the date policy, as under C).
  * C cleans: no planted identifying value survives (names, IDs, phone numbers, addresses,
    UIDs, dates in any written form: YYYYMMDD, YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY), unless the
    date policy keeps dates. Words that identify nobody (the marker token) may stay.
    The C of the modified-dates option is a date rule: the attribute keeps a modified date and
    nothing else of its original value (not even the token). The C of Retain Safe Private keeps
    only private attributes known to be safe: the corpus's private creator is nobody's, so
    nothing of it survives.
  * Dates: `keep` keeps dates and times; `month` maps a date to the 1st of its month and drops
    the time of day (the original must not survive); `shift` moves dates by a keyed number of
    whole days (the original date must not survive; a time of day (TM) is unchanged by a shift
    of whole days, so a TM may survive where its row's C comes from the date option);
    `remove` removes them.
  * Patient's Name and Patient ID are always replaced (their rows are Z and Z/D with no K).
    Non-standard UIDs (not 1.2.840.10008.*) never survive unless Retain UIDs keeps their row;
    any UID under the corpus's made-up root that is not a planted one is an altered original.
  * Every input file is accounted for: the report lists it with an outcome; an exported one is
    in the zip; one that is not exported has a reason. A file the engine's output audit held
    back is fine; a missing, silently lost or wrongly refused file is not.

Prints per run: files in, files exported, files held back, files lost, leaks found; the last
line is "LEAKSCAN <json>" with the figures. Exit status: 0 clean, 1 leaks or lost files.

--self-test plants needles into a copy of the zip's first exported image (a top-level
attribute, a sequence item, a private element, the preamble's raw bytes, a date written
DD.MM.YYYY) and checks that the scan finds every one of them.
"""

import argparse
import collections
import io
import json
import os
import re
import sys
import warnings
import zipfile
import zlib

import pydicom
from pydicom.charset import python_encoding
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

warnings.simplefilter("ignore")
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

# ---------------------------------------------------------------------------------------------
# The table and the options
# ---------------------------------------------------------------------------------------------

# The CLI's option names and the table's columns.
OPTION_COLUMN = {
    "retain-safe-private": "rtnSafePrivOpt",
    "retain-uids": "rtnUIDsOpt",
    "retain-device-identity": "rtnDevIdOpt",
    "retain-institution-identity": "rtnInstIdOpt",
    "retain-patient-characteristics": "rtnPatCharsOpt",
    "clean-descriptors": "cleanDescOpt",
    "clean-structured-content": "cleanStructContOpt",
    "clean-graphics": "cleanGraphOpt",
}
# Columns whose C cleans text (names, IDs... go; other words stay).
TEXT_CLEAN = {"cleanDescOpt", "cleanStructContOpt", "cleanGraphOpt", "rtnDevIdOpt", "rtnPatCharsOpt"}

# What the README documents of the mip preset, beyond options: it is the Basic Profile with
# Retain Patient Characteristics and Retain Device Identity, dates reduced to the month, and
# Series Description and Protocol Name kept for protocol matching but cleaned of identifiers.
MIP_COLUMNS = {"rtnPatCharsOpt", "rtnDevIdOpt"}
MIP_KEPT = {0x0008103E, 0x00181030}

# Report codes of files held back by the engine's output audit (or a failed write of a
# de-identified file): a reason the test accepts for an image not exported.
AUDIT_CODES = {"identifier-found", "write-failed"}


def tag_str(tag):
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def parse_tag(text):
    return int(text[1:5] + text[6:10], 16)


class Table:
    """Table E.1-1 from the shared JSON: exact tags, repeating groups, private groups."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
        self.exact, self.special = {}, {}
        for row in rows:
            row["name"] = row["name"].split("\n")[0].strip()
            t = row["tag"]
            if t[1:5].isalnum() and t[6:10].isalnum() and "X" not in t[1:10] and "G" not in t[1:10]:
                self.exact[parse_tag(t)] = row
            else:
                self.special[t.split(")")[0] + ")"] = row
        self.count = len(rows)

    def row(self, tag):
        group, elem = tag >> 16, tag & 0xFFFF
        if tag in self.exact:
            return self.exact[tag]
        if group % 2 == 1:
            return self.special["(GGGG,EEEE)"]
        if 0x5000 <= group <= 0x501E and group % 2 == 0:
            return self.special["(50XX,XXXX)"]
        if 0x6000 <= group <= 0x601E and group % 2 == 0 and elem in (0x3000, 0x4000):
            return self.special[f"(60XX,{elem:04X})"]
        return None


class Policy:
    """The options of one export, and what each level of a path does under them."""

    def __init__(self, table, opts):
        self.table = table
        self.preset = opts.get("preset") or "mip"
        self.dates = opts.get("dates") or ("month" if self.preset == "mip" else "remove")
        self.columns = {OPTION_COLUMN[o] for o in opts.get("options", [])}
        if self.preset == "mip":
            self.columns |= MIP_COLUMNS
        # The date policy is the Retain Longitudinal Temporal Information option: full dates
        # (keep) or modified dates (month, shift); remove is neither.
        if self.dates == "keep":
            self.columns.add("rtnLongFullDatesOpt")
        elif self.dates in ("month", "shift"):
            self.columns.add("rtnLongModifDatesOpt")
        self.include_quarantined = bool(opts.get("includeQuarantined"))

    def level(self, tag):
        """The action at one level: 'neutral' (no row), 'K', 'C-text', 'C-dates', 'C-private',
        or the Basic Profile's action (X, Z, D, U, X/Z, X/D, Z/D, X/Z/D, X/Z/U*)."""
        if self.preset == "mip" and tag in MIP_KEPT:
            return "C-text", "mip keeps it, cleaned of identifiers"
        row = self.table.row(tag)
        if row is None:
            return "neutral", None
        acts = {c: row[c] for c in self.columns if c in row}
        if "K" in acts.values():
            return "K", row["name"]
        cleans = {c for c, a in acts.items() if a == "C"}
        if cleans & TEXT_CLEAN:
            return "C-text", row["name"]
        if "rtnLongModifDatesOpt" in cleans:
            return "C-dates", row["name"]
        if cleans:
            return "C-private", row["name"]
        return row["basicProfile"], row["name"]

    def blocking(self, kind, path):
        """None when a needle of this kind may survive at this planted path; else the first
        level that forbids it: (tag, action, row name)."""
        for t in path:
            tag = parse_tag(t)
            action, name = self.level(tag)
            if action in ("neutral", "K"):
                continue
            if action in ("C-text", "X/Z/U*"):
                # A clean, and an X/Z/U* sequence's items (references kept, UIDs replaced):
                # nothing that identifies survives; words that identify nobody may, and dates
                # as the date policy has them.
                if kind == "token":
                    continue
                if kind in ("date", "datetime", "time") and self.dates == "keep":
                    continue
                if kind == "time" and self.dates == "shift":
                    continue  # a whole-day shift leaves the time of day
                # Retain UIDs keeps every UID, inside cleaned items too: references between
                # instances must stay valid (cleaning is about text, not about references).
                if kind == "uid" and "rtnUIDsOpt" in self.columns:
                    continue
            if action == "C-dates" and kind == "time" and self.dates == "shift":
                continue
            return t, action, name
        return None


# ---------------------------------------------------------------------------------------------
# Finding needles
# ---------------------------------------------------------------------------------------------

LITERAL_KINDS = {"name", "id", "phone", "address"}
WALK_ONLY_KINDS = {"binnum", "age"}  # binary numbers and ages: compared by value, same tag only

DATE_FORMS = [
    # YYYYMMDD may be followed by digits (the date of a DT); not preceded by a digit or a dot
    # (a long number or a UID is no date).
    (re.compile(r"(?<![0-9.])(\d{4})(\d{2})(\d{2})"), (0, 1, 2)),
    (re.compile(r"(?<![0-9])(\d{4})-(\d{2})-(\d{2})(?![0-9])"), (0, 1, 2)),
    (re.compile(r"(?<![0-9.])(\d{2})\.(\d{2})\.(\d{4})(?![0-9])"), (2, 1, 0)),
    (re.compile(r"(?<![0-9])(\d{2})/(\d{2})/(\d{4})(?![0-9])"), (2, 1, 0)),
]
# Patterns have no look-ahead: in raw bytes a value may be followed by the next element's tag,
# whose first byte can be a digit or a letter (group 0x0032 is "2", 0x0038 is "8"). A match is
# only counted when it is a planted needle, so a longer string cannot pass for one by chance.
TOKEN = re.compile(r"(?<![A-Za-z0-9])Q\d{4}[A-Z]")
DATETIME = re.compile(r"(?<![0-9.])\d{14}\.\d{4}")
TIME = re.compile(r"(?<![0-9])\d{6}\.\d{4}")
NUMBER = re.compile(r"(?<![0-9.])(?:8\d{4}\.173|97\d{4})")


class Finder:
    """Counts the needles in a text or in bytes. Literal needles (names, IDs, phones,
    addresses) are searched as bytes in every encoding a file may use; the others are ASCII
    patterns (token, UID, date, date-time, time, number) matched and then looked up."""

    def __init__(self, manifest):
        self.needles = manifest["needles"]
        self.by_kind = collections.defaultdict(dict)
        for i, n in enumerate(self.needles):
            self.by_kind[n["kind"]][n["text"]] = i
        self.literals = [(n["text"], i) for i, n in enumerate(self.needles) if n["kind"] in LITERAL_KINDS]
        root = re.escape(manifest["uidRoot"])
        self.uid = re.compile(r"(?<![0-9.])" + root + r"[0-9.]*")
        # Pseudo-needles: an altered original UID (our root, not a planted UID).
        self.extra = {}

    def pseudo(self, kind, text):
        key = (kind, text)
        if key not in self.extra:
            self.extra[key] = len(self.needles) + len(self.extra)
        return self.extra[key]

    def describe(self, i):
        if i < len(self.needles):
            return self.needles[i]
        for (kind, text), j in self.extra.items():
            if j == i:
                return {"kind": kind, "text": text, "plants": []}
        raise KeyError(i)

    def uid_needle(self, match):
        """The planted UID a match is, allowing for one or two bytes of the next element's tag
        after it in raw bytes; else an altered original UID (a pseudo-needle, always a leak)."""
        uids = self.by_kind["uid"]
        for cut in (0, 1, 2):
            uid = match[: len(match) - cut].rstrip(".")
            if uid in uids:
                return uids[uid]
        return self.pseudo("uid-altered", match.rstrip("."))

    def patterns(self, text, counts):
        """ASCII patterns in a str."""
        if "Q" in text:
            for m in TOKEN.finditer(text):
                i = self.by_kind["token"].get(m.group())
                if i is not None:
                    counts[i] += 1
        for m in self.uid.finditer(text):
            counts[self.uid_needle(m.group())] += 1
        if not any(c.isdigit() for c in text):
            return
        for rx, (y, mo, d) in DATE_FORMS:
            for m in rx.finditer(text):
                g = m.groups()
                i = self.by_kind["date"].get(f"{g[y]}-{g[mo]}-{g[d]}")
                if i is not None:
                    counts[i] += 1
        for rx, kind in ((DATETIME, "datetime"), (TIME, "time"), (NUMBER, "number")):
            for m in rx.finditer(text):
                i = self.by_kind[kind].get(m.group())
                if i is not None:
                    counts[i] += 1

    def in_text(self, text):
        counts = collections.Counter()
        for lit, i in self.literals:
            if lit in text:
                counts[i] += text.count(lit)
        self.patterns(text, counts)
        return counts

    def in_bytes(self, data, codecs):
        """Literal needles in every encoding (the file's charset, Latin-1, UTF-8), patterns in
        the bytes read as Latin-1 (one character per byte)."""
        counts = collections.Counter()
        for lit, i in self.literals:
            forms = set()
            for codec in codecs:
                try:
                    forms.add(lit.encode(codec))
                except (UnicodeEncodeError, LookupError):
                    pass
            n = sum(data.count(f) for f in forms)
            if n:
                counts[i] += n
        self.patterns(data.decode("latin-1"), counts)
        return counts


def codecs_of(ds):
    """Python codecs for a data set: its Specific Character Set's, then Latin-1 and UTF-8."""
    out = []
    try:
        terms = ds.get("SpecificCharacterSet", None) or []
    except Exception:
        terms = []
    if isinstance(terms, str):
        terms = [terms]
    for term in terms or []:
        codec = python_encoding.get(str(term).strip())
        if codec and codec not in out:
            out.append(codec)
    for codec in ("latin_1", "utf_8"):
        if codec not in out:
            out.append(codec)
    return out


# ---------------------------------------------------------------------------------------------
# Walking an output file
# ---------------------------------------------------------------------------------------------


def element_values(elem):
    """An element's value as text (str) or bytes, for searching."""
    v = elem.value
    if v is None or v == "":
        return []
    if isinstance(v, (bytes, bytearray)):
        return [bytes(v)]
    if isinstance(v, (MultiValue, list, tuple)):
        return ["\\".join(str(x) for x in v)]
    return [str(v)]


def walk(ds, path, finder, codecs, walk_only, hits):
    """Every element at every depth (private ones included): the needles in its value, with
    the element's path. hits: list of (needle index, path)."""
    for tag in list(ds.keys()):
        p = path + [tag_str(tag)]
        try:
            elem = ds[tag]
            values = None if elem.VR == "SQ" else element_values(elem)
        except Exception:  # a value pydicom cannot convert: search its raw bytes
            raw = ds.get_item(tag)
            elem, values = None, [bytes(raw.value or b"")]
        if elem is not None and elem.VR == "SQ":
            for item in elem.value or []:
                walk(item, p, finder, codecs, walk_only, hits)
            continue
        for value in values:
            counts = finder.in_bytes(value, codecs) if isinstance(value, bytes) else finder.in_text(value)
            for i, n in counts.items():
                hits.extend([(i, tuple(p))] * n)
        # Binary numbers and ages: compared by value where that tag was planted.
        for text, i in walk_only.get(int(tag), {}).items():
            if any(isinstance(v, str) and text in v.split("\\") for v in values):
                hits.append((i, tuple(p)))


def raw_bytes(data, ds):
    """The bytes to search: the file, with a deflated data set inflated."""
    ts = str(getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID", ""))
    if ts == "1.2.840.10008.1.2.1.99" and data[128:132] == b"DICM":
        meta_len = int.from_bytes(data[140:144], "little")
        start = 144 + meta_len
        try:
            return data[:start] + zlib.decompress(data[start:], -15)
        except zlib.error:
            return data
    return data


# ---------------------------------------------------------------------------------------------
# One scan
# ---------------------------------------------------------------------------------------------


class Scan:
    def __init__(self, manifest, table, opts):
        self.manifest = manifest
        self.policy = Policy(table, opts)
        self.opts = opts
        self.finder = Finder(manifest)
        self.unreadable = []  # output entries pydicom cannot read (searched as raw bytes only)
        # Plants by (file, needle) -> list of plant indexes, and the walk-only needles by tag.
        self.plants_of = collections.defaultdict(list)
        self.walk_only = collections.defaultdict(dict)  # file -> tag -> {text: needle}
        for i, n in enumerate(manifest["needles"]):
            for p in n["plants"]:
                plant = manifest["plants"][p]
                self.plants_of[(plant["file"], i)].append(p)
                if n["kind"] in WALK_ONLY_KINDS:
                    self.walk_only[plant["file"]].setdefault(parse_tag(plant["path"][-1]), {})[n["text"]] = i

    def accounting(self, report, names):
        """Every input with its outcome: (files, exported, held back, lost, lines, entry->file)."""
        by_name = {os.path.basename(f["name"]): f for f in report["files"]}
        exported, held, lost, lines, entries = 0, 0, 0, [], {}
        for f in self.manifest["files"]:
            name, kind = f["file"], f["kind"]
            must = f.get("mustExport", kind == "image" or (kind == "quarantinable" and self.policy.include_quarantined))
            r = by_name.get(name)
            if r is None:
                lost += 1
                lines.append(f"LOST {name}: not in the report")
                continue
            outcome = r["outcome"]
            if outcome == "exported":
                if r["path"] in names:
                    exported += 1
                    entries[r["path"]] = name
                else:
                    lost += 1
                    lines.append(f"LOST {name}: reported exported as {r['path']}, not in the zip")
                continue
            code = r.get("code", "")
            reason = r.get("reason", "")
            if not reason:
                lost += 1
                lines.append(f"LOST {name}: {outcome} without a reason")
            elif must and code not in AUDIT_CODES:
                lost += 1
                lines.append(f"LOST {name} ({kind}, must be exported): {outcome} [{code}] {reason}")
            else:
                held += 1
                lines.append(f"held back {name} ({kind}): {outcome} [{code}] {reason}")
        return len(self.manifest["files"]), exported, held, lost, lines, entries

    def scan_entry(self, name, data, source):
        """The leaks in one zip entry that came from input `source` (None: not from a corpus
        file). Returns a list of leak records."""
        leaks = []
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
        except Exception as e:  # only its raw bytes can be searched: said apart
            ds = None
            self.unreadable.append(f"{name}: pydicom cannot read it ({type(e).__name__}: {e})")
        codecs = codecs_of(ds) if ds is not None else ["latin_1", "utf_8"]
        raw = raw_bytes(data, ds) if ds is not None else data
        raw_counts = self.finder.in_bytes(raw, codecs)
        hits = []
        if ds is not None:
            if hasattr(ds, "file_meta"):
                walk(ds.file_meta, [], self.finder, codecs, {}, hits)
            walk(ds, [], self.finder, codecs, self.walk_only.get(source, {}), hits)
        walk_counts = collections.Counter(i for i, _ in hits)
        # Occurrences in the bytes that no element explains (preamble, undecodable values,
        # a part pydicom could not read).
        for i, n in raw_counts.items():
            if n > walk_counts.get(i, 0):
                leaks.append(self.record(name, source, i, ("raw bytes outside any readable element",), None,
                                         "found in the raw bytes", count=n - walk_counts.get(i, 0)))
        # Every occurrence at an element: allowed only at a planted path the options keep.
        seen = set()
        for i, path in hits:
            if (i, path) in seen:
                continue
            seen.add((i, path))
            # PS3.10: the meta group's Media Storage SOP Instance UID is the data set's SOP
            # Instance UID (a file without a meta group gets it from there).
            planted_at = ("(0008,0018)",) if path == ("(0002,0003)",) else path
            plants = [p for p in self.plants_of.get((source, i), []) if tuple(self.manifest["plants"][p]["path"]) in (path, planted_at)]
            kind = self.finder.describe(i)["kind"]
            if not plants:
                leaks.append(self.record(name, source, i, path, None, "found where it was not planted"))
                continue
            blocks = [self.policy.blocking(kind, self.manifest["plants"][p]["path"]) for p in plants]
            if any(b is None for b in blocks):
                continue  # the options keep it here
            leaks.append(self.record(name, source, i, path, (plants[0], blocks[0]), "kept where planted"))
        return leaks

    def record(self, entry, source, i, path, plant_block, how, count=1):
        n = self.finder.describe(i)
        rec = {"entry": entry, "file": source, "needle": n["text"], "kind": n["kind"], "foundAt": list(path),
               "how": how, "count": count}
        if plant_block:
            p, (tag, action, row) = plant_block
            plant = self.manifest["plants"][p]
            rec.update({"plantedAt": plant["path"], "blockingTag": tag, "blockingAction": action, "blockingRow": row,
                        "depth": "deep" if plant["path"][0] in self.manifest["containers"] else "top"})
        return rec

    def run(self, zip_bytes, report):
        zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
        names = set(zf.namelist())
        files_in, exported, held, lost, lines, entries = self.accounting(report, names)
        self.unreadable = []
        leaks = []
        for name in sorted(names):
            # Entry names: nothing planted may appear in them.
            for i in self.finder.in_text(name):
                leaks.append(self.record(name, None, i, ("zip entry name",), None, "in an entry name"))
            data = zf.read(name)
            if name.lower().endswith(".dcm"):
                leaks.extend(self.scan_entry(name, data, entries.get(name)))
            else:
                for i, n in self.finder.in_bytes(data, ["latin_1", "utf_8"]).items():
                    leaks.append(self.record(name, None, i, ("non-DICOM entry",), None, "in a non-DICOM entry", n))
        return {"filesIn": files_in, "exported": exported, "heldBack": held, "lost": lost,
                "accounting": lines + [f"UNREADABLE {u}" for u in self.unreadable], "leaks": leaks}


def category(leak):
    """A leak's category: the row and action that should have stopped it, or how it was found."""
    if "blockingRow" in leak:
        return f"{leak['blockingRow']} {leak['blockingTag']} [{leak['blockingAction']}]"
    return leak["how"]


def summarize(result, label, verbose=30):
    """Prints the run's figures and returns them. A leak is one planted value that survived
    (an entry and the path where its needles were found); its needles are counted apart."""
    records = result["leaks"]
    values = {}
    for r in records:
        values.setdefault((r["entry"], tuple(r["foundAt"])), r)
    cats = collections.Counter(category(r) for r in values.values())
    example = {}
    for r in values.values():
        example.setdefault(category(r), r)
    kinds = collections.Counter(r["kind"] for r in records)
    depth = collections.Counter(r.get("depth", "other") for r in values.values())
    print(f"{label}: files in {result['filesIn']}, exported {result['exported']}, held back {result['heldBack']}, "
          f"lost {result['lost']}, leaks {len(values)} (values; {len(records)} needles in them)")
    for line in result["accounting"]:
        if line.startswith(("LOST", "UNREADABLE")) or verbose:
            print(f"  {line}")
    if values:
        print(f"  needles by kind: {dict(sorted(kinds.items()))}; values by depth: {dict(sorted(depth.items()))}")
        for cat, n in cats.most_common(verbose):
            e = example[cat]
            where = " > ".join(e["foundAt"])
            planted = f"; planted at {' > '.join(e['plantedAt'])} ({e['depth']})" if "plantedAt" in e else ""
            print(f"  {n:5d}  {cat}   e.g. {e['kind']} {e['needle']!r} in {e['entry']} at {where}{planted}, from {e['file']}")
        if len(cats) > verbose:
            print(f"  ... {len(cats) - verbose} more categories")
    return {"label": label, "filesIn": result["filesIn"], "exported": result["exported"],
            "heldBack": result["heldBack"], "lost": result["lost"], "leaks": len(values), "needles": len(records),
            "byKind": dict(sorted(kinds.items())), "byCategory": dict(cats.most_common()),
            "lostFiles": [l for l in result["accounting"] if l.startswith("LOST")]}


# ---------------------------------------------------------------------------------------------
# Self-test: the scanner bites
# ---------------------------------------------------------------------------------------------


def corpus_check(scan, corpus_dir):
    """The scanner sees every plant in the corpus itself: each needle of each plant is found at
    the plant's path in its input file (so a needle the finder cannot see would show here)."""
    missed = []
    for f in scan.manifest["files"]:
        with open(os.path.join(corpus_dir, f["file"]), "rb") as fh:
            ds = pydicom.dcmread(fh, force=True)
        hits = []
        if hasattr(ds, "file_meta"):
            walk(ds.file_meta, [], scan.finder, codecs_of(ds), {}, hits)
        walk(ds, [], scan.finder, codecs_of(ds), scan.walk_only.get(f["file"], {}), hits)
        found = {(scan.finder.describe(i)["kind"] + ":" + scan.finder.describe(i)["text"], path) for i, path in hits}
        for p in scan.manifest["plants"]:
            if p["file"] == f["file"]:
                for n in p["needles"]:
                    if (n, tuple(p["path"])) not in found:
                        missed.append(f"{f['file']} {p['path']} {n}")
    plants = len(scan.manifest["plants"])
    print(f"self-test: the corpus's {plants} plants are all found where planted: "
          f"{'yes' if not missed else 'NO, ' + str(len(missed)) + ' missed, e.g. ' + '; '.join(missed[:5])}")
    return not missed


def self_test(scan, zip_bytes, report):
    """Plants needles into a copy of the first exported image and checks the scan finds each."""
    zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
    _, _, _, _, _, entries = scan.accounting(report, set(zf.namelist()))
    kinds = {f["file"]: f["kind"] for f in scan.manifest["files"]}
    target = next((e for e, f in sorted(entries.items()) if kinds[f] == "image"), None)
    if target is None:
        print("self-test: no exported image to plant into")
        return False
    source = entries[target]
    ident = next(f for f in scan.manifest["files"] if f["file"] == source)
    # The identity's needles, from the plants of its file's top-level Patient's Name etc.
    top = {tuple(p["path"]): p for p in scan.manifest["plants"] if p["file"] == source and len(p["path"]) == 1}
    family = next(t.split(":", 1)[1] for t in top[("(0010,0010)",)]["needles"] if t.startswith("name:"))
    pid = top[("(0010,0020)",)]["needles"][0].split(":", 1)[1]
    birth = next(t.split(":", 1)[1] for t in top[("(0010,0030)",)]["needles"])
    uid = next(t.split(":", 1)[1] for t in top[("(0008,0018)",)]["needles"])
    y, m, d = birth.split("-")
    ds = pydicom.dcmread(io.BytesIO(zf.read(target)))
    # 1. A top-level attribute: Patient's Name back to the original (its row is Z: never kept).
    ds.PatientName = f"{family}^X"
    # 2. A sequence item at a path never planted: Procedure Code Sequence > Code Meaning.
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "SELF1", "99SELF", f"for {family}"
    ds.ProcedureCodeSequence = Sequence([item])
    # 3. A private element of a creator never planted, with the patient ID and an original UID.
    block = ds.private_block(0x0099, "SELFTEST", create=True)
    block.add_new(0x01, "LO", f"id {pid}")
    block.add_new(0x02, "UI", uid)
    # 4. A date written DD.MM.YYYY in free text, in a private element too.
    block.add_new(0x03, "LT", f"seen {d}.{m}.{y}")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = bytearray(buf.getvalue())
    # 5. The raw bytes only: the patient ID in the preamble, which no element reads.
    data[0:len(pid)] = pid.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in zf.namelist():
            z.writestr(name, bytes(data) if name == target else zf.read(name))
    before = {(l["needle"], tuple(l["foundAt"])) for l in scan.run(zip_bytes, report)["leaks"]}
    after = {(l["needle"], tuple(l["foundAt"])) for l in scan.run(out.getvalue(), report)["leaks"]}
    expected = [
        (family, ("(0010,0010)",), "Patient's Name restored"),
        (family, ("(0008,1032)", "(0008,0104)"), "name in a sequence item"),
        (pid, ("(0099,1001)",), "patient ID in a private element"),
        (uid, ("(0099,1002)",), "original UID in a private element"),
        (birth, ("(0099,1003)",), "birth date written DD.MM.YYYY"),
        (pid, ("raw bytes outside any readable element",), "patient ID in the preamble"),
    ]
    ok = True
    for needle, path, what in expected:
        found = (needle, path) in after
        new = found and (needle, path) not in before
        print(f"self-test: {what}: {'found' if found else 'MISSED'}{'' if new or not found else ' (already a leak before)'}")
        ok &= found
    print(f"self-test: planted into {target} (from {source}); {len(after - before)} new leaks; "
          f"{'PASS' if ok else 'FAIL'}")
    return ok


# ---------------------------------------------------------------------------------------------


def load_options(arg):
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg, encoding="utf-8") as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--table", help="Table E.1-1 JSON (default: the manifest's)")
    parser.add_argument("--details", help="write every leak as JSON to this file")
    parser.add_argument("manifest")
    parser.add_argument("zip")
    parser.add_argument("options")
    args = parser.parse_args()
    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    opts = load_options(args.options)
    table = Table(args.table or manifest["table"])
    with open(opts["report"], encoding="utf-8") as f:
        report = json.load(f)
    with open(args.zip, "rb") as f:
        zip_bytes = f.read()
    scan = Scan(manifest, table, opts)
    if args.self_test:
        corpus_dir = os.path.join(os.path.dirname(os.path.abspath(args.manifest)), "dicom")
        seen = corpus_check(scan, corpus_dir)
        bites = self_test(scan, zip_bytes, report)
        sys.exit(0 if seen and bites else 1)
    result = scan.run(zip_bytes, report)
    label = opts.get("label") or json.dumps({k: v for k, v in opts.items() if k != "report"})
    figures = summarize(result, label)
    if args.details:
        with open(args.details, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False, indent=1)
    print("LEAKSCAN " + json.dumps(figures, ensure_ascii=False))
    sys.exit(0 if figures["leaks"] == 0 and figures["lost"] == 0 else 1)


if __name__ == "__main__":
    main()
