"""trainer.datasets: each reader on a few rows written in the dataset's published format."""
import os

import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest
import scipy.io

from trainer import datasets


def _touch(root, *rels):
    for rel in rels:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "wb").close()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_lsvq_train_test_splits_extension_and_missing_files(tmp_path):
    path = _write(tmp_path / "labels_train_test.csv",
                  "name,p1,p2,p3,height,width,mos_p1,mos_p2,mos_p3,mos,frame_number,"
                  "fn_last_frame,left_p1,is_test,is_valid\n"
                  'yfcc-batch1/747,"[0, 1]","[2, 3]","[4]",540,960,60.1,61.2,62.3,61.82,'
                  "240,240,0,False,False\n"
                  'ia-batch3/12,"[0]","[0]","[0]",720,1280,40,41,42,38.5,150,150,0,True,False\n'
                  'yfcc-batch2/9,"[0]","[0]","[0]",720,1280,40,41,42,70.0,150,150,0,0,1\n'
                  'yfcc-batch2/10,"[0]","[0]","[0]",720,1280,40,41,42,,150,150,0,0,1\n')
    _touch(tmp_path, "yfcc-batch1/747.mp4", "yfcc-batch2/9.mp4")
    labels = datasets.read_labels("lsvq", path)
    assert [(r["video_id"], r["mos"], r["split"]) for r in labels.rows] == [
        ("yfcc-batch1/747", 61.82, "train"), ("ia-batch3/12", 38.5, "test"),
        ("yfcc-batch2/9", 70.0, "valid")]
    assert labels.rows[0]["uri"] == os.path.join(tmp_path, "yfcc-batch1/747.mp4")
    assert labels.missing == ["ia-batch3/12"]
    assert [r["video_id"] for r in labels.present()] == ["yfcc-batch1/747", "yfcc-batch2/9"]
    assert labels.skipped == [("yfcc-batch2/10", "no name or no numeric mos")]
    assert "3 labelled videos" in labels.summary() and "1 missing" in labels.summary()


def test_lsvq_1080p_file_without_is_test_and_upper_case_header(tmp_path):
    path = _write(tmp_path / "labels_test_1080p.csv",
                  "NAME,Height,Width,MOS,extra\nyfcc-batch5/1,1080,1920,55.5,x\n")
    labels = datasets.read_lsvq(path, video_root="/data/LSVQ", check_files=False)
    assert labels.rows == [{"video_id": "yfcc-batch5/1", "uri": "/data/LSVQ/yfcc-batch5/1.mp4",
                            "mos": 55.5, "split": "test_1080p"}]
    assert labels.missing is None


def test_youtube_ugc_xlsx_mos_sheet_with_title_row(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "diff"
    ws = wb.create_sheet("MOS")
    ws.append(["YouTube UGC MOS"])  # a title row above the header
    ws.append(["vid", "category", "MOS full", "MOS chunk00", "MOS chunk05", "MOS chunk10"])
    ws.append(["Gaming_1080P-0ce6", "Gaming", 3.98, 4.0, 3.9, 4.1])
    ws.append(["Vlog_360P-1e26", "Vlog", 2.51, 2.5, 2.4, 2.6])
    ws.append([None, None, None, None, None, None])
    ws.append(["Sports_720P-00f8", "Sports", "n/a", 1, 1, 1])
    path = str(tmp_path / "MOS_for_YouTube_UGC_dataset.xlsx")
    wb.save(path)
    _touch(tmp_path, "original_videos/Gaming/1080P/Gaming_1080P-0ce6.mkv")
    labels = datasets.read_labels("youtube_ugc", path)
    assert [(r["video_id"], r["mos"], r["category"]) for r in labels.rows] == [
        ("Gaming_1080P-0ce6", 3.98, "Gaming"), ("Vlog_360P-1e26", 2.51, "Vlog")]
    assert labels.rows[1]["uri"] == os.path.join(
        tmp_path, "original_videos/Vlog/360P/Vlog_360P-1e26.mkv")
    assert labels.missing == ["Vlog_360P-1e26"]
    assert len(labels.skipped) == 1
    h264 = datasets.read_youtube_ugc(path, check_files=False, variant="h264")
    assert h264.rows[0]["uri"].endswith(
        "original_videos_h264/Gaming_1080P-0ce6_crf_10_ss_00_t_20.0.mp4")


def test_youtube_ugc_dmos_wide_long_and_unknown_layouts(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DMOS"
    ws.append(["vid", "VOD DMOS", "VODLB DMOS", "CBR DMOS", "comment"])
    ws.append(["Gaming_720P-25aa", 0.12, 0.55, 0.31, "x"])
    wide = str(tmp_path / "DMOS_for_YouTube_UGC_dataset.xlsx")
    wb.save(wide)
    labels = datasets.read_labels("youtube_ugc_dmos", wide, check_files=False)
    assert [(r["video_id"], r["dmos"], r["source_id"]) for r in labels.rows] == [
        ("Gaming_720P-25aa_vod", 0.12, "Gaming_720P-25aa"),
        ("Gaming_720P-25aa_vodlb", 0.55, "Gaming_720P-25aa"),
        ("Gaming_720P-25aa_cbr", 0.31, "Gaming_720P-25aa")]
    assert labels.rows[2]["uri"].endswith("vp9_compressed_videos/Gaming_720P-25aa_cbr.webm")
    long = _write(tmp_path / "dmos.csv", "Vid, Variant, DMOS\nVlog_480P-1b2c, VODLB, 0.9\n")
    assert datasets.read_youtube_ugc_dmos(long, check_files=False).rows[0]["video_id"] == \
        "Vlog_480P-1b2c_vodlb"
    bad = _write(tmp_path / "bad.csv", "vid,score\nx,1\n")
    with pytest.raises(datasets.DatasetFormatError, match="unrecognised DMOS layout"):
        datasets.read_youtube_ugc_dmos(bad)


def test_live_yt_gaming_mat_and_csv(tmp_path):
    mat = str(tmp_path / "LIVE_YT_Gaming.mat")
    names = np.empty((3, 1), dtype=object)
    names[:, 0] = ["ARKSuvivalEvolved-001", "Fortnite-012", "Minecraft-003.mp4"]
    scipy.io.savemat(mat, {"video_list": names, "MOS": np.array([[71.2], [55.0], [38.25]])})
    _touch(tmp_path, "Fortnite-012.mp4")
    labels = datasets.read_labels("live_yt_gaming", mat)
    assert [(r["video_id"], r["mos"]) for r in labels.rows] == [
        ("ARKSuvivalEvolved-001", 71.2), ("Fortnite-012", 55.0), ("Minecraft-003", 38.25)]
    assert labels.rows[0]["uri"] == os.path.join(tmp_path, "ARKSuvivalEvolved-001.mp4")
    assert labels.missing == ["ARKSuvivalEvolved-001", "Minecraft-003"]
    csv_path = _write(tmp_path / "gaming.csv",
                      "name,mos,width,height,pixfmt,framerate,nb_frames,bitdepth,bitrate\n"
                      "CSGO-044,62.5,1920,1080,yuv420p,60,600,8,8000\n")
    assert datasets.read_live_yt_gaming(csv_path, check_files=False).rows == [
        {"video_id": "CSGO-044", "uri": os.path.join(tmp_path, "CSGO-044.mp4"), "mos": 62.5}]


def test_shorts_csv_and_space_separated(tmp_path):
    csv_path = _write(tmp_path / "SHORTS-SDR-DATASET_metadata.csv",
                      "vid,mos,width,height,pixfmt,framerate,nb_frames,bitdepth,bitrate\n"
                      "SDR_Animal_01ld,4.186,1080,1920,yuv420p,30,600,8,5000\n"
                      "SDR_Sports_9x2k,2.5,1080,1920,yuv420p,30,600,8,5000\n")
    labels = datasets.read_labels("shorts_sdr", csv_path, check_files=False)
    assert labels.dataset == "shorts_sdr"
    assert [(r["video_id"], r["mos"]) for r in labels.rows] == [
        ("SDR_Animal_01ld", 4.186), ("SDR_Sports_9x2k", 2.5)]
    txt = _write(tmp_path / "hdr.txt", "HDR_Animal_01ld.mp4 4.186\n\nHDR_Food_ab12.mp4  3.1\n")
    labels = datasets.read_labels("shorts_hdr2sdr", txt, check_files=False)
    assert [(r["video_id"], r["uri"], r["mos"]) for r in labels.rows] == [
        ("HDR_Animal_01ld", os.path.join(tmp_path, "HDR_Animal_01ld.mp4"), 4.186),
        ("HDR_Food_ab12", os.path.join(tmp_path, "HDR_Food_ab12.mp4"), 3.1)]


def test_konvid_1k_official_or_renamed_files(tmp_path):
    path = _write(tmp_path / "KoNViD_1k_attributes.csv",
                  "flickr_id,download_id,file_name,MOS,ti,si,colorfulness,contrast,blur,vniqe\n"
                  "3337642103,1,3337642103_original_centercrop_960x540_8s.mp4,3.64,1,1,1,1,1,1\n"
                  "6850724468,2,6850724468_original_centercrop_960x540_8s.mp4,2.2,1,1,1,1,1,1\n")
    _touch(tmp_path, "6850724468.mp4")  # renamed the peers' way
    labels = datasets.read_labels("konvid_1k", path)
    assert [(r["video_id"], os.path.basename(r["uri"]), r["mos"]) for r in labels.rows] == [
        ("3337642103", "3337642103_original_centercrop_960x540_8s.mp4", 3.64),
        ("6850724468", "6850724468.mp4", 2.2)]
    assert labels.missing == ["3337642103"]


def test_live_vqc_data_mat(tmp_path):
    path = str(tmp_path / "data.mat")
    names = np.empty((2, 1), dtype=object)
    names[:, 0] = ["A001.mp4", "B102.mp4"]
    scipy.io.savemat(path, {"video_list": names, "mos": np.array([[80.23], [30.5]])})
    labels = datasets.read_labels("live_vqc", path, check_files=False)
    assert labels.rows == [
        {"video_id": "A001", "uri": os.path.join(tmp_path, "Video", "A001.mp4"), "mos": 80.23},
        {"video_id": "B102", "uri": os.path.join(tmp_path, "Video", "B102.mp4"), "mos": 30.5}]


def test_dover_txt_round_trip_strips_separators(tmp_path):
    path = _write(tmp_path / "labels.txt",
                  "train/a.mp4, 8.0, 30.0, 3.5\ntrain/b.mp4,-1,-1,  1.25\n\n")
    labels = datasets.read_labels("dover_txt", path, video_root="/v", check_files=False)
    assert [(r["video_id"], r["uri"], r["mos"]) for r in labels.rows] == [
        ("train/a", "/v/train/a.mp4", 3.5), ("train/b", "/v/train/b.mp4", 1.25)]
    out = str(tmp_path / "out.txt")
    datasets.write_dover_txt(labels.rows, out, video_root="/v")
    again = datasets.read_dover_txt(out, video_root="/v", check_files=False)
    assert [(r["uri"], r["mos"]) for r in again.rows] == [
        (r["uri"], r["mos"]) for r in labels.rows]


def test_repeated_ids_skipped_and_catalog_written(tmp_path):
    path = _write(tmp_path / "l.txt", "a.mp4, -1, -1, 1\na.mp4, -1, -1, 2\nb.mp4, -1, -1, 3\n")
    labels = datasets.read_labels("dover_txt", path, check_files=False)
    assert [r["mos"] for r in labels.rows] == [1.0, 3.0]
    assert labels.skipped == [("a", "repeated video_id")]
    out = str(tmp_path / "catalog.parquet")
    datasets.write_catalog(labels.rows, out)
    table = pq.read_table(out)
    assert table.column_names == ["video_id", "uri", "mos"]
    assert table.column("mos").to_pylist() == [1.0, 3.0]


def test_unknown_dataset_and_missing_label_file(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.read_labels("nope", str(tmp_path / "x.csv"))
    with pytest.raises(FileNotFoundError):
        datasets.read_labels("lsvq", str(tmp_path / "x.csv"))
    with pytest.raises(datasets.DatasetFormatError, match="none of the columns"):
        datasets.read_lsvq(_write(tmp_path / "y.csv", "vid,score\na,1\n"))
