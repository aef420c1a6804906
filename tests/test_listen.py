"""``kws_runtime.listen``: a real PulseAudio server (a null sink, played into with ``paplay``)
heard through PortAudio detects what ``StreamingDetector.from_runtime`` detects in the file
played; the audio saved around detections is what was heard and a folder data set takes it as
negatives; a lost or missing device is a one-line error. The server tests skip, saying why,
where ``pulseaudio`` / ``paplay``, sounddevice or PortAudio are missing or the server does not
start (``.ci/run`` installs ``pulseaudio libportaudio2``)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.benchmark.__main__ import main as benchmark_main
from kws.benchmark.listen import SINK, AudioServerError, bench_listen, pulse_server
from kws.data.audio import read_noise
from kws.data.clip_format import ClipFormat
from kws.data.layout import BACKGROUND_NOISE
from kws.streaming import PosteriorSettings, StreamingDetector, detections_sweep
from kws_runtime import Spotter
from kws_runtime.__main__ import listen_main as main
from kws_runtime.audio import MonoConverter
from kws_runtime.listen import BLOCK_MS, MAX_BACKLOG_SECONDS
from kws_runtime.posterior import Detection
from kws_runtime.saving import BACKGROUND_FOLDER, NEGATIVES_FOLDER, Clock, History, Saver

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
#: ``python -m kws_runtime listen``'s detection lines.
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  (\S+)  ([\d.]+)  at ([\d.]+) s$")


@pytest.fixture(scope="session")
def listen_model(linear_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared linear checkpoint exported to ONNX (a clip export, 16 kHz, 1 s clips)."""
    from kws.export.checkpoint import export_checkpoint

    out = tmp_path_factory.mktemp("listen_export")
    export_checkpoint(linear_checkpoint, out, formats=("onnx",))
    return out / "spotter.onnx"


@pytest.fixture(scope="session")
def played(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of the test split's words over noise (``kws.data.stream_audio``), then 2 s of
    background noise alone, as a 16 kHz mono WAV file."""
    from kws.data.stream_audio import make_stream

    out = tmp_path_factory.mktemp("played")
    stream = make_stream(synthetic_root, out, minutes=0.2, seed=3)
    words, _ = sf.read(stream.wav, dtype="int16")
    noise = sorted((synthetic_root / BACKGROUND_NOISE).glob("*.wav"))[0]
    tail = (0.1 * read_noise(noise)[: 2 * RATE] * 32768).astype(np.int16)
    sf.write(out / "played.wav", np.concatenate([words, tail]), RATE, subtype="PCM_16")
    return out / "played.wav"


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[tuple[dict[str, str], subprocess.Popen]]:
    """``kws.benchmark.listen.pulse_server`` in this test's folder (a 16 kHz mono null sink
    ``SINK``): the environment that reaches it and the server's process; skips where it
    cannot start."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(pulse_server(tmp_path / "pa"))
        except AudioServerError as error:
            pytest.skip(str(error))
        yield server


class Listener:
    """``python -m kws_runtime listen MODEL ARGS...`` running, its output collected."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kws_runtime", "listen", *args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.err: list[str] = []
        self.heard = threading.Event()
        self.reader = threading.Thread(target=self._read_err, daemon=True)
        self.reader.start()

    def _read_err(self) -> None:
        for line in self.process.stderr:
            self.err.append(line.rstrip("\n"))
            if line.startswith("listening to "):
                self.heard.set()

    def wait_heard(self) -> None:
        """Wait for the start line: audio arrives."""
        if not self.heard.wait(60):
            self.process.kill()
            pytest.fail(f"listen did not start: {self.err}")

    def finish(self, sig: int | None = signal.SIGINT) -> tuple[int, list[str], list[str]]:
        """Send ``sig`` (None: none) and wait: exit status, stdout lines, stderr lines."""
        if sig is not None:
            self.process.send_signal(sig)
        try:
            status = self.process.wait(60)  # a few lines of output: the pipe does not fill
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"listen did not stop: {self.err}")
        self.reader.join(10)
        return status, self.process.stdout.read().splitlines(), self.err


def printed(lines: list[str]) -> list[Detection]:
    """The detections listen printed."""
    found = [LINE.match(line) for line in lines]
    assert all(found), lines
    return [Detection(m[1], 1000 * float(m[3]), float(m[2])) for m in found if m]


def offset_in(recording: np.ndarray, played: np.ndarray, at: int | None = None) -> int:
    """Where ``played`` starts in ``recording``, found by its 256 samples from ``at`` (None:
    its first non-zero sample), which must be in one place only."""
    at = int(np.flatnonzero(played)[0]) if at is None else at
    key = played[at : at + 256]
    windows = np.lib.stride_tricks.sliding_window_view(recording, len(key))
    hits = np.flatnonzero((windows == key).all(axis=1))
    assert len(hits) == 1, f"{len(hits)} places hold the audio"
    return int(hits[0]) - at


def steady_threshold(spotter: Spotter, audio: np.ndarray, stride: int) -> float:
    """A threshold at which ``audio``'s detections (labels, in order) do not depend on where
    the stream's windows fall: the same for six phases of the stride, at least two of them."""
    thresholds = np.round(np.arange(0.9, 0.19, -0.05), 2)
    runs = []
    for phase in range(0, stride, stride // 6):
        detector = StreamingDetector.from_runtime(spotter, keep_track=True)
        track = detector.listen(np.concatenate([np.zeros(phase, np.int16), audio]))
        runs.append(
            detections_sweep(
                track.times_ms,
                track.averaged_scores,
                spotter.class_names,
                thresholds,
                detector.handler.settings.suppression_ms,
            )  # fmt: skip
        )
    for i, threshold in enumerate(thresholds):
        labels = {tuple(d.label for d in run[i]) for run in runs}
        if len(labels) == 1 and len(next(iter(labels))) >= 2:
            return float(threshold)
    pytest.fail("no threshold gives the played file steady detections")


def test_listen_hears_what_was_played(
    pulse: tuple[dict[str, str], subprocess.Popen],
    listen_model: Path,
    played: Path,
    synthetic_root: Path,
    tmp_path: Path,
) -> None:
    """Played into the null sink and heard on its monitor, the file gives the detections
    ``StreamingDetector.from_runtime`` finds in it (labels equal, times within a stride plus a
    block), and exactly those it finds in what was heard; Ctrl-C ends it with exit 0 and a
    closing line; each detection's two clips are saved, as heard, where a folder data set's
    ``data.negatives`` takes them; keyword-free stretches hold no detection."""
    from kws.data.folder import FolderIndex

    env, _ = pulse
    spotter = Spotter.from_file(listen_model)
    audio, _ = sf.read(played, dtype="int16")
    stride = 30 * RATE // 1000
    threshold = steady_threshold(spotter, audio, stride)
    save, record = tmp_path / "saved", tmp_path / "heard.wav"
    listener = Listener(
        env, str(listen_model), "--device", "pulse", "--threshold", str(threshold),
        "--save", str(save), "--save-free", "3600", "--record", str(record),
    )  # fmt: skip
    listener.wait_heard()
    subprocess.run(["paplay", f"--device={SINK}", str(played)], env=env, check=True, timeout=60)
    time.sleep(1.5)  # the last windows' audio reaches listen
    status, out, err = listener.finish()
    assert status == 0, err
    live = printed(out)
    assert re.fullmatch(
        rf"stopped after [\d.]+ s of audio: {len(live)} detection\(s\), 0 overrun\(s\), "
        r"\d+ file\(s\) saved",
        err[-1],
    ), err

    # What was heard is the file, sample for sample (but PulseAudio's first few ms), and the
    # live detections are exactly the detector's on it.
    heard, rate = sf.read(record, dtype="int16")
    assert rate == RATE
    start = offset_in(heard, audio, at=RATE)  # PulseAudio zeroes a stream's first few ms
    np.testing.assert_array_equal(heard[start + RATE // 4 : start + len(audio)], audio[RATE // 4 :])
    settings = PosteriorSettings(threshold=threshold)
    again = StreamingDetector.from_runtime(spotter, settings=settings).detect(heard)
    assert [d.label for d in live] == [d.label for d in again]
    np.testing.assert_allclose([d.time_ms for d in live], [d.time_ms for d in again], atol=0.5)
    np.testing.assert_allclose([d.score for d in live], [d.score for d in again], atol=5e-4)

    # ... and those of the file itself, placed where it was heard (this model fires on the
    # silence around it too), at most a stride and a block apart.
    placed = np.zeros(len(heard), np.int16)
    placed[start : start + len(audio)] = audio[: len(heard) - start]
    reference = StreamingDetector.from_runtime(spotter, settings=settings).detect(placed)
    # The file alone gives two or more (steady_threshold); a firing on the silence before it
    # may suppress the first of them, so at least one is left whatever the start.
    assert len([d for d in reference if d.time_ms >= 1000 * start / RATE]) >= 1
    assert [d.label for d in live] == [d.label for d in reference]
    shift = np.array([d.time_ms for d in live]) - np.array([d.time_ms for d in reference])
    assert np.abs(shift).max() <= 30 + BLOCK_MS, shift

    # Each detection's file, <label>_<time>.wav: the clip before its window and the window,
    # as heard; a folder data set cuts it into those two clips.
    negatives = sorted((save / NEGATIVES_FOLDER).iterdir())
    assert sorted(p.name.rsplit("_", 1)[0] for p in negatives) == sorted(d.label for d in live)
    files = [sf.read(path, dtype="int16") for path in negatives]
    assert {(rate, len(samples)) for samples, rate in files} == {(RATE, 2 * RATE)}
    for detection in live:
        first = round(detection.time_ms * RATE / 1000) - RATE  # zeros before the session
        around = np.concatenate([np.zeros(max(0, -first), np.int16), heard[max(0, first) :]])
        around = around[: 2 * RATE]
        assert any(np.array_equal(samples, around) for samples, _ in files), detection
    index = FolderIndex(synthetic_root, ("yes", "no"), negatives=(save / NEGATIVES_FOLDER,))
    found = index.find(index.scan())
    assert not found.problems and not found.fatal
    pieces = found.word_clips[str((save / NEGATIVES_FOLDER).absolute())]
    assert len(pieces) == 2 * len(negatives)

    # Keyword-free stretches: two clips of what was heard, away from every detection's window.
    starts = [round(d.time_ms * RATE / 1000) for d in live]
    for path in sorted((save / BACKGROUND_FOLDER).iterdir()):
        stretch, _ = sf.read(path, dtype="int16")
        assert len(stretch) == 2 * RATE and stretch.any()
        at = offset_in(heard, stretch)
        assert not any(at - RATE < s < at + 2 * RATE for s in starts), (at, starts)


def test_converted_rate_and_a_lost_device(
    pulse: tuple[dict[str, str], subprocess.Popen],
    listen_model: Path,
    played: Path,
    tmp_path: Path,
) -> None:
    """A device read at 48 kHz is converted to the model's 16 kHz (what was heard is the file
    again, within PulseAudio's and soxr's resampling); a sound server that goes away ends
    listening with a one-line error and exit status 1, and what was heard is kept."""
    env, server = pulse
    audio, _ = sf.read(played, dtype="int16")
    first = tmp_path / "first.wav"
    sf.write(first, audio[: 4 * RATE], RATE, subtype="PCM_16")
    record = tmp_path / "heard.wav"
    listener = Listener(
        env, str(listen_model), "--device", "pulse", "--rate", "48000", "--record", str(record)
    )
    listener.wait_heard()
    assert "at 48000 Hz, 1 channel(s), converted to 16000 Hz" in listener.err[0]
    subprocess.run(["paplay", f"--device={SINK}", str(first)], env=env, check=True, timeout=60)
    time.sleep(0.5)
    server.terminate()
    status, _, err = listener.finish(sig=None)
    assert status == 1, err
    assert err[-1] == (
        "error: input device 0 'pulse' stopped delivering audio (disconnected, or its sound "
        "server stopped)"
    )
    heard, _ = sf.read(record, dtype="int16")
    lag = np.argmax(np.correlate(heard.astype(float), audio[RATE : 2 * RATE].astype(float))) - RATE
    played_part = audio[: 4 * RATE].astype(float)
    heard_part = heard[lag : lag + 4 * RATE].astype(float)
    # PulseAudio's resampler delays by a fraction of a sample too: the best of 0.025 steps.
    spectrum, cycles = np.fft.rfft(played_part), np.fft.rfftfreq(len(played_part))
    inner = slice(RATE // 2, -RATE // 2)  # away from the start and the shifts' wrap-around
    snrs = []
    for delay in np.linspace(-1, 1, 81):
        shifted = np.fft.irfft(spectrum * np.exp(-2j * np.pi * cycles * delay), len(played_part))
        error = heard_part[inner] - shifted[inner]
        snrs.append(10 * np.log10((shifted[inner] ** 2).sum() / (error**2).sum()))
    assert max(snrs) > 20, max(snrs)  # 28 dB measured


def test_overruns_are_counted_and_reported(
    pulse: tuple[dict[str, str], subprocess.Popen], listen_model: Path
) -> None:
    """A listener stopped (SIGSTOP) for longer than ``MAX_BACKLOG_SECONDS`` comes back to more
    audio than it may hold: what it drops is an overrun, reported on stderr as it happens and
    counted in the closing line, and it goes on listening (exit status 0)."""
    listener = Listener(pulse[0], str(listen_model), "--device", "pulse")
    listener.wait_heard()
    began = time.monotonic()
    listener.process.send_signal(signal.SIGSTOP)
    time.sleep(MAX_BACKLOG_SECONDS + 4)  # at least 4 s dropped
    listener.process.send_signal(signal.SIGCONT)
    time.sleep(1.5)
    elapsed = time.monotonic() - began
    status, _, err = listener.finish()
    assert status == 0, err
    overruns = [line for line in err if line.startswith("overrun at ")]
    assert overruns and all(
        line.endswith(
            f"audio lost (listening fell {MAX_BACKLOG_SECONDS:g} s behind real time); {i} so far"
        )
        for i, line in enumerate(overruns, 1)
    ), err
    closing = re.fullmatch(
        r"stopped after ([\d.]+) s of audio: \d+ detection\(s\), (\d+) overrun\(s\)", err[-1]
    )
    assert closing and int(closing[2]) == len(overruns), err
    # what was dropped was not heard: at least 4 s, less what was heard before `began`
    assert float(closing[1]) < elapsed - 2


def test_missing_device_lists_the_devices(
    pulse: tuple[dict[str, str], subprocess.Popen], listen_model: Path
) -> None:
    """A device that does not exist, by index or by name, is one line naming it and listing
    the input devices, with exit status 2."""
    for device in ("99", "no such microphone"):
        result = subprocess.run(
            [sys.executable, "-m", "kws_runtime", "listen", str(listen_model), "--device", device],
            env=pulse[0], cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        wanted = int(device) if device.isdigit() else device
        assert lines[0].startswith(f"error: no input device {wanted!r} (")
        assert re.search(r"; input devices: 0 'pulse' \(\d+ ch, \d+ Hz\)", lines[0]), lines


def test_bad_settings_stop_before_listening(
    listen_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Settings out of range, a missing model and an unusable ``--record`` path are one-line
    errors naming the option or file, exit status 2, before any device is opened."""
    model = str(listen_model)
    cases = {
        ("--save-free", "5"): "error: --save-free needs --save DIR",
        ("--save", str(tmp_path), "--save-free", "4000"): "error: --save-free must be in [0, 3600]",
        ("--block-ms", "0"): "error: --block-ms must be in [1, 1000]",
        ("--stride-ms", "7.01"): "error: --stride-ms / --threshold: detector.stride_ms=7.01 is",
        ("--record", str(tmp_path / "no" / "x.wav")): f"error: --record {tmp_path / 'no'}",
    }
    for args, start in cases.items():
        assert main([model, *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(start), (args, err)
    assert main([str(tmp_path / "none.onnx")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"error: {tmp_path / 'none.onnx'}: file does not exist"
    )
    with pytest.raises(SystemExit):
        main([model, "--threshold", "1.5"])
    assert "--threshold: must be 'auto' or a number in (0, 1], got 1.5" in capsys.readouterr().err


def test_without_sounddevice_says_what_to_install(listen_model: Path) -> None:
    """Without sounddevice, listening is a one-line error saying what to install, after the
    model and settings are checked."""
    code = (
        "import sys; sys.modules['sounddevice'] = None; "
        "from kws_runtime.__main__ import listen_main; "
        f"sys.exit(listen_main([{str(listen_model)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (
        "error: listening needs the sounddevice package: pip install sounddevice (kws-runtime's "
        "listen extra)\n"
    )


def test_converter_converts_as_training_does(tmp_path: Path) -> None:
    """Blocks of a 48 kHz stereo device become, joined, the 16 kHz mono samples training's
    conversion makes of the whole recording (channels' mean, soxr, 16 bits), bit for bit."""
    rng = np.random.default_rng(0)
    stereo = np.clip(rng.normal(0, 3000, (3 * 48000, 2)), -32768, 32767).astype(np.int16)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 48000, subtype="PCM_16")
    recording = ClipFormat(convert=True, max_seconds=None)  # a folder data set's negatives
    whole = np.round(read_noise(path, recording) * 32768).astype(np.int16)
    convert = MonoConverter(48000, RATE, 2)
    blocks = np.concatenate([convert(stereo[i : i + 4800]) for i in range(0, len(stereo), 4800)])
    assert len(blocks) > len(whole) - RATE // 40  # soxr holds back its filter delay (12 ms)
    np.testing.assert_array_equal(blocks, whole[: len(blocks)])
    mono = stereo[:, :1]
    np.testing.assert_array_equal(MonoConverter(RATE, RATE, 1)(mono), mono[:, 0])


def test_keyword_free_stretches_avoid_detections_and_gaps(tmp_path: Path) -> None:
    """``--save-free``'s stretches are two clips of contiguous, non-silent audio as heard, none
    overlapping a window that fired or a gap; the detection's file is its clip before and its
    window, zeros standing for audio before a gap."""
    clip = RATE
    rng = np.random.default_rng(1)
    audio = rng.integers(-2000, 2000, 40 * RATE, dtype=np.int16)
    audio[30 * RATE : 34 * RATE] = 0  # digital silence
    (tmp_path / NEGATIVES_FOLDER).mkdir()
    (tmp_path / BACKGROUND_FOLDER).mkdir()
    saver = Saver(tmp_path, RATE, clip, 3600.0 * 10, rng=np.random.default_rng(0))
    history, clock = History(4 * clip + 2 * RATE // 10), Clock(RATE)
    fired, gap = 8 * RATE, 20 * RATE
    saved = []
    for first in range(0, len(audio), RATE // 10):
        if first == gap:
            history.restart()
        history.add(audio[first : first + RATE // 10])
        if history.end == fired + clip + RATE // 10:
            detection = saver.detection("yes", fired, history, clock)
        if history.end == gap + clip + RATE // 10:
            early = saver.detection("no", gap, history, clock)  # the first window after it
        saved += saver.free(history, clock)
    clip_before, _ = sf.read(detection, dtype="int16")
    np.testing.assert_array_equal(clip_before, audio[fired - clip : fired + clip])
    around_gap, _ = sf.read(early, dtype="int16")
    np.testing.assert_array_equal(around_gap[:clip], 0)
    np.testing.assert_array_equal(around_gap[clip:], audio[gap : gap + clip])
    assert len(saved) >= 5
    for path in saved:
        stretch, _ = sf.read(path, dtype="int16")
        at = offset_in(audio, stretch)
        np.testing.assert_array_equal(stretch, audio[at : at + 2 * clip])
        assert not at - clip < fired < at + 2 * clip  # no window that fired overlaps it
        assert not at - clip < gap < at + 2 * clip  # nor the first window after the gap
        assert at >= gap or at + 2 * clip <= gap  # contiguous audio
        assert stretch.any()


def test_listen_benchmark_refuses_bad_arguments(
    listen_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m kws.benchmark listen``: settings out of range are argparse errors naming the
    option, a missing or unreadable file and a malformed labels CSV one-line errors naming the
    file, all before any server starts."""
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(RATE, np.int16), RATE, subtype="PCM_16")
    model = str(listen_model)
    for args, message in {
        ("--block-ms", "0"): "--block-ms: must be in [1, 1000], got 0.0",
        ("--block-ms", "30", "2000"): "--block-ms: must be in [1, 1000], got 2000.0",
        ("--seconds", "nan"): "--seconds: must be a finite number, got nan",
        ("--threshold", "1.5"): "--threshold: must be in [0, 1], got 1.5",
        ("--threshold", "0"): "--threshold: must be 'auto' or a number in (0, 1], got 0",
    }.items():
        with pytest.raises(SystemExit):
            benchmark_main(["listen", model, str(audio), *args])
        assert message in capsys.readouterr().err, args
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio")
    (tmp_path / "b_labels.csv").write_text("label,start_ms\nyes,soon\n")
    sf.write(tmp_path / "b.wav", np.zeros(RATE, np.int16), RATE, subtype="PCM_16")
    for model_path, wav, start in (
        (tmp_path / "none.onnx", audio, f"error: {tmp_path / 'none.onnx'}: file does not exist"),
        (listen_model, junk, f"error: {junk}: not a readable audio file"),
        (listen_model, tmp_path / "b.wav", f"error: {tmp_path / 'b_labels.csv'}: not a label"),
    ):
        with pytest.raises(SystemExit) as stopped:
            benchmark_main(["listen", str(model_path), str(wav)])
        assert str(stopped.value).startswith(start), stopped.value
    with pytest.raises(SystemExit) as stopped:
        benchmark_main(["listen", model, str(audio), "--python", str(tmp_path / "nopython")])
    assert str(stopped.value) == f"error: --python {tmp_path / 'nopython'}: no such interpreter"


def test_listen_benchmark_measures_a_live_listener(
    pulse: tuple[dict[str, str], subprocess.Popen], listen_model: Path, played: Path
) -> None:
    """On a real server, each block size's run reports listen's CPU (more than none, less than
    two cores), resident memory (over 10 MB, the peak at least the current), the audio it heard
    (about the seconds measured) and whole detection and overrun counts; a played stream's
    labels CSV gives latencies, finite."""
    labels = next(played.parent.glob("*_labels.csv"))  # the stream's, beside played.wav
    stream = labels.with_name(labels.name.removesuffix("_labels.csv") + ".wav")
    report = bench_listen(pulse[0], listen_model, stream, [30, 100], seconds=3, threshold="0.3")
    assert set(report["blocks"]) == {"30", "100"}
    for row in report["blocks"].values():
        assert 0 < row["cpu_percent"] < 200, row
        assert row["rss_mb"] > 10 and row["peak_rss_mb"] >= row["rss_mb"], row
        assert 2.5 < row["audio_s"] < 10 and 2.9 < row["wall_s"] < 5, row
        assert row["overruns"] == 0 and row["detections"] >= 0, row
        assert row["latency"] is not None, row
        assert all(np.isfinite(v) for v in row["latency"].values()), row
