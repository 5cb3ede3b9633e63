"""Classical heads on clip vectors: logistic regression, linear SVM, RBF SVM (scikit-learn).

`fit_classical_head(features, labels, groups, head, settings)` receives the TRAINING rows only. It
chooses C (and gamma) by an inner cross-validation grouped by those rows' groups (leave-one-group-out,
or GroupKFold), scored by balanced accuracy or macro-F1, then refits on all training rows. Features
are standardised inside the pipeline (the scaler is fitted on the training rows of each fit).

Probabilities: logistic regression has its own. The SVMs' one-vs-rest decision scores are calibrated
by temperature scaling, `softmax(scores / T)`, with T fitted on out-of-fold scores of the same inner
splits: argmax-preserving, so `predict` is the SVM's own decision.

The fitted head is held as plain arrays (scaler, coefficients or support vectors, intercepts,
temperature) and predicts with numpy; `save` writes them as safetensors + JSON, `load_classical_head`
reads them back without pickle. `ClassicalHead.sklearn_pipeline` (fitted heads only, never saved)
is kept so tests can check that the numpy predictions equal scikit-learn's.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.errors import ConfigError, DatasetError

HEADS = ("logistic_regression", "linear_svm", "rbf_svm")
SCORINGS = {"balanced_accuracy": "balanced_accuracy", "macro_f1": "f1_macro"}
DEFAULT_C_GRIDS = {
    "logistic_regression": (0.001, 0.01, 0.1, 1.0),
    "linear_svm": (0.0001, 0.001, 0.01, 0.1, 1.0),
    "rbf_svm": (0.1, 1.0, 10.0, 100.0),
}
PARALLEL_MIN_WORK = 20_000_000  # feature values x grid points x inner splits below which the inner CV runs in-process
FORMAT_VERSION = 1
WEIGHTS_FILE = "head.safetensors"
CONFIG_FILE = "head.json"


@dataclass(frozen=True)
class ClassicalHeadSettings:
    """How a head's hyperparameters are chosen. Grids are tried exhaustively by the inner CV."""

    c_grid: tuple[float, ...] | None = None  # None: the head's default grid (DEFAULT_C_GRIDS)
    gamma_scale_grid: tuple[float, ...] = (0.1, 1.0, 10.0)  # RBF gamma = value / n_features (1.0 is sklearn's "scale" on standardised data)
    scoring: str = "balanced_accuracy"  # or "macro_f1"
    inner_folds: int | None = None  # None: leave-one-group-out up to 10 groups, else 5 grouped folds
    class_weight: str | None = "balanced"
    max_iter: int = 1000  # solver iterations; weakly regularised fits may stop here (a warning, filtered)
    seed: int = 0
    blas_threads: int | None = 1  # BLAS threads during the fit; None leaves the process setting
    inner_jobs: int = 2  # inner CV splits fitted in parallel (processes); 1 fits them in this process
    row_space: bool = True  # linear heads: fit on the training rows' span when features outnumber rows (same model, faster)

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ConfigError(f"classical head scoring must be one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        if self.c_grid is not None and (not self.c_grid or min(self.c_grid) <= 0):
            raise ConfigError("classical head c_grid must be a non-empty list of positive values")
        if not self.gamma_scale_grid or min(self.gamma_scale_grid) <= 0:
            raise ConfigError("classical head gamma_scale_grid must be a non-empty list of positive values")
        if self.inner_jobs < 1:
            raise ConfigError(f"classical head inner_jobs must be at least 1, got {self.inner_jobs}")
        if self.inner_folds is not None and self.inner_folds < 2:
            raise ConfigError(f"classical head inner_folds must be at least 2 (or null), got {self.inner_folds}")
        if self.class_weight not in (None, "balanced"):
            raise ConfigError(f"classical head class_weight must be 'balanced' or null, got {self.class_weight!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "ClassicalHeadSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ConfigError(f"unknown classical head setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()})


def inner_splits(groups: np.ndarray, inner_folds: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped (train, validation) index pairs over the given rows: no group is on both sides."""
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DatasetError(f"the inner cross-validation needs at least 2 groups in the training rows, got {n_groups}")
    if inner_folds is None and n_groups <= 10:
        splitter: Any = LeaveOneGroupOut()
    else:
        splitter = GroupKFold(n_splits=min(inner_folds or 5, n_groups))
    dummy = np.zeros(len(groups))
    return [(train, validation) for train, validation in splitter.split(dummy, dummy, groups)]


def _model(head: str, settings: ClassicalHeadSettings, dual: bool = True) -> Any:
    """The head's estimator. The linear SVM uses liblinear's dual solver whatever the shape: both solvers minimise the
    same strictly convex objective (L2-regularised squared hinge), so they reach the same model to the solver's
    tolerance, and scikit-learn's advice (primal when rows outnumber features) was the slower choice over the C grid
    where measured: FSDD functionals, 2,000 rows x 290, 10 classes, one inner split: primal 8.0 / dual 4.0 CPU-s for
    C in 1e-4 ... 1 (C=1 alone 5.2 / 1.9); an ESC-50-sized aisfx proxy, 1,280 x 1,024, 50 classes: C=1e-4 14.2 / 3.0,
    C=1e-2 8.5 / 5.2 (docs/benchmarks.md, "CPU recipes"). Where features outnumber rows the dual was used before."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC, LinearSVC

    if head == "logistic_regression":
        return LogisticRegression(class_weight=settings.class_weight, max_iter=settings.max_iter)
    if head == "linear_svm":
        return LinearSVC(class_weight=settings.class_weight, max_iter=settings.max_iter, random_state=settings.seed, dual=dual)
    if head == "rbf_svm":
        return SVC(kernel="rbf", class_weight=settings.class_weight, max_iter=-1, decision_function_shape="ovr")
    raise ConfigError(f"unknown classical head {head!r} (fix: use one of {', '.join(HEADS)})")


def _preprocessing(head: str, settings: ClassicalHeadSettings, n_rows: int, n_features: int) -> Any:
    """StandardScaler, then, for the linear heads when features outnumber rows, a rotation onto the training rows'
    span (PCA keeping every component: the scaled rows are centred, so it is a pure rotation). An L2-regularised
    linear model's weights lie in that span (its loss sees the weights only through X w), so the fitted model and
    its predictions are the same, while the solvers work on n_rows instead of n_features columns: ComParE's 6,373
    features on EmoDB's ~480 training rows become 480. Not for the RBF SVM (a test row's distance to the training
    rows also depends on its part outside their span)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = [("scaler", StandardScaler())]
    if settings.row_space and head != "rbf_svm" and n_features > n_rows:
        steps.append(("row_space", PCA(n_components=None, svd_solver="full")))
    return Pipeline(steps)


def _grid(head: str, settings: ClassicalHeadSettings, n_features: int) -> list[dict[str, float]]:
    c_values = settings.c_grid or DEFAULT_C_GRIDS[head]
    if head != "rbf_svm":
        return [{"C": float(c)} for c in c_values]
    return [{"C": float(c), "gamma": float(g) / n_features} for c in c_values for g in settings.gamma_scale_grid]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _as_class_scores(decision: np.ndarray) -> np.ndarray:
    """(n, n_classes) scores; a binary decision s becomes [-s/2, s/2] (softmax of it is sigmoid(s))."""
    decision = np.asarray(decision, dtype=np.float64)
    if decision.ndim == 1:
        return np.column_stack([-decision / 2.0, decision / 2.0])
    return decision


def _fit_temperature(scores: np.ndarray, label_index: np.ndarray) -> float:
    """The T > 0 minimising the log loss of softmax(scores / T) (scipy's bounded scalar search on log T)."""
    from scipy.optimize import minimize_scalar

    def loss(log_t: float) -> float:
        probabilities = _softmax(scores / np.exp(log_t))
        return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(label_index)), label_index], 1e-12, None))))

    result = minimize_scalar(loss, bounds=(np.log(1e-3), np.log(1e3)), method="bounded")
    return float(np.exp(result.x))


def _fold_class_scores(model: Any, features: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(n, len(classes)) decision scores of a model fitted on a subset of the classes (a class absent from its
    training rows gets the row's lowest score minus one)."""
    fold_classes = model.classes_
    fold_scores = _as_class_scores(model.decision_function(features))
    if len(fold_classes) == 1:
        fold_scores = np.zeros((len(features), 1))
    columns = np.searchsorted(classes, fold_classes)
    block = np.full((len(features), len(classes)), np.nan)
    block[:, columns] = fold_scores
    low = np.nanmin(block, axis=1, keepdims=True) - 1.0
    return np.where(np.isnan(block), low, block)


def _inner_fold(features: np.ndarray, labels: np.ndarray, classes: np.ndarray, train: np.ndarray, validation: np.ndarray,
                head: str, settings: ClassicalHeadSettings, grid: list[dict[str, float]],
                blas_threads: int | None) -> tuple[list[float], list[np.ndarray]]:
    """One inner split: preprocessing fitted once on its training rows, then every grid point; returns each
    point's validation score and validation decision scores (the latter calibrate the SVMs' temperature)."""
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    scorer = get_scorer(SCORINGS[settings.scoring])
    with _quiet_fits(), _blas_threads(blas_threads):
        preprocessing = _preprocessing(head, settings, len(train), features.shape[1]).fit(features[train])
        fit_x, validation_x = preprocessing.transform(features[train]), preprocessing.transform(features[validation])
        scores, decisions = [], []
        if head == "rbf_svm":
            # The RBF kernel computed once per split (BLAS) and handed to libsvm precomputed: the same kernel and
            # solver for every (C, gamma), without libsvm recomputing n_rows^2 long dot products per fit.
            from sklearn.metrics.pairwise import euclidean_distances

            fit_squared = euclidean_distances(fit_x, squared=True)
            validation_squared = euclidean_distances(validation_x, fit_x, squared=True)
        for point in grid:
            if head == "rbf_svm":
                model = clone(_model(head, settings)).set_params(kernel="precomputed", C=point["C"])
                model.fit(np.exp(-point["gamma"] * fit_squared), labels[train])
                validation_input = np.exp(-point["gamma"] * validation_squared)
            else:
                model = clone(_model(head, settings)).set_params(**point).fit(fit_x, labels[train])
                validation_input = validation_x
            scores.append(float(scorer(model, validation_input, labels[validation])))
            decisions.append(_fold_class_scores(model, validation_input, classes))
    return scores, decisions


def _score(labels: np.ndarray, predicted: np.ndarray, scoring: str) -> float:
    from sklearn.metrics import balanced_accuracy_score, f1_score

    with _quiet_fits():
        if scoring == "macro_f1":
            return float(f1_score(labels, predicted, average="macro"))
        return float(balanced_accuracy_score(labels, predicted))


def _out_of_fold_temperature(splits: list[tuple[np.ndarray, np.ndarray]], per_split: list[tuple[list[float], list[np.ndarray]]],
                             point: int, labels: np.ndarray, classes: np.ndarray) -> float:
    """The SVM temperature of grid point `point`, fitted on its out-of-fold decision scores from the inner fits (each
    row scored without its group)."""
    out_of_fold = np.full((len(labels), len(classes)), np.nan)
    for (_, validation), (_, decisions) in zip(splits, per_split):
        out_of_fold[validation] = decisions[point]
    return _fit_temperature(out_of_fold, np.searchsorted(classes, labels))


def _spread_split_scores(per_split: list[tuple[list[float], list[np.ndarray]]], splits: list[tuple[np.ndarray, np.ndarray]],
                         features: np.ndarray, labels: np.ndarray, groups: np.ndarray, classes: np.ndarray, head: str,
                         scoring: str, spreading: Any) -> np.ndarray:
    """(n_splits, n_points): every inner split's score once its validation rows' probabilities are spread within
    their groups (`sonolab.models.group_spreading`), so that the grid point is chosen for what will be scored. The
    SVMs' probabilities use each point's temperature fitted on its out-of-fold scores, as the final head does."""
    from sonolab.models.group_spreading import spread_within_groups

    scores = np.zeros((len(splits), len(per_split[0][1])))
    for point in range(scores.shape[1]):
        temperature = 1.0 if head == "logistic_regression" else _out_of_fold_temperature(splits, per_split, point, labels, classes)
        for split, ((_, validation), (_, decisions)) in enumerate(zip(splits, per_split)):
            spread = spread_within_groups(_softmax(decisions[point] / temperature), features[validation], groups[validation],
                                          spreading)
            scores[split, point] = _score(labels[validation], classes[spread.argmax(axis=1)], scoring)
    return scores


@contextlib.contextmanager
def _quiet_fits() -> Iterator[None]:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # A validation group without some class is normal in leave-one-group-out; liblinear may stop at max_iter.
        warnings.filterwarnings("ignore", message=".*y_pred contains classes not in y_true.*")
        warnings.filterwarnings("ignore", message=".*number of members in any class.*")
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@dataclass
class ClassicalHead:
    """A fitted head as plain arrays; predicts with numpy."""

    head: str
    classes: np.ndarray
    arrays: dict[str, np.ndarray]  # scaler_mean, scaler_scale, and coef/intercept or support_vectors/dual_coef/intercept/n_support
    chosen: dict[str, float]
    inner_cv_scores: list[dict[str, Any]]
    scoring: str
    settings: ClassicalHeadSettings
    temperature: float | None = None
    n_training_rows: int = 0
    sklearn_pipeline: Any = field(default=None, repr=False, compare=False)

    @property
    def n_features(self) -> int:
        return int(self.arrays["scaler_mean"].shape[0])

    def _standardised(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"expected features of shape (n, {self.n_features}), got {features.shape}")
        return (features - self.arrays["scaler_mean"]) / self.arrays["scaler_scale"]

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """scikit-learn's decision_function: (n,) for two classes, (n, n_classes) one-vs-rest otherwise."""
        x = self._standardised(features)
        if self.head in ("logistic_regression", "linear_svm"):
            scores = x @ self.arrays["coef"].T + self.arrays["intercept"]
            return scores[:, 0] if scores.shape[1] == 1 else scores
        return _rbf_decision(x, self.arrays, float(self.chosen["gamma"]), len(self.classes))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities in the order of `classes`."""
        scores = _as_class_scores(self.decision_function(features))
        if self.head == "logistic_regression":  # multinomial softmax; binary: sigmoid(s) via [-s/2, s/2]
            return _softmax(scores)
        return _softmax(scores / float(self.temperature or 1.0))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(_as_class_scores(self.decision_function(features)), axis=1)]

    def save(self, folder: str | Path) -> Path:
        """Write `head.safetensors` (arrays) and `head.json` (everything else) atomically; no pickle."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / WEIGHTS_FILE) as temporary:
            save_file({name: np.ascontiguousarray(value) for name, value in self.arrays.items()}, str(temporary))
        write_json_atomic(folder / CONFIG_FILE, {
            "format": FORMAT_VERSION, "head": self.head, "classes": [_json_value(c) for c in self.classes],
            "chosen": self.chosen, "inner_cv_scores": self.inner_cv_scores, "scoring": self.scoring,
            "temperature": self.temperature, "n_training_rows": self.n_training_rows,
            "settings": self.settings.to_dict(),
        })
        return folder


def _json_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _rbf_decision(x: np.ndarray, arrays: dict[str, np.ndarray], gamma: float, n_classes: int) -> np.ndarray:
    """libsvm's one-vs-one RBF decisions turned into scikit-learn's one-vs-rest shape."""
    support = arrays["support_vectors"]
    squared = (x**2).sum(axis=1)[:, None] + (support**2).sum(axis=1)[None, :] - 2.0 * x @ support.T
    kernel = np.exp(-gamma * np.maximum(squared, 0.0))  # (n, n_sv)
    dual, intercept = arrays["dual_coef"], arrays["intercept"]
    if n_classes == 2:
        return kernel @ dual[0] + intercept[0]
    starts = np.concatenate([[0], np.cumsum(arrays["n_support"])]).astype(int)
    pairs = []
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            pairs.append(kernel[:, si] @ dual[j - 1, si] + kernel[:, sj] @ dual[i, sj] + intercept[len(pairs)])
    ovo = np.column_stack(pairs)
    # scikit-learn's _ovr_decision_function: votes plus confidences squashed into (-1/3, 1/3).
    votes = np.zeros((len(x), n_classes))
    confidence = np.zeros((len(x), n_classes))
    k = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            confidence[:, i] += ovo[:, k]
            confidence[:, j] -= ovo[:, k]
            votes[ovo[:, k] >= 0, i] += 1
            votes[ovo[:, k] < 0, j] += 1
            k += 1
    return votes + confidence / (3.0 * (np.abs(confidence) + 1.0))


def _arrays_of(head: str, pipeline: Any) -> dict[str, np.ndarray]:
    scaler, model = pipeline.named_steps["scaler"], pipeline.named_steps["model"]
    arrays = {"scaler_mean": scaler.mean_.astype(np.float64), "scaler_scale": scaler.scale_.astype(np.float64)}
    if head == "rbf_svm":
        arrays.update({
            "support_vectors": model.support_vectors_.astype(np.float64), "dual_coef": model.dual_coef_.astype(np.float64),
            "intercept": model.intercept_.astype(np.float64), "n_support": model.n_support_.astype(np.int64),
        })
        return arrays
    coef, intercept = np.atleast_2d(model.coef_).astype(np.float64), np.atleast_1d(model.intercept_).astype(np.float64)
    if "row_space" in pipeline.named_steps:  # back to the standardised features: w . ((x - m) V) + b = (w V^T) . x + b - w V^T m
        rotation = pipeline.named_steps["row_space"]
        coef = coef @ rotation.components_
        intercept = intercept - coef @ rotation.mean_
    arrays.update({"coef": coef, "intercept": intercept})
    return arrays


@contextlib.contextmanager
def _blas_threads(count: int | None) -> Iterator[None]:
    """Limit BLAS threads: these fits are many small matrix products, where OpenBLAS threads spinning on
    a shared 2-core machine made logistic regression ~40x slower (3.3 s vs 0.07 s for one FSDD fit)."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count, user_api="blas"):
        yield


def fit_classical_head(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, head: str,
                       settings: ClassicalHeadSettings | None = None, spreading: Any = None) -> ClassicalHead:
    """Fit `head` on the TRAINING rows given (features `(n, dim)`, labels and groups `(n,)`).

    Hyperparameters are chosen by the inner CV over these rows' groups only, then the head is
    refitted on all of them. Pass no test row: the test fold must not influence any choice.
    `spreading` (`SpreadingSettings`): the predictions will be spread within groups, so each inner split is scored
    after spreading its validation rows within their groups; the scores without it are kept beside.
    """
    settings = settings or ClassicalHeadSettings()
    if head not in HEADS:
        raise ConfigError(f"unknown classical head {head!r} (fix: use one of {', '.join(HEADS)})")
    features = np.asarray(features, dtype=np.float64)
    labels, groups = np.asarray(labels), np.asarray(groups)
    if features.ndim != 2 or len(features) != len(labels) or len(labels) != len(groups):
        raise ValueError(f"features (n, dim), labels (n,) and groups (n,) disagree: {features.shape}, {labels.shape}, {groups.shape}")
    if not np.all(np.isfinite(features)):
        raise DatasetError("classical head features contain NaN or infinite values (fix: check the feature cache)")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DatasetError(f"a classical head needs at least 2 classes in the training rows, got {len(classes)}")
    splits = inner_splits(groups, settings.inner_folds)
    grid = _grid(head, settings, features.shape[1])
    from joblib import Parallel, delayed

    # Each inner split in its own worker (loky processes, one BLAS thread each; the rows are memory-mapped to them),
    # unless the whole search is small enough that starting the workers (~1 s) would cost more than it saves.
    small = features.size * len(grid) * len(splits) < PARALLEL_MIN_WORK
    jobs = 1 if small else max(1, min(settings.inner_jobs, len(splits)))
    per_split = Parallel(n_jobs=jobs)(
        delayed(_inner_fold)(features, labels, classes, train, validation, head, settings, grid, settings.blas_threads)
        for train, validation in splits)
    split_scores = np.asarray([scores for scores, _ in per_split])  # (n_splits, n_points)
    plain_means = split_scores.mean(axis=0)
    if spreading is not None:
        split_scores = _spread_split_scores(per_split, splits, features, labels, groups, classes, head, settings.scoring, spreading)
    means, stds = split_scores.mean(axis=0), split_scores.std(axis=0)
    best = int(np.argmax(means))  # the first of equal means, as GridSearchCV's rank
    with _quiet_fits(), _blas_threads(settings.blas_threads):
        pipeline = _preprocessing(head, settings, len(features), features.shape[1])
        pipeline.steps.append(("model", _model(head, settings).set_params(**grid[best])))
        pipeline.fit(features, labels)
    temperature = None if head == "logistic_regression" else _out_of_fold_temperature(splits, per_split, best, labels, classes)
    chosen = {key: float(value) for key, value in grid[best].items()}
    inner_scores = [{"params": dict(point), "mean": float(means[i]), "std": float(stds[i]),
                     **({"mean_without_spreading": float(plain_means[i])} if spreading is not None else {})}
                    for i, point in enumerate(grid)]
    return ClassicalHead(
        head=head, classes=classes, arrays=_arrays_of(head, pipeline), chosen=chosen, inner_cv_scores=inner_scores,
        scoring=settings.scoring, settings=settings, temperature=temperature, n_training_rows=len(labels),
        sklearn_pipeline=pipeline,
    )


def load_classical_head(folder: str | Path) -> ClassicalHead:
    """Read a head saved by `ClassicalHead.save` (safetensors + JSON; nothing is executed)."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (folder / name).is_file():
            raise DatasetError(f"{folder / name}: missing (fix: point at a folder written by a classical head's save)")
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    if config.get("format") != FORMAT_VERSION or config.get("head") not in HEADS:
        raise DatasetError(f"{folder / CONFIG_FILE}: not a classical head of format {FORMAT_VERSION}")
    return ClassicalHead(
        head=config["head"], classes=np.asarray(config["classes"]), arrays=load_file(str(folder / WEIGHTS_FILE)),
        chosen={k: float(v) for k, v in config["chosen"].items()}, inner_cv_scores=config["inner_cv_scores"],
        scoring=config["scoring"], settings=ClassicalHeadSettings.from_dict(config["settings"]),
        temperature=config.get("temperature"), n_training_rows=int(config.get("n_training_rows", 0)),
    )
