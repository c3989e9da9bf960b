"""`vecstore check`: verify a database directory without changing it.

Three passes, each only when the one before found the ground solid:
1. the data file against LMDB's meta pages (integrity.py: what open refuses);
2. the raw LMDB contents, in one read transaction: the format version, every
   catalog entry, and per collection that the sub-databases agree: every
   vector has the collection's row size and finite values, the id -> slot map
   covers exactly the vectors with distinct slots, the chunk rows give each
   slot back its id, payloads belong to stored points and are JSON, and the
   persisted codec, IVF and payload-index records are readable;
3. through the engine, read-only: each collection opens without needing a
   rebuild, and its persisted codes (and IVF lists) equal the codes of its
   stored vectors encoded again.

It opens the directory read-only, so it may run beside the process that
writes it (it then checks the newest commit as of its start).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import lmdb
import numpy as np

from ..errors import VecstoreError
from .codecs import make_codec
from .codecs.base import state_from_bytes
from .collection import sub_db_name, sub_dbs
from .database import _CATALOG, Database, _catalog_entry
from .integrity import DATA_FILE, LMDB_LOCK_FILE, check_data_file, has_vecstore_files
from ..api.indexes import INDEX_KINDS
from .persist import CHUNK
from .str_ids import BY_INTERNAL, BY_NAME, NEXT_KEY
from .storage import _MAIN_DB, FORMAT_VERSION, MAX_DBS, _ProcessLock

_BLOCK = 16_384  # vectors re-encoded per step in pass 3
_MAX_LISTED = 5  # examples named per kind of problem


@dataclass
class CheckReport:
    path: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was checked and found sound

    @property
    def healthy(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = [f"{self.path}: {'OK' if self.healthy else f'{len(self.problems)} problem(s)'}"]
        lines += [f"  ok: {n}" for n in self.notes]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def check_database(path: str | os.PathLike) -> CheckReport:
    path = os.fspath(path)
    report = CheckReport(path)
    if not os.path.isdir(path):
        report.problems.append(f"{path} is not a directory")
        return report
    try:
        meta = check_data_file(path, had_files=has_vecstore_files(path))
    except VecstoreError as exc:
        report.problems.append(str(exc))
        return report
    if meta is None:
        report.problems.append(f"{path} holds no database ({DATA_FILE} is missing)")
        return report
    report.notes.append(f"{DATA_FILE}: both meta pages valid, newest transaction {meta.txn_id}, "
                        f"{meta.last_page + 1} pages of {meta.page_size} bytes present")
    collections = _check_raw(path, report)
    if report.healthy:
        _check_codes(path, collections, report)
    return report


# -- pass 2: the raw LMDB contents ----------------------------------------------------
def _check_raw(path: str, report: CheckReport) -> list[str]:
    # LMDB must not open one environment twice in a process: closing the
    # second would drop the first's locks on lock.mdb
    try:
        here = _ProcessLock.shared(path)
    except VecstoreError as exc:
        report.problems.append(f"{exc} (run the check from another process)")
        return []
    try:
        return _check_env(path, report)
    finally:
        here.release()


def _check_env(path: str, report: CheckReport) -> list[str]:
    # no lock.mdb: a snapshot, which no process can be writing (a writer creates one)
    lock = os.path.exists(os.path.join(path, LMDB_LOCK_FILE))
    try:
        env = lmdb.open(path, readonly=True, lock=lock, create=False, max_dbs=MAX_DBS, subdir=True,
                        readahead=False)
    except lmdb.Error as exc:
        report.problems.append(f"LMDB cannot open {path}: {exc}")
        return []
    names: list[str] = []
    try:
        handles = _open_all(env)
        if handles.get(_MAIN_DB) is None:
            report.problems.append(f"no {_MAIN_DB} sub-database: not a vecstore database")
            return []
        with env.begin() as txn:
            _check_format(txn, handles[_MAIN_DB], report)
            catalog = handles.get(_CATALOG)
            rows = list(txn.cursor(db=catalog).iternext()) if catalog is not None else []
            for key, value in rows:
                try:
                    entry = _catalog_entry(path, key, value)
                except VecstoreError as exc:
                    report.problems.append(str(exc))
                    continue
                name, cid = entry["config"].name, entry["cid"]
                dbs = {sub: handles.get(sub_db_name(cid, sub)) for sub in sub_dbs(entry["config"])}
                missing = [sub for sub, h in dbs.items() if h is None]
                if missing:
                    report.problems.append(f"collection '{name}': sub-databases missing: {', '.join(missing)}")
                    continue
                before = len(report.problems)
                _check_collection(txn, name, entry["config"], dbs, report)
                if len(report.problems) == before:
                    names.append(name)
    except lmdb.Error as exc:
        report.problems.append(f"LMDB failed reading {path}: {exc}")
    finally:
        env.close()
    return names


def _open_all(env: lmdb.Environment) -> dict[str, object]:
    """Handles of every named sub-database (the main tree's keys)."""
    with env.begin() as txn:
        names = [bytes(k).decode("utf-8", "replace") for k in txn.cursor().iternext(values=False)]
    out = {}
    for name in names:
        try:
            out[name] = env.open_db(name.encode(), create=False)
        except lmdb.Error:
            pass  # a plain key of the main tree, not a sub-database
    return out


def _check_format(txn: lmdb.Transaction, main: object, report: CheckReport) -> None:
    raw = txn.get(b"format_version", db=main)
    if raw is None:
        report.problems.append("no format_version key in vecstore.meta")
        return
    try:
        version = int(raw)
    except ValueError:
        report.problems.append(f"format_version holds {bytes(raw)[:40]!r}, not an integer")
        return
    if version != FORMAT_VERSION:
        report.problems.append(f"format version {version}; this vecstore reads {FORMAT_VERSION}")
    else:
        report.notes.append(f"format version {version}")


def _listed(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _check_collection(txn: lmdb.Transaction, name: str, config, dbs: dict, report: CheckReport) -> None:
    bad = report.problems.append
    where = f"collection '{name}'"
    row_dtype = np.dtype(np.float16 if config.vector_dtype == "float16" else np.float32)
    row_bytes = row_dtype.itemsize * config.dim

    vector_keys, wrong_size, not_finite = [], [], []
    for key, value in txn.cursor(db=dbs["vectors"]).iternext():
        vector_keys.append(key)
        if len(value) != row_bytes:
            wrong_size.append(_id(key))
        elif not np.isfinite(np.frombuffer(value, row_dtype)).all():
            not_finite.append(_id(key))
    if wrong_size:
        bad(f"{where}: vectors of ids {_listed(wrong_size)} are not {row_bytes} bytes ({config.dim} x {row_dtype})")
    if not_finite:
        bad(f"{where}: vectors of ids {_listed(not_finite)} hold NaN or Inf")
    vector_set = set(vector_keys)

    slot_of: dict[bytes, int] = {}
    for key, value in txn.cursor(db=dbs["slots"]).iternext():
        if len(value) != 8:
            bad(f"{where}: the slot of id {_id(key)} is {len(value)} bytes, not 8")
            continue
        slot_of[key] = int.from_bytes(value, "little")
    if set(slot_of) != vector_set:
        no_slot = [_id(k) for k in vector_set - set(slot_of)]
        no_vector = [_id(k) for k in set(slot_of) - vector_set]
        if no_slot:
            bad(f"{where}: ids {_listed(sorted(no_slot))} have a vector but no slot")
        if no_vector:
            bad(f"{where}: ids {_listed(sorted(no_vector))} have a slot but no vector")
    if len(set(slot_of.values())) != len(slot_of):
        bad(f"{where}: two ids share a slot")

    chunks = list(txn.cursor(db=dbs["chunks"]).iternext())
    lengths = {len(v) for _, v in chunks}
    if len(lengths) > 1:
        bad(f"{where}: chunk rows of different sizes {sorted(lengths)}")
    elif lengths and (min(lengths) < CHUNK * 8 or (min(lengths) - CHUNK * 8) % CHUNK):
        bad(f"{where}: chunk rows of {min(lengths)} bytes fit no layout of {CHUNK} slots")
    else:
        top = 1 + max((int.from_bytes(k, "big") for k, _ in chunks), default=-1)
        chunk_ids = np.full(top * CHUNK, -1, np.int64)
        for key, value in chunks:
            lo = int.from_bytes(key, "big") * CHUNK
            chunk_ids[lo : lo + CHUNK] = np.frombuffer(value, "<i8", count=CHUNK)
        wrong = [_id(k) for k, s in slot_of.items() if s >= len(chunk_ids) or chunk_ids[s] != _id(k)]
        if wrong:
            bad(f"{where}: the chunk rows do not give ids {_listed(sorted(wrong))} back at their slots")
        elif int((chunk_ids >= 0).sum()) != len(slot_of):
            bad(f"{where}: the chunk rows hold {int((chunk_ids >= 0).sum())} live slots, the slot map {len(slot_of)}")

    orphan, not_json = [], []
    n_payloads = 0
    for key, value in txn.cursor(db=dbs["payloads"]).iternext():
        n_payloads += 1
        if key not in vector_set:
            orphan.append(_id(key))
        try:
            json.loads(bytes(value))
        except ValueError:
            not_json.append(_id(key))
    if orphan:
        bad(f"{where}: payloads of ids {_listed(sorted(orphan))} belong to no stored point")
    if not_json:
        bad(f"{where}: payloads of ids {_listed(sorted(not_json))} are not JSON")

    meta = dbs["meta"]
    for key in (b"codec", b"ivf"):
        raw = txn.get(key, db=meta)
        if raw is None:
            continue
        try:
            state = state_from_bytes(bytes(raw))
            if key == b"codec":
                make_codec(config.quantization, config.dim, config.metric).with_state(state)
        except Exception as exc:  # noqa: BLE001 - any failure to read it back is the finding
            bad(f"{where}: the persisted {key.decode()} record is unreadable: {exc}")
    raw = txn.get(b"payload_indexes", db=meta)
    if raw is not None:
        try:
            declared = json.loads(bytes(raw))
            if not isinstance(declared, dict) or any(v not in INDEX_KINDS for v in declared.values()):
                raise ValueError(f"{declared!r} is not {{key: kind}}")
        except ValueError as exc:
            bad(f"{where}: the payload_indexes record is unreadable: {exc}")
    if config.id_type == "str":
        _check_str_ids(txn, where, dbs, vector_set, report)
    report.notes.append(f"{where}: {len(vector_keys)} vectors, {n_payloads} payloads, slots and chunk rows agree")


def _check_str_ids(txn: lmdb.Transaction, where: str, dbs: dict, vector_set: set, report: CheckReport) -> None:
    """id_type="str": the two maps are inverse of each other and name exactly the stored points."""
    bad = report.problems.append
    by_name = {bytes(k): bytes(v) for k, v in txn.cursor(db=dbs[BY_NAME]).iternext()}
    by_internal = {bytes(k): bytes(v) for k, v in txn.cursor(db=dbs[BY_INTERNAL]).iternext()}
    not_utf8 = []
    for name in by_name:
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8.append(repr(name[:40]))
    if not_utf8:
        bad(f"{where}: str ids {_listed(not_utf8)} are not UTF-8")
    one_way = [repr(n[:40].decode("utf-8", "replace")) for n, i in by_name.items() if by_internal.get(i) != n]
    other_way = [_id(i) for i, n in by_internal.items() if by_name.get(n) != i]
    if one_way:
        bad(f"{where}: str ids {_listed(one_way)} map to internal ids that do not map back to them")
    if other_way:
        bad(f"{where}: internal ids {_listed(sorted(other_way))} have names that do not map back to them")
    unnamed = sorted(_id(k) for k in vector_set - set(by_internal))
    no_point = sorted(_id(k) for k in set(by_internal) - vector_set)
    if unnamed:
        bad(f"{where}: the points of internal ids {_listed(unnamed)} have no str id")
    if no_point:
        bad(f"{where}: internal ids {_listed(no_point)} have a str id but no point")
    raw = txn.get(NEXT_KEY, db=dbs["meta"])
    top = max((_id(k) for k in by_internal), default=-1)
    if by_internal and (raw is None or int.from_bytes(raw, "big") <= top):
        bad(f"{where}: the next internal id ({'none' if raw is None else int.from_bytes(raw, 'big')}) "
            f"is not above the largest one in use ({top})")
    if not (one_way or other_way or unnamed or no_point):
        report.notes.append(f"{where}: {len(by_name)} str ids, both maps agree with the points")


def _id(key: bytes) -> int:
    return int.from_bytes(key, "big")


# -- pass 3: persisted codes against the vectors -------------------------------------------
def _check_codes(path: str, names: list[str], report: CheckReport) -> None:
    try:
        db = Database(path, read_only=True)
    except VecstoreError as exc:
        # a collection whose persisted codes are stale would have to be rebuilt
        report.problems.append(f"opening through the engine failed: {type(exc).__name__}: {exc}")
        return
    try:
        for name in names:
            _compare_codes(db.get_collection(name), report)
    finally:
        db.close()


def _compare_codes(col, report: CheckReport) -> None:
    where = f"collection '{col.name}'"
    seg = col._seg
    live = np.flatnonzero(seg.ids[: seg.n] >= 0)
    if not seg.code_bytes and seg.ivf is None:
        report.notes.append(f"{where}: no persisted codes to compare ({len(live)} points)")
        return
    wrong_codes, wrong_lists = [], []
    list_of = seg.lists_by_slot() if seg.ivf is not None else None
    for lo in range(0, len(live), _BLOCK):
        slots = live[lo : lo + _BLOCK]
        vectors, found = col._read_vectors(seg.ids[slots], tolerant=True)
        if not found.all():
            report.problems.append(f"{where}: ids {_listed(seg.ids[slots[~found]].tolist())} are in the segment "
                                   "but have no vector")
            return
        xp = col._prepare(vectors, "vector", check=False)
        if seg.code_bytes:
            bad = np.flatnonzero((seg.codec.encode(xp) != seg.take_codes(slots)).any(axis=1))
            wrong_codes += seg.ids[slots[bad]].tolist()
        if seg.ivf is not None:
            bad = np.flatnonzero(seg.ivf.assign(xp) != list_of[slots])
            wrong_lists += seg.ids[slots[bad]].tolist()
    if wrong_codes:
        report.problems.append(f"{where}: persisted codes of ids {_listed(wrong_codes)} differ from their vectors' codes")
    if wrong_lists:
        report.problems.append(f"{where}: ids {_listed(wrong_lists)} are in the wrong IVF list")
    if not wrong_codes and not wrong_lists:
        report.notes.append(f"{where}: persisted codes of {len(live)} points match their vectors")
