"""Stream-shaped training examples (kws.data.stream_examples): where a word is, keywords placed
whole, partial keywords, windows of the keyword-free stream and their labels, mined hard
negatives, the settings' checks; and the DataModule that serves them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kws.data import SpeechCommandsDataModule
from kws.data.stream_examples import (
    KeywordFreeStream,
    StreamClasses,
    StreamExamples,
    TrainingBatch,
    keyword_free_stream,
    make_stream_examples,
    stream_classes,
    word_bounds,
)
from kws.data.synthetic import speak

NAMES = ["_silence_", "_unknown_", "yes", "no"]
RATE = 16000


def burst(start: int, end: int, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """One second of (optional) room noise with a 440 Hz tone of amplitude 0.5 over
    ``[start, end)``."""
    rng = np.random.default_rng(seed)
    clip = noise * rng.standard_normal(RATE)
    t = np.arange(end - start) / RATE
    clip[start:end] += 0.5 * np.sin(2 * np.pi * 440 * t)
    return torch.from_numpy(clip.astype(np.float32))


def test_word_bounds_find_the_word_in_quiet_and_noisy_rooms():
    clips = torch.stack([burst(4000, 9000), burst(4000, 9000, noise=0.02), torch.zeros(RATE)])
    start, end = word_bounds(clips)
    # 20 ms frames every 10 ms: the bounds are within one frame of the tone's edges.
    assert abs(start[0] - 4000) <= 320 and abs(end[0] - 9000) <= 320
    assert abs(start[1] - 4000) <= 320 and abs(end[1] - 9000) <= 320  # noise 28 dB down
    assert (start[2], end[2]) == (0, RATE)  # a silent clip is all word
    # Synthetic words (in their rooms): the bounds hold most of each word's energy (a quiet
    # plosive burst 13 dB under a word's peak may fall outside) and leave out most of the clip.
    words = torch.stack([
        torch.from_numpy(np.pad(speak(word, speaker), (0, RATE))[:RATE] / 32768.0).float()
        for word in ("yes", "stop", "seven") for speaker in range(3)
    ])  # fmt: skip
    start, end = word_bounds(words)
    energy = words**2
    inside = torch.stack([e[a:b].sum() for e, a, b in zip(energy, start, end, strict=True)])
    assert torch.all(inside >= 0.8 * energy.sum(1))
    assert torch.all(end - start <= 0.8 * RATE)


def identity_augment(waveforms, labels, shift_range):
    """An augmentation that only shifts, to the top of each row's range (deterministic)."""
    from kws.data.augment import shift_rows

    return shift_rows(waveforms, shift_range[1], waveforms.shape[1])


def classes() -> StreamClasses:
    return stream_classes(NAMES)


def test_keywords_are_placed_whole_anywhere():
    clips = torch.stack([burst(6000, 9000) for _ in range(8)])
    labels = torch.full((8,), 2)
    settings = StreamExamples(place_prob=1.0, partial_share=0, negative_share=0, hard_share=0)
    torch.manual_seed(0)
    out = settings(clips, labels, classes(), identity_augment)
    assert isinstance(out, TrainingBatch) and out.not_keyword.sum() == 0
    start, end = word_bounds(out.waveforms)
    # Shifted to the top of the range: the word now ends at the window's end, whole.
    assert torch.all((RATE - end) <= 320) and torch.all((end - start - 3000).abs() <= 640)
    # With a real draw the words land all over the window, always whole.
    from kws.data.batches import ClipBatches

    torch.manual_seed(1)
    many = torch.stack([burst(6000, 9000) for _ in range(64)])
    shifted = ClipBatches({}, torch.zeros(1, RATE)).augment
    out = settings(many, torch.full((64,), 2), classes(), shifted)
    start, end = word_bounds(out.waveforms)
    assert start.min() < 1000 and end.max() > RATE - 1000
    assert torch.all((end - start - 3000).abs() <= 640)


def test_partial_keywords_are_a_first_or_last_part_labelled_unknown():
    clips = torch.stack([burst(4000, 12000) for _ in range(10)])
    labels = torch.full((10,), 3)
    settings = StreamExamples(
        place_prob=0.0, partial_share=0.5, negative_share=0, hard_share=0, partial_cut=(0.3, 0.4)
    )
    torch.manual_seed(0)
    out = settings(clips, labels, classes(), lambda w, y, r: w)  # no shift at all
    partial = out.not_keyword
    assert partial.tolist() == [False] * 10 + [True] * 5  # added after the clips
    assert torch.all(out.labels[partial] == 1) and torch.all(out.labels[~partial] == 3)
    assert torch.equal(out.waveforms[:10], clips)
    start, end = word_bounds(out.waveforms[partial])
    length = end - start
    assert torch.all((length >= 0.3 * 8000 - 320) & (length <= 0.4 * 8000 + 320))
    # Each part starts where the word starts or ends where it ends.
    first = (start - 4000).abs() <= 320
    last = (end - 12000).abs() <= 320
    assert torch.all(first | last)


def keyword_free(samples: int = 5 * RATE) -> KeywordFreeStream:
    """A stream of silence with speech (a tone) from 1 s to 2 s only."""
    audio = torch.zeros(samples, dtype=torch.int16)
    audio[RATE : 2 * RATE] = 8000
    unit = RATE // 100
    inside = torch.zeros(samples // unit, dtype=torch.int64)
    inside[100:200] = 1
    counts = torch.cat([torch.zeros(1, dtype=torch.int64), inside.cumsum(0)])
    return KeywordFreeStream(audio, counts, unit)


def test_keyword_free_windows_are_labelled_by_their_speech():
    stream = keyword_free()
    starts = torch.tensor([0, RATE // 2, 2 * RATE - 800, 2 * RATE, 3 * RATE])
    speech = stream.speech_ms(starts, RATE, RATE)
    assert speech.tolist() == [0.0, 500.0, 50.0, 0.0, 0.0]
    windows = stream.windows(starts, RATE)
    assert windows.shape == (5, RATE)
    assert float(windows[1, RATE // 2]) == pytest.approx(8000 / 32768)
    settings = StreamExamples(place_prob=0, partial_share=0, negative_share=1.0, hard_share=0)
    torch.manual_seed(0)
    out = settings(torch.zeros(64, RATE), torch.full((64,), 2), classes(), lambda w, y, r: w,
                   stream=stream)  # fmt: skip
    added = out.not_keyword
    assert added.tolist() == [False] * 64 + [True] * 64
    assert set(out.labels[added].tolist()) == {0, 1}
    # A window labelled _unknown_ holds the tone; one labelled _silence_ at most 50 ms of it.
    tone = (out.waveforms[added] > 0).sum(1)
    assert torch.all(tone[out.labels[added] == 1] >= 0.05 * RATE)
    assert torch.all(tone[out.labels[added] == 0] < 0.06 * RATE)
    assert torch.all(out.weights == 1.0)


def test_hard_negatives_take_their_share_once_mined():
    stream = keyword_free()
    settings = StreamExamples(place_prob=0, partial_share=0, negative_share=0.0, hard_share=0.25,
                              weight=2.0)  # fmt: skip
    clips, labels = torch.zeros(8, RATE), torch.full((8,), 2)
    out = settings(clips, labels, classes(), lambda w, y, r: w, stream=stream)
    assert len(out.labels) == 8 and out.not_keyword.sum() == 0  # none mined yet: none added
    hard = torch.tensor([RATE])  # the window holding the tone, whole
    out = settings(clips, labels, classes(), lambda w, y, r: w, stream=stream, hard_starts=hard)
    assert len(out.labels) == 10 and out.not_keyword.sum() == 2
    assert torch.all(out.labels[out.not_keyword] == 1)
    assert torch.all(out.weights[out.not_keyword] == 2.0)
    assert torch.all(out.waveforms[out.not_keyword].abs().amin(1) > 0.2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"negative_share": 1.5}, r"negative_share must be in \[0, 1\]"),
        ({"partial_share": 0.6, "negative_share": 0.6}, "at most 1"),
        ({"weight": 0}, r"weight must be in \(0"),
        ({"weight": float("nan")}, "weight must be a finite number"),
        ({"partial_cut": [0.5, 0.2]}, "partial_cut must rise"),
        ({"partial_cut": [0.0, 0.5]}, "partial_cut must be in"),
        ({"stream_gap_ms": 1.5}, "stream_gap_ms must be a whole number"),
        ({"stream_minutes": 0}, "stream_minutes"),
        ({"stream_minutes": 300}, r"stream_minutes must be in \(0, 240\]"),
        ({"partial_cut": 0.5}, r"partial_cut must be \[lowest, highest\], got 0.5"),
        ({"shares": 1}, "data.stream_examples.shares: unknown key"),
    ],
)
def test_bad_settings_name_their_key(settings, message):
    with pytest.raises(ValueError, match=message):
        make_stream_examples(settings, NAMES)


def test_stream_examples_need_an_unknown_class():
    with pytest.raises(ValueError, match="no such class"):
        make_stream_examples({"negative_share": 0.1}, ["_silence_", "yes", "no"])
    assert make_stream_examples(None, NAMES) is None and make_stream_examples({}, NAMES) is None


def test_the_datamodule_serves_stream_shaped_batches(synthetic_root):
    dm = SpeechCommandsDataModule(
        root=str(synthetic_root), test_set="list", batch_size=40,
        stream_examples={"negative_share": 0.25, "hard_share": 0.1, "stream_minutes": 0.5},
    )  # fmt: skip
    dm.prepare_data()
    dm.setup()
    stream = dm.batches.keyword_free
    assert stream.audio.shape == (30 * RATE,) and stream.audio.dtype == torch.int16
    speech = float(stream.speech[-1]) / (len(stream.speech) - 1)
    assert 0.1 < speech < 0.9  # words (about half a second) in slots of 1.5 s
    torch.manual_seed(0)
    batch = dm.batches.training_batch(next(iter(dm.train_dataloader())))
    # 40 clips, 4 partial keywords (the default 0.1), 10 keyword-free windows, no hard ones yet
    assert batch.waveforms.shape == (54, RATE) and int(batch.not_keyword.sum()) == 14
    # Deterministic for a seed: the same stream again.
    again = SpeechCommandsDataModule(
        root=str(synthetic_root), test_set="list", batch_size=40,
        stream_examples={"negative_share": 0.25, "stream_minutes": 0.5},
    )  # fmt: skip
    again.setup()
    assert torch.equal(again.batches.keyword_free.audio, stream.audio)


def test_the_keyword_free_stream_needs_non_keyword_clips(synthetic_root):
    dm = SpeechCommandsDataModule(root=str(synthetic_root), test_set="list")
    clips = dm.stream_clips("train")
    empty = type(clips)(clips.split, clips.keywords, [], clips.noise)
    with pytest.raises(ValueError, match="no non-keyword clip"):
        keyword_free_stream(empty, StreamExamples(), seed=0)


def test_a_keyword_free_stream_shorter_than_a_clip_is_refused(synthetic_root):
    dm = SpeechCommandsDataModule(root=str(synthetic_root), test_set="list")
    clips = dm.stream_clips("train")
    with pytest.raises(ValueError, match=r"stream_minutes=0.005 makes a keyword-free stream"):
        keyword_free_stream(clips, StreamExamples(stream_minutes=0.005), seed=0)
