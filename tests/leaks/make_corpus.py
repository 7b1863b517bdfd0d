#!/usr/bin/env python3
"""make_corpus.py DIR [--table TABLE_JSON]

Writes an adversarial DICOM corpus into DIR/dicom, planted from PS3.15 Table E.1-1 (the shared JSON of
the standard, never the engine's own reading of it), and DIR/manifest.json: every planted needle
(its text, its kind), and every place it was planted (file, the attribute path from the top as a
list of tags, the table rows and actions of each level of that path).

What is planted, per file a patient identity (a name with diacritics, in ISO_IR 100 = Latin-1 or
ISO_IR 192 = UTF-8, patient ID, birth date, address, phone, accession number, staff names), and:
  * every row of the table at the top level AND three sequence levels deep, inside containers
    that no row names (VOI LUT Sequence > Real World Value Mapping Sequence > Modality LUT
    Sequence), with a value of the attribute's VR derived from the identity;
  * for every sequence row an item with identifying values in every string element such an item
    has (codes, text, person name, UIDs, dates, a Person Identification Code Sequence, a nested
    Content Sequence);
  * repeating groups (50xx, 60xx) and a private group with its private creator;
  * content trees (TEXT, PNAME, DATE, DATETIME, TIME, UIDREF, CODE, nested CONTAINER) in MR
    images, in a Grayscale Softcopy Presentation State and in a Key Object Selection Document,
    and Verifying Observer Sequences;
  * free text in the forms people write ("Patient Müller Zoë, born 12.03.1960, tel ...");
  * standard attributes encoded as UN; command/meta/directory groups in a data set;
  * one raw implicit-VR little-endian data set without preamble and file meta group.

Needles are chosen so that none can occur by chance: no date is on the 1st of a month (the month
policy maps a date to the 1st), dates lie in windows a keyed shift of one to three years cannot
reach from another planted date, UIDs use a made-up root, and every planted value carries a
token Q<4 digits><letter> that says which plant it was.

Uses pydicom 3 (the test puts it on PYTHONPATH) and the standard library only.
"""

import argparse
import datetime as dt
import json
import os
import warnings

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence

# pydicom warns about values longer than their VR allows; the corpus stays within the limits
# where it matters and the warnings would drown the test's output.
warnings.simplefilter("ignore")

# ---------------------------------------------------------------------------------------------
# Constants of the corpus
# ---------------------------------------------------------------------------------------------

# A made-up UID root (under a real registrar's arc, with a branch nobody uses): a UID that starts
# with it in an output is an original UID that survived.
UID_ROOT = "1.2.826.0.1.3680043.99999"

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
GSPS_STORAGE = "1.2.840.10008.5.1.4.1.1.11.1"
KOS_STORAGE = "1.2.840.10008.5.1.4.1.1.88.59"
EXPLICIT_LE = "1.2.840.10008.1.2.1"

# Containers for the deep plants: standard sequences that no row of the table names and that
# carry no meaning of their own for de-identification (the engine must walk into them).
CONTAINERS = (0x00283010, 0x00409096, 0x00283000)  # VOI LUT > Real World Value Mapping > Modality LUT

# The private group planted in every file (odd group, our own private creator: no vendor's
# "safe" list can name it, so nothing in it may survive).
PRIVATE_GROUP = 0x0029
PRIVATE_CREATOR = "LEAKTEST Creator"

# SWITCH: the raw implicit-VR data set (no preamble, no file meta) must be exported. The engine
# does not read such files yet (another developer is adding it); set to False to stop counting
# it as a lost file.
RAW_MUST_EXPORT = True

# Rows planted in every file at the top level (the identity and the structure of an instance);
# their deep plants are spread over the files like every other row's.
IDENTITY_ROWS = (
    0x00100010,  # Patient's Name
    0x00100020,  # Patient ID
    0x00100030,  # Patient's Birth Date
    0x00101040,  # Patient's Address
    0x00102154,  # Patient's Telephone Numbers
    0x00080050,  # Accession Number
    0x00081070,  # Operators' Name
    0x00081050,  # Performing Physician's Name
    0x00080090,  # Referring Physician's Name
    0x00080020,  # Study Date
    0x00080030,  # Study Time
    0x00204000,  # Image Comments (free text)
    0x00080018,  # SOP Instance UID
    0x0020000D,  # Study Instance UID
    0x0020000E,  # Series Instance UID
    0x00200052,  # Frame of Reference UID
)

# Rows that cannot sit in a normal Part 10 file: command group elements, DICOMDIR elements and
# file meta elements inside a data set. They go into one file of their own, written with
# pydicom's low-level writer, so that a reader refusing that file loses no other row.
ODD_ROWS = (0x00001000, 0x00001001, 0x00041511, 0x00020003)


def identities():
    """The patients: names with diacritics; the last ones only in UTF-8 files."""
    return [
        dict(key="A", latin1=True, family="Wüstenhöfer", given="Zoëlle", pid="PX-778812",
             birth=dt.date(1944, 3, 12), street="Chemin des Glycines", house="17", postcode="1205",
             city="Genève", phone="+41 79 555 12 34", acc="ACC-5531907",
             operator=("Grünewald", "Anneliese"), performing=("Bélanger", "Théodore"),
             referring=("Castañeda", "Inés")),
        dict(key="B", latin1=True, family="Ñúñez-Arvizu", given="José-Tomás", pid="PX-334109",
             birth=dt.date(1951, 7, 23), street="Calle Ñandubay", house="42", postcode="28014",
             city="Alcobendas", phone="+34 612 48 93 07", acc="ACC-8812604",
             operator=("Oyarzábal", "Itziar"), performing=("Loureiro", "Conceição"),
             referring=("Þórólfsdóttir", "Sigrún")),
        dict(key="C", latin1=True, family="Kjærgård", given="Søren-Åge", pid="PX-905517",
             birth=dt.date(1958, 11, 17), street="Østerbrogade", house="88", postcode="2100",
             city="Hørsholm", phone="+45 31 77 40 95", acc="ACC-2047718",
             operator=("Mäkeläinen", "Päivikki"), performing=("Ó Súilleabháin", "Éabha"),
             referring=("Brönnimann", "Ueli")),
        dict(key="D", latin1=False, family="Wąsowicz-Żółć", given="Łucja", pid="PX-612873",
             birth=dt.date(1965, 5, 26), street="ulica Źródlana", house="9", postcode="60-101",
             city="Poznań", phone="+48 601 872 334", acc="ACC-7730215",
             operator=("Dvořáková", "Šárka"), performing=("Ştefănescu", "Ionuţ"),
             referring=("Łęczycki", "Bartłomiej")),
        dict(key="E", latin1=False, family="Παπαδοπούλου", given="Ελπίδα", pid="PX-487260",
             birth=dt.date(1972, 9, 8), street="Οδός Ερμού", house="31", postcode="10563",
             city="Χαλάνδρι", phone="+30 694 512 7788", acc="ACC-5190462",
             operator=("Øvergård", "Ingebjørg"), performing=("Kovačević", "Dražen"),
             referring=("Őrsi", "Győző")),
    ]


def words(text):
    """The words of a name or address worth searching for (4 characters or more)."""
    out = []
    for part in text.replace("-", " ").replace("^", " ").split():
        if len(part) >= 4:
            out.append(part)
    return out


def fmt_date(d, form):
    """A date as people write it: DICOM DA, ISO, European with dots, with slashes."""
    return [d.strftime("%Y%m%d"), d.isoformat(), d.strftime("%d.%m.%Y"), d.strftime("%d/%m/%Y")][form]


def tag_str(tag):
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------

OPTION_COLUMNS = ("rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt", "rtnPatCharsOpt",
                  "rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "cleanDescOpt",
                  "cleanStructContOpt", "cleanGraphOpt")


class Table:
    """Table E.1-1 as the JSON states it: exact tags, the repeating groups and private groups."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.rows = json.load(f)
        self.exact = {}
        self.curve = self.overlay_data = self.overlay_comments = self.private = None
        for row in self.rows:
            row["name"] = row["name"].split("\n")[0].strip()  # "Icon Image Sequence\n\n(see Note 11)"
            t = row["tag"]
            if t == "(50XX,XXXX)":
                self.curve = row
            elif t == "(60XX,3000)":
                self.overlay_data = row
            elif t == "(60XX,4000)":
                self.overlay_comments = row
            elif t.startswith("(GGGG,EEEE)"):
                self.private = row
            else:
                self.exact[int(t[1:5] + t[6:10], 16)] = row

    def row(self, tag):
        """The row that governs a tag, or None (the tag is not in the table)."""
        group, elem = tag >> 16, tag & 0xFFFF
        if tag in self.exact:
            return self.exact[tag]
        if group % 2 == 1:
            return self.private
        if 0x5000 <= group <= 0x501E and group % 2 == 0:
            return self.curve
        if 0x6000 <= group <= 0x601E and group % 2 == 0:
            return {0x3000: self.overlay_data, 0x4000: self.overlay_comments}.get(elem)
        return None

    def actions(self, tag):
        """What the manifest records for one level: the row's name and its actions."""
        row = self.row(tag)
        if row is None:
            return {"tag": tag_str(tag), "row": None}
        out = {"tag": tag_str(tag), "row": row["name"], "basicProfile": row["basicProfile"]}
        out.update({c: row[c] for c in OPTION_COLUMNS if c in row})
        return out


# ---------------------------------------------------------------------------------------------
# The corpus: plants and needles
# ---------------------------------------------------------------------------------------------


class Corpus:
    def __init__(self, table, out_dir):
        self.table = table
        self.out_dir = out_dir
        self.plants = []  # every planted value: file, path, vr, needles
        self.needles = {}  # (kind, text) -> {"text", "kind", "plants": [plant index]}
        self.files = []  # the manifest's file list
        self.counter = 0  # makes every token, UID, number, date and time of the corpus distinct
        self.file = None  # the file being built
        self.file_no = 0
        self.ident = None

    # -- distinct values -------------------------------------------------------------------

    def next(self):
        self.counter += 1
        return self.counter

    def token(self):
        """A marker that names one plant: Q, four digits, a check letter."""
        k = self.next()
        return f"Q{k % 10000:04d}{chr(65 + (k * 7) % 26)}"

    def uid(self):
        return f"{UID_ROOT}.{self.file_no}.{self.next()}"

    def window_date(self):
        """A date in 2023-02-02 .. 2023-11-19, never on the 1st of a month. A shift of one to
        three years back (the shift policy) lands before the window, and every birth date is
        at least seven years from another, so no shifted date can pass for a planted one."""
        k = self.next()
        d = dt.date(2023, 2, 2) + dt.timedelta(days=(k * 37) % 290)
        return d + dt.timedelta(days=1) if d.day == 1 else d

    def tm(self):
        """A time of day with hours 07-09 (the times inside DT values use 14-17)."""
        k = self.next()
        return f"{7 + k % 3:02d}{(k * 7) % 60:02d}{(k * 13) % 60:02d}.{k % 10000:04d}"

    def dt_value(self):
        d = self.window_date()
        k = self.next()
        return d, f"{d.strftime('%Y%m%d')}{14 + k % 4:02d}{(k * 11) % 60:02d}{(k * 17) % 60:02d}.{k % 10000:04d}"

    # -- recording ---------------------------------------------------------------------------

    def plant(self, path, vr, needles, note=None):
        """Records one planted value: its path (tags from the top) and what it carries."""
        index = len(self.plants)
        self.plants.append({
            "file": self.file,
            "path": [tag_str(t) for t in path],
            "levels": [self.table.actions(t) for t in path],
            "vr": vr,
            "needles": [f"{k}:{t}" for k, t in needles],
            **({"note": note} if note else {}),
        })
        for kind, text in needles:
            n = self.needles.setdefault((kind, text), {"text": text, "kind": kind, "plants": []})
            n["plants"].append(index)

    # -- values by VR --------------------------------------------------------------------------

    def person(self, which):
        i = self.ident
        return {"patient": (i["family"], i["given"]), "operator": i["operator"],
                "performing": i["performing"], "referring": i["referring"]}[which]

    def name_needles(self, family, given):
        return [("name", w) for w in words(family) + words(given)]

    def free_text(self, tok, form=None):
        """A note as people write them: the patient's name (in one of four orders and cases),
        birth date (in one of four forms), phone, ID, address, the referring physician, and the
        plant's token."""
        i = self.ident
        form = self.counter % 4 if form is None else form
        born = fmt_date(i["birth"], form)
        family, given = i["family"], i["given"]
        # The name in four orders and cases: a cleaner must not depend on how it is written.
        variant = (self.counter // 4) % 4
        if variant == 0:
            name = f"{family} {given}"
        elif variant == 1:
            family = family.upper()
            name = f"{family}, {given}"
        elif variant == 2:
            name = f"{given} {family}"
        else:
            family, given = family.upper(), given.upper()
            name = f"{given} {family}"
        ref = i["referring"]
        text = (f"Patient {name}, born {born}, tel {i['phone']}, ID {i['pid']}, "
                f"{i['street']} {i['house']}, {i['postcode']} {i['city']}; seen by Dr {ref[0]} {ref[1]}; ref {tok}")
        needles = self.name_needles(family, given) + self.name_needles(*ref)
        needles += [("date", i["birth"].isoformat()), ("phone", i["phone"]), ("phone", tail(i["phone"])),
                    ("id", i["pid"]), ("address", i["street"]), ("address", i["city"]), ("token", tok)]
        return text, needles

    def value(self, tag, vr, row_name=""):
        """A value of the VR derived from the identity, and the needles it carries."""
        i = self.ident
        tok = self.token()
        if vr == "PN":
            which = "patient" if "Patient" in row_name or "Person" in row_name else \
                ("operator", "performing", "referring")[self.counter % 3]
            fam, giv = self.person(which)
            return f"{fam}^{giv}^{tok}", self.name_needles(fam, giv) + [("token", tok)]
        if vr == "LO":
            return (f"{i['given']} {i['family']} {i['pid']} {tok}",
                    self.name_needles(i["family"], i["given"]) + [("id", i["pid"]), ("token", tok)])
        if vr == "SH":
            return f"{i['pid']} {tok}", [("id", i["pid"]), ("token", tok)]
        if vr in ("LT", "ST", "UT", "UC"):
            return self.free_text(tok)
        if vr == "CS":
            return tok, [("token", tok)]
        if vr == "AE":
            return f"AE_{tok}", [("token", tok)]
        if vr == "UR":
            return f"https://ehr.example.invalid/patient/{i['pid']}/{tok}", [("id", i["pid"]), ("token", tok)]
        if vr == "DA":
            d = i["birth"] if "Birth" in row_name else self.window_date()
            return d.strftime("%Y%m%d"), [("date", d.isoformat())]
        if vr == "DT":
            d, v = self.dt_value()
            return v, [("datetime", v), ("date", d.isoformat())]
        if vr == "TM":
            v = self.tm()
            return v, [("time", v)]
        if vr == "UI":
            v = self.uid()
            return v, [("uid", v)]
        if vr == "DS":
            v = f"8{self.next() % 10000:04d}.173"
            return v, [("number", v)]
        if vr == "IS":
            v = f"97{self.next() % 10000:04d}"
            return v, [("number", v)]
        if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
            v = 40000 + self.next() % 20000
            return v, [("binnum", str(v))]
        if vr in ("FL", "FD"):
            v = 4000 + self.next() % 20000 + 0.25
            return v, [("binnum", repr(v))]
        if vr == "AS":
            v = f"{10 + self.next() % 80:03d}W"
            return v, [("age", v)]
        if vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
            text, needles = self.free_text(tok)
            data = text.encode(self.codec)
            return data + b"\0" * (len(data) % 2), needles
        raise ValueError(f"no value for VR {vr} of {tag_str(tag)}")

    @property
    def codec(self):
        return "utf-8" if self.charset == "ISO_IR 192" else "latin-1"

    # -- planting into data sets ---------------------------------------------------------------

    def put(self, ds, path, tag, vr=None, value=None, needles=None, note=None):
        """Adds one element to ds (at `path`, the tags above it) and records its plant."""
        vr = vr or first_vr(tag)
        if value is None:
            row = self.table.row(tag)
            value, needles = self.value(tag, vr, row["name"] if row else "")
        ds.add(DataElement(tag, vr, value))
        if needles:
            self.plant(path + [tag], vr, needles, note)

    def put_row(self, ds, path, row):
        """Plants one row of the table into ds."""
        t = row["tag"]
        if row is self.table.curve:
            base = 0x50000000 if not path else 0x50020000
            # Curve data is a picture, not text: it carries a token only (nobody can be expected
            # to read names out of a bitmap); the curve's label carries a name.
            tok = self.token()
            self.put(ds, path, base | 0x3000, "OB", (tok + " ").encode() * 2, [("token", tok)])
            self.put(ds, path, base | 0x2500, "LO")
            return
        if row is self.table.overlay_data:
            base = 0x60000000 if not path else 0x60020000
            tok = self.token()
            self.put(ds, path, base | 0x3000, "OW", (tok + " ").encode() * 2, [("token", tok)])
            return
        if row is self.table.overlay_comments:
            base = 0x60000000 if not path else 0x60020000
            self.put(ds, path, base | 0x4000, "LT")
            return
        if row is self.table.private:
            self.put_private(ds, path)
            return
        tag = int(t[1:5] + t[6:10], 16)
        vr = first_vr(tag)
        if vr == "SQ":
            self.put_sequence(ds, path, tag)
        elif tag == 0xFFFCFFFC:
            # Data Set Trailing Padding: bytes that happen to spell the identity.
            self.put(ds, path, tag, "OB")
        else:
            self.put(ds, path, tag, vr)

    def put_private(self, ds, path):
        """Our private creator and its elements: LO, SH, PN, UN, LT and a private sequence whose
        item holds standard attributes."""
        ds.add(DataElement((PRIVATE_GROUP << 16) | 0x0010, "LO", PRIVATE_CREATOR))
        base = (PRIVATE_GROUP << 16) | 0x1000
        for off, vr in ((0x10, "LO"), (0x11, "SH"), (0x12, "PN"), (0x13, "UN"), (0x14, "LT")):
            self.put(ds, path, base | off, vr)
        item = Dataset()
        inner = path + [base | 0x15]
        for tag in (0x00100010, 0x00100020, 0x0040A160):
            self.put(item, inner, tag)
        ds.add(DataElement(base | 0x15, "SQ", Sequence([item])))

    def code_item(self, path):
        """A code triplet with identifying values in every string: Code Value, Coding Scheme
        Designator, Code Meaning."""
        item = Dataset()
        self.put(item, path, 0x00080100, "SH")
        self.put(item, path, 0x00080102, "SH")
        self.put(item, path, 0x00080104, "LO")
        return item

    def sequence_item(self, path):
        """An item with identifying values in every string element a real item has."""
        item = self.code_item(path)
        self.put(item, path, 0x0040A160, "UT")  # Text Value
        self.put(item, path, 0x0040A123, "PN")  # Person Name
        self.put(item, path, 0x00100010, "PN")  # Patient's Name
        self.put(item, path, 0x00100020, "LO")  # Patient ID
        self.put(item, path, 0x00080080, "LO")  # Institution Name
        item.add(DataElement(0x00081150, "UI", MR_STORAGE))  # Referenced SOP Class UID: standard
        self.put(item, path, 0x00081155, "UI")  # Referenced SOP Instance UID
        self.put(item, path, 0x0020000D, "UI")  # Study Instance UID
        self.put(item, path, 0x0040A124, "UI")  # UID
        self.put(item, path, 0x0040A121, "DA")  # Date
        self.put(item, path, 0x0040A120, "DT")  # DateTime
        self.put(item, path, 0x0040A122, "TM")  # Time
        # Person Identification Code Sequence, with a code and an institution.
        pics = path + [0x00401101]
        person = self.code_item(pics)
        self.put(person, pics, 0x00080080, "LO")
        item.add(DataElement(0x00401101, "SQ", Sequence([person])))
        # A nested content tree.
        item.add(DataElement(0x0040A730, "SQ", Sequence(self.content_items(path + [0x0040A730], nested=False))))
        return item

    def put_sequence(self, ds, path, tag):
        ds.add(DataElement(tag, "SQ", Sequence([self.sequence_item(path + [tag])])))

    def content_items(self, path, nested=True):
        """Content items of every value type that can name someone: TEXT, PNAME, DATE,
        DATETIME, TIME, UIDREF, CODE and, when nested, a CONTAINER with its own TEXT."""
        items = []

        def item(value_type, code):
            it = Dataset()
            it.RelationshipType = "CONTAINS"
            it.ValueType = value_type
            concept = Dataset()
            concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = code
            it.ConceptNameCodeSequence = Sequence([concept])
            items.append(it)
            return it

        self.put(item("TEXT", ("121106", "DCM", "Comment")), path, 0x0040A160, "UT")
        self.put(item("PNAME", ("121008", "DCM", "Person Observer Name")), path, 0x0040A123, "PN")
        self.put(item("DATE", ("111536", "DCM", "Date of Study")), path, 0x0040A121, "DA")
        self.put(item("DATETIME", ("111526", "DCM", "DateTime Started")), path, 0x0040A120, "DT")
        self.put(item("TIME", ("111527", "DCM", "Time of Study")), path, 0x0040A122, "TM")
        self.put(item("UIDREF", ("121018", "DCM", "Procedure Study Instance UID")), path, 0x0040A124, "UI")
        code = item("CODE", ("121071", "DCM", "Finding"))
        code.add(DataElement(0x0040A168, "SQ", Sequence([self.code_item(path + [0x0040A168])])))
        if nested:
            container = item("CONTAINER", ("111001", "DCM", "Algorithm Name"))
            container.ContinuityOfContent = "SEPARATE"
            container.add(DataElement(0x0040A730, "SQ", Sequence(self.content_items(path + [0x0040A730], nested=False))))
        return items

    def verifying_observer(self, path):
        """Verifying Observer Sequence: name, organization, date-time, identification codes."""
        vos = path + [0x0040A073]
        item = Dataset()
        self.put(item, vos, 0x0040A075, "PN")
        self.put(item, vos, 0x0040A027, "LO")
        self.put(item, vos, 0x0040A030, "DT")
        item.add(DataElement(0x0040A088, "SQ", Sequence([self.code_item(vos + [0x0040A088])])))
        return DataElement(0x0040A073, "SQ", Sequence([item]))

    # -- files ---------------------------------------------------------------------------------

    def begin(self, name, ident, charset, sop_class, kind, note):
        """Starts a file: sets the identity and charset the values come from."""
        assert charset == "ISO_IR 192" or ident["latin1"], "a Latin-1 file needs a Latin-1 name"
        self.file = name
        self.file_no += 1
        self.ident = ident
        self.charset = charset
        self.files.append({"file": name, "identity": ident["key"], "charset": charset,
                           "sopClass": sop_class, "kind": kind, "note": note})

    def base(self, sop_class, modality, top_rows=IDENTITY_ROWS):
        """A data set with the identity rows at the top and what makes the instance valid."""
        ds = Dataset()
        ds.SpecificCharacterSet = self.charset
        ds.SOPClassUID = sop_class
        ds.Modality = modality
        plain = self.identity_values()
        for tag in top_rows:
            if tag in plain:
                vr, value, needles = plain[tag]
                self.put(ds, [], tag, vr, value, needles)
            else:
                self.put_row(ds, [], self.table.exact[tag])
        if modality == "MR":
            ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
            ds.SeriesNumber, ds.InstanceNumber = 1, self.file_no
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows = ds.Columns = 8
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.PixelData = bytes(range(128))  # 8 x 8 uint16, no text in it
        return ds

    def identity_values(self):
        """The identity's plain values for its top-level rows: tag -> (VR, value, needles)."""
        i = self.ident
        out = {
            0x00100010: ("PN", f"{i['family']}^{i['given']}", self.name_needles(i["family"], i["given"])),
            0x00100020: ("LO", i["pid"], [("id", i["pid"])]),
            0x00100030: ("DA", i["birth"].strftime("%Y%m%d"), [("date", i["birth"].isoformat())]),
            0x00101040: ("LO", f"{i['street']} {i['house']}, {i['postcode']} {i['city']}",
                         [("address", i["street"]), ("address", i["city"])]),
            0x00102154: ("SH", i["phone"], [("phone", i["phone"]), ("phone", tail(i["phone"]))]),
            0x00080050: ("SH", i["acc"], [("id", i["acc"])]),
        }
        for tag, who in ((0x00081070, "operator"), (0x00081050, "performing"), (0x00080090, "referring")):
            fam, giv = i[who]
            out[tag] = ("PN", f"{fam}^{giv}", self.name_needles(fam, giv))
        # One study date per patient: the files of a patient make one visit.
        study = dt.date(2023, 6, 14) + dt.timedelta(days=3 * "ABCDE".index(i["key"]))
        out[0x00080020] = ("DA", study.strftime("%Y%m%d"), [("date", study.isoformat())])
        return out

    def deep(self, ds, rows):
        """Plants rows three sequence levels deep: inside items of the container chain."""
        path = list(CONTAINERS)
        inner = Dataset()
        for row in rows:
            self.put_row(inner, path, row)
        node = inner
        for tag in reversed(CONTAINERS[1:]):
            parent = Dataset()
            parent.add(DataElement(tag, "SQ", Sequence([node])))
            node = parent
        ds.add(DataElement(CONTAINERS[0], "SQ", Sequence([node])))

    def write(self, ds):
        """A Part 10 file: preamble, a proper file meta group, explicit VR little endian."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = EXPLICIT_LE
        ds.file_meta = meta
        # The file meta's Media Storage SOP Instance UID is a plant of its own row.
        self.plant([0x00020003], "UI", [("uid", str(ds.SOPInstanceUID))], note="file meta")
        ds.save_as(os.path.join(self.out_dir, self.file), implicit_vr=False, little_endian=True,
                   enforce_file_format=True)

    def write_low_level(self, ds):
        """A Part 10 file whose data set holds elements dcmwrite refuses (command group)."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = EXPLICIT_LE
        self.plant([0x00020003], "UI", [("uid", str(ds.SOPInstanceUID))], note="file meta")
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        fp.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(fp, meta, enforce_standard=True)
        write_dataset(fp, ds)
        with open(os.path.join(self.out_dir, self.file), "wb") as f:
            f.write(fp.getvalue())


def tail(phone):
    """The subscriber part of a phone number (its last three groups), which a cleaner that only
    removes the country prefix would leave."""
    return " ".join(phone.split()[-3:])


def first_vr(tag):
    """The dictionary VR of a tag; of ambiguous ones ('OB or OW', 'US or SS') the first."""
    return dictionary_VR(tag).split(" or ")[0]


# ---------------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------------


def build(out_dir, table_path, row_files=18):
    table = Table(table_path)
    corpus = Corpus(table, out_dir)
    people = identities()

    # Every row of the table, but the odd ones, spread over the row files.
    rows = [r for r in table.rows if row_tag(r) not in ODD_ROWS]
    spread = [rows[i::row_files] for i in range(row_files)]

    def ident_and_charset(n):
        ident = people[n % len(people)]
        charset = "ISO_IR 192" if not ident["latin1"] or n % 2 else "ISO_IR 100"
        return ident, charset

    # 1. Row files: MR images with their share of the rows at the top and deep.
    for n, share in enumerate(spread):
        ident, charset = ident_and_charset(n)
        corpus.begin(f"rows-{n:02d}.dcm", ident, charset, MR_STORAGE, "image",
                     f"{len(share)} rows of the table, top level and three levels deep")
        ds = corpus.base(MR_STORAGE, "MR")
        for row in share:
            tag = row_tag(row)
            if tag is None or tag not in IDENTITY_ROWS:
                corpus.put_row(ds, [], row)
        corpus.deep(ds, share)
        corpus.write(ds)

    # 2. MR images with a content tree, a verifying observer and free text, in both charsets.
    for n, (ident, charset) in enumerate(((people[0], "ISO_IR 100"), (people[3], "ISO_IR 192"), (people[1], "ISO_IR 192"))):
        corpus.begin(f"content-mr-{n}.dcm", ident, charset, MR_STORAGE, "image",
                     "MR image with a content tree, verifying observer and free text")
        ds = corpus.base(MR_STORAGE, "MR")
        ds.add(DataElement(0x0040A730, "SQ", Sequence(corpus.content_items([0x0040A730]))))
        ds.add(corpus.verifying_observer([]))
        for tag in (0x00324000, 0x001021B0):  # Study Comments, Additional Patient History
            corpus.put(ds, [], tag, "LT")
        corpus.write(ds)

    # 3. A Grayscale Softcopy Presentation State whose annotation names the patient.
    ident = people[2]
    corpus.begin("gsps.dcm", ident, "ISO_IR 100", GSPS_STORAGE, "quarantinable",
                 "GSPS: Graphic Annotation Sequence > Text Object Sequence > Unformatted Text Value")
    ds = corpus.base(GSPS_STORAGE, "PR")
    gas = [0x00700001]
    ann = Dataset()
    ann.GraphicLayer = "LAYER0"
    ref = Dataset()
    ref.ReferencedSOPClassUID = MR_STORAGE
    corpus.put(ref, gas + [0x00081140], 0x00081155, "UI")
    ann.add(DataElement(0x00081140, "SQ", Sequence([ref])))
    text = Dataset()
    text.BoundingBoxAnnotationUnits = "PIXEL"
    text.BoundingBoxTopLeftHandCorner = [1.0, 1.0]
    text.BoundingBoxBottomRightHandCorner = [7.0, 3.0]
    text.BoundingBoxTextHorizontalJustification = "LEFT"
    corpus.put(text, gas + [0x00700008], 0x00700006, "ST")  # Unformatted Text Value
    ann.add(DataElement(0x00700008, "SQ", Sequence([text])))
    ds.add(DataElement(0x00700001, "SQ", Sequence([ann])))
    for tag in (0x00700080, 0x00700081, 0x00700082, 0x00700083, 0x00700084):  # content label .. creator
        corpus.put(ds, [], tag)
    ds.add(corpus.verifying_observer([]))
    corpus.write(ds)

    # 4. A Key Object Selection Document with its references and a content tree.
    ident = people[4]
    corpus.begin("kos.dcm", ident, "ISO_IR 192", KOS_STORAGE, "quarantinable",
                 "KOS: content tree, evidence references, verifying observer")
    ds = corpus.base(KOS_STORAGE, "KO")
    ds.ValueType = "CONTAINER"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning = "113000", "DCM", "Of Interest"
    ds.ConceptNameCodeSequence = Sequence([title])
    ds.ContinuityOfContent = "SEPARATE"
    items = corpus.content_items([0x0040A730])
    image = Dataset()
    image.RelationshipType, image.ValueType = "CONTAINS", "IMAGE"
    sop = Dataset()
    sop.ReferencedSOPClassUID = MR_STORAGE
    corpus.put(sop, [0x0040A730, 0x00081199], 0x00081155, "UI")
    image.add(DataElement(0x00081199, "SQ", Sequence([sop])))
    items.append(image)
    ds.add(DataElement(0x0040A730, "SQ", Sequence(items)))
    # Current Requested Procedure Evidence Sequence > Referenced Series > Referenced SOP.
    ev = [0x0040A375]
    study = Dataset()
    corpus.put(study, ev, 0x0020000D, "UI")
    series = Dataset()
    corpus.put(series, ev + [0x00081115], 0x0020000E, "UI")
    sop = Dataset()
    sop.ReferencedSOPClassUID = MR_STORAGE
    corpus.put(sop, ev + [0x00081115, 0x00081199], 0x00081155, "UI")
    series.add(DataElement(0x00081199, "SQ", Sequence([sop])))
    study.add(DataElement(0x00081115, "SQ", Sequence([series])))
    ds.add(DataElement(0x0040A375, "SQ", Sequence([study])))
    ds.add(corpus.verifying_observer([]))
    corpus.write(ds)

    # 5. Standard attributes written with VR UN (as some converters do): the engine must read
    # them with the dictionary's VR before applying the rows.
    ident = people[1]
    corpus.begin("un-encoded.dcm", ident, "ISO_IR 100", MR_STORAGE, "image",
                 "text, date and UID rows encoded as UN")
    ds = corpus.base(MR_STORAGE, "MR")
    for tag in (0x00081040, 0x00081080, 0x00102000, 0x00380300, 0x00321060, 0x00081030, 0x00400254,
                0x0008103E, 0x00181030, 0x00080081, 0x00100032, 0x00080021, 0x00081155, 0x00101001,
                0x00401001, 0x00081048, 0x00321032, 0x00101060, 0x00181000, 0x00080201):
        row = table.exact[tag]  # each is a row of the table
        vr = first_vr(tag)
        value, needles = corpus.value(tag, vr, row["name"])
        raw = value if isinstance(value, bytes) else str(value).encode(corpus.codec)
        corpus.put(ds, [], tag, "UN", raw + (b" " if len(raw) % 2 else b""), needles, note=f"{vr} written as UN")
    corpus.write(ds)

    # 6. The groups a Part 10 data set should not hold (command, file meta, directory), top and
    # deep. Not a valid file: a reader may refuse it (with a reason in the report).
    ident = people[2]
    corpus.begin("odd-groups.dcm", ident, "ISO_IR 100", MR_STORAGE, "odd",
                 "command (0000), file meta (0002) and DICOMDIR (0004) elements inside the data set")
    ds = corpus.base(MR_STORAGE, "MR")
    odd = [table.exact[t] for t in ODD_ROWS]
    for row in odd:
        if row_tag(row) != 0x00020003:  # (0002,0003) at the top level is the file meta's
            corpus.put_row(ds, [], row)
    corpus.deep(ds, odd)
    corpus.write_low_level(ds)

    # 7. A raw data set: implicit VR little endian, no preamble, no file meta group.
    ident = people[0]
    corpus.begin("raw-implicit.dcm", ident, "ISO_IR 100", MR_STORAGE, "raw",
                 "implicit VR little endian data set without preamble and file meta group")
    corpus.files[-1]["mustExport"] = RAW_MUST_EXPORT
    ds = corpus.base(MR_STORAGE, "MR", top_rows=(0x00100010, 0x00100020, 0x00100030, 0x00080020,
                                                  0x00080018, 0x0020000D, 0x0020000E, 0x00204000))
    pydicom.dcmwrite(os.path.join(out_dir, corpus.file), ds, implicit_vr=True, little_endian=True,
                     enforce_file_format=False)

    return corpus


def row_tag(row):
    t = row["tag"]
    try:
        return int(t[1:5] + t[6:10], 16)
    except ValueError:
        return None  # a pattern row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--table", default=os.path.join(here, "../../../shared/standard/ps3.15-table-e.1-1-rev2024b.json"))
    args = parser.parse_args()
    # The DICOM files go into DIR/dicom (the export's input), the manifest beside them.
    dicom_dir = os.path.join(args.dir, "dicom")
    os.makedirs(dicom_dir, exist_ok=True)
    corpus = build(dicom_dir, args.table)
    needles = sorted(corpus.needles.values(), key=lambda n: (n["kind"], n["text"]))
    manifest = {
        "table": os.path.abspath(args.table),
        "uidRoot": UID_ROOT,
        "privateCreator": PRIVATE_CREATOR,
        "containers": [tag_str(t) for t in CONTAINERS],
        "files": corpus.files,
        "plants": corpus.plants,
        "needles": needles,
    }
    with open(os.path.join(args.dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
    rows_planted = {lv["row"] for p in corpus.plants for lv in p["levels"] if lv["row"]}
    print(f"corpus: {len(corpus.files)} files, {len(corpus.plants)} plants, {len(needles)} needles, "
          f"{len(rows_planted)} of {len(corpus.table.rows)} table rows planted, in {dicom_dir}")


if __name__ == "__main__":
    main()
