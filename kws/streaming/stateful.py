"""``StatefulSpotter``: a causal spotter that streams each frame through the model once.

A window-scoring detector runs the whole one-second window every stride, so the head does each
frame's work about a hundred times over (once per window holding it). A causal head
(``BCResNet(causal=True)``) has no need to: its output at a frame depends on no later frame, so
the stream can go through it in chunks, each chunk's convolutions reading the previous chunk's
last frames instead of zeros (Google's kws_streaming calls this a streaming model with external
state). ``StatefulSpotter`` is that model: a chunk of new samples and the state in, the class
probabilities at each new frame and the next state out, with no state kept inside, so the same
module runs under PyTorch (``TorchStream`` keeps the state between calls) and exports to ONNX.

The stream's frames are the frontend's frames without centre padding, one per ``hop_length``
samples: frame ``k`` spans samples ``[(k + 1) * hop - n_fft, (k + 1) * hop)``, samples before
the stream's start being zeros. A chunk of ``n * hop`` samples therefore gives ``n`` frames, and
the state's first tensor holds the last ``n_fft - hop`` samples (the frame tail).

What one call on a whole stream returns, chunk-by-chunk calls return frame for frame, whatever
the chunk sizes (``tests/test_stateful.py`` checks it to 1e-4 with chunks of 1 hop, 3 hops, 1 s
and random sizes). A frame's probabilities are not those of the window ending there scored on its
own: a window starts from zeros, the stream from real audio (docs/streaming.md measures the
difference).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from kws.frontend.protocol import frame_stft_of


def stateful_problem(frontend: nn.Module, head: nn.Module) -> str | None:
    """Why a spotter of ``frontend`` and ``head`` cannot stream frame by frame, else ``None``.

    Args:
        frontend: the spotter's frontend.
        head: its head.
    """
    if not getattr(head, "causal", False):
        return f"its head {type(head).__name__} is not causal (model.causal=true)"
    stft = frame_stft_of(frontend)
    if stft is None:
        return (
            f"its frontend {type(frontend).__name__} does not compute each frame from that "
            "frame's samples alone (its frame_stft() names no STFT: top_db, PCEN, or a "
            "spectrogram other than an STFT)"
        )
    if stft.n_fft <= stft.hop_length:
        return f"its frontend's n_fft={stft.n_fft} is not above hop_length={stft.hop_length}"
    return None


class StatefulSpotter(nn.Module):
    """A causal ``KeywordSpotter`` as a streaming model with external state.

    Args:
        frontend: a per-frame frontend (``frame_stft()`` names its ``STFT``: ``STFT``,
            ``MelSpectrogram``, ``MFCC``, the triangular and Sinc filterbanks, without
            ``top_db`` or PCEN); copied, and the copy computes frames without centre padding.
        head: a causal head with ``frames(x, past)`` and ``state_shapes(batch)``
            (``BCResNet(causal=True)``); used as it is (not copied).

    Raises:
        ValueError: the pair cannot stream frame by frame (``stateful_problem`` says why).
    """

    def __init__(self, frontend: nn.Module, head: nn.Module) -> None:
        super().__init__()
        problem = stateful_problem(frontend, head)
        if problem:
            raise ValueError(f"the spotter cannot stream frame by frame: {problem}")
        self.frontend = copy.deepcopy(frontend)
        stft = frame_stft_of(self.frontend)
        stft.center = False
        self.head = head
        self.hop_length = stft.hop_length
        self.tail_samples = stft.n_fft - stft.hop_length

    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        """The state's shapes: the frame tail ``(batch, n_fft - hop)``, then the head's past
        (``BCResNet.state_shapes``: the stem's input ``(batch, 1, n_mels, 4)``, each
        BC-ResBlock's ``(batch, C, 1, 2 * dilation)``, the head conv's ``(batch, 2.5c, 5, 4)``,
        the pool's ``(batch, 4c, 1, window - 1)``).

        Args:
            batch: streams run together. Default 1.
        """
        return [(batch, self.tail_samples), *self.head.state_shapes(batch)]

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """The state at a stream's start: zeros of ``state_shapes``, on the model's device.

        Args:
            batch: streams run together. Default 1.
        """
        param = next(self.head.parameters())
        return tuple(param.new_zeros(shape) for shape in self.state_shapes(batch))

    def forward(self, chunk: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The class probabilities at each new frame, and the next state.

        Args:
            chunk: ``(batch, n * hop_length)`` float32 samples in [-1, 1], ``n >= 1``.
            *state: the previous call's state, else ``initial_state(batch)``.

        Returns:
            ``(probabilities, *state)``: probabilities ``(batch, n, classes)``, then the next
            state, shaped as ``state_shapes``.
        """
        audio = torch.cat([state[0], chunk], dim=-1)  # (B, n_fft - hop + n * hop)
        features = self.frontend(audio)  # (B, F, n)
        logits, past = self.head.frames(features, state[1:])  # (B, classes, n)
        tail = audio[:, audio.shape[-1] - self.tail_samples :]
        return (logits.transpose(1, 2).softmax(dim=-1), tail, *past)


class TorchStream:
    """A ``StatefulSpotter`` run on one stream, keeping its state between calls: what
    ``kws.streaming.FrameScorer`` pushes samples into.

    Args:
        model: the streaming model; put in eval mode.
    """

    def __init__(self, model: StatefulSpotter) -> None:
        self.model = model.eval()
        self.hop_length = model.hop_length
        param = next(model.head.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.reset()

    def reset(self) -> None:
        """Start a new stream: zeros of the state."""
        self.state: Sequence[torch.Tensor] = self.model.initial_state()

    def step(self, samples: np.ndarray) -> np.ndarray:
        """The probabilities at the frames ``samples`` complete.

        Args:
            samples: float32 ``(n * hop_length,)``, the stream's next samples.

        Returns:
            ``(n, classes)`` float64.
        """
        with torch.inference_mode():
            chunk = torch.from_numpy(np.array(samples, dtype=np.float32)).to(self.device)
            probabilities, *self.state = self.model(chunk[None], *self.state)
            return probabilities[0].float().cpu().numpy().astype(np.float64)
