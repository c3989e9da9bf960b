"""Typed, frozen configuration objects.

A collection's quantization is given either as a kind name ("binary") meaning
that kind with its defaults, or as one of the config classes below for other
parameters. Every class is keyword-only and frozen so that a misspelt option
fails at once. `to_dict`/`quantization_from_dict` are the one serialization,
used for LMDB metadata and by the wire layer.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import InvalidConfigError, InvalidNameError

METRICS = ("cosine", "dot", "l2")
BINARY_SCORINGS = ("asymmetric", "hamming")
VECTOR_DTYPES = ("float32", "float16")
ID_TYPES = ("int", "str")
MAX_DIM = 65536
MAX_SPARSE_DIM = 1 << 24  # sparse code indices are stored as uint32; 16M is plenty
MAX_NLIST = 1 << 20
#: candidates are k x oversampling per query: beyond this a search would
#: scan or rerank most of any collection, and k x 1e308 overflows
MAX_OVERSAMPLING = 1000.0
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class QuantizationConfig:
    """Base of every quantization kind.

    oversampling: the coarse scan keeps ceil(k * oversampling) candidates,
    which are then reranked exactly from the stored vectors when `rescore`.
    """

    kind: ClassVar[str] = ""
    oversampling: float = 1.0
    rescore: bool = True

    def __post_init__(self) -> None:
        check_oversampling(self.oversampling)
        if not isinstance(self.rescore, bool):
            raise InvalidConfigError(f"rescore must be a bool, got {self.rescore!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True, kw_only=True)
class NoQuantization(QuantizationConfig):
    """Exact float32 search over vectors held in RAM: the recall reference."""

    kind: ClassVar[str] = "none"
    oversampling: float = 1.0
    rescore: bool = False


@dataclass(frozen=True, kw_only=True)
class BinaryQuantization(QuantizationConfig):
    """1 bit per dimension: the sign of (x - mean).

    center: subtract a per-dimension mean before taking signs. The mean is
    learned once, when the collection first holds `train_size` vectors (from
    all vectors present then); until then the collection answers exactly.
    Later upserts are encoded with that mean; `Collection.optimize()` learns it
    again from the current data and re-encodes every vector.
    scoring: "asymmetric" (default) ranks codes by an estimate of the inner
    product from the query quantized to `query_bits` bits per dimension
    (bit-plane popcounts, see native/bitplane.py) and two float16 factors
    stored with each code (see engine/codecs/binary.py); "hamming" against
    the query's own sign bits, which scans a little faster but needs ~3x the
    candidates for the same recall. The default oversampling (6: 60
    candidates for k = 10) gave recall@10 ~0.98 on real 384-d sentence
    embeddings and ~0.96 on the tests' 128-d clustered data (fewer bits per
    vector need more candidates): see bench/RESULTS.md.
    margin (asymmetric scoring only; 0 turns it off): of the k * oversampling
    candidates, only those whose estimate lies within `margin` standard
    errors of the k-th best estimate are reranked; the others could only
    enter the top k through an error the estimate rarely makes, and each
    costs a read. The standard error is modelled as |q - mean| times the
    typical stored factor times a unit measured when the mean is learned
    (over each training query's 32 nearest rows). At margin 2 on 1M
    sentence-like vectors with IVF, ~60 reads per query gave the recall of
    90 without it; on the tests' 128-d clusters it saves nothing at equal
    recall, hence off by default (README.md, bench/RESULTS.md).
    """

    kind: ClassVar[str] = "binary"
    oversampling: float = 6.0
    rescore: bool = True
    center: bool = True
    train_size: int = 1024
    scoring: str = "asymmetric"
    query_bits: int = 4
    margin: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_margin(self.margin)
        if not isinstance(self.center, bool):
            raise InvalidConfigError(f"center must be a bool, got {self.center!r}")
        check_positive_int("train_size", self.train_size)
        if self.scoring not in BINARY_SCORINGS:
            raise InvalidConfigError(f"scoring must be one of {list(BINARY_SCORINGS)}, got {self.scoring!r}")
        if isinstance(self.query_bits, bool) or not isinstance(self.query_bits, int) or not 1 <= self.query_bits <= 8:
            raise InvalidConfigError(f"query_bits must be an integer in [1, 8], got {self.query_bits!r}")


SCORING_MODES = ("adc", "sdc")


@dataclass(frozen=True, kw_only=True)
class ResidualBinaryQuantization(QuantizationConfig):
    """`bits` sign codes per dimension: level 1 is sign(x - mean), each further
    level the sign of what the levels before left over, each with one learned
    scale (`bits` x dim / 8 bytes; 96 B for 384-d at bits=2).

    mode "adc" (asymmetric, the default) scores the float query, quantized to
    `query_bits` bit planes, against the levels with popcounts; "sdc"
    (symmetric) codes the query the same way as the vectors and scores weighted
    popcounts of level pairs, plus a per-vector correction kept in 8 more
    bytes per code (also used by metric l2 in either mode).
    On real 384-d sentence embeddings adc needs about half the candidates of
    sdc for the same recall, so it is the default; oversampling 5 (50
    candidates for k=10) reaches recall@10 0.994 there at bits=2
    (bench/RESULTS.md).
    mean and scales are learned when the collection first holds `train_size`
    vectors; until then the collection answers exactly.
    """

    kind: ClassVar[str] = "residual_binary"
    bits: int = 2
    mode: str = "adc"
    query_bits: int = 4
    oversampling: float = 5.0
    rescore: bool = True
    train_size: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int_range("bits", self.bits, 2, 4)
        check_choice("mode", self.mode, SCORING_MODES)
        check_int_range("query_bits", self.query_bits, 1, 8)
        check_positive_int("train_size", self.train_size)


@dataclass(frozen=True, kw_only=True)
class ProductQuantization(QuantizationConfig):
    """`m` sub-quantizers of 2**nbits centroids each, codebooks trained with
    faiss k-means (m bytes per vector at nbits=8, ceil(m/2) at nbits=4).

    m=None picks dim/8 sub-quantizers at 8 bits and dim/4 at 4 bits (rounded
    up), so the codes take dim/8 bytes, like binary codes. A dim that m does
    not divide is zero-padded up to a multiple of m (padding adds nothing to
    any score). mode "adc" scores the float query against the centroids
    through a per-query table; "sdc" codes the query too and reads a
    precomputed m x ks x ks table of centroid-pair scores (same scan speed,
    lower recall at equal candidates). Training waits for `train_size` vectors
    (default 10,000, ~39 per centroid at 8 bits, what faiss k-means asks for)
    and learns from at most max(train_size, 64 * 2**nbits) of them.
    """

    kind: ClassVar[str] = "pq"
    m: int | None = None
    nbits: int = 8
    mode: str = "adc"
    oversampling: float = 8.0
    rescore: bool = True
    train_size: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.m is not None:
            check_int_range("m", self.m, 1, MAX_DIM)
        if isinstance(self.nbits, bool) or not isinstance(self.nbits, int) or self.nbits not in (4, 8):
            raise InvalidConfigError(f"nbits must be 4 or 8, got {self.nbits!r}")
        check_choice("mode", self.mode, SCORING_MODES)
        check_positive_int("train_size", self.train_size)


@dataclass(frozen=True, kw_only=True)
class ScalarQuantization(QuantizationConfig):
    """8 bits per dimension (dim bytes per vector): each dimension's range
    [min, max] over the training vectors is cut into 255 equal steps; values
    outside it are clipped. Ranges are learned when the collection first holds
    `train_size` vectors; until then the collection answers exactly.
    """

    kind: ClassVar[str] = "scalar"
    oversampling: float = 2.0
    rescore: bool = True
    train_size: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("train_size", self.train_size)


#: kind name -> config class; later kinds register here
QUANTIZATION_KINDS: dict[str, type[QuantizationConfig]] = {
    cls.kind: cls
    for cls in (NoQuantization, BinaryQuantization, ResidualBinaryQuantization, ProductQuantization, ScalarQuantization)
}


@dataclass(frozen=True, kw_only=True)
class SparseQuantization(QuantizationConfig):
    """Sparse binary codes in an inverted index (UHD-style), reranked exactly.

    Generated codes (user_codes=False): each prepared vector, centered when
    `center`, is multiplied by a fixed random +-1 matrix (dim x expansion_dim,
    drawn from `seed`) and the `active` largest outputs are the code. A query
    keeps its `query_active` largest outputs (0: 4 x active, fewer if D is
    smaller), each weighted by its value, and a point scores the sum of the
    weights of the dimensions it shares with the query. `center` learns a mean once the
    collection holds `train_size` vectors (until then it answers exactly),
    like `binary`. The defaults (active 64 of 8192, queries 256, 40x
    oversampling) were chosen on 384-d sentence embeddings: bench/RESULTS.md.

    User codes (user_codes=True): `upsert(..., sparse=...)` gives each point's
    indices in [0, expansion_dim) and `search(..., sparse_queries=...)` each
    query's; with `weighted` they may carry positive weights and the score is
    the sparse dot product. `active`, `query_active`, `seed`, `center` and
    `train_size` do not apply and must keep their defaults.
    """

    kind: ClassVar[str] = "sparse"
    oversampling: float = 40.0
    rescore: bool = True
    expansion_dim: int = 8192
    active: int = 64
    query_active: int = 0
    seed: int = 0
    center: bool = True
    train_size: int = 1024
    user_codes: bool = False
    weighted: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("expansion_dim", self.expansion_dim)
        if self.expansion_dim > MAX_SPARSE_DIM:
            raise InvalidConfigError(f"expansion_dim must be at most {MAX_SPARSE_DIM}, got {self.expansion_dim}")
        check_positive_int("active", self.active)
        check_positive_int("train_size", self.train_size)
        if isinstance(self.query_active, bool) or not isinstance(self.query_active, int) or self.query_active < 0:
            raise InvalidConfigError(f"query_active must be an integer >= 0 (0: 4 x active), got {self.query_active!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise InvalidConfigError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        for name in ("center", "user_codes", "weighted"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidConfigError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.user_codes:
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            moved = [n for n in ("active", "query_active", "seed", "center", "train_size") if getattr(self, n) != defaults[n]]
            if moved:
                raise InvalidConfigError(f"{', '.join(moved)} apply only to generated codes, not with user_codes=True")
            return
        if self.weighted:
            raise InvalidConfigError("weighted applies only with user_codes=True (generated codes are binary)")
        if max(self.active, self.query_active) >= self.expansion_dim:
            raise InvalidConfigError(
                f"active ({self.active}) and query_active ({self.query_active}) must be below expansion_dim ({self.expansion_dim})"
            )

    @property
    def query_dims(self) -> int:
        """Dimensions a generated query keeps."""
        return self.query_active or min(4 * self.active, self.expansion_dim - 1)


QUANTIZATION_KINDS[SparseQuantization.kind] = SparseQuantization


@dataclass(frozen=True, kw_only=True)
class IVFConfig:
    """Inverted-file partitioning of the codes, for any quantization kind.

    `nlist` centroids are learned by k-means (faiss) over the vectors; every
    point belongs to the list of its nearest centroid and a search scans only
    the `nprobe` lists nearest to the query (overridable per query; an nprobe
    of nlist or more scans every list). The centroids are learned once the
    collection holds `train_size` vectors (None: 39 * nlist, the sample faiss
    asks for) or on `optimize()` (which needs at least nlist vectors); until
    then every code is scanned.

    Lists drift as points written after the training come from elsewhere
    (engine/drift.py measures it on every write). With `rebalance`, a
    background retrain (the `optimize()` path; searches and writes go on)
    starts once, relative to the training, either
      - the mean squared distance of the live points to their list's
        centroid grew by more than `rebalance_error` (0.25: 25 % more; new
        points from the training's distribution add ~5-10 %), or
      - the list-size imbalance factor (nlist * sum(size^2) / points^2: the
        codes a query scans relative to equal lists) grew by more than the
        factor `rebalance_imbalance` (1.5: queries scan 1.5x the codes);
    and at least 1/20 of the trained points were written or deleted since.
    """

    nlist: int = 1024
    nprobe: int = 32
    train_size: int | None = None
    rebalance: bool = True
    rebalance_error: float = 0.25
    rebalance_imbalance: float = 1.5

    def __post_init__(self) -> None:
        check_positive_int("nlist", self.nlist)
        if self.nlist > MAX_NLIST:
            raise InvalidConfigError(f"nlist must be at most {MAX_NLIST}, got {self.nlist}")
        check_positive_int("nprobe", self.nprobe)
        if self.train_size is not None:
            check_positive_int("train_size", self.train_size)
            if self.train_size < self.nlist:
                raise InvalidConfigError(
                    f"train_size ({self.train_size}) must be at least nlist ({self.nlist}): k-means needs a point per centroid"
                )
        if not isinstance(self.rebalance, bool):
            raise InvalidConfigError(f"rebalance must be a bool, got {self.rebalance!r}")
        check_finite_above("rebalance_error", self.rebalance_error, 0.0)
        check_finite_above("rebalance_imbalance", self.rebalance_imbalance, 1.0)
        # stored as floats so that a config compares equal after any round trip
        object.__setattr__(self, "rebalance_error", float(self.rebalance_error))
        object.__setattr__(self, "rebalance_imbalance", float(self.rebalance_imbalance))

    @property
    def threshold(self) -> int:
        """Vectors the collection must hold before the centroids are learned."""
        return self.train_size if self.train_size is not None else 39 * self.nlist

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IVFConfig":
        try:
            return cls(**data)
        except TypeError as exc:
            names = sorted(f.name for f in dataclasses.fields(cls))
            raise InvalidConfigError(f"bad parameters for ivf: {exc}; accepted: {names}") from None


def parse_ivf(value: Any) -> IVFConfig | None:
    """None (no IVF), an IVFConfig, or a dict of its fields."""
    if value is None or isinstance(value, IVFConfig):
        return value
    if isinstance(value, dict):
        return IVFConfig.from_dict(value)
    raise InvalidConfigError(f"ivf must be None, an IVFConfig or a dict, got {type(value).__name__}")
def check_int_range(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_oversampling(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidConfigError(f"oversampling must be a number >= 1, got {value!r}")
    if not math.isfinite(value) or value < 1:
        raise InvalidConfigError(f"oversampling must be a finite number >= 1, got {value!r}")
    if value > MAX_OVERSAMPLING:
        raise InvalidConfigError(f"oversampling must be at most {MAX_OVERSAMPLING:g}, got {value!r}")
    return float(value)


def check_finite_above(name: str, value: Any, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= low:
        raise InvalidConfigError(f"{name} must be a finite number above {low:g}, got {value!r}")
    return float(value)


def check_margin(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidConfigError(f"margin must be a finite number >= 0 (0: off), got {value!r}")
    return float(value)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def quantization_from_dict(data: dict[str, Any]) -> QuantizationConfig:
    data = dict(data)
    kind = data.pop("kind", None)
    cls = QUANTIZATION_KINDS.get(kind)
    if cls is None:
        raise InvalidConfigError(
            f"unknown quantization kind {kind!r}; expected one of {sorted(QUANTIZATION_KINDS)}"
        )
    try:
        return cls(**data)
    except TypeError as exc:
        names = sorted(f.name for f in dataclasses.fields(cls))
        raise InvalidConfigError(f"bad parameters for quantization {kind!r}: {exc}; accepted: {names}") from None


def parse_quantization(value: Any) -> QuantizationConfig:
    """Accept a kind name, a config object or a dict with a 'kind' key."""
    if isinstance(value, QuantizationConfig):
        if type(value) not in QUANTIZATION_KINDS.values():
            raise InvalidConfigError(f"unsupported quantization config {type(value).__name__}")
        return value
    if isinstance(value, str):
        return quantization_from_dict({"kind": value})
    if isinstance(value, dict):
        return quantization_from_dict(value)
    raise InvalidConfigError(
        f"quantization must be a kind name, a config object or a dict, got {type(value).__name__}"
    )


def check_name(name: Any, what: str = "collection") -> str:
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} name must be a string, got {type(name).__name__}")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid {what} name {name!r}: expected 1-64 characters from A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, kw_only=True)
class SparseVectorsConfig:
    """A user sparse vector (BM25, SPLADE weights) per point beside the dense
    one, for hybrid search (README "Hybrid search"): indices are vocabulary
    terms in [0, vocab_size), weights positive. RAM holds an inverted index
    of them (8 bytes per entry, 24 per term up to the largest term used)."""

    vocab_size: int = MAX_SPARSE_DIM

    def __post_init__(self) -> None:
        check_int_range("vocab_size", self.vocab_size, 1, MAX_SPARSE_DIM)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_sparse_vectors(value: Any) -> SparseVectorsConfig | None:
    """None / False (no sparse vectors), True (the defaults), a
    SparseVectorsConfig, or a dict of its fields."""
    if value is None or value is False:
        return None
    if value is True:
        return SparseVectorsConfig()
    if isinstance(value, SparseVectorsConfig):
        return value
    if isinstance(value, dict):
        try:
            return SparseVectorsConfig(**value)
        except TypeError as exc:
            raise InvalidConfigError(f"bad parameters for sparse_vectors: {exc}; accepted: ['vocab_size']") from None
    raise InvalidConfigError(
        f"sparse_vectors must be True/False/None, a SparseVectorsConfig or a dict, got {type(value).__name__}"
    )


@dataclass(frozen=True, kw_only=True)
class CollectionConfig:
    name: str
    dim: int
    metric: str = "cosine"
    quantization: QuantizationConfig = field(default_factory=BinaryQuantization)
    vector_dtype: str = "float32"
    #: optional IVF partitioning of the codes (see IVFConfig); None scans all codes
    ivf: IVFConfig | None = None
    #: also keep every vector in RAM, as stored, and rerank from there instead
    #: of LMDB: dim * 2 or 4 more bytes per vector for no reads per search
    vectors_in_ram: bool = False
    #: a user sparse vector per point beside the dense one (hybrid search); None: none
    sparse_vectors: SparseVectorsConfig | None = None
    #: what point ids are: "int" (non-negative int64) or "str" (UTF-8, 1..256 bytes)
    id_type: str = "int"

    def __post_init__(self) -> None:
        check_name(self.name)
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or not 1 <= self.dim <= MAX_DIM:
            raise InvalidConfigError(f"dim must be an integer in [1, {MAX_DIM}], got {self.dim!r}")
        if self.metric not in METRICS:
            raise InvalidConfigError(f"unknown metric {self.metric!r}; expected one of {list(METRICS)}")
        if self.vector_dtype not in VECTOR_DTYPES:
            raise InvalidConfigError(
                f"unknown vector_dtype {self.vector_dtype!r}; expected one of {list(VECTOR_DTYPES)}"
            )
        if not isinstance(self.vectors_in_ram, bool):
            raise InvalidConfigError(f"vectors_in_ram must be True or False, got {self.vectors_in_ram!r}")
        if not isinstance(self.id_type, str) or self.id_type not in ID_TYPES:
            raise InvalidConfigError(f"unknown id_type {self.id_type!r}; expected one of {list(ID_TYPES)}")
        object.__setattr__(self, "quantization", parse_quantization(self.quantization))
        object.__setattr__(self, "ivf", parse_ivf(self.ivf))
        object.__setattr__(self, "sparse_vectors", parse_sparse_vectors(self.sparse_vectors))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "metric": self.metric,
            "quantization": self.quantization.to_dict(),
            "vector_dtype": self.vector_dtype,
            "ivf": None if self.ivf is None else self.ivf.to_dict(),
            "vectors_in_ram": self.vectors_in_ram,
            "sparse_vectors": None if self.sparse_vectors is None else self.sparse_vectors.to_dict(),
            "id_type": self.id_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CollectionConfig":
        return cls(
            name=data["name"],
            dim=data["dim"],
            metric=data["metric"],
            quantization=quantization_from_dict(data["quantization"]),
            vector_dtype=data.get("vector_dtype", "float32"),
            ivf=parse_ivf(data.get("ivf")),
            vectors_in_ram=data.get("vectors_in_ram", False),  # absent in collections made before it
            sparse_vectors=data.get("sparse_vectors"),  # likewise
            id_type=data.get("id_type", "int"),  # likewise: those had integer ids
        )
