import pytest
import torch

from latentseg import PLAIN, SegmentationModel, evaluate, fit, noise_data, synthetic_shapes
from latentseg.data.transforms import RandomHorizontalFlip
from latentseg.device import pick_device
from latentseg.training import NonFiniteLoss


def _run(seed: int = 0):
    torch.manual_seed(seed)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)
    train, val = synthetic_shapes(24, size=32, split="train"), synthetic_shapes(8, size=32, split="val")
    history = fit(model, train, val, recipe=PLAIN.replace(batch_size=8, lr=1e-3), epochs=2, seed=seed, progress=False)
    return model, history


def test_fit_is_reproducible_and_records_history():
    _, a = _run()
    _, b = _run()
    assert a["train_loss"] == b["train_loss"] and a["val_miou"] == b["val_miou"]
    assert len(a) == 2 and set(a.last) == {"epoch", "step", "train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "seconds"}
    _, c = _run(seed=1)
    assert c["train_loss"] != a["train_loss"]


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)
    data = synthetic_shapes(32, size=32)
    history = fit(model, data, recipe=PLAIN.replace(batch_size=8), epochs=6, progress=False)
    assert history["train_loss"][-1] < 0.8 * history["train_loss"][0]


def test_evaluate_returns_consistent_metrics():
    model, _ = _run()
    m = evaluate(model, synthetic_shapes(8, size=32, split="test"))
    confusion = torch.tensor(m.confusion).double()
    assert confusion.sum() == 8 * 32 * 32 and m.pixel_accuracy == pytest.approx(float(confusion.trace() / confusion.sum()))
    iou = confusion.diag() / (confusion.sum(0) + confusion.sum(1) - confusion.diag())
    present = iou[~iou.isnan()]
    assert m.miou == pytest.approx(float(present.mean())) and len(m.per_class_iou) == 4


def test_max_seconds_stops_early():
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2, num_classes=4)
    history = fit(model, synthetic_shapes(64, size=32), recipe=PLAIN.replace(batch_size=4), epochs=50, max_seconds=0.2,
                  progress=False)
    assert len(history) < 50


class _Flipped(torch.utils.data.Dataset):
    """Synthetic shapes behind a random horizontal flip: loading draws random numbers."""

    def __init__(self, data):
        self.data, self.num_classes, self.flip = data, data.num_classes, RandomHorizontalFlip()

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.flip(*self.data[i])


def test_loader_workers_keep_the_batches_and_seed_the_augmentation():
    data = synthetic_shapes(24, size=32)

    def losses(dataset, workers):
        torch.manual_seed(0)
        model = SegmentationModel(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2, num_classes=4)
        return fit(model, dataset, recipe=PLAIN.replace(batch_size=8), epochs=2, num_workers=workers,
                   progress=False)["train_loss"]

    assert losses(data, 2) == losses(data, 0)  # same shuffle, same batches, whoever loads them
    assert losses(_Flipped(data), 2) == losses(_Flipped(data), 2)  # flips drawn in workers repeat
    with pytest.raises(ValueError, match="num_workers: expected an integer ≥ 0, got -1"):
        fit(SegmentationModel(num_classes=4), data, num_workers=-1)


def test_bad_arguments():
    model = SegmentationModel(num_classes=4)
    data = synthetic_shapes(4, size=16)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, data, epochs=0)
    with pytest.raises(TypeError, match="recipe: expected a latentseg Recipe, got dict"):
        fit(model, data, recipe={"lr": 1e-3})
    with pytest.raises(ValueError, match="train_data: model has num_classes=2 but the data has 4"):
        fit(SegmentationModel(num_classes=2), data)
    with pytest.raises(ValueError, match="device"):
        pick_device("gpu-please")


def test_noise_cannot_be_learned_beyond_chance():
    """The article's data: labels are independent of images, so validation stays at chance."""
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=2)
    history = fit(model, noise_data(16, size=16), noise_data(16, size=16, split="val"), recipe=PLAIN.replace(batch_size=8),
                  epochs=3, progress=False)
    assert abs(history.last["val_pixel_accuracy"] - 0.5) < 0.03


def test_precision_choices():
    from latentseg.device import resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None, "auto stays fp32 on a CPU"
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 autocast needs a CUDA device"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="precision: expected one of"):
        resolve_precision("half", cpu)


def _short_run(**options):
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)
    history = fit(model, synthetic_shapes(32, size=16), recipe=PLAIN.replace(batch_size=8, lr=1e-3), epochs=1, progress=False,
                  **options)
    return model, history


def test_bf16_autocast_and_channels_last_train_like_fp32():
    reference, ref_history = _short_run()
    model, history = _short_run(precision="bf16")
    assert history.last["train_loss"] == pytest.approx(ref_history.last["train_loss"], rel=0.02)
    assert all(p.dtype == torch.float32 for p in model.parameters()), "autocast keeps fp32 master weights"
    model, history = _short_run(channels_last=True)
    assert history.last["train_loss"] == pytest.approx(ref_history.last["train_loss"], rel=1e-4)
    assert model.encoder.conv1.weight.is_contiguous(), "weights are handed back in the default layout"


def test_compiled_training_matches_eager():
    reference, ref_history = _short_run()
    model, history = _short_run(compile=True)
    assert history.last["train_loss"] == pytest.approx(ref_history.last["train_loss"], rel=1e-4)
    for (name, p), q in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=name)


def test_a_loss_that_diverges_stops_training_before_the_weights_change():
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2, num_classes=4)
    with pytest.raises(NonFiniteLoss, match=r"the loss became (nan|inf) at step \d+ \(epoch 1\); lower the learning rate"):
        fit(model, synthetic_shapes(32, size=16), recipe=PLAIN.replace(batch_size=4, lr=1e30), epochs=2, progress=False)


def test_non_finite_images_are_refused_by_fit_and_evaluate():
    data = synthetic_shapes(8, size=16)
    data.images[3, 0, 5, 5] = float("nan")
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2, num_classes=4)
    with pytest.raises(ValueError, match="train_data: images: expected finite values, got 1 NaN or infinite"):
        fit(model, data, recipe=PLAIN.replace(batch_size=8), epochs=1, progress=False)
    with pytest.raises(ValueError, match="data: images 0–7: expected finite values"):
        evaluate(model, data)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(NonFiniteLoss, match="the batch's images hold NaN or infinite values"):  # data read lazily
        fit(model, _Flipped(data), recipe=PLAIN.replace(batch_size=8), epochs=1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)), "no step was taken"
