"""The input device, through PortAudio (``sounddevice``, imported on first use).

Every problem is a ``ListenError`` whose message is one line, and where a device is at fault
it lists the input devices PortAudio sees.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


class ListenError(RuntimeError):
    """Listening cannot start or go on; ``str()`` is one line saying why."""


def sounddevice() -> ModuleType:
    """The ``sounddevice`` module, imported on first use.

    Raises:
        ListenError: it is not installed, or the PortAudio library cannot be loaded.
    """
    try:
        import sounddevice as sd
    except ImportError:
        raise ListenError(
            "listening needs the sounddevice package: pip install sounddevice (kws-runtime's "
            "listen extra)"
        ) from None
    except OSError as error:  # sounddevice's import loads the PortAudio library
        raise ListenError(
            f"the PortAudio library cannot be loaded ({error}): install it (Debian: "
            "apt-get install libportaudio2)"
        ) from None
    return sd


def input_devices(sd: ModuleType) -> str:
    """The input devices PortAudio sees, on one line, for messages.

    Args:
        sd: the ``sounddevice`` module.
    """
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as error:
        return f"the devices cannot be listed ({error})"
    found = [
        f"{index} {device['name']!r} ({device['max_input_channels']} ch, "
        f"{device['default_samplerate']:g} Hz)"
        for index, device in enumerate(devices)
        if device["max_input_channels"] > 0
    ]
    if not found:
        return "no input devices (no microphone, or no sound server running)"
    return "input devices: " + ", ".join(found)


def input_device(sd: ModuleType, device: int | str | None) -> tuple[int, dict[str, Any]]:
    """The input device ``device`` names, its index and PortAudio's description of it.

    Args:
        sd: the ``sounddevice`` module.
        device: an index or part of a name; None: the default input device.

    Raises:
        ListenError: there is no such input device.
    """
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as error:
        what = "no default input device" if device is None else f"no input device {device!r}"
        raise ListenError(f"{what} ({error}); {input_devices(sd)}") from None
    return int(info["index"]), info


def stream_format(
    sd: ModuleType, index: int, info: dict[str, Any], model_rate: int, rate: int | None
) -> tuple[int, int]:
    """The rate and channel count to read the device at: ``rate`` if given, else the model's
    rate if the device takes it, else its own; mono if it offers it, else all its channels.

    Args:
        sd: the ``sounddevice`` module.
        index: the device's index.
        info: its description (``input_device``).
        model_rate: the model's sample rate, in Hz.
        rate: the rate asked for, in Hz, or None.

    Raises:
        ListenError: the device takes none of them.
    """
    rates = [rate] if rate else list(dict.fromkeys([model_rate, round(info["default_samplerate"])]))
    channel_counts = list(dict.fromkeys([1, int(info["max_input_channels"])]))
    problem = ""
    for candidate in rates:
        for channels in channel_counts:
            try:
                sd.check_input_settings(index, channels, "int16", samplerate=candidate)
            except (ValueError, sd.PortAudioError) as error:
                problem = str(error)
                continue
            return candidate, channels
    raise ListenError(
        f"input device {index} {info['name']!r} takes none of {', '.join(map(str, rates))} Hz "
        f"with {' or '.join(map(str, channel_counts))} channel(s) of 16-bit samples ({problem}); "
        f"{input_devices(sd)}"
    )
