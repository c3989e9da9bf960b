"""The `vecstore` command: every command documented, and the shell workflow on
both a data directory and a server."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from vecstore import cli

from conftest import serving

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_command_is_documented_in_the_readme():
    text = README.read_text()
    parser_commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert parser_commands == set(cli.COMMANDS)
    for name in cli.COMMANDS:
        assert re.search(rf"`vecstore {name}\b", text), f"README does not document `vecstore {name}`"


@pytest.fixture(params=["data-dir", "server"])
def target(request, tmp_path):
    """The options that point the CLI at a database, for each way to reach one."""
    if request.param == "data-dir":
        yield ["--data-dir", str(tmp_path / "db")]
    else:
        with serving(tmp_path / "served") as address:
            yield ["--server", address]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_shell_workflow(tmp_path, capsys, target):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 16)).astype(np.float16)  # float16 files are accepted
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ids.npy", np.arange(1000, 1500))
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"n": i} if i % 2 else None) + "\n" for i in range(500)))

    code, out, err = run(capsys, "create", "docs", "--dim", 16, "--quantization", '{"kind": "binary", "train_size": 100}', *target)
    assert code == 0, err
    assert "train_size': 100" in out
    code, out, err = run(capsys, "import", "docs", tmp_path / "x.npy", "--ids", tmp_path / "ids.npy",
                         "--payloads", tmp_path / "p.jsonl", "--batch", 128, "--quiet", *target)
    assert code == 0, err
    assert "imported 500 vectors into docs (now 500 points)" in out
    code, out, err = run(capsys, "import", "more", tmp_path / "x.npy", "--create", "--metric", "l2", "--quiet", *target)
    assert code == 0, err

    assert run(capsys, "list", *target)[1].split() == ["docs", "more"]
    code, out, _ = run(capsys, "info", "docs", *target)
    assert "count=500" in out and "trained=True" in out

    code, out, err = run(capsys, "search", "docs", "--like", 1001, "-k", 3, "--with-payloads", *target)
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert hits[0]["id"] == 1001 and hits[0]["payload"] == {"n": 1} and len(hits) == 3
    np.save(tmp_path / "q.npy", x[[4, 7]].astype(np.float32))
    code, out, _ = run(capsys, "search", "docs", "--queries", tmp_path / "q.npy", "-k", 1, *target)
    assert [json.loads(line)["hits"][0]["id"] for line in out.splitlines()] == [1004, 1007]
    vector = ",".join(str(v) for v in x[9].astype(np.float32))
    code, out, _ = run(capsys, "search", "more", "--vector", vector, "-k", 1, *target)
    assert json.loads(out)["hits"][0]["id"] == 9 and json.loads(out)["hits"][0]["score"] == pytest.approx(0, abs=1e-3)

    assert run(capsys, "drop", "more", *target)[0] == 0
    assert run(capsys, "list", *target)[1].split() == ["docs"]


def test_errors_are_one_clean_line(tmp_path, capsys, target):
    code, out, err = run(capsys, "search", "nope", "--vector", "1,2", *target)
    assert code == 2 and "CollectionNotFoundError: collection 'nope' does not exist" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "create", "docs", "--dim", 4, "--metric", "hamming", *target)
    assert code == 2 and "InvalidConfigError" in err
    code, _, err = run(capsys, "import", "docs", tmp_path / "missing.npy", *target)
    assert code == 2 and "missing.npy" in err
    code, _, err = run(capsys, "search", "docs", *target)
    assert code == 2 and "give the query" in err


def test_commands_need_a_target(capsys, monkeypatch):
    monkeypatch.delenv("VECSTORE_SERVER", raising=False)
    code = cli.main(["list"])
    assert code == 2 and "--server HOST:PORT" in capsys.readouterr().err


def test_filtered_search_and_payload_indexes_in_info(tmp_path, capsys, target):
    x = np.eye(6, 8, dtype=np.float32) + 0.01
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"even": i % 2 == 0, "i": i}) + "\n" for i in range(6)))
    code, _, err = run(capsys, "import", "docs", tmp_path / "x.npy", "--payloads", tmp_path / "p.jsonl", "--create",
                       "--quantization", "none", "--quiet", *target)
    assert code == 0, err
    code, out, err = run(capsys, "search", "docs", "--like", 1, "-k", 6, "--filter", '{"even": true}', *target)
    assert code == 0, err
    assert sorted(hit["id"] for hit in json.loads(out)["hits"]) == [0, 2, 4]
    code, _, err = run(capsys, "search", "docs", "--like", 1, "--filter", '{"even": {"$tru": 1}}', *target)
    assert code == 2 and "InvalidFilterError: filter['even']['$tru']: unknown operator" in err
    code, _, err = run(capsys, "search", "docs", "--like", 1, "--filter", "{even}", *target)
    assert code == 2 and "--filter is not valid JSON" in err

    with open_same(target) as db:
        db.get_collection("docs").create_payload_index("i", "integer")
    code, out, err = run(capsys, "info", "docs", *target)
    assert code == 0, err
    assert "count=6" in out and "payload_indexes={'i': 'integer'}" in out


def open_same(target):
    """The database the CLI target points at, through the library."""
    import vecstore

    kind, where = target
    return vecstore.connect(where) if kind == "--server" else vecstore.open(where)
