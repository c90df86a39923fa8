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


def test_expert_colours_are_never_class_colours_and_never_the_switched_off_grey():
    import numpy as np

    from latentseg.analysis.plots import class_colours, expert_colours

    experts = expert_colours(40)[:, :3]
    classes = class_colours(8) / 255
    assert len(np.unique(experts.round(3), axis=0)) == 40, "every expert its own colour"
    distance = np.linalg.norm(experts[:, None] - classes[None], axis=-1)
    assert distance.min() > 0.12, "an expert colour is never mistaken for a class colour"
    grey = np.linalg.norm(experts - 0.8, axis=-1)
    assert grey.min() > 0.2, "no expert looks switched off"


def test_attention_maps_share_one_colour_scale_and_say_so():
    from latentseg.analysis.plots import overlay_maps, show_assignments

    maps = torch.rand(6, 4, 4)
    maps[2] *= 10  # one map with much larger weights
    fig = overlay_maps(torch.rand(3, 16, 16), maps, cols=3)
    overlays = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 6 and {im.get_clim() for im in overlays} == {(0, float(maps.max()))}
    assert any("one scale" in ax.get_xlabel() for ax in fig.axes), "a colour bar names the shared scale"
    plt.close(fig)
    assignment = torch.randint(0, 16, (2, 4, 4))
    fig = show_assignments(torch.rand(2, 3, 16, 16), torch.randint(0, 4, (2, 16, 16)), {"model": assignment})
    assert any(ax.get_xlabel() == "winning expert" for ax in fig.axes), "the expert colours have a key"
    plt.close(fig)
