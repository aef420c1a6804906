"""A PulseAudio server of its own for the ``listen`` benchmark: a 16 kHz mono null sink in a
temporary folder (``pulse_server``), which ``paplay`` plays into and listen hears the monitor of."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The null sink ``pulse_server`` makes; listen hears its monitor.
SINK = "kws_sink"
#: The sink's (and listen's) sample rate.
RATE = 16000
#: What to install where the server or PortAudio is missing.
PACKAGES = "apt-get install pulseaudio libportaudio2"


class AudioServerError(RuntimeError):
    """The sound server cannot be used: a tool missing, or the server did not start."""


@contextmanager
def pulse_server(
    folder: Path, timeout: float = 15.0
) -> Iterator[tuple[dict[str, str], subprocess.Popen]]:
    """A PulseAudio server of its own with a 16 kHz mono null sink ``SINK``, stopped on exit.

    Args:
        folder: an absent folder to make and keep the server's files in; short (a socket path
            has at most 107 characters).
        timeout: seconds the server may take to answer. Default 15.

    Yields:
        The environment that reaches the server (PortAudio reaches it through ALSA's ``pulse``
        device) and the server's process.

    Raises:
        AudioServerError: ``pulseaudio``, ``paplay`` or ``pactl`` missing, sounddevice or
            PortAudio unusable, or the server not answering within ``timeout``.
    """
    missing = [tool for tool in ("pulseaudio", "paplay", "pactl") if shutil.which(tool) is None]
    if missing:
        raise AudioServerError(f"{', '.join(missing)} not installed ({PACKAGES})")
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as error:  # OSError: no PortAudio library
        raise AudioServerError(
            f"sounddevice cannot be used: {error} (pip install sounddevice, {PACKAGES})"
        ) from None
    folder.mkdir(mode=0o700)
    socket = folder / "native"
    env = {**os.environ, "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder),
           "PULSE_SERVER": f"unix:{socket}"}  # fmt: skip
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         f"--log-target=file:{folder / 'log'}",
         f"--load=module-null-sink sink_name={SINK} rate={RATE} channels=1",
         f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                log = (folder / "log").read_text() if (folder / "log").exists() else ""
                raise AudioServerError(f"the PulseAudio server did not start: {log.strip()[-300:]}")
            time.sleep(0.1)
        yield env, server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
