"""Figures: expert×class heat maps and log-log plots."""

import matplotlib.pyplot as plt
import pytest
import torch


def test_expert_class_and_loglog_figures():
    from latentseg.analysis.plots import plot_expert_class, plot_loglog

    specialist = torch.eye(4).repeat(2, 1) * 10  # 8 experts, each wholly one class
    fig = plot_expert_class({"specialist": specialist.tolist(), "generalist": torch.ones(8, 4).tolist()},
                            ["a", "b", "c", "d"])
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (8, 4) and shown.max() == 1 and shown.sum() == 8, "rows are shares of each expert's positions"
    assert fig.axes[1].images[0].get_array().max() == pytest.approx(0.25)
    plt.close(fig)
    fig = plot_loglog({"quadratic": ([1, 2, 4], [1, 4, 16])}, "n", "time")
    assert "slope 2.00" in fig.axes[0].get_legend().get_texts()[0].get_text()
    plt.close(fig)
