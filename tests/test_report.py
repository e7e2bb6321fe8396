import json

import pytest

from course_utils.report import record_result


def test_record_result_prints_and_appends_json(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(results))
    record_result("test accuracy", 0.98123, unit="")
    record_result("checks passed", True)
    assert capsys.readouterr().out.splitlines() == ["test accuracy: 0.9812", "checks passed: True"]
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert lines == [
        {"name": "test accuracy", "value": 0.98123, "unit": ""},
        {"name": "checks passed", "value": True, "unit": ""},
    ]


def test_record_result_without_results_file_only_prints(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COURSE_RESULTS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert record_result("seconds", 3, unit="s") is None
    assert capsys.readouterr().out == "seconds: 3 s\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, value", [("", 1), ("x", [1, 2]), ("x", None)])
def test_record_result_rejects_bad_input(name, value):
    with pytest.raises((ValueError, TypeError)):
        record_result(name, value)
