"""How far an IVF partition has drifted from the one its centroids were trained on.

Two figures, each compared with its value right after the training:

- error: the mean squared distance of the live points to their list's
  centroid. Points written later from where the training saw no data land
  far from every centroid, on the borders between lists: their neighbours
  spread over lists whose centroids a query does not rank among its nprobe
  best, which is how IVF loses recall. Kept as a running sum over the points
  assigned since the training (RAM keeps no per-point figure: the 64 B per
  vector budget), so `error_growth` = share of such points x (their mean
  error / the training's - 1): the relative growth of the collection's mean
  error. New points from the training's own distribution come out ~5-10 %
  above the training's mean (k-means fits its own sample a little better:
  measured on pypi-minilm and on the tests' clusters, 64-1024 lists).
- imbalance: nlist * sum(size^2) / points^2, 1 for equal lists. When queries
  follow the data, a query probes a list about as often as the list holds
  points, so the codes it scans grow with sum(size^2): the factor is the
  scan cost relative to equal lists (faiss calls it the imbalance factor).
  A shifted distribution piles its points into the few lists nearest to it.
  Kept exactly: the sum of squares is updated from each write's lists.

The baseline and the running sums are persisted in the collection's meta
(`ivf_drift`, JSON) in the same transactions as the centroids and the writes.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..config import IVFConfig
    from .postings import Postings

META_KEY = b"ivf_drift"
# a rebalance waits until this share of the trained points was written or
# deleted since: a few writes to a small collection swing both figures
MIN_CHANGED_SHARE = 1 / 20


@dataclass
class DriftRecord:
    trained_points: int  # live points when the centroids were installed
    trained_error: float | None  # their mean squared distance to their centroid (None: unknown)
    trained_imbalance: float
    assigned: int = 0  # points assigned to a list by writes since (new and replaced ones)
    assigned_error: float = 0.0  # the sum of their squared distances
    deleted: int = 0  # points deleted since

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "DriftRecord":
        data = json.loads(bytes(raw))
        record = cls(**data)
        if record.trained_points < 0 or record.assigned < 0 or record.deleted < 0:
            raise ValueError("negative counts")
        return record


def imbalance(nlist: int, sum_sq: float, points: int) -> float:
    return nlist * sum_sq / points**2 if points else 1.0


def sum_squares(lengths: np.ndarray) -> float:
    return float((lengths.astype(np.float64) ** 2).sum())


class DriftTracker:
    """The drift of one collection's lists. Updated by the writer (under the
    storage write lock) after each commit; read by info() and the trigger."""

    def __init__(self) -> None:
        self.record: DriftRecord | None = None  # None: no trained IVF
        self._nlist = 0
        self._sum_sq = 0.0  # sum over lists of size^2, kept up to date
        self._points = 0  # listed points

    # -- baseline: training, open --------------------------------------------------
    def install(self, lists: "Postings | None", record: DriftRecord | None) -> None:
        """A new partition was installed with these lists: record is its baseline."""
        self.record = record if lists is not None else None
        if lists is not None:
            self._take_sizes(lists)

    def _reset(self, lists: "Postings") -> None:
        """The baseline is the partition as it is now (its error unknown)."""
        self._take_sizes(lists)
        self.record = DriftRecord(self._points, None, imbalance(self._nlist, self._sum_sq, self._points))

    def restore(self, lists: "Postings | None", raw: bytes | None) -> str | None:
        """At open: the persisted record of this partition. Returns a problem
        to log when there is none usable (the baseline is then taken now, its
        error unknown: that figure waits for the next training)."""
        if lists is None:
            self.record = None
            return None
        problem = None
        if raw is not None:
            try:
                self._take_sizes(lists)
                self.record = DriftRecord.from_bytes(raw)
                return None
            except (ValueError, TypeError) as exc:
                problem = f"drift record unreadable ({exc})"
        self._reset(lists)
        return problem

    def _take_sizes(self, lists: "Postings") -> None:
        self._nlist = lists.n_keys
        self._sum_sq = sum_squares(lists.lengths)
        self._points = int(lists.entries)

    # -- writes ------------------------------------------------------------------------
    def after_write(self, assigned: int, error_sum: float, deleted: int) -> DriftRecord | None:
        """The record as it will be once a write commits (to persist with it)."""
        r = self.record
        if r is None:
            return None
        return DriftRecord(r.trained_points, r.trained_error, r.trained_imbalance, r.assigned + assigned,
                           r.assigned_error + error_sum, r.deleted + deleted)

    def committed(self, record: DriftRecord | None, lists: "Postings", added: np.ndarray | None,
                  removed: np.ndarray | None) -> None:
        """After the commit and the segment's update: adopt the record and fold
        the lists that grew (`added`, one entry per point) or shrank
        (`removed`, -1 for none) into the sum of squares."""
        if self.record is None or record is None:
            return
        self.record = record
        parts, signs = [], []
        for lists_of, s in ((added, 1), (removed, -1)):
            if lists_of is not None:
                parts.append(np.asarray(lists_of, np.int64))
                signs.append(np.full(len(lists_of), s, np.int64))
        if not parts:
            return
        keys, sign = np.concatenate(parts), np.concatenate(signs)
        keep = keys >= 0
        keys, sign = keys[keep], sign[keep]
        touched, inverse = np.unique(keys, return_inverse=True)
        delta = np.bincount(inverse, weights=sign, minlength=len(touched))
        new = lists.lengths[touched].astype(np.float64)
        old = new - delta
        self._sum_sq += float((new * new - old * old).sum())
        self._points = int(lists.entries)

    # -- figures ---------------------------------------------------------------------------
    def figures(self) -> dict | None:
        r = self.record
        if r is None:
            return None
        live = self._points
        share = min(1.0, r.assigned / live) if live else 0.0
        error_ratio = None
        error_growth = None
        if r.trained_error and r.assigned:
            error_ratio = (r.assigned_error / r.assigned) / r.trained_error
            error_growth = share * (error_ratio - 1.0)
        current = imbalance(self._nlist, self._sum_sq, live)
        return {
            "trained_points": r.trained_points,
            "assigned_since_training": r.assigned,
            "deleted_since_training": r.deleted,
            "assigned_share": share,
            "trained_error": r.trained_error,
            "error_ratio": error_ratio,
            "error_growth": error_growth,
            "trained_imbalance": r.trained_imbalance,
            "imbalance": current,
            "imbalance_growth": current / r.trained_imbalance if r.trained_imbalance > 0 else 1.0,
        }

    def due(self, ivf: "IVFConfig") -> str | None:
        """Why a rebalance is due now (None: it is not)."""
        if not ivf.rebalance:
            return None
        f = self.figures()
        if f is None or self._points < ivf.nlist:  # k-means needs a point per centroid
            return None
        r = self.record
        if r.assigned + r.deleted < max(1, math.ceil(MIN_CHANGED_SHARE * r.trained_points)):
            return None
        if f["error_growth"] is not None and f["error_growth"] > ivf.rebalance_error:
            return f"mean distance to the centroids grew by {f['error_growth']:.0%}"
        if f["imbalance_growth"] > ivf.rebalance_imbalance:
            return f"list imbalance grew {f['imbalance_growth']:.2f}x"
        return None
