"""Loss schedules against their definitions, written out in NumPy."""

import numpy as np
import pytest

from ssvae_tf.schedules import LossSchedule

PROGRESS = np.linspace(0.0, 1.0, 41)


def test_constant_kl_is_one_throughout():
    np.testing.assert_allclose(LossSchedule().kl_factor(PROGRESS), 1.0)


def test_warmup_rises_linearly_then_stays():
    factor = np.asarray(LossSchedule(kl="warmup", kl_ramp=0.25).kl_factor(PROGRESS))
    np.testing.assert_allclose(factor, np.minimum(1.0, PROGRESS / 0.25), atol=1e-6)


@pytest.mark.parametrize("cycles, ramp", [(4, 0.5), (3, 0.8), (1, 1.0)])
def test_cyclical_restarts_each_cycle_and_ends_at_one(cycles, ramp):
    factor = np.asarray(LossSchedule(kl="cyclical", kl_cycles=cycles, kl_ramp=ramp).kl_factor(PROGRESS))
    expected = []
    for p in PROGRESS:
        position = 1.0 if p == 1.0 else (p * cycles) % 1.0  # where in its cycle step p falls
        expected.append(min(1.0, position / ramp))
    np.testing.assert_allclose(factor, expected, atol=1e-5)
    assert factor[0] == 0.0 and factor[-1] == 1.0


def test_anchor_fades_linearly_to_zero():
    weight = np.asarray(LossSchedule(anchor=2.0, anchor_until=0.4).anchor_weight(PROGRESS))
    np.testing.assert_allclose(weight, 2.0 * np.clip(1.0 - PROGRESS / 0.4, 0.0, None), atol=1e-6)


def test_eps_moves_from_start_to_end():
    eps = np.asarray(LossSchedule(eps_start=0.35).eps(PROGRESS, 0.1))
    np.testing.assert_allclose(eps, 0.35 + (0.1 - 0.35) * PROGRESS, atol=1e-6)
    np.testing.assert_allclose(LossSchedule().eps(PROGRESS, 0.25), 0.25)


def test_changes_says_whether_training_length_matters():
    assert not LossSchedule(free_bits=1.0).changes
    assert all(LossSchedule(**kw).changes for kw in ({"kl": "warmup"}, {"anchor": 0.1}, {"eps_start": 0.3}))


def test_json_round_trip_and_unknown_field():
    schedule = LossSchedule(kl="cyclical", kl_cycles=2, free_bits=0.5, anchor=0.1, eps_start=0.3)
    assert LossSchedule.from_json(schedule.to_json()) == schedule
    assert LossSchedule.from_json(None) == LossSchedule()
    with pytest.raises(ValueError, match="unknown schedule fields \\['warmup'\\]"):
        LossSchedule.from_json({"warmup": 3})


@pytest.mark.parametrize("kwargs, message", [
    ({"kl": "linear"}, "kl schedule must be one of"), ({"kl_cycles": 0}, "kl_cycles must be an integer >= 1"),
    ({"kl_ramp": 1.5}, "kl_ramp must be a number in"), ({"anchor_until": 0}, "anchor_until must be"),
    ({"free_bits": float("nan")}, "free_bits must be a finite number"), ({"anchor": -1}, "anchor must be"),
    ({"anchor_sigma": -1}, "anchor_sigma must be a positive"), ({"eps_start": 0}, "eps_start must be"),
])
def test_bad_values_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LossSchedule(**kwargs)
