"""Readers for the label files of public VQA datasets (formats: below, docs/EVALUATION.md).

Every reader maps a dataset's label file to catalog rows (dicts)

    video_id: str, uri: str, mos: float   (+ split: str, + dmos: float, + source_id: str
                                            where the dataset has them)

so that the same rows feed the scoring pipeline's catalog, the trainer's manifests and
`trainer.evaluate`. Readers are tolerant: header names match case-insensitively (spaces,
dashes and underscores ignored), extra columns are ignored, fields of the `", "`-separated
peer `.txt` files are stripped. Video files are looked up under `video_root` (default:
the label file's directory); files that are not there are counted and listed in
`Labels.missing` (their rows stay in `Labels.rows`, `Labels.present()` drops them).

    labels = read_labels("lsvq", "labels_train_test.csv", video_root="/data/LSVQ")
    print(labels.summary())
    write_catalog(labels.present(), "lsvq_catalog.parquet")
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import posixpath
import re
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class DatasetFormatError(ValueError):
    """A label file does not have the layout its dataset's reader expects."""


@dataclasses.dataclass
class Labels:
    """Catalog rows of one label file plus what could not be used.

    rows: dicts with video_id, uri, mos (and split / dmos / source_id where known).
    missing: video_ids whose video file was not found (None when files were not checked).
    skipped: (line or row id, reason) for rows without a usable id or MOS.
    """

    dataset: str
    label_file: str
    rows: list[dict]
    missing: list[str] | None = None
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def present(self) -> list[dict]:
        gone = set(self.missing or ())
        return [r for r in self.rows if r["video_id"] not in gone]

    def summary(self) -> str:
        files = ("files not checked" if self.missing is None
                 else f"{len(self.rows) - len(self.missing)} files found, "
                      f"{len(self.missing)} missing")
        text = (f"{self.dataset}: {len(self.rows)} labelled videos from "
                f"{self.label_file} ({files}, {len(self.skipped)} rows skipped)")
        if self.missing:
            text += "; first missing: " + ", ".join(self.missing[:5])
        return text


# --------------------------------------------------------------------------- tables


def _norm(name) -> str:
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8-sig")


def _csv_dicts(path: str) -> tuple[list[str], list[dict]]:
    """Rows of a headed CSV as dicts keyed by normalised header, fields stripped."""
    reader = csv.reader(io.StringIO(_read_text(path)), skipinitialspace=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetFormatError(f"{path}: empty file") from None
    keys = [_norm(h) for h in header]
    rows = [{k: v.strip() for k, v in zip(keys, line)}
            for line in reader if any(f.strip() for f in line)]
    return keys, rows


def _column(keys: Iterable[str], path: str, *names: str, required: bool = True) -> str | None:
    keys = list(keys)
    for name in names:
        if _norm(name) in keys:
            return _norm(name)
    if required:
        raise DatasetFormatError(
            f"{path}: none of the columns {list(names)} found; header has {keys}")
    return None


def _float(value) -> float | None:
    try:
        v = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "1.0")


def _join(root: str, rel: str) -> str:
    if "://" in rel or os.path.isabs(rel):
        return rel
    if "://" in root:
        return posixpath.join(root, rel)
    return os.path.join(root, rel)


def _with_ext(name: str, ext: str = ".mp4") -> str:
    return name if os.path.splitext(name)[1] else name + ext


def _exists(uri: str) -> bool:
    if "://" in uri:
        from apache_beam.io.filesystems import FileSystems
        return FileSystems.exists(uri)
    return os.path.isfile(uri)


def _finish(dataset: str, path: str, rows: list[dict], skipped, check_files: bool) -> Labels:
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r["video_id"] in seen:
            skipped.append((r["video_id"], "repeated video_id"))
            continue
        seen.add(r["video_id"])
        unique.append(r)
    missing = [r["video_id"] for r in unique if not _exists(r["uri"])] if check_files else None
    return Labels(dataset, path, unique, missing, skipped)


def _row(video_id: str, uri: str, mos, **extra) -> dict:
    row = {"video_id": video_id, "uri": uri, "mos": mos}
    row.update({k: v for k, v in extra.items() if v is not None})
    return row


# --------------------------------------------------------------------------- readers


def read_lsvq(path: str, *, video_root: str | None = None, check_files: bool = True
              ) -> Labels:
    """LSVQ `labels_train_test.csv` (split from `is_test`/`is_valid`) or
    `labels_test_1080p.csv` (no `is_test`: split "test_1080p"). `name` has no extension:
    `yfcc-batch1/747` -> `<video_root>/yfcc-batch1/747.mp4`. MOS 0-100."""
    root = video_root or os.path.dirname(path)
    keys, table = _csv_dicts(path)
    name_col = _column(keys, path, "name")
    mos_col = _column(keys, path, "mos")
    test_col = _column(keys, path, "is_test", required=False)
    valid_col = _column(keys, path, "is_valid", required=False)
    rows, skipped = [], []
    for i, t in enumerate(table):
        name, mos = t.get(name_col, ""), _float(t.get(mos_col))
        if not name or mos is None:
            skipped.append((name or f"row {i + 2}", "no name or no numeric mos"))
            continue
        if test_col is None:
            split = "test_1080p"
        elif _truthy(t.get(test_col)):
            split = "test"
        elif valid_col and _truthy(t.get(valid_col)):
            split = "valid"
        else:
            split = "train"
        rows.append(_row(name, _join(root, _with_ext(name)), mos, split=split))
    return _finish("lsvq", path, rows, skipped, check_files)


def _xlsx_table(path: str, sheet: str | None, id_names: tuple[str, ...]
                ) -> tuple[list[str], list[dict]]:
    """Rows of an .xlsx sheet as normalised-header dicts; the header is the first of the
    first 10 rows that has one of `id_names` (title rows above it are skipped)."""
    try:
        import openpyxl
    except ImportError as e:  # pinned in requirements.txt
        raise DatasetFormatError(f"{path}: reading .xlsx needs openpyxl") from e
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet in wb.sheetnames:
            ws = wb[sheet]
        elif sheet is not None and _norm(sheet) in [_norm(s) for s in wb.sheetnames]:
            ws = wb[next(s for s in wb.sheetnames if _norm(s) == _norm(sheet))]
        else:
            ws = wb[wb.sheetnames[0]]
        values = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    wanted = {_norm(n) for n in id_names}
    for h, header in enumerate(values[:10]):
        keys = [_norm(c) if c is not None else "" for c in header]
        if wanted & set(keys):
            rows = [{k: ("" if v is None else v) for k, v in zip(keys, r) if k}
                    for r in values[h + 1:] if any(v not in (None, "") for v in r)]
            return keys, rows
    raise DatasetFormatError(f"{path}: no header row with any of {list(id_names)} in the "
                             f"first 10 rows of sheet {ws.title!r}")


_UGC_VARIANTS = ("original", "h264")


def ugc_uri(vid: str, root: str, variant: str = "original") -> str:
    """Where YouTube-UGC keeps `vid` (e.g. `Gaming_1080P-0ce6`):
    original: original_videos/<Cat>/<Res>/<vid>.mkv;
    h264: original_videos_h264/<vid>_crf_10_ss_00_t_20.0.mp4."""
    if variant == "h264":
        return _join(root, f"original_videos_h264/{vid}_crf_10_ss_00_t_20.0.mp4")
    if variant != "original":
        raise ValueError(f"variant must be one of {_UGC_VARIANTS}, got {variant!r}")
    m = re.match(r"^([A-Za-z]+)_(\d+P)-", vid)
    if not m:
        return _join(root, f"original_videos/{vid}.mkv")
    return _join(root, f"original_videos/{m.group(1)}/{m.group(2)}/{vid}.mkv")


def read_youtube_ugc(path: str, *, video_root: str | None = None, check_files: bool = True,
                     variant: str = "original") -> Labels:
    """YouTube-UGC `MOS_for_YouTube_UGC_dataset.xlsx` (sheet `MOS`) or the same table as
    CSV: `vid, category, MOS full, ...`. MOS 1-5; the category becomes `split`-free
    metadata `category`."""
    root = video_root or os.path.dirname(path)
    if path.lower().endswith((".xlsx", ".xlsm")):
        keys, table = _xlsx_table(path, "MOS", ("vid",))
    else:
        keys, table = _csv_dicts(path)
    vid_col = _column(keys, path, "vid", "video", "name")
    mos_col = _column(keys, path, "MOS full", "mos", "mosfull")
    cat_col = _column(keys, path, "category", required=False)
    rows, skipped = [], []
    for i, t in enumerate(table):
        vid, mos = str(t.get(vid_col, "")).strip(), _float(t.get(mos_col))
        if not vid or mos is None:
            skipped.append((vid or f"row {i + 2}", "no vid or no numeric MOS full"))
            continue
        cat = str(t.get(cat_col, "")).strip() if cat_col else ""
        rows.append(_row(vid, ugc_uri(vid, root, variant), mos, category=cat or None))
    return _finish("youtube_ugc", path, rows, skipped, check_files)


_VP9_VARIANTS = {"orig": "orig.mp4", "cbr": "cbr.webm", "vod": "vod.webm",
                 "vodlb": "vodlb.webm"}


def read_youtube_ugc_dmos(path: str, *, video_root: str | None = None,
                          check_files: bool = True) -> Labels:
    """YouTube-UGC `DMOS_for_YouTube_UGC_dataset.xlsx` (or CSV). The workbook's layout
    was not seen, so two layouts are read by header and anything else fails clearly:

    wide: `vid` + one DMOS column per VP9 variant (`vod`, `vodlb`, `cbr`, optionally
      `orig`; a `dmos` prefix/suffix in the header is allowed);
    long: `vid` (or `name`), `dmos`, and `variant` (or `codec`, `version`).

    Rows: video_id `<vid>_<variant>`, uri `vp9_compressed_videos/<vid>_<variant>.webm`,
    `dmos`, `source_id` = vid, `variant`; `mos` is None (DMOS-only rows).
    """
    root = video_root or os.path.dirname(path)
    if path.lower().endswith((".xlsx", ".xlsm")):
        keys, table = _xlsx_table(path, "DMOS", ("vid", "name", "video"))
    else:
        keys, table = _csv_dicts(path)
    vid_col = _column(keys, path, "vid", "video", "name")
    long_dmos = _column(keys, path, "dmos", required=False)
    long_var = _column(keys, path, "variant", "codec", "version", required=False)
    wide = {}
    for k in keys:
        bare = re.sub(r"^dmos|dmos$", "", k)
        if bare in _VP9_VARIANTS:
            wide[k] = bare
    if long_dmos and long_var:
        pairs = lambda t: [(str(t.get(long_var, "")).strip().lower(), t.get(long_dmos))]
    elif wide:
        pairs = lambda t: [(v, t.get(k)) for k, v in wide.items()]
    else:
        raise DatasetFormatError(
            f"{path}: unrecognised DMOS layout; header has {keys}. Expected `vid` plus "
            f"either `dmos` and `variant` columns or per-variant columns "
            f"{sorted(_VP9_VARIANTS)}")
    rows, skipped = [], []
    for i, t in enumerate(table):
        vid = str(t.get(vid_col, "")).strip()
        for variant, value in pairs(t):
            dmos = _float(value)
            if not vid or dmos is None or variant not in _VP9_VARIANTS:
                skipped.append((f"{vid or f'row {i + 2}'}/{variant}",
                                "no vid, no numeric DMOS or unknown variant"))
                continue
            rows.append(_row(f"{vid}_{variant}",
                             _join(root, f"vp9_compressed_videos/{vid}_"
                                         f"{_VP9_VARIANTS[variant]}"),
                             None, dmos=dmos, source_id=vid, variant=variant))
    return _finish("youtube_ugc_dmos", path, rows, skipped, check_files)


def _mat_columns(path: str, *names_per_col: tuple[str, ...]) -> list[np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError as e:  # MATLAB v7.3 files are HDF5
        raise DatasetFormatError(f"{path}: MATLAB v7.3 (HDF5) .mat is not supported; "
                                 "re-save with -v7 or export a CSV") from e
    keys = {_norm(k): k for k in mat if not k.startswith("__")}
    out = []
    for names in names_per_col:
        for n in names:
            if _norm(n) in keys:
                out.append(np.asarray(mat[keys[_norm(n)]]).ravel())
                break
        else:
            raise DatasetFormatError(f"{path}: none of {list(names)} in the .mat; it has "
                                     f"{sorted(keys.values())}")
    return out


def _mat_str(cell) -> str:
    while isinstance(cell, np.ndarray):
        if cell.size == 0:
            return ""
        cell = cell.ravel()[0]
    return str(cell).strip()


def _name_mos_rows(names, moses, root, ext, extra=None) -> tuple[list[dict], list]:
    rows, skipped = [], []
    for i, (name, mos) in enumerate(zip(names, moses)):
        name, mos = str(name).strip(), _float(mos)
        if not name or mos is None:
            skipped.append((name or f"row {i + 1}", "no name or no numeric mos"))
            continue
        rel = _with_ext(name, ext)
        rows.append(_row(os.path.splitext(os.path.basename(name))[0], _join(root, rel), mos,
                         **(extra or {})))
    return rows, skipped


def read_live_yt_gaming(path: str, *, video_root: str | None = None,
                        check_files: bool = True) -> Labels:
    """LIVE-YT-Gaming: peers' `.mat` (`video_list`, `MOS`) or CSV
    (`name,mos,width,height,...`). Names get `.mp4` when they have no extension."""
    root = video_root or os.path.dirname(path)
    if path.lower().endswith(".mat"):
        names, moses = _mat_columns(path, ("video_list", "video_names", "name"),
                                    ("MOS", "mos", "scores"))
        names = [_mat_str(n) for n in names]
    else:
        keys, table = _csv_dicts(path)
        n, m = _column(keys, path, "name", "vid", "video"), _column(keys, path, "mos")
        names, moses = [t.get(n, "") for t in table], [t.get(m) for t in table]
    rows, skipped = _name_mos_rows(names, moses, root, ".mp4")
    return _finish("live_yt_gaming", path, rows, skipped, check_files)


def read_live_vqc(path: str, *, video_root: str | None = None, check_files: bool = True
                  ) -> Labels:
    """LIVE-VQC `data.mat` (`video_list` like `A001.mp4`, `mos`); videos in `Video/`."""
    root = video_root or os.path.join(os.path.dirname(path), "Video")
    names, moses = _mat_columns(path, ("video_list", "video_names"), ("mos", "MOS"))
    rows, skipped = _name_mos_rows([_mat_str(n) for n in names], moses, root, ".mp4")
    return _finish("live_vqc", path, rows, skipped, check_files)


def read_shorts(path: str, *, video_root: str | None = None, check_files: bool = True,
                dataset: str = "shorts") -> Labels:
    """YouTube Shorts SDR / HDR2SDR: CSV `vid,mos,width,height,...` or space-separated
    `SDR_Animal_01ld.mp4 4.186` lines without a header. MOS 1-5."""
    root = video_root or os.path.dirname(path)
    text = _read_text(path)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if "," in first:
        keys, table = _csv_dicts(path)
        n, m = _column(keys, path, "vid", "name", "video"), _column(keys, path, "mos")
        names, moses = [t.get(n, "") for t in table], [t.get(m) for t in table]
    else:
        names, moses = [], []
        for ln in text.splitlines():
            parts = ln.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DatasetFormatError(f"{path}: line {ln!r} is not `<video> <mos>`")
            names.append(parts[0])
            moses.append(parts[-1])
    rows, skipped = _name_mos_rows(names, moses, root, ".mp4")
    return _finish(dataset, path, rows, skipped, check_files)


def read_konvid_1k(path: str, *, video_root: str | None = None, check_files: bool = True
                   ) -> Labels:
    """KoNViD-1k `KoNViD_1k_attributes.csv` (`flickr_id, ..., file_name, MOS, ...`).
    The uri is `file_name` when given, else `<flickr_id>.mp4`; when only the other
    naming exists on disk (peers rename to `<flickr_id>.mp4`), that one is used."""
    root = video_root or os.path.dirname(path)
    keys, table = _csv_dicts(path)
    id_col = _column(keys, path, "flickr_id", "flickrid")
    file_col = _column(keys, path, "file_name", "filename", required=False)
    mos_col = _column(keys, path, "MOS")
    rows, skipped = [], []
    for i, t in enumerate(table):
        fid, mos = t.get(id_col, ""), _float(t.get(mos_col))
        if not fid or mos is None:
            skipped.append((fid or f"row {i + 2}", "no flickr_id or no numeric MOS"))
            continue
        candidates = [_join(root, t[file_col])] if file_col and t.get(file_col) else []
        candidates.append(_join(root, f"{fid}.mp4"))
        uri = next((c for c in candidates if check_files and _exists(c)), candidates[0])
        rows.append(_row(fid, uri, mos))
    return _finish("konvid_1k", path, rows, skipped, check_files)


def read_dover_txt(path: str, *, video_root: str | None = None, check_files: bool = True,
                   dataset: str = "dover_txt") -> Labels:
    """DOVER / FAST-VQA label txt, no header: `relpath, a, b, mos` per line (a, b: duration
    and fps, or -1). video_id is relpath without its extension."""
    root = video_root or os.path.dirname(path)
    rows, skipped = [], []
    for i, ln in enumerate(_read_text(path).splitlines()):
        if not ln.strip():
            continue
        fields = [f.strip() for f in ln.split(",")]
        if len(fields) < 2:
            raise DatasetFormatError(f"{path}:{i + 1}: expected `relpath, a, b, mos`, "
                                     f"got {ln!r}")
        rel, mos = fields[0], _float(fields[-1])
        if not rel or mos is None:
            skipped.append((rel or f"line {i + 1}", "no path or no numeric mos"))
            continue
        rows.append(_row(os.path.splitext(rel)[0], _join(root, rel), mos))
    return _finish(dataset, path, rows, skipped, check_files)


def write_dover_txt(rows: Iterable[dict], path: str, *, video_root: str = "") -> None:
    """Writes rows as DOVER/FAST-VQA `relpath, -1, -1, mos` lines (paths relative to
    `video_root` when they lie under it)."""
    with open(path, "w") as f:
        for r in rows:
            uri = r["uri"]
            if video_root and not ("://" in uri) and os.path.isabs(uri):
                uri = os.path.relpath(uri, video_root)
            f.write(f"{uri}, -1, -1, {float(r['mos'])}\n")


READERS: dict[str, Callable[..., Labels]] = {
    "lsvq": read_lsvq,
    "youtube_ugc": read_youtube_ugc,
    "youtube_ugc_dmos": read_youtube_ugc_dmos,
    "live_yt_gaming": read_live_yt_gaming,
    "shorts_sdr": lambda p, **kw: read_shorts(p, dataset="shorts_sdr", **kw),
    "shorts_hdr2sdr": lambda p, **kw: read_shorts(p, dataset="shorts_hdr2sdr", **kw),
    "konvid_1k": read_konvid_1k,
    "live_vqc": read_live_vqc,
    "dover_txt": read_dover_txt,
}


def read_labels(dataset: str, path: str, **kwargs) -> Labels:
    """Reads `path` with the reader of `dataset` (a key of READERS)."""
    if dataset not in READERS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(READERS)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file {path!r} not found")
    return READERS[dataset](path, **kwargs)


CATALOG_COLUMNS = ("video_id", "uri", "source_id", "crf", "mos", "dmos", "split")


def write_catalog(rows: list[dict], path: str) -> None:
    """Writes rows as a scoring-pipeline catalog (.parquet or .csv): video_id, uri and
    whichever of source_id, crf, mos, dmos, split any row has."""
    cols = [c for c in CATALOG_COLUMNS if c in ("video_id", "uri")
            or any(r.get(c) is not None for r in rows)]
    if path.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]),
                       path)
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r[c]) for c in cols})
