"""``python -m kws.benchmark stream``: every peer goes through every window, the report's
figures follow from its timings, a causal head is timed frame by frame against window scoring,
memory is measured per stream length, latency is measured from each keyword's end over the
keywords detected correctly, and bad settings stop the command before any work. No timing is
compared with a bound here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kws.benchmark.__main__ import main
from kws.benchmark.stream import (
    StreamSettings,
    build_untrained,
    detectors,
    keyword_latencies,
    peak_rss_mb,
    stream_chunks,
)
from kws.data.stream_audio import find_clips, plan_words
from kws.streaming import Detection
from kws.streaming.detector import TorchScorer
from kws.streaming.scoring import detection_errors, keyword_hits
from kws.training import KWSModule
from kws_runtime.detector import FrameScorer

RATE = 16000
MEL = {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40}
CAUSAL = {"_target_": "kws.models.BCResNet", "causal": True, "n_features": None, "window": None}
LINEAR = {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}


def test_stream_command_times_every_window_and_writes_json(tmp_path, capsys):
    threads = torch.get_num_threads()
    path = tmp_path / "stream.json"
    main(["stream", "--minutes", "0.05", "--stride-ms", "10", "30", "--chunk-ms", "1000",
          "2500", "--batch", "16", "--rounds", "2", "--loop-windows", "3",
          "--memory-minutes", "0.04", "0.02", "--threads", "1", "--json", str(path)])  # fmt: skip
    assert torch.get_num_threads() == threads  # the command's one thread does not leak
    report = json.loads(path.read_text())
    assert report["audio_s"] == 3.0
    assert len(report["load_average"]) == 2 and report["cpus"] >= 1
    assert report["settings"]["threads"] == 1
    assert report["settings"]["chunks_ms"] == [1000.0, 2500.0]
    rows = report["rows"]
    assert [(r["head"], r["stride_ms"], r["causal"]) for r in rows] == [
        ("linear", 10.0, False), ("linear", 30.0, False),
        ("bcresnet", 10.0, True), ("bcresnet", 30.0, True),
    ]  # fmt: skip
    for row in rows:
        stride = int(row["stride_ms"] * RATE / 1000)
        windows = (3 * RATE - RATE) // stride + 1  # 201 at 10 ms, 67 at 30 ms
        assert row["windows"] == windows and row["frame_cache"]
        assert row["head_alone"]["windows"] == windows
        assert row["loop"]["windows_timed"] == 3 and row["loop"]["windows"] == windows
        # the causal head: frame by frame (as deployed), then by windows; the linear by windows
        scorings = ["frames", "windows"] if row["causal"] else ["windows"]
        assert [(d["scoring"], d["chunk_ms"]) for d in row["detectors"]] == [
            (scoring, chunk) for scoring in scorings for chunk in (1000.0, 2500.0)
        ]
        for peer in [*row["detectors"], row["head_alone"], row["loop"]]:
            assert peer["windows"] == windows  # the detector's own count of windows scored
            assert peer["seconds"] > 0 and peer["cpu_seconds"] > 0
            assert peer["audio_s_per_s"] == pytest.approx(3.0 / peer["seconds"])
            assert peer["audio_s_per_cpu_s"] == pytest.approx(3.0 / peer["cpu_seconds"])
            assert peer["windows_per_s"] == pytest.approx(windows / peer["seconds"])
        by_window = {d["chunk_ms"]: d for d in row["detectors"] if d["scoring"] == "windows"}
        for detector in row["detectors"]:
            for clock, prefix in (("seconds", ""), ("cpu_seconds", "cpu_")):
                ratio = detector[clock] / row["head_alone"][clock]
                assert detector[f"{prefix}vs_head_alone"] == pytest.approx(ratio)
                speed_up = row["loop"][clock] / detector[clock]
                assert detector[f"{prefix}speed_up_over_loop"] == pytest.approx(speed_up)
                if detector["scoring"] == "frames":  # against windows pushed the same chunks
                    windowed = by_window[detector["chunk_ms"]][clock] / detector[clock]
                    assert detector[f"{prefix}speed_up_over_windows"] == pytest.approx(windowed)
                else:
                    assert f"{prefix}speed_up_over_windows" not in detector
        memory = row["memory"]
        assert memory["scoring"] == scorings[0]  # the detector from_spotter deploys
        assert memory["chunk_ms"] == 2500.0
        # shortest first: 1.2 s and 2.4 s of audio
        assert [run["audio_s"] for run in memory["runs"]] == [1.2, 2.4]
        assert [run["windows"] for run in memory["runs"]] == [
            (samples - RATE) // stride + 1 for samples in (19200, 38400)
        ]
        peaks = [run["peak_rss_mb"] for run in memory["runs"]]
        # torch alone holds more than 50 MB; the peak is at least what was held before
        assert all(run["peak_rss_mb"] >= run["rss_before_mb"] > 50 for run in memory["runs"])
        assert memory["growth_mb"] == pytest.approx(peaks[1] - peaks[0])
    # BC-ResNet frame by frame at 10 ms against its window scoring at 30 ms, per chunk length
    fine = {d["chunk_ms"]: d for d in rows[2]["detectors"] if d["scoring"] == "frames"}
    coarse = {d["chunk_ms"]: d for d in rows[3]["detectors"] if d["scoring"] == "windows"}
    assert [(p["head"], p["chunk_ms"], p["frames_stride_ms"], p["windows_stride_ms"])
            for p in report["across_strides"]] == [
        ("bcresnet", 1000.0, 10.0, 30.0), ("bcresnet", 2500.0, 10.0, 30.0)
    ]  # fmt: skip
    for pair in report["across_strides"]:
        chunk = pair["chunk_ms"]
        ratio = coarse[chunk]["cpu_seconds"] / fine[chunk]["cpu_seconds"]
        assert pair["cpu_speed_up"] == pytest.approx(ratio)
    assert report["latency"] is None
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if line.startswith(("linear ", "bcresnet "))]
    assert len(lines) == 12  # a line per head, stride, scoring and chunk length
    assert "timed on 3 windows" in table
    assert "bcresnet, 1 s chunks: frames at 10 ms" in table
    assert "needs a trained causal checkpoint: --checkpoint CKPT" in table


def test_a_causal_head_is_timed_frame_by_frame_and_by_windows():
    module = build_untrained("bcresnet")
    causal = detectors(module.spotter, module.clip_format, 30.0, 16)
    assert list(causal) == ["frames", "windows"]
    assert isinstance(causal["frames"].scorer, FrameScorer)
    assert isinstance(causal["windows"].scorer, TorchScorer)
    module = build_untrained("linear")
    linear = detectors(module.spotter, module.clip_format, 30.0, 16)
    assert list(linear) == ["windows"] and isinstance(linear["windows"].scorer, TorchScorer)


LABELS = [("yes", 1000.0), ("no", 4000.0), ("yes", 7000.0), ("yes", 9000.0)]
WORD_ENDS = [1700.0, 4800.0, 7600.0, 9650.0]


def test_latency_runs_from_each_keyword_end_to_its_window_end_over_correct_detections():
    found = [
        Detection("yes", 1200.0, 0.9),  # window ends 2200: 500 ms after "yes" ended at 1700
        Detection("yes", 1300.0, 0.9),  # that label is taken, the next "yes" out of reach
        Detection("no", 3900.0, 0.9),  # 4900 - 4800
        Detection("up", 7000.0, 0.9),  # no "up" was said
        Detection("yes", 8000.0, 0.9),  # 1000 ms from both later "yes": the earlier, 9000 - 7600
        Detection("yes", 8100.0, 0.9),  # the one left, 9100 - 9650: before the word ended
    ]
    hits = keyword_hits(found[::-1], LABELS)  # taken in time order whatever the order given
    assert [(d.time_ms, row) for d, row in hits] == [(1200.0, 0), (3900.0, 1), (8000.0, 2),
                                                     (8100.0, 3)]  # fmt: skip
    latency = keyword_latencies(found, LABELS, WORD_ENDS, clip_ms=1000.0)
    np.testing.assert_allclose(latency, [500.0, 100.0, 1400.0, -550.0])
    # the same detections the stream's error rates count as correct
    assert detection_errors(found, LABELS, 12_000.0).correct == len(latency) == 4
    assert keyword_latencies([], LABELS, WORD_ENDS, 1000.0).shape == (0,)


def _checkpoint(tmp_path, model, data=None):
    module = KWSModule(MEL, model, ["_silence_", "_unknown_", "yes", "no"], SGD)
    path = tmp_path / "model.ckpt"
    checkpoint = {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}
    torch.save(checkpoint | ({} if data is None else {"datamodule_hyper_parameters": data}), path)
    return path


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (LINEAR, None, "latency needs a model that streams frame by frame: its head "
         "LinearClassifier is not causal"),
        (CAUSAL, None, "names no data set"),
        (CAUSAL, "missing", "missing: no such folder"),
    ],
)  # fmt: skip
def test_an_unusable_checkpoint_stops_the_command_before_any_work(tmp_path, model, data, message):
    target = "kws.data.SpeechCommandsDataModule"
    saved = None if data is None else {"_target_": target, "root": str(tmp_path / data)}
    path = _checkpoint(tmp_path, model, saved)
    with pytest.raises(SystemExit, match=message):
        main(["stream", "--checkpoint", str(path)])


def test_a_file_that_is_not_a_checkpoint_stops_the_command(tmp_path):
    path = tmp_path / "notes.ckpt"
    path.write_text("not a checkpoint")
    with pytest.raises(SystemExit, match="notes.ckpt: not a readable checkpoint"):
        main(["stream", "--checkpoint", str(path)])


@pytest.mark.slow
def test_latency_of_a_causal_checkpoint(causal_checkpoint, synthetic_root, tmp_path, capsys):
    path = tmp_path / "stream.json"
    main(["stream", "--minutes", "0.05", "--stride-ms", "20", "30", "--head", "linear",
          "--rounds", "1", "--loop-windows", "2", "--memory-minutes", "0.02",
          "--checkpoint", str(causal_checkpoint), "--latency-minutes", "2",
          "--json", str(path)])  # fmt: skip
    latency = json.loads(path.read_text())["latency"]
    assert latency["checkpoint"] == str(causal_checkpoint) and latency["audio_s"] == 120.0
    # the keywords of a 2-minute stream of the checkpoint's data's test split, seed 0
    placed = plan_words(find_clips(synthetic_root, "test"), 120.0, seed=0)
    assert latency["keywords"] == sum(p.label != "_unknown_" for p in placed) > 0
    rows = latency["rows"]
    assert [(r["stride_ms"], r["scoring"]) for r in rows] == [
        (20.0, "frames"), (20.0, "windows"), (30.0, "frames"), (30.0, "windows")
    ]  # fmt: skip
    for row in rows:
        assert 0 <= row["detected"] <= latency["keywords"] and row["false_accepts"] >= 0
        if row["detected"]:  # a hit's window starts within 1.5 s of its clip, its word inside
            assert -1500.0 < row["median_ms"] <= row["p90_ms"] < 2500.0
        else:  # a model 3 epochs old may detect nothing at TensorFlow's 0.7
            assert row["median_ms"] is None and row["p90_ms"] is None
    for row in rows[1::2]:  # whole windows against frames: they differ, by their zero start
        assert 1e-4 < row["mean_abs_difference"] < row["max_abs_difference"] <= 1.0
        assert 0.0 <= row["top_class_differs"] < 0.5
    table = capsys.readouterr().out
    assert f"{latency['keywords']} keywords" in table
    assert sum(line.startswith(("  20ms", "  30ms")) for line in table.splitlines()) == 6


def test_peak_memory_sees_an_allocation_made_inside_the_call():
    held = []
    memory = peak_rss_mb(lambda: held.append(np.ones(200 * 2**20 // 8)))  # 200 MB, touched
    assert memory is not None  # on Linux
    assert 190 < memory["peak_rss_mb"] - memory["rss_before_mb"] < 260


def test_the_stream_does_not_depend_on_being_made_piece_by_piece():
    whole = np.concatenate(list(stream_chunks(3 * RATE, RATE)))
    assert whole.shape == (3 * RATE,) and whole.dtype == np.float32
    assert np.abs(whole).max() <= 1.0
    pieces = list(stream_chunks(3 * RATE + 5, RATE))
    assert [len(p) for p in pieces] == [RATE, RATE, RATE, 5]
    np.testing.assert_array_equal(np.concatenate(pieces[:3]), whole)
    # a tone of 300 Hz in the first second, 500 Hz in the second (noise aside)
    spectrum = np.abs(np.fft.rfft(whole[RATE : 2 * RATE]))
    assert np.argmax(spectrum) == 500


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--stride-ms", "30.03", "whole number of samples"),
        ("--stride-ms", "1000", "average_window_ms"),
        ("--head", "nothing", "there is no"),
        ("--minutes", "0.001", "minutes must be at least one second"),
        ("--chunk-ms", "0.01", "chunks_ms must each be at least one sample"),
        ("--rounds", "0", "rounds must be >= 1"),
        ("--threads", "0", "threads must be >= 1"),
        ("--latency-minutes", "0.01", "latency_minutes must be in"),
    ],
)
def test_bad_settings_stop_the_command_before_any_work(option, value, message):
    with pytest.raises(SystemExit, match=message):
        main(["stream", option, value])


def test_a_json_path_in_no_folder_stops_the_command_before_any_work(tmp_path):
    with pytest.raises(SystemExit, match="its folder does not exist"):
        main(["stream", "--json", str(tmp_path / "missing" / "stream.json")])


def test_settings_are_checked_when_made():
    assert StreamSettings().heads == ("linear", "bcresnet")
    assert StreamSettings().strides_ms == (10.0, 20.0, 30.0)
    with pytest.raises(ValueError, match="distinct"):
        StreamSettings(chunks_ms=(1000.0, 1000.0))
    with pytest.raises(ValueError, match="strides_ms must name at least one"):
        StreamSettings(strides_ms=())
