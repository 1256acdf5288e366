"""`flywheel bench`: every workload runs and reports in DESIGN.md's JSON shape.

This checks the contract and that each workload really did its work (the workloads raise
when a count comes out wrong); the figures themselves belong in notes, not assertions.
"""

from __future__ import annotations

import json

from bench.report import Result, render_table
from bench.workloads import WORKLOADS
from tests.test_cli import flywheel

KEYS = {"workload", "metric", "value", "unit", "baseline", "baseline_value", "ratio"}


def test_bench_quick_json_reports_every_workload_with_its_baseline_ratio(tmp_path):
    # A generous hang guard: on a loaded machine --quick takes longer than its usual minute.
    result = flywheel("bench", "--quick", "--json", cwd=tmp_path, timeout=600)

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["workload"] for row in rows} == set(WORKLOADS)
    for row in rows:
        assert set(row) == KEYS
        assert isinstance(row["value"], float) and row["value"] > 0
        if row["baseline"] is None:
            assert row["baseline_value"] is None and row["ratio"] is None
        else:
            assert row["baseline_value"] > 0
            assert abs(row["ratio"] - row["value"] / row["baseline_value"]) < 1e-9


def test_an_unknown_workload_is_refused_with_the_known_names(tmp_path):
    result = flywheel("bench", "--workload", "nope", cwd=tmp_path)

    assert result.returncode == 2
    assert "no workload called 'nope'" in result.stderr and "outbox_dispatch" in result.stderr


def test_the_table_shows_ratios_and_a_dash_without_a_baseline():
    table = render_table(
        [
            Result("a", "rate", 50.0, "x/s", "raw", 100.0),
            Result("b", "rate", 7.0, "x/s"),
        ]
    )

    first, second = table.splitlines()[1:]
    assert first.split()[-1] == "0.50"
    assert second.split()[-1] == "-"


def test_proof_json_reports_both_pages_against_the_raw_queries(tmp_path):
    result = flywheel("bench", "--quick", "--json", "--workload", "proof_json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["metric"] for row in rows] == [
        f"{page}_{figure}"
        for page in ("first_page", "deep_page")
        for figure in ("p50_ms", "p99_ms", "requests_per_s")
    ]
    for row in rows:
        assert row["workload"] == "proof_json" and row["value"] > 0
        assert row["baseline"] == "sqlite3 page+files SELECTs" and row["baseline_value"] > 0


def test_stripe_webhook_reports_events_and_repeats_per_second_beside_verification_alone(
    tmp_path,
):
    result = flywheel("bench", "--quick", "--json", "--workload", "stripe_webhook", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["metric"] for row in rows] == ["events_per_s", "repeats_per_s"]
    for row in rows:
        assert row["workload"] == "stripe_webhook" and row["value"] > 0
        assert row["baseline"] == "signature verification alone" and row["baseline_value"] > 0


def test_ingest_reports_its_rates_against_raw_executemany_of_its_ledger_rows(tmp_path):
    result = flywheel("bench", "--quick", "--json", "--workload", "ingest", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["metric"] for row in rows] == ["events_per_s", "counted_events_per_s"]
    for row in rows:
        assert row["workload"] == "ingest" and row["value"] > 0
        assert row["baseline"] == "sqlite3.executemany ledger rows" and row["baseline_value"] > 0


def test_leaderboard_reports_top_and_own_rank_latency_beside_a_group_by(tmp_path):
    result = flywheel("bench", "--quick", "--json", "--workload", "leaderboard", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["metric"] for row in rows] == [
        f"{figure}_{share}_ms" for figure in ("top10", "own_rank") for share in ("p50", "p99")
    ]
    for row in rows:
        assert row["workload"] == "leaderboard" and row["value"] > 0
        assert row["baseline"] == "GROUP BY over the ledger" and row["baseline_value"] > 0
