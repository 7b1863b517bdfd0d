#!/usr/bin/env bash
# Seed corpora for the fuzz targets, built from pydicom's test files (fetched by the tests
# crate into target/fixtures/pydicom; run `cargo test -p capture-tests --test hostile` once
# first) and small generated tables. Nothing third-party is committed: corpus/ is ignored.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
files="${CAPTURE_FIXTURES:-$here/../../../target/fixtures/pydicom}/test_files"
[[ -f "$files/CT_small.dcm" ]] || { echo "seed.sh: no pydicom files in $files (run cargo test -p capture-tests --test hostile first)" >&2; exit 1; }
corpus="$here/corpus"
mkdir -p "$corpus/dicom_export" "$corpus/table_export" "$corpus/nifti_export" "$corpus/pixel_clean"
# DICOM: every test file under 64 KiB (the fuzzer's default input cap is 4 KiB; it grows).
find "$files" -name '*.dcm' -size -64k -print0 | while IFS= read -r -d '' f; do
    cp "$f" "$corpus/dicom_export/$(basename "$f")"
done
# NIfTI: single images and pairs of slices of one series, joined by the target's marker.
# JPEG 2000 ones reach openjp2 (unsafe, ported C): reversible, irreversible, in a JP2 box.
for f in CT_small.dcm MR_small.dcm MR_small_implicit.dcm MR_small_bigendian.dcm liver_1frame.dcm \
         693_J2KI.dcm JPEG2000.dcm MR_small_jp2klossless.dcm GDCMJ2K_TextGBR.dcm; do
    [[ -f "$files/$f" ]] && cp "$files/$f" "$corpus/nifti_export/$f"
done
{ cat "$files/MR_small.dcm"; printf '\xff\xfe\xfd\xfc'; cat "$files/MR_small_implicit.dcm"; } > "$corpus/nifti_export/pair.bin"
# Real scanners (../shared/dcm_qa beside the repository, when present): one file of each
# vendor's private headers the NIfTI conversion reads (Siemens CSA and mosaic, XA30 enhanced,
# GE private tags and protocol block, Philips), for both the DICOM and the NIfTI targets.
qa="$here/../../../../shared/dcm_qa"
if [[ -d "$qa" ]]; then
    for d in nih/In/20180918Si/mr_0003 ge/In/01_Ax_DWI_TENSOR_R2 xa30/In/27_asl_2d_tra \
             philips_dwi/In/cl/DICOM fmap/In/GE/6_CV_Neuro xa30/In/7_func-bold_task-fa_run-1; do
        f=$(find "$qa/$d" -type f ! -name '*.txt' | sort | head -1)
        [[ -n "$f" ]] || continue
        name="qa-$(echo "$d" | tr '/' '-')"
        cp "$f" "$corpus/nifti_export/$name"
        cp "$f" "$corpus/dicom_export/$name"
    done
fi
# Clean Pixel Data: secondary captures in every encoding pydicom has (native, RLE 8/16/32-bit,
# JPEG, JPEG-LS, YBR, palette, big endian), each held back for its class and cleaned.
find "$files" \( -name 'SC_*.dcm' -o -name 'examples_palette.dcm' -o -name 'examples_ybr_color.dcm' \) -size -256k -print0 |
    while IFS= read -r -d '' f; do cp "$f" "$corpus/pixel_clean/$(basename "$f")"; done
# Tables: the shapes the table reader detects.
printf 'patient_id,visit_date,birth_date,weight\n1CT1,2004-01-19,1960-03-12,80\n4MR1,19.01.2004,12/03/1960,71\n' > "$corpus/table_export/comma.csv"
printf 'PatientID;Datum;Wert\n1CT1;19.01.2004;1,5\n"4MR1";"20.01.2004";"2;5"\n' > "$corpus/table_export/semicolon.csv"
printf 'id\tdate\tnote\r\n1CT1\t2004-01-19\t"multi\nline"\r\n' > "$corpus/table_export/tab.csv"
printf '\xef\xbb\xbfpid|exam_date|sex\n1CT1|20040119|F\n' > "$corpus/table_export/bom-pipe.csv"
printf 'name,city\nM\xfcller,Z\xfcrich\n' > "$corpus/table_export/latin1.csv"
# Zips: stored and deflated entries in nested folders, a climbing name, a forced zip64 entry.
mkdir -p "$corpus/zip_input"
python3 - "$files" "$corpus/zip_input" <<'PY'
import sys, zipfile
files, out = sys.argv[1], sys.argv[2]
ct = open(f"{files}/CT_small.dcm", "rb").read()
with zipfile.ZipFile(f"{out}/pacs.zip", "w") as z:
    z.writestr("PACS/S1/IM1", ct)
    z.writestr(zipfile.ZipInfo("PACS/S2/"), b"")
    z.writestr("PACS/S2/IM2", ct[:2000], compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("../evil", b"x")
with zipfile.ZipFile(f"{out}/zip64.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
    with z.open("big/IM1", "w", force_zip64=True) as f:
        f.write(ct[:1000])
PY
echo "seed.sh: $(ls "$corpus/dicom_export" | wc -l) DICOM, $(ls "$corpus/nifti_export" | wc -l) NIfTI, $(ls "$corpus/table_export" | wc -l) table, $(ls "$corpus/zip_input" | wc -l) zip seeds in $corpus"
