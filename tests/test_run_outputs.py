"""What a run tells and leaves: "done in" gives the whole run's time with its parts named (torch's too);
a run into a folder removes the files of an earlier run that it does not rewrite, and says which; a
missing matplotlib is said on the terminal, not only in REPORT.md. (On the bundled sample: quick.)"""
import json
import re

import pytest

from experiments import cli, plots

DONE = re.compile(r"B-mlp: done in ([\d.]+) s: data ([\d.e-]+) s, ours ([\d.e-]+) s, torch ([\d.e-]+) s, "
                  r"report ([\d.e-]+) s; epoch 1: ")


def run(tmp_path, *extra):
    return cli.main(["run", "B-mlp", "--epochs", "1", "--subset", "200", "--sample", "--no-progress",
                     "--out", str(tmp_path), *extra])


@pytest.mark.slow          # three short runs, one with torch: ~15 s
def test_done_in_names_the_parts_and_a_rerun_leaves_no_earlier_files(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch", reason="the torch part of the time needs torch")
    pytest.importorskip("matplotlib", reason="the plots need matplotlib")
    assert run(tmp_path, "--grad-plots") == 0
    out, err = capsys.readouterr()
    done = DONE.search(out)
    assert done, out
    total, *parts = map(float, done.groups())
    assert total >= sum(parts) - 0.2 and all(p > 0 for p in parts)      # rounding to 2-3 digits
    metrics = json.loads((tmp_path / "B-mlp" / "metrics.json").read_text())
    assert parts[2] >= metrics["torch"]["wall_time_s"] * 0.95      # the torch part holds its training
    run_dir = tmp_path / "B-mlp"
    assert {"scratch_vs_torch.png", "gradient_flow.png", "gradient_flow.json"} <= {p.name for p in run_dir.iterdir()}

    assert run(tmp_path, "--no-torch") == 0
    out, err = capsys.readouterr()
    assert re.search(r"B-mlp: done in [\d.]+ s: data [\d.e-]+ s, ours [\d.e-]+ s, report [\d.e-]+ s; ", out), out
    assert ("B-mlp: removed the earlier run's activation_histograms.png, gradient_flow.json, gradient_flow.png, "
            "weight_histograms.png (this run does not write them)") in err
    assert "B-mlp: removed the earlier run's scratch_vs_torch.png (this run does not write it)" in err
    names = {p.name for p in run_dir.iterdir()}
    assert not names & {"scratch_vs_torch.png", "gradient_flow.png", "gradient_flow.json", "weight_histograms.png"}
    report = (run_dir / "REPORT.md").read_text()
    assert "no torch run" in report and "scratch_vs_torch" not in report and "gradient_flow" not in report

    monkeypatch.setattr(plots, "missing_reason", lambda: "matplotlib is not installed (test)")
    assert run(tmp_path, "--no-torch") == 0
    out, err = capsys.readouterr()
    assert "B-mlp: no plots drawn: matplotlib is not installed (test)" in err
    assert "B-mlp: removed the earlier run's accuracy_curves.png, confusion_test.png" in err
    assert not list(run_dir.glob("*.png"))
