"""Behavioural clusters: a scikit-learn pipeline, k chosen by silhouette, BIC and stability.

The pipeline imputes missing values (median), standardises, optionally projects on
principal components, and clusters with k-means (``MiniBatchKMeans`` beyond
``minibatch_threshold`` customers) or a Gaussian mixture. The number of clusters is
chosen on a random sample of at most ``selection_sample`` customers by three criteria,
all reported in ``selection_``:

- **stability**: the adjusted Rand index (ARI) between the clustering of the sample and
  clusterings refitted on ``n_bootstrap`` bootstrap resamples of it, with its 95%
  percentile interval (Lange et al. 2004; Hennig 2007). The level is fixed by design
  (``STABILITY_LEVEL``), not the run's ``alpha``: the admissibility gate below reads the
  interval's lower bound, and the chosen k must not change with a report's confidence level;
- **silhouette** (Rousseeuw 1987) of the sample's clustering;
- **BIC** of a full-covariance Gaussian mixture with k components (Schwarz 1978;
  Fraley & Raftery 2002), and its clustering form **ICL** = BIC + 2 x the entropy of the
  mixture's cluster assignments (Biernacki, Celeux & Govaert 2000); lower is better.

A k is *admissible* when its clustering is reproducible (the lower bootstrap bound of the
ARI is at least ``min_stability``) and has structure (silhouette at least
``min_silhouette``; Kaufman & Rousseeuw 1990 read values below 0.25 as no substantial
structure). Among admissible k the lowest ICL wins. Why ICL rather than BIC alone: BIC
counts mixture *components*, and in large samples it adds components to fit clusters that
are not Gaussian (a cluster whose spread varies, such as AUM after random walks of
different lengths, is fitted by two overlapping components with the same centre). ICL
charges for the overlap, so it counts *clusters*; where clusters are well separated the
two agree. Both are reported in ``selection_``.

Labels are made stable: without a reference, clusters are numbered by ascending centroid
of ``log_aum`` (or the first feature); with a reference (last period's fitted model or its
centroids) each cluster takes the label of the reference cluster it is matched to by the
Hungarian algorithm on centroid distances (``scipy.optimize.linear_sum_assignment``).

References
----------
Hubert, L. & Arabie, P. (1985). Comparing partitions. Journal of Classification 2, 193-218.
Rousseeuw, P. J. (1987). Silhouettes. J. Comput. Appl. Math. 20, 53-65.
Kaufman, L. & Rousseeuw, P. J. (1990). Finding Groups in Data. Wiley.
Schwarz, G. (1978). Estimating the dimension of a model. Annals of Statistics 6(2), 461-464.
Biernacki, C., Celeux, G. & Govaert, G. (2000). Assessing a mixture model for clustering with
the integrated completed likelihood. IEEE TPAMI 22(7), 719-725.
Fraley, C. & Raftery, A. E. (2002). Model-based clustering, discriminant analysis and density
estimation. JASA 97(458), 611-631.
Lange, T., Roth, V., Braun, M. L. & Buhmann, J. M. (2004). Stability-based validation of
clustering solutions. Neural Computation 16(6), 1299-1323.
Hennig, C. (2007). Cluster-wise assessment of cluster stability. CSDA 52(1), 258-271.
Sculley, D. (2010). Web-scale k-means clustering. WWW 2010, 1177-1178 (mini-batch k-means).
Kuhn, H. W. (1955). The Hungarian method for the assignment problem. Naval Research
Logistics Quarterly 2, 83-97.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from crm_lib.errors import DataContractError
from crm_lib.segmentation._validate import fail, require_columns, require_rows, unique_ids
from crm_lib.segmentation.derived import cluster_features, feature_columns, name_clusters

logger = logging.getLogger(__name__)

#: Level of the bootstrap stability interval: fixed (2.5th-97.5th percentiles), whatever the run's alpha.
STABILITY_LEVEL = 0.95
#: Why it is fixed, in the words the reports use.
STABILITY_LEVEL_WHY = ("fixed by design: k is admitted only when this interval's lower bound reaches "
                       "min_stability, so the choice of k does not change with the report's confidence level")


class CustomerClusters(BaseEstimator):
    """Behavioural clusters of one customer population, with k chosen and labels stabilised.

    Parameters
    ----------
    features : sequence of str
        Clustering features (``DERIVED`` names or numeric feature-table columns).
    k : int, optional
        Fix the number of clusters (selection diagnostics are still reported for it).
    k_range : (int, int)
        Candidate k, inclusive.
    algorithm : {'kmeans', 'gmm'}
        Final clustering: k-means, or a full-covariance Gaussian mixture.
    pca_components : int or float, optional
        PCA after scaling (``sklearn.decomposition.PCA(n_components)``); None: no PCA.
    n_bootstrap : int
        Bootstrap refits per k for the stability.
    min_stability, min_silhouette : float
        Admissibility gates (see the module docstring).
    min_cluster_size : int
        A k is a candidate only with at least ``k * min_cluster_size`` customers.
    selection_sample, silhouette_sample : int
        Size caps of the random samples used for selection and for the silhouette.
    minibatch_threshold : int
        Above this many customers the final k-means is ``MiniBatchKMeans`` (batches of
        4,096) and a Gaussian mixture is fitted on the selection sample only.
    reference : CustomerClusters or DataFrame, optional
        Last period's fitted model, or its ``centroids_`` (labels as index, features in
        the raw units of ``cluster_features`` as columns), to keep labels stable.
    label_prefix : str
        Prefix of cluster labels (``I`` gives I1, I2, ...).
    random_state : int
        Seed of every random step (sampling, initialisation, bootstrap).

    Attributes
    ----------
    k_ : int
    labels_ : Series
        Cluster label per customer, indexed by ``customer_id``.
    selection_ : DataFrame
        Per candidate k: ``silhouette``, ``bic``, ``icl``, ``stability`` (mean bootstrap ARI),
        ``stability_lower``, ``stability_upper`` (95% percentile interval, ``STABILITY_LEVEL``),
        ``degenerate``, ``admissible``, ``chosen``, ``note``.
    stability_ : dict
        ``mean``, ``ci_lower``, ``ci_upper``, ``n_bootstrap``, ``n_sample`` at ``k_``.
    centroids_, zcentroids_ : DataFrame
        Cluster centres in feature units and in standard deviations from the mean.
    sizes_ : Series
        Customers per label.
    names_ : Series
        A short name per label from its most distinctive features.
    label_map_ : DataFrame
        ``label``, ``reference_label`` (None when unmatched or no reference), ``distance``
        (Euclidean, in standard deviations).
    fit_method_ : str
        What was fitted on how many rows (says when a mini-batch or sampled fit was used).
    pipeline_ : sklearn Pipeline
        impute -> scale -> (PCA) -> clusterer, fitted.
    """

    def __init__(self, features=("age", "log_income", "log_aum", "log_avg_ticket"), k: int | None = None,
                 k_range=(2, 8), algorithm: str = "kmeans", pca_components=None, n_bootstrap: int = 20,
                 min_stability: float = 0.80, min_silhouette: float = 0.25, min_cluster_size: int = 10,
                 selection_sample: int = 10_000, silhouette_sample: int = 4_000,
                 minibatch_threshold: int = 200_000, reference=None, label_prefix: str = "",
                 random_state: int = 0):
        self.features = features
        self.k = k
        self.k_range = k_range
        self.algorithm = algorithm
        self.pca_components = pca_components
        self.n_bootstrap = n_bootstrap
        self.min_stability = min_stability
        self.min_silhouette = min_silhouette
        self.min_cluster_size = min_cluster_size
        self.selection_sample = selection_sample
        self.silhouette_sample = silhouette_sample
        self.minibatch_threshold = minibatch_threshold
        self.reference = reference
        self.label_prefix = label_prefix
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame) -> "CustomerClusters":
        """Choose k, fit the clustering and label the customers of ``df`` (one row each).

        Raises
        ------
        DataContractError
            Missing columns, no rows, duplicate ids, customers without balances (when
            ``log_aum`` is a feature), a feature missing for everyone, all customers
            identical, or too few customers for the smallest candidate k.
        """
        if self.algorithm not in ("kmeans", "gmm"):
            raise DataContractError(f"algorithm={self.algorithm!r}: expected 'kmeans' or 'gmm'")
        names = list(self.features)
        require_columns(df, ["customer_id", *feature_columns(names)], why="clustering")
        require_rows(df, "no customers to cluster")
        unique_ids(df)
        if "log_aum" in names and df["aum_avg"].isna().any():
            raise fail("aum_avg", "a clustered customer has balances", df, df["aum_avg"].isna(),
                       fix="Apply crm_lib.segmentation.balance_policy first (no_balance: lowest or drop).")
        X = cluster_features(df, names)
        empty = [c for c in names if X[c].isna().all()]
        if empty:
            raise DataContractError(f"features: clustering feature(s) {empty} are missing for all {len(X):,} "
                                    "customers; choose other features in parameters/segmentation.yaml")
        n = len(X)
        ks = [int(self.k)] if self.k else list(range(int(self.k_range[0]), int(self.k_range[1]) + 1))
        feasible = [k for k in ks if n >= k * self.min_cluster_size and n > k]
        if not feasible:
            raise DataContractError(
                f"features: too few customers for clustering: n={n:,} but k={min(ks)} needs at least "
                f"{min(ks) * self.min_cluster_size:,} (min_cluster_size={self.min_cluster_size} per cluster); "
                "lower k_range or min_cluster_size, or cluster a larger population")
        pre = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                        ("pca", PCA(self.pca_components, random_state=self.random_state)
                         if self.pca_components else "passthrough")])
        Z = pre.fit_transform(X.to_numpy())
        if np.allclose(Z.std(axis=0), 0):
            raise DataContractError(
                f"features: rule 'customers differ in the clustering features' is broken: all {n:,} customers "
                f"have the same values of {names}, so there is no structure to cluster (all customers would "
                "fall in one segment)")
        rng = np.random.default_rng(self.random_state)
        big = n > self.selection_sample
        sample = rng.choice(n, self.selection_sample, replace=False) if big else rng.permutation(n)
        Zs = Z[sample]
        with threadpool_limits(limits=1):
            sel = pd.DataFrame([self._score_k(Zs, k) for k in feasible])
            sel = self._choose(sel)
            k = int(sel.loc[sel["chosen"], "k"].iloc[0])
            est, raw, method = self._final_fit(Z, Zs, k)
        self.features_ = names
        self.selection_ = sel
        self.k_ = k
        row = sel.loc[sel["chosen"]].iloc[0]
        self.stability_ = {"mean": row["stability"], "ci_lower": row["stability_lower"],
                           "ci_upper": row["stability_upper"], "n_bootstrap": int(self.n_bootstrap),
                           "n_sample": len(Zs)}
        self.silhouette_ = row["silhouette"]
        self.bic_ = row["bic"]
        self.icl_ = row["icl"]
        self.preprocess_ = pre
        self.estimator_ = est
        self.pipeline_ = Pipeline(pre.steps + [("cluster", est)])
        self.fit_method_ = method
        self.n_ = n
        self._set_labels(df, pre, est, raw)
        logger.info("clusters %s: k=%d of %s, stability %.3f, %s", self.label_prefix or "-", k, feasible,
                    row["stability"], method)
        return self

    def _estimator(self, k: int, seed: int, n_init: int):
        if self.algorithm == "gmm":
            return GaussianMixture(k, covariance_type="full", n_init=n_init, random_state=seed, reg_covar=1e-6)
        return KMeans(k, n_init=n_init, random_state=seed)

    def _score_k(self, Zs: np.ndarray, k: int) -> dict:
        seed = self.random_state
        est = self._estimator(k, seed, n_init=4 if self.algorithm == "kmeans" else 2).fit(Zs)
        lab = est.predict(Zs)
        counts = np.bincount(lab, minlength=k)
        degenerate = bool((counts == 0).any())
        m = min(len(Zs), self.silhouette_sample)
        sil = silhouette_score(Zs[:m], lab[:m]) if len(np.unique(lab[:m])) > 1 else np.nan
        gmm = est if self.algorithm == "gmm" else _gmm_from_partition(Zs, lab, k, seed)
        bic = gmm.bic(Zs)
        tau = gmm.predict_proba(Zs)
        icl = bic + 2.0 * float(-np.sum(tau * np.log(np.clip(tau, 1e-300, None))))
        rng = np.random.default_rng([seed, k])
        aris = []
        for b in range(int(self.n_bootstrap)):
            idx = rng.integers(0, len(Zs), len(Zs))
            eb = self._estimator(k, seed + 1 + b, n_init=2 if self.algorithm == "kmeans" else 1).fit(Zs[idx])
            aris.append(_ari(lab, eb.predict(Zs), k))
        aris = np.array(aris) if aris else np.array([np.nan])
        return {"k": k, "silhouette": sil, "bic": bic, "icl": icl, "stability": float(np.mean(aris)),
                "stability_lower": float(np.percentile(aris, 2.5)), "stability_upper": float(np.percentile(aris, 97.5)),
                "smallest_cluster_share": counts.min() / len(Zs), "degenerate": degenerate}

    def _choose(self, sel: pd.DataFrame) -> pd.DataFrame:
        sel = sel.copy()
        # without bootstrap refits there is no stability to gate on
        stable = sel["stability_lower"] >= self.min_stability if self.n_bootstrap else pd.Series(True, sel.index)
        structured = sel["silhouette"] >= self.min_silhouette
        sel["admissible"] = stable & structured & ~sel["degenerate"]
        if self.k:
            best, how = sel.index[0], f"k={self.k} fixed by the caller"
        elif sel["admissible"].any():
            best = sel.loc[sel["admissible"], "icl"].idxmin()
            how = "lowest ICL of the admissible k"
        else:
            ok = sel.loc[~sel["degenerate"]] if (~sel["degenerate"]).any() else sel
            best = ok["stability"].fillna(-1).idxmax()
            how = "no k passed both gates: the most stable k"
            logger.warning("clusters %s: no k met stability >= %.2f and silhouette >= %.2f; chose the most stable "
                           "(k=%d)", self.label_prefix, self.min_stability, self.min_silhouette, sel.loc[best, "k"])
        sel["chosen"] = sel.index == best
        notes = []
        for i, r in sel.iterrows():
            why = []
            if r["degenerate"]:
                why.append("an empty cluster")
            if not stable[i]:
                why.append(f"stability lower bound {r['stability_lower']:.2f} < {self.min_stability:.2f}")
            if not structured[i]:
                why.append(f"silhouette {r['silhouette']:.2f} < {self.min_silhouette:.2f}")
            if r["chosen"]:
                notes.append("chosen: " + how)
            elif why:
                notes.append("not admissible: " + "; ".join(why))
            else:
                notes.append(f"admissible; ICL {r['icl'] - sel.loc[best, 'icl']:+,.0f} vs the chosen k")
        sel["note"] = notes
        return sel

    def _final_fit(self, Z: np.ndarray, Zs: np.ndarray, k: int):
        n = len(Z)
        large = n > self.minibatch_threshold
        if self.algorithm == "kmeans" and large:
            est = MiniBatchKMeans(k, batch_size=4096, n_init=3, random_state=self.random_state).fit(Z)
            method = (f"MiniBatchKMeans (batches of 4,096) on all {n:,} customers: above the "
                      f"{self.minibatch_threshold:,}-customer threshold")
        elif self.algorithm == "kmeans":
            est = KMeans(k, n_init=4, random_state=self.random_state).fit(Z)
            method = f"KMeans on all {n:,} customers"
        elif large:
            est = self._estimator(k, self.random_state, n_init=2).fit(Zs)
            method = (f"Gaussian mixture fitted on a random sample of {len(Zs):,} of {n:,} customers (above the "
                      f"{self.minibatch_threshold:,}-customer threshold), then applied to all")
        else:
            est = self._estimator(k, self.random_state, n_init=2).fit(Z)
            method = f"Gaussian mixture on all {n:,} customers"
        if len(Zs) < n:
            method += f"; k selected on a random sample of {len(Zs):,}"
        return est, est.predict(Z), method

    def _centres(self, pre: Pipeline, est) -> np.ndarray:
        c = est.cluster_centers_ if hasattr(est, "cluster_centers_") else est.means_
        if self.pca_components:
            c = pre.named_steps["pca"].inverse_transform(c)
        return c  # standardised units

    def _set_labels(self, df: pd.DataFrame, pre: Pipeline, est, raw: np.ndarray) -> None:
        scaler = pre.named_steps["scale"]
        z = self._centres(pre, est)
        units = scaler.inverse_transform(z)
        k = len(z)
        ref = self._reference_centroids()
        sort_col = self.features_.index("log_aum") if "log_aum" in self.features_ else 0
        numbers = np.zeros(k, dtype=np.int64)
        ref_label = [None] * k
        dist = np.full(k, np.nan)
        if ref is not None:
            zref = (ref.to_numpy(dtype=float) - scaler.mean_) / scaler.scale_
            cost = cdist(z, zref, "sqeuclidean")
            rows, cols = linear_sum_assignment(cost)
            ref_numbers = [_label_number(lbl) for lbl in ref.index]
            for r, c in zip(rows, cols):
                numbers[r] = ref_numbers[c]
                ref_label[r] = str(ref.index[c])
                dist[r] = np.sqrt(cost[r, c])
            free = [i for i in np.argsort(units[:, sort_col], kind="stable") if i not in set(rows)]
            nxt = max(ref_numbers) + 1
            for i in free:
                numbers[i] = nxt
                nxt += 1
        else:
            numbers[np.argsort(units[:, sort_col], kind="stable")] = np.arange(1, k + 1)
        labels = [f"{self.label_prefix}{m}" for m in numbers]
        self._raw_to_label = np.array(labels, dtype=object)
        order = np.argsort(numbers)
        idx = pd.Index([labels[i] for i in order], name="cluster")
        self.centroids_ = pd.DataFrame(units[order], index=idx, columns=self.features_)
        self.zcentroids_ = pd.DataFrame(z[order], index=idx, columns=self.features_)
        self.labels_ = pd.Series(self._raw_to_label[raw], index=pd.Index(df["customer_id"].to_numpy(),
                                                                         name="customer_id"), name="cluster")
        self.sizes_ = self.labels_.value_counts().reindex(idx, fill_value=0)
        self.label_map_ = pd.DataFrame({"label": idx, "reference_label": [ref_label[i] for i in order],
                                        "distance": dist[order]})
        self.names_ = name_clusters(self.zcentroids_)

    def _reference_centroids(self) -> pd.DataFrame | None:
        ref = self.reference
        if ref is None:
            return None
        if isinstance(ref, CustomerClusters):
            check_is_fitted(ref, "centroids_")
            ref = ref.centroids_
        if not isinstance(ref, pd.DataFrame) or list(ref.columns) != list(self.features_):
            got = list(ref.columns) if isinstance(ref, pd.DataFrame) else type(ref).__name__
            raise DataContractError(f"reference centroids: columns must be the clustering features {self.features_}, "
                                    f"got {got}; refit the reference with the same features")
        return ref

    # ------------------------------------------------------------------ use
    def predict(self, df: pd.DataFrame) -> pd.Series:
        """Cluster labels for the customers of ``df`` (indexed by ``customer_id``)."""
        check_is_fitted(self, "labels_")
        require_columns(df, ["customer_id", *feature_columns(self.features_)], why="cluster prediction")
        X = cluster_features(df, self.features_)
        raw = self.pipeline_.predict(X.to_numpy())
        return pd.Series(self._raw_to_label[raw], index=pd.Index(df["customer_id"].to_numpy(), name="customer_id"),
                         name="cluster")


def _gmm_from_partition(Z: np.ndarray, labels: np.ndarray, k: int, seed: int) -> GaussianMixture:
    """A full-covariance Gaussian mixture started from a k-means partition (its weights, means
    and covariances), so BIC and ICL judge the partition k-means found rather than another
    local optimum of a fresh EM start."""
    reg = 1e-6
    d = Z.shape[1]
    weights = np.bincount(labels, minlength=k) / len(labels)
    means = np.vstack([Z[labels == j].mean(axis=0) if (labels == j).any() else Z.mean(axis=0) for j in range(k)])
    prec = []
    for j in range(k):
        zj = Z[labels == j]
        cov = np.cov(zj, rowvar=False).reshape(d, d) if len(zj) > d else np.cov(Z, rowvar=False).reshape(d, d)
        prec.append(np.linalg.inv(cov + reg * np.eye(d)))
    weights = np.clip(weights, 1e-12, None)
    return GaussianMixture(k, covariance_type="full", n_init=1, random_state=seed, reg_covar=reg,
                           weights_init=weights / weights.sum(), means_init=means,
                           precisions_init=np.array(prec)).fit(Z)


def _ari(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Adjusted Rand index of two labelings with codes 0..k-1 (Hubert & Arabie 1985).

    The same number as ``sklearn.metrics.adjusted_rand_score`` (tested), from one
    ``bincount`` instead of its per-call validation, which dominates for many small refits.
    """
    n = len(a)
    table = np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(float)
    pairs = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    index, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    top = (rows + cols) / 2
    return 1.0 if top == expected else float((index - expected) / (top - expected))


def _label_number(label) -> int:
    m = re.search(r"(\d+)$", str(label))
    if not m:
        raise DataContractError(f"reference centroids: label {label!r} does not end in a number")
    return int(m.group(1))


def cluster_customers(features: pd.DataFrame, settings: dict, reference: dict | None = None,
                      random_state: int = 0) -> tuple[pd.DataFrame, dict]:
    """Fit one ``CustomerClusters`` per customer type on the active customers.

    Parameters
    ----------
    features : DataFrame
        The feature table (active customers are clustered; apply ``balance_policy`` first).
    settings : dict
        ``load_settings()['clusters']``.
    reference : dict, optional
        ``{customer_type: fitted CustomerClusters or centroids}`` of the last period.
    random_state : int

    Returns
    -------
    (DataFrame, dict)
        ``customer_id``, ``customer_type``, ``cluster``, ``cluster_name`` per clustered
        customer; and the fitted models by customer type.

    Notes
    -----
    A configured feature that is missing for every customer of a type (an optional source
    column the bank does not hold, e.g. ``income``) is left out of that type's clustering,
    logged, and listed in the model's ``dropped_features_``; the others are used.
    """
    require_columns(features, ["customer_id", "customer_type"], why="clustering")
    df = features.loc[features["is_active"].fillna(False).astype(bool)] if "is_active" in features else features
    require_rows(df, "no active customers to cluster")
    models, parts = {}, []
    for ctype, names in settings["features"].items():
        part = df[df["customer_type"] == ctype]
        if not len(part):
            logger.warning("no active %s customers: not clustered", ctype)
            continue
        present = [f for f in names if set(feature_columns([f])) <= set(part.columns)]
        values = cluster_features(part, present)
        empty = {f: "missing for every customer" for f in present if values[f].isna().all()}
        if empty and len(empty) < len(names):
            logger.warning("%s clustering: feature(s) %s missing for every customer, left out", ctype, sorted(empty))
            names = [f for f in names if f not in empty]
        else:
            empty = {}
        m = CustomerClusters(
            features=names, k_range=tuple(settings["k_range"]), algorithm=settings["algorithm"],
            pca_components=settings["pca_components"], n_bootstrap=settings["n_bootstrap"],
            min_stability=settings["min_stability"], min_silhouette=settings["min_silhouette"],
            min_cluster_size=settings["min_cluster_size"], selection_sample=settings["selection_sample"],
            silhouette_sample=settings["silhouette_sample"], minibatch_threshold=settings["minibatch_threshold"],
            reference=(reference or {}).get(ctype), label_prefix=ctype[:1].upper(), random_state=random_state)
        models[ctype] = m.fit(part)
        m.dropped_features_ = empty
        parts.append(pd.DataFrame({"customer_id": m.labels_.index, "customer_type": ctype,
                                   "cluster": m.labels_.to_numpy(),
                                   "cluster_name": m.names_.reindex(m.labels_.to_numpy()).to_numpy()}))
    others = set(df["customer_type"]) - set(settings["features"])
    if others:
        logger.warning("customer type(s) %s have no clustering features in the settings: not clustered", sorted(others))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["customer_id", "customer_type", "cluster", "cluster_name"])
    return out.sort_values("customer_id").reset_index(drop=True), models
