import pytest
import torch

from latentseg import PLAIN, SegmentationModel, evaluate, fit, noise_data, synthetic_shapes
from latentseg.data.transforms import RandomHorizontalFlip
from latentseg.training import NonFiniteLoss, TrainOptions

QUIET = TrainOptions(progress=False)


def _run(seed: int = 0):
    torch.manual_seed(seed)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)
    train, val = synthetic_shapes(24, size=32, split="train"), synthetic_shapes(8, size=32, split="val")
    history = fit(model, train, val, recipe=PLAIN.replace(batch_size=8, lr=1e-3), epochs=2, seed=seed, options=QUIET)
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
    history = fit(model, data, recipe=PLAIN.replace(batch_size=8), epochs=6, options=QUIET)
    assert history["train_loss"][-1] < 0.8 * history["train_loss"][0]


class _Answers(torch.nn.Module):
    """Predicts fixed class maps, whatever the images: logits one-hot of ``answers`` ``N×H×W``."""

    def __init__(self, answers, num_classes):
        super().__init__()
        self.answers, self.config = answers, type("Config", (), {"num_classes": num_classes})
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        start = int(x[0, 0, 0, 0])  # each image carries its own index
        return torch.nn.functional.one_hot(self.answers[start:start + len(x)], 3).permute(0, 3, 1, 2).float()


def test_evaluate_scores_known_answers_worked_out_by_hand():
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 2, 255]]] * 3)
    answer = torch.tensor([[[0, 1, 1, 1], [2, 2, 0, 0]]] * 3)
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 4).contiguous()
    from latentseg import SegmentationData

    m = evaluate(_Answers(answer, 3), SegmentationData(images, target, ("a", "b", "c")), batch_size=2)
    # per image: class 0 IoU 1/3, class 1 2/3, class 2 2/3; 5 of 7 labelled pixels right
    assert m.per_class_iou == pytest.approx([1 / 3, 2 / 3, 2 / 3]) and m.miou == pytest.approx(5 / 9)
    assert m.pixel_accuracy == pytest.approx(5 / 7) and m.confusion == [[3, 3, 0], [0, 6, 0], [3, 0, 6]]


class _Clock:
    """A clock that moves ``tick`` seconds each time it is read: a training step reads it twice."""

    def __init__(self, tick):
        self.now, self.tick = 0.0, tick

    def __call__(self):
        self.now += self.tick
        return self.now


def test_max_seconds_stops_after_the_step_that_crosses_it_and_runs_the_schedule_on_the_clock(monkeypatch):
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2, num_classes=4)
    progress = []  # the share of the budget done, as each step asks the schedule for its rate
    monkeypatch.setattr("latentseg.training.loop.learning_rate_factor", lambda schedule, done: progress.append(done) or 1)
    history = fit(model, synthetic_shapes(64, size=16), recipe=PLAIN.replace(batch_size=4), epochs=50,
                  options=TrainOptions(max_seconds=0.2, clock=_Clock(0.05), progress=False))
    assert history.last["step"] == 5 and history.last["seconds"] == pytest.approx(0.25), "each step 0.05 s: 5 > 0.2"
    assert progress == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


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
        return fit(model, dataset, recipe=PLAIN.replace(batch_size=8), epochs=2,
                   options=TrainOptions(num_workers=workers, progress=False))["train_loss"]

    assert losses(data, 2) == losses(data, 0)  # same shuffle, same batches, whoever loads them
    assert losses(_Flipped(data), 2) == losses(_Flipped(data), 2)  # flips drawn in workers repeat
    with pytest.raises(ValueError, match="num_workers: expected an integer ≥ 0, got -1"):
        TrainOptions(num_workers=-1)


def test_bad_arguments():
    model = SegmentationModel(num_classes=4)
    data = synthetic_shapes(4, size=16)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, data, epochs=0)
    with pytest.raises(TypeError, match="recipe: expected a latentseg Recipe, got dict"):
        fit(model, data, recipe={"lr": 1e-3})
    with pytest.raises(ValueError, match="train_data: the model has num_classes=2 but the data has 4"):
        fit(SegmentationModel(num_classes=2), data)


def test_noise_cannot_be_learned_beyond_chance():
    """The article's data: labels are independent of images, so validation stays at chance."""
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=2)
    history = fit(model, noise_data(16, size=16), noise_data(16, size=16, split="val"), recipe=PLAIN.replace(batch_size=8),
                  epochs=3, options=QUIET)
    assert abs(history.last["val_pixel_accuracy"] - 0.5) < 0.03


def _short_run(**options):
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)
    history = fit(model, synthetic_shapes(32, size=16), recipe=PLAIN.replace(batch_size=8, lr=1e-3), epochs=1,
                  options=TrainOptions(progress=False, **options))
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
        fit(model, synthetic_shapes(32, size=16), recipe=PLAIN.replace(batch_size=4, lr=1e30), epochs=2, options=QUIET)


def test_non_finite_images_are_refused_by_fit_and_evaluate():
    data = synthetic_shapes(8, size=16)
    data.images[3, 0, 5, 5] = float("nan")
    torch.manual_seed(0)
    model = SegmentationModel(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2, num_classes=4)
    with pytest.raises(ValueError, match="train_data: images: expected finite values, got 1 NaN or infinite"):
        fit(model, data, recipe=PLAIN.replace(batch_size=8), epochs=1, options=QUIET)
    with pytest.raises(ValueError, match="data: images: expected finite values, got 1 NaN or infinite"):
        evaluate(model, data)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"train_data: the images of step 1 \(epoch 1\): expected finite values"):
        fit(model, _Flipped(data), recipe=PLAIN.replace(batch_size=8), epochs=1, options=QUIET)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)), "no step was taken"


@pytest.mark.parametrize("damage, error, message", [
    (lambda d: setattr(d, "masks", d.masks.clone().fill_(-1)), ValueError,
     "train_data: masks: expected class indices 0–3 .* got \\[-1\\]"),
    (lambda d: d.masks.__setitem__((0, 0, 0), 9), ValueError, "got \\[9\\]"),
    (lambda d: setattr(d, "images", (d.images * 255).to(torch.uint8)), TypeError, "images.float\\(\\) / 255"),
])
def test_fit_refuses_data_it_cannot_learn_from_before_training(damage, error, message):
    from latentseg import SegmentationModel, fit, synthetic_shapes

    data = synthetic_shapes(4, size=16, seed=0)
    damage(data)
    with pytest.raises(error, match=message):
        fit(SegmentationModel(num_classes=4), data, epochs=1)


def test_evaluate_names_a_class_count_that_does_not_match():
    from latentseg import SegmentationModel, evaluate, synthetic_shapes

    with pytest.raises(ValueError, match="data: the model has num_classes=2 but the data has 4 classes"):
        evaluate(SegmentationModel(num_classes=2), synthetic_shapes(4, size=16, seed=0))


@pytest.mark.parametrize("make, error, message", [
    (lambda run: run.RunConfig(seed="0"), TypeError, "seed: expected an int ≥ 0, got str '0'"),
    (lambda run: run.RunConfig(recipe={"lr": 1e-3}), TypeError, "recipe: expected a latentseg Recipe"),
    (lambda run: run.RunConfig(model_config={"num_classes": 9}), ValueError, "model_config: num_classes comes from the data"),
    (lambda run: run.RunConfig(epochs=0), ValueError, "epochs"),
    (lambda run: run.train_run(123), TypeError, "out: expected a folder path"),
    (lambda run: run.train_run(None, {"epochs": 1}), TypeError, "config: expected a latentseg RunConfig, got dict"),
    (lambda run: run.train_run(None, options={"compile": True}), TypeError, "options: expected a latentseg TrainOptions"),
    (lambda run: TrainOptions(precision="fp8"), ValueError, "precision: expected one of"),
    (lambda run: TrainOptions(max_seconds=-1), ValueError, "max_seconds"),
    (lambda run: TrainOptions(num_workers=-1), ValueError, "num_workers"),
])
def test_a_bad_run_argument_is_named_before_data_is_read(monkeypatch, make, error, message):
    import latentseg.run

    monkeypatch.setattr(latentseg.run, "load_splits", lambda *a, **k: pytest.fail("data read before the check"))
    with pytest.raises(error, match=message):
        make(latentseg.run)


def test_the_experts_model_on_a_folder_without_objects_is_refused_before_training(tmp_path, monkeypatch):
    import latentseg.run
    from latentseg.data.folder import write_shapes_folder

    write_shapes_folder(tmp_path / "shapes", num_images=12, size=32)
    monkeypatch.setattr(latentseg.run, "fit", lambda *a, **k: pytest.fail("trained before the check"))
    with pytest.raises(ValueError, match="the experts model learns and is tested on objects, but the train, val, test"):
        latentseg.run.train_run(None, latentseg.run.RunConfig(model="experts", data=f"folder:{tmp_path / 'shapes'}",
                                                              image_size=32))
