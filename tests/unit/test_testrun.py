"""invoke test's concurrent streams: every stream runs as its own pytest, and one failing stream fails the suite
with its whole log printed."""
from __future__ import annotations

import pytest

from alertstack import testrun


def _suite(tmp_path, monkeypatch, passing_body: str, failing_body: str):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "test_good.py").write_text(f"def test_one():\n    {passing_body}\n\ndef test_two():\n    pass\n")
    (bad / "test_bad.py").write_text(f"def test_three():\n    {failing_body}\n")
    monkeypatch.setattr(testrun, "STREAMS", {"first": (str(good),), "second": (str(bad),),
                                             "absent": (str(tmp_path / "missing"),)})
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(testrun, "build_images", lambda: True)


def test_all_streams_passing_exit_0_and_print_each_summary(tmp_path, monkeypatch, capsys):
    _suite(tmp_path, monkeypatch, "assert True", "assert 1 + 1 == 2")
    assert testrun.run(report_every_s=0) == 0
    out = capsys.readouterr().out
    assert "stream first: passed" in out and "stream second: passed" in out
    assert "2 passed" in out and "1 passed" in out
    assert "absent" not in out  # a stream whose directories do not exist is not started
    assert "2/2 streams passed" in out


def test_one_failing_stream_fails_the_suite_and_prints_its_log(tmp_path, monkeypatch, capsys):
    _suite(tmp_path, monkeypatch, "assert True", "assert 'drill' == 'paged'")
    assert testrun.run(report_every_s=0) == 1
    out = capsys.readouterr().out
    assert "stream second: FAILED" in out
    assert "assert 'drill' == 'paged'" in out  # the failing stream's whole log, assertion included
    assert "failed: second" in out
    assert (tmp_path / "logs" / "first.log").read_text().count("PASSED") == 2


def test_a_stream_that_selects_nothing_is_not_a_failure(tmp_path, monkeypatch):
    _suite(tmp_path, monkeypatch, "assert True", "assert True")
    assert testrun.run(["second"], k="test_one") == 0


def test_unknown_stream_is_a_usage_error():
    with pytest.raises(testrun.TestRunError, match="unknown test stream 'nightly'"):
        testrun.streams(["nightly"])
