"""``python -m kws.benchmark stream``: every peer goes through every window, the report's
figures follow from its timings, memory is measured per stream length, and bad settings stop
the command before any work. No timing is compared with a bound here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kws.benchmark.__main__ import main
from kws.benchmark.stream import StreamSettings, peak_rss_mb, stream_chunks

RATE = 16000


def test_stream_command_times_every_window_and_writes_json(tmp_path, capsys):
    threads = torch.get_num_threads()
    path = tmp_path / "stream.json"
    main(["stream", "--minutes", "0.05", "--stride-ms", "30", "100", "--chunk-ms", "1000",
          "2500", "--batch", "16", "--rounds", "2", "--loop-windows", "3",
          "--memory-minutes", "0.04", "0.02", "--threads", "1", "--json", str(path)])  # fmt: skip
    assert torch.get_num_threads() == threads  # the command's one thread does not leak
    report = json.loads(path.read_text())
    assert report["audio_s"] == 3.0
    assert len(report["load_average"]) == 2 and report["cpus"] >= 1
    assert report["settings"]["threads"] == 1
    assert report["settings"]["chunks_ms"] == [1000.0, 2500.0]
    rows = report["rows"]
    assert [(r["head"], r["stride_ms"]) for r in rows] == [
        ("linear", 30.0), ("linear", 100.0), ("bcresnet", 30.0), ("bcresnet", 100.0)
    ]  # fmt: skip
    for row in rows:
        stride = int(row["stride_ms"] * RATE / 1000)
        windows = (3 * RATE - RATE) // stride + 1  # 67 at 30 ms, 21 at 100 ms
        assert row["windows"] == windows and row["frame_cache"]
        assert row["head_alone"]["windows"] == windows
        assert row["loop"]["windows_timed"] == 3 and row["loop"]["windows"] == windows
        assert [d["chunk_ms"] for d in row["detectors"]] == [1000.0, 2500.0]
        for peer in [*row["detectors"], row["head_alone"], row["loop"]]:
            assert peer["windows"] == windows  # the detector's own count of windows scored
            assert peer["seconds"] > 0 and peer["cpu_seconds"] > 0
            assert peer["audio_s_per_s"] == pytest.approx(3.0 / peer["seconds"])
            assert peer["windows_per_s"] == pytest.approx(windows / peer["seconds"])
        for detector in row["detectors"]:
            for clock, prefix in (("seconds", ""), ("cpu_seconds", "cpu_")):
                ratio = detector[clock] / row["head_alone"][clock]
                assert detector[f"{prefix}vs_head_alone"] == pytest.approx(ratio)
                speed_up = row["loop"][clock] / detector[clock]
                assert detector[f"{prefix}speed_up_over_loop"] == pytest.approx(speed_up)
        memory = row["memory"]
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
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if line.startswith(("linear ", "bcresnet "))]
    assert len(lines) == 8  # a line per head, stride and chunk length
    assert "timed on 3 windows" in table


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
    with pytest.raises(ValueError, match="distinct"):
        StreamSettings(chunks_ms=(1000.0, 1000.0))
    with pytest.raises(ValueError, match="strides_ms must name at least one"):
        StreamSettings(strides_ms=())
