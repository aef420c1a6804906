"""The basis-health rule: a trainable frontend basis that stops being a filterbank is reported.

A trainable Mel basis (or STFT kernels, a parametric filterbank, an MFCC's DCT) can leave what
it started as without any error: its weights grow by orders of magnitude, or its filters crowd
onto a few bands, while the loss still falls. ``BasisHealth`` checks every trainable basis of
the frontend after every ``every_n_epochs`` training epochs (and once more when training ends)
by three tests, each against the basis's own initial state:

* **growth** (check ``growth``): the largest ratio of a filter's (a basis row's) L2 norm to
  its initial norm. At ``warn_growth`` (10) or more it warns; at ``stop_growth`` (100) or more
  it is a stop-level finding. Every basis.
* **collapse** (checks ``bands`` and ``low_band``): the filters' centres (in Hz, as the
  frontend's ``filter_centres()`` gives them), each assigned to the band of the nearest initial
  centre. Filters in fewer bands than ``min_band_share`` (0.5) of the initial ones, or more than
  ``max_low_share`` (0.5) of the filters centred in the lowest ``low_band`` (5%) of 0 ..
  Nyquist (when fewer started there), is a stop-level finding. An all-zero filter has no
  centre. Mel bases and parametric filterbanks (which have centres).
* **non-finite** (check ``non_finite``): a NaN or infinite weight, a stop-level finding.
  Every basis.

Negative weights need no test: the Mel basis is clamped at zero where it is applied and the
parametric filterbanks are power responses; the STFT kernels and the DCT are signed by nature.

A finding is logged as a warning once, when its test first crosses a level; with ``action:
stop`` a stop-level finding also ends training after that epoch (``trainer.should_stop``),
logged as an error naming the epoch and the usual remedies; the run then tests its chosen
checkpoint and writes ``metrics.json`` as usual. ``verdict()`` is what ``kws.tasks.train``
writes there as ``basis_health``. The callback keeps no state in checkpoints: the initial bases
are the frontend's own buffers, so a resumed run finds the same things again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import nn

from kws.frontend import MFCC, STFT, FilterbankFrontend, MelSpectrogram
from kws_runtime.checks import SettingError, check_number

log = logging.getLogger(__name__)

Action = Literal["warn", "stop"]
Severity = Literal["warn", "stop"]
KEY = "callbacks.basis_health."
#: What a stop-level finding does, and what a run suggests instead (the error's last sentence).
REMEDY = (
    "keep the basis a filterbank with frontend.mel_param=multiplicative, or a lower "
    "module.frontend_optimizer.lr (e.g. 1e-4), or freeze it with frontend.trainable_mel=false "
    "(docs/frontend.md#basis-health-no-silent-collapse)"
)


@dataclass(frozen=True)
class Basis:
    """One trainable basis of a frontend, as the rule sees it.

    Args:
        name: where it sits, e.g. ``"mel_basis"`` or ``"mel.stft.kernels"``.
        initial: the rows (filters) it started as, ``(n_filters, n)``.
        current: the rows now, the same shape.
        centres: ``(initial, current)`` centre of each filter in Hz, each ``(n_filters,)``;
            ``None`` for a basis without centres (STFT kernels, DCT).
        nyquist: the band's top in Hz (unused without centres).
    """

    name: str
    initial: torch.Tensor
    current: torch.Tensor
    centres: tuple[torch.Tensor, torch.Tensor] | None = None
    nyquist: float = 1.0


@dataclass(frozen=True)
class Finding:
    """One test a basis failed.

    Args:
        epoch: the training epoch, from 1, after which it was found.
        basis: the basis's name (``Basis.name``).
        check: ``"growth"``, ``"bands"``, ``"low_band"`` or ``"non_finite"``.
        severity: ``"warn"`` or ``"stop"``.
        value: the measured number (a ratio, a count or a share).
        threshold: the level it crossed.
        message: one line saying what was found.
    """

    epoch: int
    basis: str
    check: str
    severity: Severity
    value: float
    threshold: float
    message: str


def trainable_bases(frontend: nn.Module) -> list[Basis]:
    """Every basis of ``frontend`` that trains, its rows now and at initialisation.

    Mel bases (``MelSpectrogram``, also inside an ``MFCC``) and parametric filterbanks
    (``FilterbankFrontend``) come with their centres; STFT kernels and an MFCC's DCT without.

    Args:
        frontend: any frontend module; one without these layers has none.
    """
    bases = []
    with torch.no_grad():
        for prefix, layer in frontend.named_modules():
            at = f"{prefix}." if prefix else ""
            if isinstance(layer, MelSpectrogram) and layer.mel_basis.requires_grad:
                bases.append(_filterbank(at + "mel_basis", layer, layer.initial_mel_basis))
            elif isinstance(layer, FilterbankFrontend) and any(
                p.requires_grad for p in layer.parameters(recurse=False)
            ):
                bases.append(_filterbank(at + "filterbank", layer, layer.initial_filterbank))
            elif isinstance(layer, STFT) and layer.kernels.requires_grad:
                rows = layer.kernels.shape[0]
                bases.append(
                    Basis(
                        at + "kernels",
                        layer.initial_kernels.reshape(rows, -1).float(),
                        layer.kernels.detach().reshape(rows, -1).float(),
                    )
                )
            elif isinstance(layer, MFCC) and layer.dct.requires_grad:
                dct = layer.dct.detach().float()
                bases.append(Basis(at + "dct", layer.initial_dct.float(), dct))
    return bases


def _filterbank(name: str, layer: nn.Module, initial: torch.Tensor) -> Basis:
    """A filterbank layer's basis (``filterbank()`` as applied) with its centres."""
    freqs = layer.fft_freqs
    return Basis(
        name,
        initial.float(),
        layer.filterbank().detach().float(),
        tuple(c.float() for c in layer.filter_centres()),
        float(freqs[-1]),
    )


class BasisHealth(pl.Callback):
    """Check the frontend's trainable bases by the basis-health rule (module docstring).

    Args:
        action: ``"warn"`` (default): every finding is a warning in the log and in
            ``verdict()``; ``"stop"``: a stop-level finding also ends training after its epoch.
        every_n_epochs: check after every this many training epochs, a whole number >= 1, and
            when training ends. Default 1.
        warn_growth: a filter norm this many times its initial one warns, > 1. Default 10.
        stop_growth: ... and this many times is a stop-level finding, >= ``warn_growth``.
            Default 100.
        min_band_share: filters centred in fewer of the initial filters' bands than this share
            of them is a collapse, in [0, 1]. Default 0.5.
        max_low_share: more than this share of the filters centred in the lowest ``low_band``
            of the band is a collapse, in [0, 1]. Default 0.5.
        low_band: the share of 0 .. Nyquist that is the lowest band, in (0, 1]. Default 0.05.

    Raises:
        ValueError: a setting out of range, naming ``callbacks.basis_health.<key>``.
    """

    def __init__(
        self,
        action: Action = "warn",
        every_n_epochs: int = 1,
        warn_growth: float = 10.0,
        stop_growth: float = 100.0,
        min_band_share: float = 0.5,
        max_low_share: float = 0.5,
        low_band: float = 0.05,
    ) -> None:
        if action not in ("warn", "stop"):
            raise SettingError(f"{KEY}action must be 'warn' or 'stop', got {action!r}")
        check_number(KEY + "every_n_epochs", every_n_epochs, 1, math.inf, integer=True)
        check_number(KEY + "warn_growth", warn_growth, 1.0, math.inf, low_open=True)
        check_number(KEY + "stop_growth", stop_growth, warn_growth, math.inf)
        check_number(KEY + "min_band_share", min_band_share, 0.0, 1.0)
        check_number(KEY + "max_low_share", max_low_share, 0.0, 1.0)
        check_number(KEY + "low_band", low_band, 0.0, 1.0, low_open=True)
        self.action = action
        self.every_n_epochs = every_n_epochs
        self.warn_growth = warn_growth
        self.stop_growth = stop_growth
        self.min_band_share = min_band_share
        self.max_low_share = max_low_share
        self.low_band = low_band
        self.findings: list[Finding] = []
        self.measures: dict[str, dict[str, float]] = {}
        self.stopped_at: int | None = None
        self._last_epoch = 0

    def examine(self, frontend: nn.Module, epoch: int) -> list[Finding]:
        """The findings on ``frontend``'s trainable bases now (the tests of the rule); the numbers
        measured stay in ``measures`` (basis name to ``growth``, and for a basis with centres
        ``bands`` (initial filters' bands), ``bands_held`` (those holding a centre now) and
        ``low_band_share``).

        Args:
            frontend: the frontend module.
            epoch: the training epoch, from 1, the findings are dated with.
        """
        findings = []
        bases = trainable_bases(frontend)
        self.measures = {basis.name: {} for basis in bases}
        for basis in bases:
            if not torch.isfinite(basis.current).all():
                bad = int((~torch.isfinite(basis.current)).sum())
                findings.append(
                    Finding(epoch, basis.name, "non_finite", "stop", bad, 0,
                            f"{basis.name} holds {bad} non-finite weights")
                )  # fmt: skip
                continue
            findings += self._growth(basis, epoch, self.measures[basis.name])
            if basis.centres is not None:
                findings += self._collapse(basis, epoch, self.measures[basis.name])
        return findings

    def _growth(self, basis: Basis, epoch: int, measures: dict[str, float]) -> list[Finding]:
        """A filter whose norm grew past ``warn_growth`` (or ``stop_growth``) times its own
        initial norm (an initially empty filter: the mean initial norm); the largest ratio goes
        to ``measures``."""
        initial = basis.initial.norm(dim=1)
        live = initial[initial > 0]
        if not len(live):
            return []
        reference = torch.where(initial > 0, initial, live.mean())
        ratios = basis.current.norm(dim=1) / reference
        worst = int(ratios.argmax())
        growth = measures["growth"] = float(ratios[worst])
        if growth < self.warn_growth:
            return []
        stop = growth >= self.stop_growth
        threshold = self.stop_growth if stop else self.warn_growth
        where = ""
        if basis.centres is not None:
            where = f", centred at {float(basis.centres[1][worst]):.0f} Hz"
        return [
            Finding(epoch, basis.name, "growth", "stop" if stop else "warn", growth, threshold,
                    f"{basis.name} filter {worst}{where} has {growth:.3g} times its initial "
                    f"norm (limit {threshold:g})")
        ]  # fmt: skip

    def _collapse(self, basis: Basis, epoch: int, measures: dict[str, float]) -> list[Finding]:
        """Filters crowding onto few bins, or onto the lowest band; the counts and the share go
        to ``measures``."""
        findings = []
        start, now = basis.centres
        bands = torch.unique(start[basis.initial.norm(dim=1) > 0])  # each live filter's band
        if not len(bands):
            return findings
        live = now[basis.current.norm(dim=1) > 0]
        held = len(torch.unique((live[:, None] - bands[None, :]).abs().argmin(dim=1)))
        measures["bands"], measures["bands_held"] = len(bands), held
        least = self.min_band_share * len(bands)
        if held < least:
            findings.append(
                Finding(epoch, basis.name, "bands", "stop", held, least,
                        f"{basis.name}'s {len(now)} filters are centred in {held} of the "
                        f"{len(bands)} initial filters' bands (limit {least:g})")
            )  # fmt: skip
        top = self.low_band * basis.nyquist
        shares = [
            float(((centres < top) & (rows.norm(dim=1) > 0)).float().mean())
            for centres, rows in ((start, basis.initial), (now, basis.current))
        ]
        measures["low_band_share"] = shares[1]
        if shares[1] > self.max_low_share and shares[1] > shares[0]:
            findings.append(
                Finding(epoch, basis.name, "low_band", "stop", shares[1], self.max_low_share,
                        f"{shares[1]:.0%} of {basis.name}'s filters are centred below "
                        f"{top:.0f} Hz, up from {shares[0]:.0%} (limit {self.max_low_share:.0%})")
            )  # fmt: skip
        return findings

    def record(self, findings: list[Finding], trainer: pl.Trainer | None = None) -> None:
        """Keep and log each finding that is new or more severe than before for its basis and
        test; with ``action="stop"`` a stop-level one stops ``trainer`` (where given).

        Args:
            findings: from ``examine``.
            trainer: the running trainer, or None (outside a fit: nothing to stop).
        """
        loud = trainer is None or trainer.is_global_zero
        for finding in findings:
            same = (finding.basis, finding.check)
            seen = [f.severity for f in self.findings if (f.basis, f.check) == same]
            if finding.severity in seen or (finding.severity == "warn" and "stop" in seen):
                continue
            self.findings.append(finding)
            if loud:
                log.warning("basis health, epoch %d: %s", finding.epoch, finding.message)
        stops = [f for f in findings if f.severity == "stop"]
        if stops and self.action == "stop" and self.stopped_at is None:
            self.stopped_at = stops[0].epoch
            if trainer is not None:
                trainer.should_stop = True
            if loud:
                log.error(
                    "basis health: training stopped after epoch %d: %s; %s",
                    self.stopped_at, stops[0].message, REMEDY,
                )  # fmt: skip

    def verdict(self) -> dict[str, Any]:
        """What ``metrics.json`` holds as ``basis_health``: ``status`` (``"ok"``, ``"warned"``
        or ``"stopped"``), the rule's ``action``, the ``findings`` (each a ``Finding`` as a
        dict) and the last check's ``measures`` (a key per basis checked)."""
        status = "stopped" if self.stopped_at is not None else "warned" if self.findings else "ok"
        return {
            "status": status,
            "action": self.action,
            "findings": [asdict(finding) for finding in self.findings],
            "measures": self.measures,
        }

    def _check(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int) -> None:
        """Examine and record after training epoch ``epoch`` (from 1)."""
        self._last_epoch = epoch
        self.record(self.examine(pl_module.spotter.frontend, epoch), trainer)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.findings, self.measures, self.stopped_at, self._last_epoch = [], {}, None, 0

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._check(trainer, pl_module, trainer.current_epoch + 1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The basis as training leaves it, if its last whole epoch was not checked."""
        done = trainer.fit_loop.epoch_progress.current.completed
        if done > self._last_epoch:
            self._check(trainer, pl_module, done)
