"""The plots say what they show (issue 16): titled with model, workload, cluster and GPUs; one
colour per SP method whatever the workload; USP's Ulysses x ring split on each point; the
deadline's value in the legend."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex

import parplan.commands.plots as plots
from parplan.cli import main


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the command saves (inspected, then written as usual)."""
    saved = []
    original = plots._save

    def keep(fig, path):  # noqa: ANN001
        saved.append(fig)
        fig.canvas.draw()  # texts laid out before the figure is closed
        original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def _legend(ax) -> dict[str, str]:  # noqa: ANN001
    return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()
            if not line.get_label().startswith("_")}  # fmt: skip


def test_sp_plot(figures, tmp_path, capsys) -> None:
    path = tmp_path / "sp.png"
    assert main(["compare-sp", "--model", "open-sora-1.2", "--workloads",
                 "video-256px-51f,video-512px-64f", "--sp-degrees", "2,4,8", "--gpus", "8",
                 "--zero", "2", "--ckpt", "full", "--plot", str(path), "--json"]) == 0  # fmt: skip
    assert capsys.readouterr().err.startswith(f"wrote {path}: ")
    (fig,) = figures
    assert fig._suptitle.get_text() == ("open-sora-1.2 · video-256px-51f + video-512px-64f · "
                                        "h100-dgx-ndr400 · 8 GPUs")  # fmt: skip
    step_ax = fig.axes[0]
    colours = _legend(step_ax)
    for method in ("ulysses", "ring", "fastseq"):  # the same colour for both workloads
        both = {c for label, c in colours.items() if label.startswith(method + " (")}
        assert both == {to_hex(plots.METHOD_COLOURS[method])}
    usp = [label for label in colours if label.startswith("usp")]
    assert usp and all("best ulysses x ring split" in label for label in usp)
    splits = {t.get_text() for t in step_ax.texts}
    assert splits and all(s.count("x") == 1 and s.replace("x", "").isdigit() for s in splits)


def test_deadline_plots(figures, tmp_path, capsys) -> None:
    curve, estimate = tmp_path / "curve.png", tmp_path / "gpus.png"
    assert main(["plan", "--model", "dit-s-2", "--workload", "imagenet-256", "--cluster",
                 "gb200-nvl72", "--deadline-days", "0.5", "--train-samples", "1e9", "--plot",
                 str(curve), "--json"]) == 0  # fmt: skip
    assert main(["estimate", "--model", "dit-xl-2", "--workload", "imagenet-256", "--cluster",
                 "h100-dgx-ndr400", "--train-samples", "1e8", "--deadline-days", "3", "--plot",
                 str(estimate), "--json"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"wrote {curve}: " in err and f"wrote {estimate}: " in err
    plan_fig, estimate_fig = figures
    title = plan_fig.axes[0].get_title()
    assert title.startswith("dit-s-2 · imagenet-256 · gb200-nvl72") and "(chosen: " in title
    assert "deadline: 0.5 days" in _legend(plan_fig.axes[0])
    assert any(label.startswith("chosen: ") for label in _legend(plan_fig.axes[0]))
    assert estimate_fig.axes[0].get_title().startswith("dit-xl-2 · imagenet-256 · h100-dgx-ndr400")
    assert "plan: " in estimate_fig.axes[0].get_title()
    assert "deadline: 3 days" in _legend(estimate_fig.axes[0])
