"""benchmarks/device_check.py end to end at toy sizes on a CPU: every part runs and saves its
rows, so the first GPU lent spends its minutes measuring (issue 38)."""

import json
import os

from benchmarks import device_check


def test_every_part_runs_and_is_saved(tmp_path):
    out = str(tmp_path / "out")
    results = device_check.run(out, budget_s=3600, smoke=True)
    assert list(results) == list(device_check.PARTS)
    for name, result in results.items():
        assert "error" not in result, (name, result.get("error"))
        assert result["rows"], name
    with open(os.path.join(out, "device_check.json")) as f:
        assert json.load(f).keys() == results.keys()
    loop = results["loop"]["rows"]
    assert {r["precision"] for r in loop} == {"auto", "default", "highest"}
    assert {r["k"] for r in loop} == {"bare", 2}
    for row in results["precision"]["rows"]:  # float32 against float64: rounding-sized
        assert 0 <= row["grad_auto"] < 1e-2 and 0 <= row["value_default"] < 1e-3, row
    pops = results["populations"]["rows"]
    assert [r["members"] for r in pops] == [1, 2] and pops[1]["vs_one_run"] > 0
    (table1,) = results["table1"]["rows"]
    assert table1["steps"] == 2 and "fid_skipped" not in table1
    for name in ("table1.md", "table1_runs.csv", "device_check.md"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "table1_runs.csv")) as f:
        assert len(f.read().splitlines()) == 1 + 15  # 5 objectives x 3 seeds
