"""Figures: what they draw (colours of known pixels, plotted values, legends), not only that they run."""

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
    bar = fig.axes[-1]
    assert len(fig.axes) == 3 and "one scale" in bar.get_ylabel(), "one colour bar, shared by both maps"
    assert bar.get_ylim() == (0, 1)
    plt.close(fig)
    fig = plot_loglog({"quadratic": ([1, 2, 4], [1, 4, 16])}, "n", "time")
    assert "slope 2.00" in fig.axes[0].get_legend().get_texts()[0].get_text()
    fig.canvas.draw()
    assert not any(t.get_text() for t in fig.axes[0].get_yticklabels(minor=True)), "no crowded minor labels"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "4"], "x labelled at the data only"
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
    sixteen = expert_colours(16)[:, :3]
    apart = np.linalg.norm(sixteen[:, None] - sixteen[None], axis=-1) + 9 * np.eye(16)
    assert apart.min() > 0.15, "sixteen experts: no two colours look alike"


def test_attention_maps_share_one_colour_scale_and_say_so():
    from latentseg.analysis.plots import plot_assignments, plot_attention_maps

    maps = torch.rand(6, 4, 4)
    maps[2] *= 10  # one map with much larger weights
    fig = plot_attention_maps(torch.rand(3, 16, 16), maps, cols=3)
    overlays = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 6 and {im.get_clim() for im in overlays} == {(0, float(maps.max()))}
    assert any("one scale" in ax.get_xlabel() for ax in fig.axes), "a colour bar names the shared scale"
    plt.close(fig)
    assignment = torch.randint(0, 16, (2, 4, 4))
    fig = plot_assignments(torch.rand(2, 3, 16, 16), torch.randint(0, 4, (2, 16, 16)), {"model": assignment})
    assert any(ax.get_xlabel() == "winning expert" for ax in fig.axes), "the expert colours have a key"
    plt.close(fig)


def test_colourize_gives_each_class_its_palette_colour_and_ignored_pixels_white():
    import numpy as np

    from latentseg.analysis.plots import PALETTE, class_colours, colourize

    mask = torch.tensor([[0, 1, 2], [3, 255, 9]])
    rgb = colourize(mask)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0].tolist() == PALETTE[:3].tolist() and rgb[1, 0].tolist() == PALETTE[3].tolist()
    assert rgb[1, 1].tolist() == [255, 255, 255], "ignored pixels (255) are white"
    assert rgb[1, 2].tolist() == class_colours(10)[9].tolist(), "classes beyond the palette get colours too"


def test_plot_predictions_draws_truth_and_prediction_in_class_colours_with_a_legend():
    from latentseg.analysis.plots import colourize, plot_predictions

    images, masks = torch.rand(3, 3, 8, 8), torch.randint(0, 4, (3, 8, 8))
    predictions = torch.zeros(3, 8, 8, dtype=torch.long)
    fig = plot_predictions(images, masks, predictions, ["bg", "a", "b", "c"])
    axes = fig.axes
    assert len(axes) == 9 and [axes[k].get_ylabel() for k in (0, 3, 6)] == ["image", "truth", "prediction"]
    assert (axes[4].images[0].get_array() == colourize(masks[1])).all(), "row 2, column 2: the second mask"
    assert (axes[8].images[0].get_array() == colourize(predictions[2])).all()
    assert [t.get_text() for t in axes[2].get_legend().get_texts()] == ["bg", "a", "b", "c"]
    plt.close(fig)


def test_plot_history_draws_the_recorded_values():
    from latentseg import History
    from latentseg.analysis.plots import plot_history

    history = History([{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "val_miou": 0.3},
                       {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "val_miou": 0.6}])
    fig = plot_history(history)
    loss, miou = fig.axes
    assert [line.get_label() for line in loss.lines] == ["train: the recipe's loss", "validation: plain cross-entropy"]
    assert list(loss.lines[0].get_ydata()) == [0.9, 0.5] and list(loss.lines[1].get_ydata()) == [0.8, 0.6]
    assert list(miou.lines[0].get_xdata()) == [1, 2] and list(miou.lines[0].get_ydata()) == [0.3, 0.6]
    plt.close(fig)


def test_plot_confusion_shows_row_shares_and_writes_them():
    from latentseg.analysis.plots import plot_confusion

    fig = plot_confusion([[3, 1], [0, 4]], ["bg", "shape"])
    ax = fig.axes[0]
    assert ax.images[0].get_array().tolist() == [[0.75, 0.25], [0.0, 1.0]]
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.00", "1.00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bg", "shape"]
    plt.close(fig)


def test_plot_curves_draws_one_labelled_line_per_model_and_the_target():
    from latentseg.analysis.plots import plot_curves

    fig = plot_curves({"improved": [[1, 0.2], [2, 0.6]], "unet": [[1, 0.3], [3, 0.7]]}, target=0.9, xlabel="steps")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["improved", "unet", "target 0.90"]
    assert list(ax.lines[1].get_xdata()) == [1, 3] and list(ax.lines[2].get_ydata()) == [0.9, 0.9]
    assert ax.get_xlabel() == "steps" and ax.get_legend() is not None
    plt.close(fig)


def test_plot_history_uses_steps_when_records_fall_within_an_epoch():
    """600 steps of 500 a epoch validated every 100: six records, two epochs — plotted by step."""
    from latentseg import History
    from latentseg.analysis.plots import plot_history

    history = History([{"epoch": 1 + (step > 500), "step": step, "train_loss": 1.0, "val_loss": 1.0, "val_miou": 0.5}
                       for step in range(100, 700, 100)])
    fig = plot_history(history)
    assert list(fig.axes[1].lines[0].get_xdata()) == [100, 200, 300, 400, 500, 600]
    assert fig.axes[1].get_xlabel() == "training step"
    plt.close(fig)
