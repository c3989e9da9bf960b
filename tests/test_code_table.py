"""CodeTable: rows in, rows out, whichever layout the codec scans."""
import numpy as np
import pytest

from vecstore.engine.code_table import BlockedCodes, CodeTable
from vecstore.engine.persist import CHUNK


@pytest.mark.parametrize("block_words", [0, 6])
def test_put_take_grow_and_zero_keep_rows(rng, block_words):
    rows = rng.integers(0, 256, (700, 52), dtype=np.uint8)
    table = CodeTable.from_rows(rows, block_words)
    assert table.capacity >= 700
    assert table.nbytes == table.capacity * 52
    np.testing.assert_array_equal(table.rows(0, 700), rows)
    slots = rng.permutation(700)[:50]
    new = rng.integers(0, 256, (50, 52), dtype=np.uint8)
    table.put(slots, new)
    rows[slots] = new
    table = table.grown(2000)
    assert table.capacity >= 2000
    np.testing.assert_array_equal(table.take(np.arange(700)), rows)
    assert not table.rows(700, 2000).any()
    table.zero(slots[:5])
    rows[slots[:5]] = 0
    np.testing.assert_array_equal(table.rows(0, 700), rows)


def test_blocked_scan_view_splits_words_and_tail(rng):
    rows = rng.integers(0, 256, (300, 20), dtype=np.uint8)  # 2 words + a 4-byte tail
    table = CodeTable.from_rows(rows, block_words=2)
    view = table.scan_view(300)
    assert isinstance(view, BlockedCodes)
    assert view.blocks.shape == (2, 2, CHUNK) and view.blocks.dtype == np.uint64
    words = np.ascontiguousarray(rows[:, :16]).view(np.uint64)
    np.testing.assert_array_equal(view.blocks[1, :, 299 - CHUNK], words[299])
    np.testing.assert_array_equal(view.tail[:, :300], np.ascontiguousarray(rows[:, 16:]).view(np.uint16).T)
    assert table.scan_view(CHUNK).blocks.shape[0] == 1
    np.testing.assert_array_equal(CodeTable.from_rows(rows).scan_view(300), rows)


def test_blocked_words_must_fit_the_row():
    with pytest.raises(ValueError):
        CodeTable(CHUNK, 12, block_words=2)
    with pytest.raises(ValueError):
        CodeTable(CHUNK, 19, block_words=2)  # an odd tail is no uint16 column
