"""How a VAE's loss changes during training: KL schedules, free bits, a fading pixel anchor,
an annealed indicator, a binariness term ramped in late, the output's temperature and hardening.

Every schedule is a function of the training progress ``p = step / total steps``
in [0, 1] (``step`` is the optimizer's iteration count, so a resumed run picks
up where it stopped).  Light at import: TensorFlow is imported when a schedule
is evaluated, so :class:`~ssvae_tf.settings.TrainConfig` can check its values
without it.

References: Bowman et al. 2016 (KL warm-up), Fu et al. 2019 (cyclical
annealing), Kingma et al. 2016 (free bits), Burda et al. 2016 (active units),
Maddison et al. 2017 and Jang et al. 2017 (binary Concrete, annealed
temperature), Bengio et al. 2013 (straight-through estimator).

>>> schedule = LossSchedule(kl="cyclical", kl_cycles=2, kl_ramp=0.5)
>>> [round(float(schedule.kl_factor(p)), 2) for p in (0.0, 0.125, 0.25, 0.5, 0.625, 1.0)]
[0.0, 0.5, 1.0, 0.0, 0.5, 1.0]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ssvae_tf._checks import check_bool, check_positive_real, options_from_record

#: KL-weight schedules: constant, linear warm-up, cyclical (Fu et al. 2019).
KL_SCHEDULES = ("constant", "warmup", "cyclical")


def _check_fraction(value: Any, name: str, low_open: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and (0 < value <= 1 if low_open else 0 <= value <= 1)):
        raise ValueError(f"{name} must be a number in {'(0' if low_open else '[0'}, 1], got {value!r}")


@dataclass(frozen=True)
class LossSchedule:
    """The parts of the loss that change with training progress ``p`` in [0, 1].

    Attributes:
        kl: ``"constant"`` (beta throughout), ``"warmup"`` (beta times
            ``min(1, p / kl_ramp)``) or ``"cyclical"`` (``kl_cycles`` cycles;
            within each, beta rises linearly from 0 over the first ``kl_ramp``
            of the cycle, then stays).
        kl_cycles: number of cycles of the cyclical schedule.
        kl_ramp: fraction of the run (warm-up) or of each cycle (cyclical)
            over which beta rises.
        free_bits: per-dimension KL floor lambda in nats: the KL term is
            ``sum_d max(lambda, mean_batch KL_d)``, so a dimension carrying
            less than lambda nats is not pushed further towards the prior
            (0: off).
        anchor: weight gamma_0 of the blurred-pixel anchor
            ``SSE(G_sigma * x, G_sigma * x_hat)`` summed over pixels; it places
            structures early and fades out (0: off).
        anchor_sigma: standard deviation of the Gaussian blur, in pixels.
        anchor_until: progress at which the anchor's weight has fallen
            linearly from ``anchor`` to 0.
        anchor_aligned: compare the blurred images after the best periodic
            shift (:func:`ssvae_tf.stats.two_point.shift_aligned_sse`): free
            positions, as for the statistics, but the relative arrangement
            tied to the input's.
        eps_start: width of the soft indicator at the start; it moves linearly
            to the statistics' ``eps`` over the run (``None``: constant).
        binary_weight: final weight lambda_max of the binariness term
            ``sum_pixels x_hat (1 - x_hat)`` (0: off); a continuation: its
            weight is 0 until ``binary_start`` and rises linearly to
            ``binary_weight`` at the end of the run (a strong binariness
            penalty from the first step stalls the optimisation).
        binary_start: progress at which the binariness weight starts to rise,
            in [0, 1).
        perimeter_weight: final weight of the perimeter term (0: off), which holds
            each reconstruction's interface per axis to its input's
            (:meth:`~ssvae_tf.model.SpatialStatsVAE.perimeter_term`); it ramps
            in with the binariness term, from ``binary_start``: a grey output's
            soft perimeter is not yet its phases'.
        temperature_start: temperature of a relaxed-Bernoulli (binary Concrete)
            output at the start; it falls geometrically to the decoder's final
            temperature over the run (``None``: the final one throughout).
        hard_from: progress from which a straight-through output is hard
            (``None``: never).
    """

    kl: str = "constant"
    kl_cycles: int = 4
    kl_ramp: float = 0.5
    free_bits: float = 0.0
    anchor: float = 0.0
    anchor_sigma: float = 1.0
    anchor_until: float = 0.5
    anchor_aligned: bool = False
    eps_start: float | None = None
    binary_weight: float = 0.0
    binary_start: float = 0.5
    perimeter_weight: float = 0.0
    temperature_start: float | None = None
    hard_from: float | None = None

    def __post_init__(self):
        if self.kl not in KL_SCHEDULES:
            raise ValueError(f"kl schedule must be one of {KL_SCHEDULES}, got {self.kl!r}")
        if isinstance(self.kl_cycles, bool) or not isinstance(self.kl_cycles, int) or self.kl_cycles < 1:
            raise ValueError(f"kl_cycles must be an integer >= 1, got {self.kl_cycles!r}")
        _check_fraction(self.kl_ramp, "kl_ramp")
        _check_fraction(self.anchor_until, "anchor_until")
        check_positive_real(self.free_bits, "free_bits", allow_zero=True)
        check_positive_real(self.anchor, "anchor", allow_zero=True)
        object.__setattr__(self, "anchor_aligned", check_bool(self.anchor_aligned, "anchor_aligned"))
        if not (isinstance(self.anchor_sigma, (int, float)) and math.isfinite(self.anchor_sigma)
                and self.anchor_sigma > 0):
            raise ValueError(f"anchor_sigma must be a positive number of pixels, got {self.anchor_sigma!r}")
        if self.eps_start is not None and not (isinstance(self.eps_start, (int, float))
                                               and math.isfinite(self.eps_start) and self.eps_start > 0):
            raise ValueError(f"eps_start must be a positive number or None, got {self.eps_start!r}")
        check_positive_real(self.binary_weight, "binary_weight", allow_zero=True)
        check_positive_real(self.perimeter_weight, "perimeter_weight", allow_zero=True)
        _check_fraction(self.binary_start, "binary_start", low_open=False)
        if self.binary_start == 1:
            raise ValueError("binary_start must be below 1 (the term ramps in from there to the end of the run), "
                             f"got {self.binary_start!r}")
        if self.temperature_start is not None and not (isinstance(self.temperature_start, (int, float))
                                                       and math.isfinite(self.temperature_start)
                                                       and self.temperature_start > 0):
            raise ValueError(f"temperature_start must be a positive number or None, got {self.temperature_start!r}")
        if self.hard_from is not None:
            _check_fraction(self.hard_from, "hard_from", low_open=False)

    @property
    def changes(self) -> bool:
        """Whether any value depends on the progress (then training needs its length)."""
        return (self.kl != "constant" or self.anchor > 0 or self.eps_start is not None or self.binary_weight > 0
                or self.perimeter_weight > 0 or self.temperature_start is not None or self.hard_from is not None)

    def kl_factor(self, progress):
        """Multiplier of beta at ``progress`` (float or scalar tensor) in [0, 1]: a float32 tensor."""
        import tensorflow as tf

        p = tf.cast(progress, tf.float32)
        if self.kl == "constant":
            return tf.ones_like(p)
        if self.kl == "cyclical":
            # the end of the run is the end of the last cycle, not the start of a new one
            p = tf.where(p >= 1.0, 1.0, tf.math.floormod(p * self.kl_cycles, 1.0))
        return tf.minimum(1.0, p / self.kl_ramp)

    def anchor_weight(self, progress):
        """Weight of the blurred-pixel anchor at ``progress``: ``anchor * max(0, 1 - p / anchor_until)``."""
        import tensorflow as tf

        p = tf.cast(progress, tf.float32)
        return self.anchor * tf.maximum(0.0, 1.0 - p / self.anchor_until)

    def eps(self, progress, eps_end: float):
        """Soft-indicator width at ``progress``: linear from ``eps_start`` to ``eps_end``."""
        import tensorflow as tf

        p = tf.cast(progress, tf.float32)
        start = eps_end if self.eps_start is None else self.eps_start
        return start + (eps_end - start) * tf.clip_by_value(p, 0.0, 1.0)

    def late_ramp(self, progress):
        """The ramp of the terms that shape the phases late in training at ``progress``: ``clip((p -
        binary_start) / (1 - binary_start), 0, 1)``, a float32 tensor (0 before ``binary_start``, 1 at
        the end of the run)."""
        import tensorflow as tf

        p = tf.cast(progress, tf.float32)
        return tf.clip_by_value((p - self.binary_start) / (1.0 - self.binary_start), 0.0, 1.0)

    def binary_factor(self, progress):
        """Weight of the binariness term at ``progress``: ``binary_weight`` times :meth:`late_ramp`."""
        return self.binary_weight * self.late_ramp(progress)

    def perimeter_factor(self, progress):
        """Weight of the perimeter term at ``progress``: ``perimeter_weight`` times :meth:`late_ramp`."""
        return self.perimeter_weight * self.late_ramp(progress)

    def temperature(self, progress, temperature_end: float):
        """Temperature of a relaxed-Bernoulli output at ``progress``: geometric from
        ``temperature_start`` to ``temperature_end``, ``T_s (T_e / T_s)^p`` (``T_e`` throughout when
        ``temperature_start`` is ``None``)."""
        import tensorflow as tf

        p = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
        start = temperature_end if self.temperature_start is None else self.temperature_start
        return start * tf.pow(temperature_end / start, p)

    def hard(self, progress):
        """Whether a straight-through output is hard at ``progress``: a boolean tensor (``p >= hard_from``)."""
        import tensorflow as tf

        p = tf.cast(progress, tf.float32)
        return tf.logical_and(self.hard_from is not None, p >= (1.0 if self.hard_from is None else self.hard_from))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the form stored in ``.keras`` files."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: "Mapping | LossSchedule | None") -> "LossSchedule":
        """A schedule from :meth:`to_json`'s form (or a partial dict; ``None``: constant, nothing else).

        Raises:
            ValueError: on an unknown field, naming it.
        """
        return options_from_record(cls, record, "schedule fields")
