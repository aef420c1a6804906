"""``python -m kws.data.tts``: a folder of one's own words said by synthetic speakers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.data import FolderDataModule, tts
from kws.data import phonemes as phonemes_module
from kws.data.tts.__main__ import main
from kws.data.tts.engines import flite_library

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)
PHRASES = ["hey kitchen", "lights off"]
SPEAKER = re.compile(r"^(.*?)_nohash_")


def make(out: Path, seed: int = 0, **settings) -> dict:
    """A small tree: 12 eSpeak NG speakers, a few negatives of each kind."""
    defaults = dict(voices=12, seed=seed, engines=["espeak"], near=4, ordinary=3, sentences=1)
    return tts.write_phrases(out, PHRASES, **(defaults | settings))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tts") / "words"
    make(out)
    return out


@needs_espeak
def test_the_tree_is_a_folder_data_set_with_each_speaker_in_one_split(tree, tmp_path):
    manifest = json.loads((tree / "tts.json").read_text())
    assert manifest["keywords"] == ["hey_kitchen", "lights_off"]
    dm = FolderDataModule(root=str(tree), keywords=manifest["keywords"],
                          clip_seconds=manifest["clip_seconds"], cache_dir=str(tmp_path / "c"),
                          protocol="all_unknown")  # fmt: skip
    dm.setup()
    assert dm.class_names == ["_unknown_", "hey_kitchen", "lights_off"]
    split_of: dict[str, set[str]] = {}
    for split, index in dm.split_index.items():
        for path in index.paths:
            split_of.setdefault(SPEAKER.search(path.split("/", 1)[1]).group(1), set()).add(split)
    assert len(split_of) == 12
    assert all(len(splits) == 1 for splits in split_of.values()), split_of
    clips = sum(len(index.paths) for index in dm.split_index.values())
    folders = 2 + len(manifest["negatives"])
    assert clips == 12 * folders


@needs_espeak
def test_clips_are_16_khz_mono_16_bit_of_the_clip_length_with_speech(tree):
    clip_seconds = json.loads((tree / "tts.json").read_text())["clip_seconds"]
    assert clip_seconds in (1.0, 1.25, 1.5)
    files = sorted(tree.glob("*/*.wav"))
    for path in files[:: max(1, len(files) // 40)]:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == round(clip_seconds * 16000)
        audio = sf.read(path, dtype="int16")[0]
        assert np.abs(audio).max() > 32768 * 10 ** (-21 / 20)  # the speaker's level, -20 to -1 dB


@needs_espeak
def test_the_same_seed_gives_the_same_bytes_and_speakers_differ(tree, tmp_path):
    again = tmp_path / "again"
    make(again, workers=1)  # one process: the bytes must not depend on who renders what
    for path in sorted(tree.glob("hey_kitchen/*.wav")):
        assert (again / path.relative_to(tree)).read_bytes() == path.read_bytes()
    other = tmp_path / "other"
    make(other, seed=1, negatives=False)
    assert sorted(p.name for p in other.glob("hey_kitchen/*")) != sorted(
        p.name for p in tree.glob("hey_kitchen/*")
    )
    clips = [sf.read(p, dtype="int16")[0] for p in sorted(tree.glob("hey_kitchen/*.wav"))]
    assert len({c.tobytes() for c in clips}) == len(clips) == 12


@needs_espeak
def test_negatives_sound_close_and_never_hold_a_keyword(tree):
    words = phonemes_module.dictionary()
    near = phonemes_module.nearest_words(["kitchen"], words, 20, [["kitchen"]])
    names = [w for w, _, _ in near]
    assert "kitten" in names and "kitchen" not in names and "kitchens" not in names
    distances = phonemes_module.edit_distances([words["kitten"], words["carbon"]],
                                               words["kitchen"])  # fmt: skip
    np.testing.assert_allclose(distances, [1.5, 1.0])  # tS->? within class, @ deleted; 2 stops
    assert all(d <= 1.5 for _, d, _ in near)
    negatives = json.loads((tree / "tts.json").read_text())["negatives"]
    kinds = {n["kind"] for n in negatives}
    assert kinds == {"near", "part", "swap", "ordinary", "sentence"}
    texts = {n["text"] for n in negatives}
    assert {"hey", "kitchen", "lights", "off", "kitchen hey", "off lights"} <= texts
    assert not texts & {"hay", "hey kitchen", "lights off", "hey kitchens"}
    folders = {p.name for p in tree.iterdir() if p.is_dir()}
    assert folders == {n["folder"] for n in negatives} | {"hey_kitchen", "lights_off"}


@needs_espeak
def test_the_word_list_phonemes_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    words = tmp_path / "words.txt"
    words.write_text("kitten\nKitten\ncat's\nchicken\n")
    assert phonemes_module.dictionary(words)["chicken"] == ("tS", "I", "k", "I", "n")
    (cached,) = (tmp_path / "kws").glob("phonemes-*.tsv")
    cached.write_text("chicken X\nkitten Y\n")  # a second run reads the cache, not eSpeak NG
    assert phonemes_module.dictionary(words) == {"chicken": ("X",), "kitten": ("Y",)}


def test_bad_phrases_are_errors_naming_the_option():
    assert tts.parse_phrases(" Hey  Kitchen ,lights-off") == ["hey kitchen", "lights-off"]
    for bad, what in [("hey,,stop", "empty"), ("café", "é"), ("../etc", "/"), ("go 2", "2"),
                      ("stop,STOP", "more than once"), ("-", "hyphen")]:  # fmt: skip
        with pytest.raises(ValueError, match="--phrases") as error:
            tts.parse_phrases(bad)
        assert what in str(error.value)


def test_a_missing_engine_names_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng, no flite
    phonemes_module.espeak_library.cache_clear()
    flite_library.cache_clear()
    try:
        with pytest.raises(tts.EngineMissingError, match="apt-get install espeak-ng"):
            tts.engine_voices(["espeak"])
        with pytest.raises(tts.EngineMissingError, match="apt-get install flite"):
            tts.engine_voices(["flite"])
        with pytest.raises(tts.EngineMissingError, match="no speech synthesiser"):
            tts.engine_voices()
        with pytest.raises(SystemExit, match="apt-get install espeak-ng"):
            main([str(tmp_path / "out"), "--phrases", "hey kitchen"])
        assert not (tmp_path / "out").exists()
    finally:
        phonemes_module.espeak_library.cache_clear()
        flite_library.cache_clear()
    with pytest.raises(ValueError, match="--engines"):
        tts.engine_voices(["festival"])


def test_bad_settings_are_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit, match="--phrases"):
        main([str(tmp_path / "out"), "--phrases", "hey/you"])
    for option, value in (("--voices", "0"), ("--clip-seconds", "99"), ("--near", "-1")):
        with pytest.raises(SystemExit, match=option):
            main([str(tmp_path / "out"), "--phrases", "stop", option, value])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(SystemExit, match="--force"):
        main([str(tmp_path / "full"), "--phrases", "stop"])
    assert not (tmp_path / "out").exists()
