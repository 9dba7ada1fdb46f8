"""decode_keyframes on real encoded video: which frames, geometry, colour, odd inputs."""
import numpy as np
import pytest
from media_helpers import (
    IDX_FPS,
    IDX_FRAMES,
    barcode_frames,
    encode_rgb,
    ffmpeg,
    read_barcode,
)

from beam_pipelines.media import keyframes, probe


def expected_indices(duration, k, fps):
    """The frame on screen at t_i = (i + 0.5) D / K for constant frame rate."""
    t = (np.arange(k) + 0.5) * duration / k
    return np.floor(t * fps + 1e-9).astype(int)


@pytest.mark.parametrize("strategy", ["select", "seek"])
@pytest.mark.parametrize("k", [8, 5, 13])
def test_returns_frame_on_screen_at_each_target(idx_clip, strategy, k):
    kf = keyframes.decode_keyframes(idx_clip, k, strategy=strategy)
    duration = IDX_FRAMES / IDX_FPS
    want = expected_indices(duration, k, IDX_FPS)
    got = [read_barcode(f) for f in kf.frames]
    assert got == want.tolist()
    np.testing.assert_allclose(kf.times_s, (np.arange(k) + 0.5) * duration / k)
    np.testing.assert_allclose(kf.frame_times_s, want / IDX_FPS, atol=1e-3)
    assert kf.frames.shape == (k, 48, 64, 3) and kf.frames.dtype == np.uint8
    assert kf.strategy == strategy


def test_strategies_agree_pixel_for_pixel(idx_clip):
    a = keyframes.decode_keyframes(idx_clip, 8, strategy="select")
    b = keyframes.decode_keyframes(idx_clip, 8, strategy="seek")
    np.testing.assert_array_equal(a.frames, b.frames)


@pytest.mark.parametrize("strategy", ["select", "seek"])
@pytest.mark.parametrize("k,t", [(8, 2), (5, 3), (13, 2)])
def test_frames_per_key_brings_the_frames_after_each_key_frame(idx_clip, strategy, k, t):
    kf = keyframes.decode_keyframes(idx_clip, k, strategy=strategy, frames_per_key=t)
    want = expected_indices(IDX_FRAMES / IDX_FPS, k, IDX_FPS)
    got = np.array([read_barcode(f) for f in kf.frames]).reshape(k, t)
    np.testing.assert_array_equal(got, want[:, None] + np.arange(t)[None, :])
    assert kf.frames.shape == (k * t, 48, 64, 3) and kf.frames_per_key == t
    np.testing.assert_allclose(kf.frame_times_s, got.ravel() / IDX_FPS, atol=1e-3)
    assert kf.times_s.shape == (k,)
    # The key frames themselves are the ones a one-frame decode returns.
    one = keyframes.decode_keyframes(idx_clip, k, strategy=strategy)
    np.testing.assert_array_equal(kf.frames[::t], one.frames)


def test_frames_per_key_past_the_last_frame_repeats_it(media_dir):
    clip = encode_rgb(media_dir / "four.mp4", barcode_frames([3, 4, 5, 6]))
    for strategy in ("select", "seek"):
        kf = keyframes.decode_keyframes(clip, 2, strategy=strategy, frames_per_key=3)
        # D = 0.4 s, targets 0.1 and 0.3 s: frames 1 and 3 (the last), then their next two.
        assert [read_barcode(f) for f in kf.frames] == [4, 5, 6, 6, 6, 6]


@pytest.mark.parametrize("fps,stride", [(60, 5), (24, 2), (12, 1), (10, 1)])
def test_a_frame_gap_spaces_the_frames_after_each_key_frame_in_time(media_dir, fps, stride):
    # 2 s of barcodes at `fps`; a gap of 1/12 s is `stride` frames at that rate.
    n = 2 * fps
    clip = encode_rgb(media_dir / f"gap{fps}.mp4", barcode_frames(range(n)), fps=fps)
    want = expected_indices(2.0, 4, fps)
    for strategy in ("select", "seek"):
        kf = keyframes.decode_keyframes(clip, 4, strategy=strategy, frames_per_key=3,
                                        frame_gap_s=1 / 12)
        got = np.array([read_barcode(f) for f in kf.frames]).reshape(4, 3)
        np.testing.assert_array_equal(got, np.minimum(
            want[:, None] + stride * np.arange(3)[None, :], n - 1), err_msg=strategy)
        assert kf.frame_stride == stride
        np.testing.assert_allclose(kf.frame_times_s, got.ravel() / fps, atol=1e-3)
    with keyframes.SegmentedVideo(clip, 1.0, frames_per_key=2, frame_gap_s=1 / 12) as video:
        kf = video.decode(1, 4)  # the second second, sought
        got = np.array([read_barcode(f) for f in kf.frames]).reshape(4, 2)
        first = fps + expected_indices(1.0, 4, fps)
        np.testing.assert_array_equal(got, np.minimum(
            first[:, None] + stride * np.arange(2)[None, :], n - 1))


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), "1/12", True])
def test_a_frame_gap_must_be_a_positive_number_of_seconds(idx_clip, bad):
    with pytest.raises(ValueError, match="frame_gap_s"):
        keyframes.decode_keyframes(idx_clip, 4, frames_per_key=2, frame_gap_s=bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_frames_per_key_must_be_a_positive_integer(idx_clip, bad):
    with pytest.raises(ValueError, match="frames_per_key"):
        keyframes.decode_keyframes(idx_clip, 4, frames_per_key=bad)


def test_auto_uses_select_for_short_clips(idx_clip):
    assert keyframes.decode_keyframes(idx_clip, 4).strategy == "select"


def test_shorter_than_k_repeats_frames(media_dir):
    clip = encode_rgb(media_dir / "three.mp4", barcode_frames([7, 8, 9]))
    for strategy in ("select", "seek"):
        kf = keyframes.decode_keyframes(clip, 8, strategy=strategy)
        got = [read_barcode(f) for f in kf.frames]
        # D = 0.3 s: frame j covers [j/10, (j+1)/10); targets at (i + 0.5) * 0.3 / 8.
        want = [7 + j for j in expected_indices(0.3, 8, IDX_FPS)]
        assert got == want
        assert len(set(got)) == 3


def test_single_frame_video(media_dir):
    clip = encode_rgb(media_dir / "one.mp4", barcode_frames([42]))
    kf = keyframes.decode_keyframes(clip, 8)
    assert kf.frames.shape == (8, 48, 64, 3)
    assert {read_barcode(f) for f in kf.frames} == {42}


@pytest.mark.parametrize("ccw", [90, 180, 270])
def test_rotation_metadata_is_applied(media_dir, colour_clip, ccw):
    rotated = media_dir / f"rot{ccw}.mp4"
    ffmpeg("-display_rotation", ccw, "-i", colour_clip, "-c", "copy", f"file:{rotated}")
    info = probe.probe(str(rotated))
    assert info.rotation == (-ccw) % 360
    base = keyframes.decode_keyframes(colour_clip, 2).frames
    kf = keyframes.decode_keyframes(str(rotated), 2)
    want = np.rot90(base, k=ccw // 90, axes=(1, 2))  # np.rot90 turns counter-clockwise
    assert kf.frames.shape == want.shape
    assert (info.width, info.height) == (want.shape[2], want.shape[1])
    assert np.abs(kf.frames.astype(int) - want).mean() < 2.0


def test_10bit_hevc_sdr_is_converted_to_8bit(hevc_10bit_sdr, testsrc_8bit):
    info = probe.probe(hevc_10bit_sdr)
    assert (info.codec, info.bit_depth, info.is_hdr) == ("hevc", 10, False)
    kf = keyframes.decode_keyframes(hevc_10bit_sdr, 4)
    ref = keyframes.decode_keyframes(testsrc_8bit, 4)
    assert kf.frames.dtype == np.uint8 and kf.frames.shape == ref.frames.shape
    # Same content (lossless 10-bit 4:2:0 vs lossless 8-bit 4:4:4): only chroma subsampling
    # and rounding differ.
    assert np.abs(kf.frames.astype(int) - ref.frames).mean() < 8


@pytest.mark.parametrize("fixture,transfer", [("hdr_pq", "smpte2084"),
                                              ("hdr_hlg", "arib-std-b67")])
def test_hdr_is_tone_mapped_to_plausible_sdr(request, fixture, transfer, testsrc_8bit):
    path = request.getfixturevalue(fixture)
    info = probe.probe(path)
    assert info.is_hdr and info.color_transfer == transfer
    assert info.color_primaries == "bt2020" and info.bit_depth == 10
    kf = keyframes.decode_keyframes(path, 4)
    f = kf.frames.astype(float)
    assert kf.frames.dtype == np.uint8 and kf.frames.shape == (4, 64, 96, 3)
    assert 25 < f.mean() < 230 and f.std() > 25           # not black, not white, not flat
    # Structure survives the tone-map: correlates with the SDR rendering of the source.
    ref = keyframes.decode_keyframes(testsrc_8bit, 4).frames.astype(float)
    assert np.corrcoef(f.mean(-1).ravel(), ref.mean(-1).ravel())[0, 1] > 0.8


@pytest.mark.parametrize("size", [(16, 16), (33, 17), (17, 33)])
def test_tiny_and_odd_sizes(media_dir, size):
    w, h = size
    frames = np.random.default_rng(w).integers(0, 256, (6, h, w, 3), np.uint8)
    clip = encode_rgb(media_dir / f"odd_{w}x{h}.mp4", frames)
    kf = keyframes.decode_keyframes(clip, 3)
    assert kf.frames.shape == (3, h, w, 3)
    # Lossless 4:4:4: the decoded frames are the encoded ones, up to YUV rounding.
    want = frames[[0, 3, 5]] if False else frames[expected_indices(0.6, 3, IDX_FPS)]
    assert np.abs(kf.frames.astype(int) - want).max() <= 3


def test_variable_frame_rate(media_dir):
    # 30 frames at 10 fps, then a 0.5 s gap, then 10 more: pts known exactly.
    pts = np.r_[np.arange(30) / 10, 3.5 + np.arange(10) / 10]
    clip = encode_rgb(media_dir / "vfr.mkv", barcode_frames(range(40)),
                      vf="setpts='if(lt(N,30),N/10,3.5+(N-30)/10)/TB'",
                      codec_args=["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p",
                                  "-fps_mode", "vfr", "-threads", "1"])
    info = probe.probe(clip)
    kf = keyframes.decode_keyframes(clip, 8)
    seeks = keyframes.seek_points(kf.times_s, info.fps)
    want = [int(np.nonzero(pts >= s - 1e-4)[0][0]) for s in seeks]
    assert [read_barcode(f) for f in kf.frames] == want
    np.testing.assert_allclose(kf.frame_times_s, pts[want], atol=2e-3)


def test_interlaced_input_is_deinterlaced(media_dir):
    clip = media_dir / "interlaced.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1", "-c:v", "libx264",
           "-flags", "+ilme+ildct", "-x264-params", "tff=1", "-pix_fmt", "yuv420p",
           "-field_order", "tt", f"file:{clip}")
    info = probe.probe(str(clip))
    assert info.interlaced
    kf = keyframes.decode_keyframes(str(clip), 3)
    assert kf.frames.shape == (3, 64, 96, 3) and kf.frames.std() > 20


def test_max_side_downscales_8k_in_ffmpeg(media_dir):
    clip = media_dir / "8k.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=7680x4320:rate=2:duration=1", "-c:v",
           "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", f"file:{clip}")
    kf = keyframes.decode_keyframes(str(clip), 8, max_side=512)
    assert kf.frames.shape == (8, 288, 512, 3)
    assert kf.frames.std() > 20


def test_max_side_keeps_smaller_frames(idx_clip):
    assert keyframes.decode_keyframes(idx_clip, 2, max_side=512).frames.shape == (2, 48, 64, 3)
    assert keyframes.decode_keyframes(idx_clip, 2, max_side=32).frames.shape == (2, 24, 32, 3)


def test_target_times_and_seek_points():
    t = keyframes.target_times(10.0, 4)
    np.testing.assert_allclose(t, [1.25, 3.75, 6.25, 8.75])
    np.testing.assert_allclose(keyframes.seek_points(t, 2.0), [0.75, 3.25, 5.75, 8.25])
    assert keyframes.seek_points(np.array([0.01]), 25.0)[0] == 0.0


def test_seek_cost_does_not_grow_with_length(media_dir):
    # 10 fps, GOP 10 (1 s). A seek decodes from the key frame before its target (up to a
    # GOP), plus the reorder delay and what ffmpeg's decoder thread reads ahead before the
    # branch's end reaches it (timing-dependent: 67-78 frames in all here on 2 idle cores,
    # 106 once on a loaded CI machine). A full pass decodes every frame: 600 for the 60 s
    # clip, 6,000 for the 600 s one; a seek that decoded from the start would cost
    # thousands. Both lengths must stay under one bound far below a full pass.
    bound = 8 * 25
    decoded = {}
    for seconds in (60, 600):
        clip = media_dir / f"long_tiny_{seconds}.mp4"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=64x48:rate=10:duration={seconds}",
               "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-threads", "1",
               f"file:{clip}")
        seek = keyframes.decode_keyframes(str(clip), 8)
        assert seek.strategy == "seek"
        decoded[seconds] = seek.decoded_frames
        if seconds == 60:
            full = keyframes.decode_keyframes(str(clip), 8, strategy="select")
            assert full.decoded_frames == 600
            np.testing.assert_array_equal(seek.frames, full.frames)
    assert all(8 <= n <= bound for n in decoded.values()), decoded


def test_mpegts_with_start_offset_seeks_exactly(media_dir):
    # MPEG-TS has no index and starts at 1.4 s: its seeks can land past the target and
    # are retried with a pre-roll; both strategies must return the same exact frames.
    clip = encode_rgb(media_dir / "idx.ts", barcode_frames(range(IDX_FRAMES)),
                      codec_args=["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p",
                                  "-g", "12", "-threads", "1", "-f", "mpegts"])
    info = probe.probe(clip)
    assert info.start_s > 1.0 and info.duration_s == pytest.approx(4.0, abs=0.15)
    want = expected_indices(info.duration_s, 8, IDX_FPS).tolist()
    for strategy in ("select", "seek"):
        kf = keyframes.decode_keyframes(clip, 8, strategy=strategy)
        assert [read_barcode(f) for f in kf.frames] == want, strategy


def test_audio_longer_than_video_samples_the_video(media_dir):
    video = encode_rgb(media_dir / "v2s.mkv", barcode_frames(range(20)))  # 2 s of video
    clip = media_dir / "long_audio.mp4"
    ffmpeg("-i", video, "-f", "lavfi", "-i", "sine=duration=5", "-c:v", "copy", "-c:a", "aac",
           f"file:{clip}")
    assert probe.probe(str(clip)).duration_s == pytest.approx(5.0, abs=0.1)
    for strategy in ("select", "seek"):
        kf = keyframes.decode_keyframes(str(clip), 8, strategy=strategy)
        got = [read_barcode(f) for f in kf.frames]
        assert got == expected_indices(2.0, 8, IDX_FPS).tolist(), strategy


def test_anamorphic_pixels_are_made_square(media_dir, colour_clip):
    clip = media_dir / "anamorphic.mp4"
    ffmpeg("-i", colour_clip, "-vf", "setsar=2/1", "-c:v", "libx264", "-qp", "0", "-pix_fmt",
           "yuv444p", f"file:{clip}")
    info = probe.probe(str(clip))
    assert info.sample_aspect == 2.0 and (info.width, info.height) == (48, 32)
    kf = keyframes.decode_keyframes(str(clip), 2)
    assert kf.frames.shape == (2, 32, 96, 3)
    assert (kf.frames[0, 4, 4] > [200, -1, -1]).all() and kf.frames[0, 4, 4, 2] < 50


def test_segments_bring_the_frames_after_each_key_frame(idx_clip):
    # 4 s at 10 fps in segments of 1 s (sought): segment j's key frames and their next.
    with keyframes.SegmentedVideo(idx_clip, 1.0, frames_per_key=2) as video:
        assert len(video.bounds) == 4
        for j in range(4):
            kf = video.decode(j, 4)
            want = 10 * j + expected_indices(1.0, 4, IDX_FPS)
            got = np.array([read_barcode(f) for f in kf.frames]).reshape(4, 2)
            np.testing.assert_array_equal(got, want[:, None] + np.arange(2)[None, :])
