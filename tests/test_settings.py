"""TrainConfig: checked settings, their help and kinds, settings files."""

import dataclasses
import json
from pathlib import Path

import pytest

from ssvae_tf.settings import (
    MAX_SEED,
    DECODER_NOISE_SCALE,
    NOISY_DECODER_CLIP_NORM,
    SETTING_GROUPS,
    TrainConfig,
    default_beta,
    default_depth,
    read_settings_file,
    recorded_settings,
    setting_choices,
    setting_default,
    setting_group,
    setting_help,
    setting_kind,
    setting_names,
)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(data="no/such/thing"), "data must be one of"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(indicator="hard"), r"indicator must be one of \('soft', 'linear'\), got 'hard'"),
        (dict(data_loss="l1"), "data_loss must be one of"),
        (dict(decoder_activation="tanh"), r"decoder_activation must be one of \('relu', 'leaky_relu'\), got 'tanh'"),
        (dict(image_size=8), "image_size must be between 16 and 256"),
        (dict(beta=-0.1), "beta must be a finite number >= 0"),
        (dict(validation_split=1.0), r"validation_split must be in \[0, 1\)"),
        (dict(latent_dim=2**31 - 1), "latent_dim must be at most 4,096, got 2,147,483,647"),
        (dict(batch_size=10**6), "batch_size must be at most 65,536"),
        (dict(early_stopping=0), "early_stopping must be an integer >= 1"),
        (dict(jit_compile="yes"), "jit_compile must be True or False, got 'yes'"),
        # wrong types are named, not an obscure TypeError (issue 24); text such as "no" is not a bool
        (dict(periodic="no"), r"periodic must be True or False, got 'no'"),
        (dict(mixed_precision=1), r"mixed_precision must be True or False, got 1"),
        (dict(learning_rate="x"), r"learning_rate must be a finite number > 0, got 'x'"),
        (dict(stats_scale="x"), r"stats_scale must be a finite number > 0, got 'x'"),
        (dict(phases=2.5), r"phases must be an integer >= 2, got 2.5"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_every_field_has_help_a_kind_and_a_valid_default():
    for name in setting_names():
        assert setting_help(name)
        kind, default = setting_kind(name), setting_default(name)
        assert kind in (int, float, bool, str)
        assert default is None or isinstance(default, kind)
        choices = setting_choices(name)
        assert choices is None or default is None or default in choices


def test_every_field_is_in_one_group_and_the_groups_keep_the_field_order():
    by_group = [setting_names(group) for group in SETTING_GROUPS]
    assert sorted(sum(by_group, [])) == sorted(setting_names())
    for group, names in zip(SETTING_GROUPS, by_group):
        assert names and all(setting_group(name) == group for name in names)
        assert names == [name for name in setting_names() if name in names]
    assert "encoder_input" in setting_names("model") and "kl_ramp" in setting_names("loss")
    with pytest.raises(ValueError, match="group must be one of"):
        setting_names("optimiser")


def test_config_json_stays_one_flat_record_of_every_field():
    assert list(TrainConfig().to_json()) == setting_names()
    old_record = Path(__file__).parent / "fixtures" / "old_run" / "config.json"  # written before the groups
    # every field but those added since (issue 22: outputs that are phases; issue 23: models from slices),
    # which take their defaults
    added = {"output", "temperature_end", "binary_weight", "binary_start", "temperature_start", "hard_from",
             "median", "from_slices", "slices_xz", "slices_yz", "stats_window", "isotropy", "decoder_noise",
             "clip_norm", "symmetric_targets", "noise_scale", "stats_window_floor", "perimeter_weight",
             "slice_target_shrink", "decoder_activation"}
    old_settings = read_settings_file(old_record)
    assert sorted(old_settings) == sorted(set(setting_names()) - added)
    assert TrainConfig.from_mapping(old_settings).output == "sigmoid"


def test_recorded_settings_are_the_settings_table_of_a_run_record():
    assert recorded_settings({"settings": {"epochs": 3}, "n_images": 5}, "run/config.json") == {"epochs": 3}
    with pytest.raises(ValueError, match="run/config.json is not a valid run configuration"):
        recorded_settings({"n_images": 5}, "run/config.json")


def test_the_baseline_trains_pixels_not_statistics():
    assert TrainConfig(alpha=2.0, beta=0.5, gamma=0.0).loss_weights((64, 64)) == (2.0, 0.5, 0.0)
    assert TrainConfig(alpha=2.0, beta=0.5, baseline=True).loss_weights((64, 64)) == (0.0, 0.5, 1.0)


@pytest.mark.parametrize("shape, beta", [((64, 64), 0.01), ((32, 32), 0.0025), ((128, 128), 0.04),
                                         ((224, 224), 0.122), ((16, 16, 16), 0.01)])
def test_beta_left_unset_keeps_its_balance_with_the_pixel_sums(shape, beta):
    # beta = 0.01 per 64 x 64 pixels: KL per image against reconstruction sums over the pixels
    assert default_beta(shape) == beta
    assert TrainConfig().loss_weights(shape) == (1.0, beta, 0.0)
    assert TrainConfig(baseline=True).loss_weights(shape) == (0.0, beta, 1.0)


@pytest.mark.parametrize("field, value, message", [
    ("decoder", "deconv", "decoder must be one of"), ("padding", "wrap", "padding must be one of"),
    ("kl_schedule", "linear", "kl_schedule must be one of"), ("kl_ramp", 0.0, "kl_ramp must be a number in"),
    ("free_bits", -1.0, "free_bits must be a finite number >= 0"), ("anchor_sigma", 0.0, "anchor_sigma must be"),
    ("eps", 0.0, "eps must be a positive number"), ("eps_start", -0.1, "eps_start must be a positive"),
    ("cutoff", -1, "cutoff must be an integer >= 0"), ("stats_levels", 0, "stats_levels must be"),
])
def test_training_techniques_are_checked(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_correlations_are_pairs_of_the_two_phases():
    assert TrainConfig().correlation_pairs == ((0, 0),)
    assert TrainConfig(phase=1).correlation_pairs == ((1, 1),)
    assert TrainConfig(correlations="0,0 1,1 0,1").correlation_pairs == ((0, 0), (1, 1), (0, 1))
    for bad in ("0,2", "0;1", "", "0,0,1"):
        with pytest.raises(ValueError, match="correlations must be space-separated pairs"):
            TrainConfig(correlations=bad)
    with pytest.raises(ValueError, match=r"phase must be a phase 0..1 of the 2 phases, got 2"):
        TrainConfig(phase=2)
    with pytest.raises(ValueError, match=r"correlations names the pair 0,0 more than once in '0,0 0,1 0,0'"):
        TrainConfig(correlations="0,0 0,1 0,0")


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 2**63, 2.5, True])
def test_a_bad_seed_is_named_with_its_range(seed):
    with pytest.raises(ValueError, match=rf"^seed must be an integer from 0 to {MAX_SEED} .*, got {seed!r}$"):
        TrainConfig(seed=seed)
    assert TrainConfig(seed=MAX_SEED).seed == MAX_SEED


def test_label_images_have_their_own_phases_and_indicator_width():
    config = TrainConfig(phases=4, phase=3, correlations="0,0 3,3 1,2")
    assert config.n_phases == 4 and config.correlation_pairs == ((0, 0), (3, 3), (1, 2))
    assert TrainConfig(phases=3, phase=2).correlation_pairs == ((2, 2),)
    with pytest.raises(ValueError, match=r"pairs of states 0..2 such as"):
        TrainConfig(phases=3, correlations="0,3")
    with pytest.raises(ValueError, match="phases must be an integer >= 2"):
        TrainConfig(phases=1)
    with pytest.raises(ValueError, match="label images .* are not thresholded"):
        TrainConfig(phases=3, threshold="otsu")
    with pytest.raises(ValueError, match=r"median=3 filters grey images; label images \(phases\) are not filtered"):
        TrainConfig(phases=3, median=3)
    with pytest.raises(ValueError, match="indicator 'linear' is defined for two phases"):
        TrainConfig(phases=3, indicator="linear")
    # eps is in units of the spacing of the phases' grey levels: the same sharpness for any K
    assert TrainConfig(phases=5, eps_start=0.4).loss_schedule.eps_start == pytest.approx(0.1)


@pytest.mark.parametrize("value, expected", [("otsu", "otsu"), ("0.5", 0.5), (0.25, 0.25), ("0", 0.0)])
def test_threshold_is_otsu_or_a_grey_level(value, expected):
    assert TrainConfig(threshold=value).threshold == expected


@pytest.mark.parametrize("settings, message", [
    (dict(threshold="1.5"), r"threshold must be 'otsu' or a grey level in \[0, 1\], got '1.5'"),
    (dict(threshold="median"), "threshold must be 'otsu'"),
    (dict(median=4), r"median must be an odd number of px >= 1 \(1: no filter\), got 4"),
    (dict(median=0), "median must be"),
    (dict(patch_size=8), "patch_size must be between 16 and 256 px, got 8"),
    (dict(patch_size=64, image_size=32), r"patch_size=64 is larger than the generated images \(32 px\)"),
    (dict(crops_per_epoch=10), "they need patch_size"),
    (dict(validation_slab=True), "they need patch_size"),
    (dict(patch_size=32, validation_slab=True, validation_split=0.0), "expected validation_split > 0"),
    (dict(dims=4), r"dims must be one of \(2, 3\), got 4"),
    (dict(dims=3), "holds 2-D line images; dims=3 needs volumes"),
])
def test_data_reading_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


@pytest.mark.parametrize("settings, message", [
    (dict(data="microstructure", dims=3), "does not take dims=3"),
    (dict(baseline=True), "does not take baseline"),
    (dict(gamma=0.5), "does not take gamma=0.5"),
    (dict(phases=3, output="softmax"), "does not take output='softmax'"),
    (dict(stats_levels=2), "does not take stats_levels=2"),
])
def test_a_model_from_slices_refuses_what_compares_a_volume_with_an_image(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(from_slices=True, **settings)


def test_a_lag_window_is_a_positive_width():
    with pytest.raises(ValueError, match="stats_window must be a finite number > 0, got 0"):
        TrainConfig(stats_window=0)
    assert TrainConfig(stats_window=4).stats_window == 4
    assert TrainConfig(stats_window=4, stats_window_floor=0.3).stats_window_floor == 0.3
    with pytest.raises(ValueError, match="stats_window_floor .* in \\[0, 1\\); got 1.0"):
        TrainConfig(stats_window=4, stats_window_floor=1.0)
    with pytest.raises(ValueError, match="stats_window_floor must be a finite number >= 0, got -0.1"):
        TrainConfig(stats_window=4, stats_window_floor=-0.1)


def test_decoder_noise_needs_a_decoder_with_level_convolutions():
    with pytest.raises(ValueError, match=r"decoders \['upsample', 'subpixel'\]; expected one of them, got "
                                         r"decoder='transpose'"):
        TrainConfig(decoder="transpose", decoder_noise=True)
    assert TrainConfig(decoder="subpixel", decoder_noise=True).decoder_noise


IMAGES, VOLUMES = (64, 64, 1), (32, 32, 32, 1)


def test_default_depth_fits_small_images():
    assert default_depth((64, 64, 1)) == 4
    assert default_depth((16, 24, 1)) == 3
    assert TrainConfig(depth=2).model_depth(IMAGES) == 2
    assert TrainConfig().model_depth(VOLUMES) == 4


def test_the_noise_scale_is_the_start_of_the_decoder_noise():
    assert TrainConfig().model_noise_scale(IMAGES) == DECODER_NOISE_SCALE["images"]
    assert TrainConfig(decoder_noise=True).model_noise_scale(VOLUMES) == DECODER_NOISE_SCALE["volumes"]
    assert TrainConfig(decoder_noise=True, noise_scale=0.3).model_noise_scale(VOLUMES) == 0.3
    assert TrainConfig(noise_scale=0.3).model_noise_scale(VOLUMES) == 0.0  # no noise, nothing to start
    assert TrainConfig(decoder_noise=False, noise_scale=0.3).model_noise_scale(IMAGES) == 0.0
    with pytest.raises(ValueError, match="noise_scale must be a finite number > 0, got 0"):
        TrainConfig(decoder_noise=True, noise_scale=0)


def test_gradients_are_clipped_by_default_only_for_a_decoder_with_noise():
    assert TrainConfig().gradient_clip_norm(IMAGES) == NOISY_DECODER_CLIP_NORM
    assert TrainConfig().gradient_clip_norm(VOLUMES) is None
    assert TrainConfig(baseline=True).gradient_clip_norm(IMAGES) is None
    assert TrainConfig(decoder_noise=True).gradient_clip_norm(VOLUMES) == NOISY_DECODER_CLIP_NORM
    assert TrainConfig(clip_norm=0).gradient_clip_norm(IMAGES) is None  # 0: off
    assert TrainConfig(clip_norm=2.5).gradient_clip_norm(VOLUMES) == 2.5
    with pytest.raises(ValueError, match="clip_norm must be a finite number >= 0, got -1"):
        TrainConfig(clip_norm=-1)


@pytest.mark.parametrize("settings, shape, expected", [
    # a statistics VAE that draws images: the 2-D recipe (noise 0.2, circular padding, perimeter 4, leaky ReLUs)
    ({}, IMAGES, (True, 0.2, "circular", 4.0, "leaky_relu")),
    ({"decoder": "subpixel"}, IMAGES, (True, 0.2, "circular", 4.0, "leaky_relu")),
    ({"decoder": "transpose"}, IMAGES, (False, 0.0, "zeros", 4.0, "leaky_relu")),  # no convolution to add it to
    ({}, (4, 4, 1), (False, 0.0, "zeros", 4.0, "leaky_relu")),  # one level: none coarser than the finest
    ({"baseline": True}, IMAGES, (False, 0.0, "zeros", 0.0, "relu")),
    ({}, VOLUMES, (False, 0.0, "zeros", 4.0, "leaky_relu")),  # volumes: the noise drew grey blobs on 3-D crops
    ({"baseline": True}, VOLUMES, (False, 0.0, "zeros", 0.0, "leaky_relu")),
    ({"decoder_noise": True}, VOLUMES, (True, 0.5, "circular", 4.0, "leaky_relu")),
    # what is set wins
    ({"decoder_noise": False, "perimeter_weight": 0.0, "decoder_activation": "relu"}, IMAGES,
     (False, 0.0, "zeros", 0.0, "relu")),
    ({"padding": "zeros", "noise_scale": 0.1, "perimeter_weight": 1.0}, IMAGES, (True, 0.1, "zeros", 1.0, "leaky_relu")),
])
def test_a_statistics_vae_gets_the_perimeter_term_and_one_of_images_the_decoder_noise_by_default(settings, shape, expected):
    config = TrainConfig(**settings)
    assert (config.model_decoder_noise(shape), config.model_noise_scale(shape), config.model_padding(shape),
            config.loss_schedule.perimeter_weight, config.model_decoder_activation(shape)) == expected


def test_the_model_draws_volumes_from_3d_data_or_from_slices():
    assert not TrainConfig().draws_volumes((64, 64, 1))
    assert TrainConfig().draws_volumes((32, 32, 32, 1))
    assert TrainConfig(from_slices=True).draws_volumes((32, 32, 1))


def test_slice_target_shrink_needs_a_model_from_slices_and_a_value_in_zero_to_one():
    with pytest.raises(ValueError, match="expected from_slices=True with slice_target_shrink=0.5"):
        TrainConfig(slice_target_shrink=0.5)
    with pytest.raises(ValueError, match=r"slice_target_shrink must be in \(0, 1\], got 1.5"):
        TrainConfig(from_slices=True, slice_target_shrink=1.5)
    assert TrainConfig(from_slices=True, slice_target_shrink=0.5).slice_target_shrink == 0.5


def test_symmetric_targets_need_one_micrograph_stack_for_every_plane(tmp_path):
    with pytest.raises(ValueError, match="expected from_slices=True without slices_xz/slices_yz"):
        TrainConfig(symmetric_targets=True)
    with pytest.raises(ValueError, match="expected from_slices=True without slices_xz/slices_yz"):
        TrainConfig(from_slices=True, slices_xz=str(tmp_path / "xz.npy"), symmetric_targets=True)
    assert TrainConfig(from_slices=True, symmetric_targets=True).symmetric_targets


def test_the_isotropy_term_needs_a_model_from_slices_and_a_weight_of_at_least_0():
    with pytest.raises(ValueError, match="expected from_slices=True with isotropy=1.0"):
        TrainConfig(isotropy=1.0)
    with pytest.raises(ValueError, match="isotropy must be a finite number >= 0, got -1"):
        TrainConfig(from_slices=True, isotropy=-1.0)
    assert TrainConfig(from_slices=True, isotropy=2).isotropy == 2.0


def test_plane_micrographs_need_a_model_from_slices_and_default_to_each_other(tmp_path):
    (tmp_path / "xz.npy").touch()
    with pytest.raises(ValueError, match="expected from_slices=True"):
        TrainConfig(slices_xz=str(tmp_path / "xz.npy"))
    with pytest.raises(ValueError, match="slices_yz must be an existing"):
        TrainConfig(from_slices=True, slices_yz=str(tmp_path / "missing.npy"))
    assert TrainConfig(from_slices=True).plane_data is None
    assert TrainConfig(from_slices=True, slices_xz=str(tmp_path / "xz.npy")).plane_data == (str(tmp_path / "xz.npy"),) * 2
    assert TrainConfig(from_slices=True, slices_yz=str(tmp_path / "xz.npy")).plane_data == ("lines", str(tmp_path / "xz.npy"))


def test_generated_data_are_2d_unless_dims_3():
    assert TrainConfig().spatial_dims == 2
    assert TrainConfig(data="microstructure", dims=3).spatial_dims == 3


def test_the_baseline_refuses_statistics_only_techniques():
    with pytest.raises(ValueError, match="baseline does not use"):
        TrainConfig(baseline=True, anchor=0.1)
    with pytest.raises(ValueError, match="baseline does not use"):
        TrainConfig(baseline=True, stats_window=4.0)
    assert TrainConfig(baseline=True, kl_schedule="warmup", decoder="resize").baseline
    with pytest.raises(ValueError, match="encoder_input='statistics' hides where the structures are"):
        TrainConfig(baseline=True, encoder_input="statistics")


def test_from_mapping_names_an_unknown_field():
    with pytest.raises(ValueError, match="my.toml: unknown setting 'latent_size'"):
        TrainConfig.from_mapping({"latent_size": 4}, origin="my.toml")


def test_settings_files_toml_json_and_a_run_record(tmp_path):
    (tmp_path / "a.toml").write_text('latent_dim = 4\nindicator = "linear"\n')
    assert read_settings_file(tmp_path / "a.toml") == {"latent_dim": 4, "indicator": "linear"}
    (tmp_path / "b.json").write_text(json.dumps({"beta": 0.01}))
    assert read_settings_file(tmp_path / "b.json") == {"beta": 0.01}
    record = {"settings": dataclasses.asdict(TrainConfig(epochs=3)), "image_shape": [64, 64, 1]}
    (tmp_path / "config.json").write_text(json.dumps(record))
    assert TrainConfig(**read_settings_file(tmp_path / "config.json")) == TrainConfig(epochs=3)


@pytest.mark.parametrize("text, message", [("latent_size = 4", "unknown setting 'latent_size'"),
                                           ("latent_dim = ", "not valid TOML")])
def test_bad_settings_files_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        read_settings_file(tmp_path / "bad.toml")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="does not exist"):
        read_settings_file(tmp_path / "missing.toml")


@pytest.mark.parametrize("settings, message", [
    (dict(output="gumbel"), "output must be one of"),
    (dict(output="softmax"), "K > 2"),
    (dict(output="softmax", phases=3, baseline=True), "soft indicator and no --baseline"),
    (dict(temperature_end=0.0), "temperature_end must be a positive number"),
    (dict(temperature_start=-1.0), "temperature_start must be a positive number"),
    (dict(hard_from=1.5), "hard_from must be a fraction"),
    (dict(binary_weight=-0.1), "binary_weight must be a finite number >= 0"),
    (dict(binary_start=1.0), "binary_start must be below 1"),
    (dict(decoder="pixelshuffle"), "decoder must be one of"),
])
def test_output_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_output_settings_reach_the_schedule_only_for_their_output():
    assert TrainConfig().loss_schedule == TrainConfig(temperature_start=2.0, hard_from=0.2).loss_schedule
    schedule = TrainConfig(binary_weight=0.3, binary_start=0.25).loss_schedule
    assert (schedule.binary_weight, schedule.binary_start, schedule.temperature_start, schedule.hard_from) == (
        0.3, 0.25, None, None)
    assert TrainConfig(output="concrete", temperature_start=2.0).loss_schedule.temperature_start == 2.0
    assert TrainConfig(output="straight_through", hard_from=0.7).loss_schedule.hard_from == 0.7
    assert {"output", "temperature_end"} <= set(setting_names("model"))
    assert {"binary_weight", "binary_start", "temperature_start", "hard_from"} <= set(setting_names("loss"))
    assert TrainConfig(output="softmax", phases=4).output == "softmax"
