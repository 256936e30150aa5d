"""robustness_score: the XImageNet-12 robustness score S_robust as an `evaluate` metric.

The maths lives in the sibling ``functional.py`` (numpy and the standard library only),
which ``evaluate`` copies next to this script; this file only adapts it to ``evaluate``.
Keep one import per line: ``evaluate`` scans them line by line to find dependencies.
"""

import datasets
import evaluate

from .functional import CONFIGS
from .functional import DEFAULT_CONFIG
from .functional import robustness_score
from .functional import robustness_score_from_samples

_CITATION = """\
@article{li2023ximagenet12,
  title   = {{XIMAGENET-12}: An Explainable {AI} Benchmark Dataset for Model Robustness Evaluation},
  author  = {Li, Qiang and Zhang, Dan and Lei, Shengzhao and Zhao, Xun and Kamnoedboon, Porawit and Li, WeiWei and Dong, Junhao and Li, Shuyan},
  journal = {arXiv preprint arXiv:2310.08182},
  year    = {2023},
  url     = {https://arxiv.org/abs/2310.08182}
}
"""

_DESCRIPTION = """\
The XImageNet-12 robustness score S_robust: how much a classifier's accuracy moves away
from its accuracy on the original images (mu) when only the background changes. With
C(i) the accuracy on scenario i, C'(k) an internal accuracy with its own reference mu',
and D a dispersion around a reference,

    S_robust = 1 - (D(C, mu) + D(C', mu'))

Two configurations: "table3" (default) sums variances with ddof=1 and takes the internal
term over the scenarios of the paper's within-scenario protocol; it reproduces the
published Table 3. "formula" follows the formula as printed in the paper: standard
deviations with ddof=0 and the internal term over object classes. Give one row per sample
(predictions, references, scenario names; samples of scenario "original" give mu) or,
with no predictions, accuracies already computed (external=..., external_reference=...).
S_robust measures dispersion around mu, so it is never to be read without mu: every
result carries mu, a one-sided exact binomial test of mu against chance (1 / number of
classes; `mu_above_chance`, `warnings`) and the named scenario set it was computed over
(`scenario_set`; default "background": the paper's scenarios that change only the
background, so that controls where failing is correct do not enter the score).
Also returns the accuracy per scenario (and per class), BG-Gap and, on request, a seeded
bootstrap confidence interval for S_robust that resamples source images, paired across
scenarios.
"""

_KWARGS_DESCRIPTION = """
Per-sample form (one value per sample; predictions/references are ints or strings):
    predictions (`list`): predicted labels.
    references (`list`): true labels.
    scenarios (`list` of `str`): the scenario of each sample; "original" samples give mu.
Options of the per-sample form (keyword arguments of `compute`):
    classes (`list` or `str`, optional): a class key per sample, or "references" to group
        by the true label. Adds accuracy per class and per scenario x class; without
        `internal`, the internal term is then the per-class accuracy on the "original"
        samples around mu (otherwise there is no internal term).
    scenario_names (`list` of `str`, optional): the scenarios expected; each must have
        samples and no other scenario may appear.
    scenario_set (`str` or `list`, default "background"): the scenarios S_robust is
        computed over: "background" (the paper's background-only scenarios), "table3"
        (the paper's Table 3), "all" (every scenario given; the default with
        custom_scenarios=True) or a list of names. Other scenarios keep their accuracy.
    source_ids (`list`, optional): the source image of each sample; needed by n_bootstrap.
    n_classes (`int`, optional): classes the model chooses among, for the chance test
        (default: the classes given, else the distinct references).
    n_bootstrap (`int`, default 0): replicates of a bootstrap that draws source images
        with replacement (within class when classes are given) and takes all their
        scenario rows, for a confidence interval of S_robust.
    confidence (`float`, default 0.95): level of the percentile interval.
    seed (`int`, default 0): seed of the bootstrap.
Summary form (no predictions/references/scenarios):
    external (`dict`): scenario -> accuracy in [0, 1] ("original" excluded).
    external_reference (`float`): mu, the accuracy on "original".
    n_original, n_classes (`int`, optional): samples behind mu and classes, for the
        chance test (without them `warnings` says mu was not tested).
    scenario_set (optional): as above; by default every scenario given, recorded under
        the name of the set those scenarios are ("custom" otherwise).
Both forms:
    internal (`dict`, optional): internal-protocol scenario (or class) -> accuracy in [0, 1].
    internal_reference (`float`, required with `internal`): the mu of the internal values.
    dispersion (`str`, optional): "variance" or "std", overriding the configuration.
    ddof (`int`, optional): divide by n - ddof, overriding the configuration.
    custom_scenarios (`bool`, default False): accept scenario names that are not
        XImageNet-12 scenarios. By default an unknown name (a typo such as "blur_backgorund")
        is an error rather than one more scenario in the score.
Returns:
    s_robust (`float`): the robustness score (1 is perfectly robust).
    sigma2_e, sigma2_i (`float`): external and internal variances (with the ddof used).
    sigma_e, sigma_i (`float`): their square roots. sigma_i = sigma2_i = 0 without an
        internal term (internal_term == "absent").
    n_e, n_i (`int`): number of external scenarios and internal values.
    config, dispersion, ddof, internal_term ("given", "classes" or "absent"),
    mu (= external_reference: show it beside S_robust), internal_reference.
    scenario_set (`dict`): name, members (the scenarios in S), excluded, missing.
    chance (`dict` or None), mu_above_chance (`bool` or None), warnings (`list` of `str`):
        the test of mu against chance and the lines to print beside S_robust.
    Per-sample form also: mu, accuracy and n per scenario, bg_gap (acc(mixed_same) -
    acc(mixed_rand), or None), accuracy_per_class, n_per_class and
    accuracy_per_scenario_class (with classes), s_robust_ci, s_robust_se and bootstrap
    (with n_bootstrap).
Examples:
    Load the metric from this folder (offline) or, once published, from the Hub:

    >>> import evaluate
    >>> metric = evaluate.load("path/to/metrics/robustness_score")  # doctest: +SKIP
    >>> formula = evaluate.load("path/to/metrics/robustness_score", "formula")  # doctest: +SKIP

    Per-sample form: 2 originals (both right), 2 blurred (1 right), 2 grey (1 right):

    >>> results = metric.compute(
    ...     predictions=[0, 1, 0, 0, 1, 1],
    ...     references=[0, 1, 0, 1, 0, 1],
    ...     scenarios=["original", "original", "blur_background", "blur_background", "image_grey", "image_grey"],
    ... )
    >>> results["mu"], results["accuracy"]["blur_background"], round(results["s_robust"], 4)
    (1.0, 0.5, 0.5)

    Summary form: the ResNet50 row of the paper's Table 3 (external and internal protocol):

    >>> names = ["blur_background", "blur_object", "image_g", "image_b",
    ...          "image_grey", "image_r", "random_background", "segmented_image"]
    >>> external = [0.9097, 0.8817, 0.8442, 0.8698, 0.9213, 0.8903, 0.2241, 0.6855]
    >>> internal = [0.8352, 0.8024, 0.8361, 0.8445, 0.8471, 0.8040, 0.5391, 0.8576]
    >>> results = metric.compute(
    ...     external=dict(zip(names, external)), external_reference=0.9524,
    ...     internal=dict(zip(names, internal)), internal_reference=0.8029,
    ... )
    >>> round(results["sigma2_e"], 4), round(results["sigma2_i"], 4), round(results["s_robust"], 4)
    (0.0903, 0.0112, 0.8985)

    The formula as printed: standard deviations, divide by n, internal term over classes:

    >>> results = formula.compute(
    ...     predictions=[0, 1, 0, 0, 1, 1],
    ...     references=[0, 1, 0, 1, 0, 1],
    ...     scenarios=["original", "original", "blur_background", "blur_background", "image_grey", "image_grey"],
    ...     classes="references",
    ... )
    >>> round(results["sigma_e"], 4), results["sigma_i"], round(results["s_robust"], 4), results["internal_term"]
    (0.5, 0.0, 0.5, 'classes')
"""


def _features(label_type):
    return datasets.Features(
        {
            "predictions": datasets.Value(label_type),
            "references": datasets.Value(label_type),
            "scenarios": datasets.Value("string"),
        }
    )


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RobustnessScore(evaluate.Metric):
    """S_robust of XImageNet-12; configurations ``table3`` (default) and ``formula``."""

    def _info(self):
        name = DEFAULT_CONFIG if self.config_name == "default" else self.config_name
        if name not in CONFIGS:
            raise ValueError(
                f"unknown robustness_score config {self.config_name!r}; known configs: {', '.join(CONFIGS)}"
            )
        info = evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # string labels first: an int label fails the string check and falls through to
            # int64, whereas a string such as "01" would be silently cast by an int64 option
            features=[_features("string"), _features("int64")],
            homepage="https://arxiv.org/abs/2310.08182",
            reference_urls=["https://arxiv.org/abs/2310.08182"],
        )
        # MetricInfo refuses `format` with a list of Features at construction time, although
        # every feature here is a plain Value; numpy columns avoid a Python list per sample.
        info.format = "numpy"
        return info

    @property
    def robustness_config(self):
        """The configuration name used by compute (``table3`` for evaluate's ``default``)."""
        return DEFAULT_CONFIG if self.config_name == "default" else self.config_name

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Compute S_robust from per-sample inputs or, with no samples, from accuracies.

        evaluate 0.4.6 refuses to compute before a batch was added, so the summary form
        (``external=``, ``external_reference=``, no predictions, references or scenarios,
        and nothing added with ``add``/``add_batch``) goes straight to ``_compute``.
        """
        no_samples = predictions is None and references is None and kwargs.get("scenarios") is None
        if no_samples and self.writer is None:
            if self.process_id != 0:
                return None
            return self._compute(**{k: v for k, v in kwargs.items() if k != "scenarios"})
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions=None,
        references=None,
        scenarios=None,
        classes=None,
        scenario_names=None,
        external=None,
        external_reference=None,
        internal=None,
        internal_reference=None,
        dispersion=None,
        ddof=None,
        n_bootstrap=0,
        confidence=0.95,
        seed=0,
        custom_scenarios=False,
        scenario_set=None,
        source_ids=None,
        n_classes=None,
        n_original=None,
    ):
        options = {
            "config": self.robustness_config,
            "dispersion": dispersion,
            "ddof": ddof,
            "custom_scenarios": custom_scenarios,
            "scenario_set": scenario_set,
        }
        per_sample = predictions is not None and len(predictions) > 0
        if external is not None or external_reference is not None:
            if per_sample:
                raise ValueError(
                    "give either per-sample inputs (predictions, references, scenarios) or external accuracies, not both"
                )
            if external_reference is None:
                raise ValueError("external accuracies need external_reference (the accuracy on 'original')")
            if classes is not None or scenario_names is not None or n_bootstrap or source_ids is not None:
                raise ValueError("classes, scenario_names, source_ids and n_bootstrap need the per-sample form")
            return robustness_score(
                external,
                external_reference=external_reference,
                internal=internal,
                internal_reference=internal_reference,
                n_original=n_original,
                n_classes=n_classes,
                **options,
            )
        if n_original is not None:
            raise ValueError("n_original is for the summary form: per sample, mu's count is the 'original' rows")
        if predictions is None:
            raise ValueError(
                "nothing to score: give predictions, references and scenarios, or external and external_reference"
            )
        return robustness_score_from_samples(
            predictions,
            references,
            scenarios,
            classes=classes,
            scenario_names=scenario_names,
            internal=internal,
            internal_reference=internal_reference,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
            source_ids=source_ids,
            n_classes=n_classes,
            **options,
        )
