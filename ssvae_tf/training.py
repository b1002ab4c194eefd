"""One training run: data -> the one model builder -> ``model.fit`` -> a run directory.

:func:`build_model` turns a :class:`~ssvae_tf.settings.TrainConfig` into the
compiled VAE; :func:`train` runs it and writes a
:class:`~ssvae_tf.run_dir.RunDir`.  While the run is unfinished its
``backup/`` lets the same call continue from the last finished epoch.
KerasTuner searches (``tuning``) build every trial with :func:`build_model` too.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import psutil
import tensorflow as tf

from ssvae_tf._checks import check_instance
from ssvae_tf.callbacks import AtomicBackupAndRestore, ImageSummaries, KeepBestEpoch, halved_for_last_tenth
from ssvae_tf.data import (
    HARD_LINES,
    PAPER_LINES,
    DataSplit,
    Patches,
    ReadOptions,
    generate_lines,
    generate_random_fields,
    image_shape_of,
    split_source,
)
from ssvae_tf.distribute import (
    PEER_TIMEOUT_S,
    WorkerRole,
    agreed_minimum,
    make_strategy,
    mixed_precision_policy,
    shardable,
    worker_role,
)
from ssvae_tf.latent_prior import fit_gaussian_mixture
from ssvae_tf.model import SpatialStatsVAE, build_vae
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import BUILTIN_DATA, DEFAULT_IMAGE_SIZE, MIN_CROPS_PER_EPOCH, MIN_PIXELS_PER_EPOCH, TrainConfig
from ssvae_tf.stats.two_point import StatsOptions

#: Training images whose code means the latent prior is fitted to, at most (:func:`fit_latent_prior`).
PRIOR_CODES = 2048


def _check_path_data(config: TrainConfig) -> None:
    """Refuses a user's data that ``image_size`` or ``dims`` describe otherwise (one line)."""
    spatial = image_shape_of(config.data)[:-1]
    if config.dims is not None and len(spatial) != config.dims:
        kinds = {2: "2-D images", 3: "3-D volumes"}
        raise ValueError(f"{config.data} holds {kinds[len(spatial)]} of {spatial} but dims={config.dims} asks for "
                         f"{kinds[config.dims]}; leave dims unset for a path")
    if config.image_size is not None and any(side != config.image_size for side in spatial):
        raise ValueError(f"image_size={config.image_size} does not match the images in {config.data}, which are "
                         f"{spatial}; leave image_size unset for a path (or crop them: --patch-size)")


def _check_generated_size(n_images: int, spatial: tuple[int, ...]) -> None:
    """Refuses (one line) to generate more float32 images than half of this machine's memory holds."""
    needed = n_images * math.prod(spatial) * 4
    available = psutil.virtual_memory().total // 2
    if needed > available:
        raise ValueError(f"n_images={n_images:,} generated images of {spatial} px need {needed / 2**30:,.1f} GiB; "
                         f"this machine has room for {available / 2**30:,.1f} GiB (half its memory): "
                         f"expected at most {available // (needed // n_images):,} images")


def training_source(config: TrainConfig, progress: bool = True) -> np.ndarray | str:
    """The images to train on: a generated array ``(n, *spatial, 1)`` or the user's path.

    ``progress`` shows a bar while built-in images are generated.
    """
    if config.data not in BUILTIN_DATA:
        _check_path_data(config)
        return config.data
    size = config.image_size or DEFAULT_IMAGE_SIZE
    _check_generated_size(config.n_images, (size,) * config.spatial_dims)
    if config.data == "microstructure":
        shape, lengths = (size,) * config.spatial_dims, (4.0, 2.0, 2.0)[: config.spatial_dims]
        return generate_random_fields(config.n_images, shape, volume_fraction=(0.3, 0.7),
                                      correlation_length=lengths, seed=config.seed, progress=progress).images
    n_lines = HARD_LINES if config.data == "lines-hard" else PAPER_LINES
    return generate_lines(config.n_images, size, n_lines=n_lines, seed=config.seed, progress=progress).images


def slice_crops_per_epoch(config: TrainConfig) -> int | None:
    """The crops of a training epoch of a model from slices when ``crops_per_epoch`` is unset: each
    crop costs a decoded volume, so the count follows the volumes' voxels, as for 3-D data
    (:data:`MIN_PIXELS_PER_EPOCH` voxels, at least :data:`MIN_CROPS_PER_EPOCH` crops: 1024 crops of
    32 px), not the micrographs' pixels.  ``None`` for other runs (``Patches`` decides)."""
    if not config.from_slices or config.patch_size is None:
        return None
    return max(MIN_CROPS_PER_EPOCH, math.ceil(MIN_PIXELS_PER_EPOCH / config.patch_size**3))


def run_data(config: TrainConfig, progress: bool = True) -> DataSplit:
    """A run's data as training, evaluation and searches see them: its images (generated or the
    user's), read as ``config`` says (labels, threshold), cropped (``patch_size``) and split into
    training and validation parts with the run's seed."""
    patches = (None if config.patch_size is None else
               Patches(config.patch_size, per_epoch=config.crops_per_epoch or slice_crops_per_epoch(config),
                       slab=config.validation_slab, min_pixels=MIN_PIXELS_PER_EPOCH, min_crops=MIN_CROPS_PER_EPOCH))
    return split_source(training_source(config, progress), validation_split=config.validation_split,
                        seed=config.seed, read=ReadOptions(phases=config.phases, threshold=config.threshold,
                                                       median=config.median),
                        patches=patches)


def statistics_scale(dataset: tf.data.Dataset, stats_options: StatsOptions = StatsOptions(),
                     max_batches: int = 64) -> float:
    """Largest zero-lag statistic (hard phase indicators) over the first batches.

    For an autocorrelation this is the largest volume fraction of the phase,
    the paper's normalisation constant.  Returns 1.0 if the phases never occur.
    """
    zero_lag = stats_options.replace(kind="hard" if stats_options.kind else None, cutoff=0)
    largest = 0.0
    for batch in dataset.take(max_batches):
        largest = max(largest, float(tf.reduce_max(zero_lag.statistics(batch))))
    return largest if largest > 0 else 1.0


def run_stats_options(config: TrainConfig, scale: float = 1.0) -> StatsOptions:
    """The statistics a run's loss compares: the paper's, with the run's correlations, boundary,
    lag cutoff, phases, indicator and its width (``eps`` is in units of the spacing of the
    phases' grey levels), resolutions, lag window, scale and, from slices, the weight of the isotropy term,
    the symmetrised targets and their shrink."""
    full = config.cutoff is None and config.periodic
    return StatsOptions(correlations=config.correlation_pairs, periodic=config.periodic,
                        cutoff="full" if full else config.cutoff, kind=config.indicator,
                        n_phases=config.n_phases, eps=config.eps / (config.n_phases - 1), scale=scale,
                        window_sigma=config.stats_window,
                        window_floor=config.stats_window_floor if config.stats_window is not None else 0.0,
                        levels=config.stats_levels, isotropy=config.isotropy,
                        symmetric_targets=config.symmetric_targets, target_shrink=config.slice_target_shrink)


def decoded_shape(config: TrainConfig, image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """What the decoder of ``config``'s model draws for data of ``image_shape``: the same shape, or
    ``(N, N, N, C)`` volumes from ``(N, N, C)`` micrographs with ``config.from_slices``.

    Raises:
        ValueError: (one line) for a model from slices whose data are not square 2-D images.
    """
    image_shape = tuple(int(side) for side in image_shape)
    if not config.from_slices:
        return image_shape
    if len(image_shape) != 3 or image_shape[0] != image_shape[1]:
        raise ValueError(f"from_slices draws N^3 volumes from N x N micrographs; the data are {image_shape[:-1]}: "
                         "expected square 2-D images, or 2-D data with --patch-size N")
    return (image_shape[0], *image_shape)


def build_model(config: TrainConfig, image_shape: tuple[int, ...], scale: float) -> SpatialStatsVAE:
    """The compiled VAE that ``config`` describes, for images of ``image_shape`` ``(*spatial, 1)``.

    The one builder of a model from settings: training and every trial of a
    search call it (inside a distribution strategy's scope, when there is one).
    ``scale`` is the statistics normalisation (``config.stats_scale`` or
    :func:`statistics_scale` of the data).  With ``config.mixed_precision`` the
    layers compute in :func:`~ssvae_tf.distribute.mixed_precision_policy`'s
    16-bit type, the decoder's sigmoid and the loss in float32; with
    ``config.jit_compile`` the steps are XLA-compiled.  The optimizer is built
    now, so a checkpoint restores its state too.

    Raises:
        TypeError: when ``config`` is not a :class:`~ssvae_tf.settings.TrainConfig`.
    """
    alpha, beta, gamma = check_instance(config, TrainConfig, "config").loss_weights(image_shape[:-1])
    decoded = decoded_shape(config, image_shape)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(mixed_precision_policy() if config.mixed_precision else "float32")
    try:  # layers take the policy when they are made; compile wraps the optimizer for float16's loss scaling
        model = build_vae(
            image_shape,
            latent_dim=config.latent_dim,
            depth=config.model_depth(image_shape),
            filters=config.model_filters(image_shape),
            hidden_units=config.hidden_units,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            data_loss=config.data_loss,
            stats_options=run_stats_options(config, scale),
            seed=config.seed,
            shift_augment=config.shift_augment,
            upsampling=config.decoder,
            padding=config.model_padding(image_shape),
            schedule=config.loss_schedule,
            encoder_input=config.encoder_input,
            output=config.output,
            temperature=config.temperature_end,
            decoded_shape=decoded,
            decoder_noise=config.model_noise_scale(image_shape),
            decoder_activation=config.model_decoder_activation(image_shape),
        )
        optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.gradient_clip_norm(image_shape))
        model.compile(optimizer=optimizer, jit_compile="auto" if config.jit_compile is None else config.jit_compile)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    model.optimizer.build(model.trainable_variables)
    return model


def _prepare_run_dir(run: RunDir, config: TrainConfig, overwrite: bool) -> bool:
    """Whether the run resumes; refuses to clobber a finished or a different run.  Clears the hidden
    temporaries a killed write left (the caller holds the run's lock)."""
    run.remove_temporaries()
    if run.is_finished and not overwrite:
        raise ValueError(f"{run.path} already holds a finished run ({run.MODEL}); choose another --out "
                         "or pass --overwrite")
    if run.is_unfinished and not overwrite:
        if run.settings() != config:
            raise ValueError(f"{run.path} holds an unfinished run with other settings; run the same command "
                             "again to resume it, choose another --out, or pass --overwrite")
        return True
    if overwrite:
        run.clear_outputs()
    return False


def batch_images(batch):
    """The images of a run's batch: the batch itself, or the first of a model from slices' ``(images, targets)``."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def figure_examples(dataset: tf.data.Dataset, volumes: bool = False) -> np.ndarray:
    """The images a run's figures show: the first of ``dataset``'s first batch (of images, or of
    ``(images, targets)``): 6 images, or 3 when they are, or are decoded as, ``volumes``, whose rows
    are longer."""
    examples = batch_images(next(iter(dataset))).numpy()
    return examples[:3 if examples.ndim == 5 or volumes else 6]


def fit_latent_prior(model: SpatialStatsVAE, dataset: tf.data.Dataset, seed: int,
                     n_codes: int = PRIOR_CODES) -> int:
    """Fit ``model.latent_prior``, the Gaussian mixture :meth:`SpatialStatsVAE.sample` draws from, to the
    code means of the first ``n_codes`` images of ``dataset`` (batches of images, or of ``(images,
    targets)``; a model from slices' micrographs); returns how many codes it saw (fewer in a small data set).
    Sampling where the training codes are, not N(0, I) which a sharp model's codes seldom fill
    (:mod:`ssvae_tf.latent_prior`)."""
    codes, seen = [], 0
    for batch in dataset:
        codes.append(np.asarray(model.encode(batch_images(batch))[0], np.float64))
        seen += len(codes[-1])
        if seen >= n_codes:
            break
    codes = np.concatenate(codes)[:n_codes]
    model.latent_prior = fit_gaussian_mixture(codes, seed=seed)
    return len(codes)


def run_datasets(config: TrainConfig, data: DataSplit, progress: bool = True
                 ) -> tuple[tf.data.Dataset, tf.data.Dataset | None, float]:
    """The batches a run (or a search's trial) trains and validates on, from its ``data``, and its
    statistics scale (``config.stats_scale``, else :func:`statistics_scale` of the training data): the
    images, or a model from slices' ``(x, targets)`` with plane micrographs (:func:`plane_datasets`)."""
    if config.plane_data is None:
        train_ds, val_ds = data.train_dataset(config.batch_size), data.validation_dataset(config.batch_size)
        return train_ds, val_ds, config.stats_scale or statistics_scale(train_ds, run_stats_options(config))
    train_ds, val_ds, scale = plane_datasets(config, data, progress)
    return train_ds, val_ds, config.stats_scale or scale


def plane_data_splits(config: TrainConfig, progress: bool = True) -> list[DataSplit]:
    """The x-z and y-z micrographs of a model from slices with plane micrographs (``config.plane_data``),
    read and split as :func:`run_data` reads ``--data``, each with a seed of its own."""
    return [run_data(replace(config, data=path, seed=config.seed + k), progress)
            for k, path in enumerate(config.plane_data, start=1)]


def plane_datasets(config: TrainConfig, data: DataSplit, progress: bool = True
                   ) -> tuple[tf.data.Dataset, tf.data.Dataset | None, float]:
    """The training and validation batches of a model from slices with plane micrographs
    (``config.plane_data``): ``(x, targets)``, ``x`` the ``data``'s crops ``(batch, N, N, C)`` the encoder
    sees and the target of the x-y planes, ``targets`` ``(batch, 3, N, N, C)`` one crop per coordinate
    plane (:func:`~ssvae_tf.stats.two_point.coordinate_planes`' order: x-y, x-z, y-z), drawn with seeds
    of their own; and the largest :func:`statistics_scale` of the three data sets."""
    splits = [data, *plane_data_splits(config, progress)]
    if any(split.image_shape != data.image_shape for split in splits):
        raise ValueError(f"the planes' micrographs are read as {[split.image_shape[:-1] for split in splits]}; "
                         "expected crops of one side: pass --patch-size")
    options = run_stats_options(config)
    train = [split.train_dataset(config.batch_size) for split in splits]
    scale = max(statistics_scale(dataset, options) for dataset in train)

    def zipped(datasets: list[tf.data.Dataset | None], count: int) -> tf.data.Dataset | None:
        """The crops of ``datasets`` (x-y, x-z, y-z), ``count`` of each, paired and batched again."""
        if any(dataset is None for dataset in datasets):
            return None
        elements = tf.data.Dataset.zip(tuple(dataset.unbatch() for dataset in datasets))
        paired = elements.map(lambda x, xz, yz: (x, tf.stack([x, xz, yz], axis=0)))
        batches = paired.batch(config.batch_size).apply(  # fit's schedule needs the steps per epoch
            tf.data.experimental.assert_cardinality(math.ceil(count / config.batch_size)))
        return batches.prefetch(tf.data.AUTOTUNE)

    return (zipped(train, min(split.n_train for split in splits)),
            zipped([split.validation_dataset(config.batch_size) for split in splits],
                   min(split.n_validation for split in splits)), scale)


def write_reconstructions(run: RunDir, model: SpatialStatsVAE, examples: np.ndarray) -> None:
    """``run``'s ``reconstructions.png``: ``examples``, their reconstructions and statistics."""
    from ssvae_tf.figures import plot_reconstructions

    plot_reconstructions(examples, model(examples).numpy(), model.stats_options, run.reconstructions_png)


def collapse_warning(history: dict[str, list[float]], epoch: int = -1) -> str | None:
    """One line of warning when the kept ``epoch`` of ``history`` (an index; -1: the last) has no
    active latent dimension (``val_active_units`` 0: every reconstruction is the same image);
    ``None`` otherwise, and without validation."""
    active = history.get("val_active_units")
    if not active or active[epoch] > 0:
        return None
    return ("warning: the run ended with no active latent dimension (val_active_units 0): every "
            "reconstruction is the same image, whatever the input; try a smaller --beta or --free-bits")


def train(config: TrainConfig, out_dir: str | Path, verbose: int | str = "auto", overwrite: bool = False, *,
          strategy: str | tf.distribute.Strategy = "auto", tensorboard: bool = True,
          callbacks: Sequence[keras.callbacks.Callback] = (),
          peer_timeout: float = PEER_TIMEOUT_S) -> dict[str, list[float]]:
    """Train a VAE as ``config`` says and write the run directory ``out_dir``.

    Args:
        config: the run's settings.
        out_dir: the run directory; an interrupted run resumes from its
            ``backup/`` when called again with the same config.
        verbose: Keras' ``fit`` verbosity; ``"auto"``: a progress bar per batch on a terminal, one
            line per epoch otherwise, either with the model's ``console_metrics`` only.
        overwrite: replace a finished run, or an unfinished one with other settings.
        strategy: a name from :data:`~ssvae_tf.settings.STRATEGIES`
            (:func:`ssvae_tf.distribute.make_strategy`) or a strategy made by
            the caller, before any other TensorFlow work.
        tensorboard: write ``logs/`` (every metric and the learning rate per
            epoch, and the reconstruction figure every few epochs).
        callbacks: more Keras callbacks for ``fit``, e.g.
            ``keras.callbacks.EarlyStopping(monitor="val_stats_distance", mode="min")``.
        peer_timeout: multi-worker only: seconds to wait for every worker.

    Returns:
        The per-epoch history (``loss``, ``stats_distance``, ``val_*``, ...).  A run whose kept epoch
        has no active latent dimension prints :func:`collapse_warning`'s line on stderr.

    Raises:
        TypeError: when ``config`` is not a :class:`~ssvae_tf.settings.TrainConfig`.
    """
    check_instance(config, TrainConfig, "config")
    if isinstance(strategy, str):  # first: a multi-worker strategy must precede other TF work
        strategy_name, strategy = strategy, make_strategy(strategy, peer_timeout)
    else:
        strategy_name = type(strategy).__name__
    role = worker_role(strategy)
    run = RunDir(out_dir) if role.is_chief else RunDir(out_dir).worker(role.task)
    existed = run.path.exists()
    try:
        with run.locked():
            resuming = _prepare_run_dir(run, config, overwrite)
            try:
                session = _Session(strategy, strategy_name, role, tensorboard, tuple(callbacks))
                history = _fit(run, config, resuming, verbose, session)
            except BaseException:
                if not resuming:
                    run.remove_unstarted()
                raise
    finally:
        if not existed:
            run.remove_if_empty()
    if not role.is_chief:  # the chief's run directory is the job's
        run.remove_worker_copy()
    return history


@dataclass(frozen=True)
class _Session:
    """Where and how :func:`train` runs: the strategy, this process's role, TensorBoard, the
    caller's callbacks."""

    strategy: tf.distribute.Strategy
    strategy_name: str
    role: WorkerRole
    tensorboard: bool
    callbacks: tuple[keras.callbacks.Callback, ...]


#: Errors of a multi-worker job that lost a worker (collectives aborted or timed out).
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)


def _fit(run: RunDir, config: TrainConfig, resuming: bool, verbose: int | str,
         session: _Session) -> dict[str, list[float]]:
    """The body of :func:`train` once ``run`` is prepared."""
    chief = session.role.is_chief
    data = run_data(config, progress=verbose != 0 and chief)
    train_ds, val_ds, scale = run_datasets(config, data, progress=verbose != 0 and chief)
    examples = figure_examples(val_ds if val_ds is not None else train_ds, volumes=config.from_slices)
    run.write_settings(config, data.image_shape, data.n_train + data.n_validation,
                       run_stats_options(config, scale).to_json(), data.read.to_json())

    keras.utils.set_random_seed(config.seed)
    with session.strategy.scope():
        model = build_model(config, data.image_shape, scale)
    backup = AtomicBackupAndRestore(run.backup_dir)
    backup.resume_epoch = agreed_minimum(session.strategy, backup.latest_epoch())
    run.truncate_history(backup.resume_epoch)
    # History before backup: a crash between the two repeats an epoch (read_history keeps
    # its last row) instead of losing one.
    callbacks = [
        halved_for_last_tenth(config.epochs, config.learning_rate),
        keras.callbacks.CSVLogger(str(run.history_csv), append=resuming),
        backup,
    ]
    keep_best = None
    if config.early_stopping is not None:
        keep_best = KeepBestEpoch(config.early_stopping, run.backup_dir, backup.resume_epoch)
        callbacks.append(keep_best)
    image_summaries = ImageSummaries(run.image_logs_dir, examples) if session.tensorboard and chief else None
    if image_summaries is not None:
        callbacks += [keras.callbacks.TensorBoard(str(run.logs_dir), write_graph=False), image_summaries]
    epochs = backup.resume_epoch if keep_best is not None and keep_best.stopped else config.epochs
    started = time.monotonic()
    try:
        # shuffle=False: the dataset reshuffles itself every epoch
        model.fit(shardable(train_ds), validation_data=shardable(val_ds), epochs=epochs,
                  callbacks=[*callbacks, *session.callbacks], verbose=verbose, shuffle=False)
    except _PEER_ERRORS as error:
        if session.role.n_workers == 1:
            raise
        raise ConnectionError(f"{session.role.task} lost contact with the other workers "
                              f"({type(error).__name__}); run every worker's command again to resume from the "
                              "last epoch all of them finished") from None
    seconds = time.monotonic() - started

    best_epoch = keep_best.restore(model) if keep_best is not None else None
    codes = fit_latent_prior(model, train_ds, config.seed)
    history = run.read_history()
    run.save_model(model)
    run.write_history(history)
    epochs_run = len(next(iter(history.values()), []))
    run.write_training_record({
        "strategy": session.strategy_name,
        "replicas": int(session.strategy.num_replicas_in_sync),
        "workers": session.role.n_workers,
        "dtype_policy": model.dtype_policy.name,
        "jit_compile": bool(model.jit_compile),
        "epochs_run": epochs_run,
        "kept_epoch": epochs_run if best_epoch is None else best_epoch + 1,
        "stopped_early": bool(keep_best is not None and keep_best.stopped),
        "fit_seconds_last_session": round(seconds, 3),
        "latent_prior": {"components": len(model.latent_prior.weights), "codes": codes,
                         "note": "the Gaussian mixture ssvae sample draws codes from, fitted to the means of "
                                 "this many training codes (ssvae_tf.latent_prior)"},
    })
    if chief:
        write_reconstructions(run, model, examples)
        warning = collapse_warning(history, -1 if best_epoch is None else best_epoch)
        if warning is not None:
            print(warning, file=sys.stderr)
    if image_summaries is not None:
        image_summaries.log_png(run.reconstructions_png, epochs_run - 1)
    run.remove_backup()
    return history
