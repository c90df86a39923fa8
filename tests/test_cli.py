import io
import json
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
import torch
from PIL import Image

from latentseg import evaluate, load_checkpoint, synthetic_shapes
from latentseg.cli import main
from latentseg.models import MODELS, build_model, count_parameters
from latentseg.training import RECIPE

TINY_DATA = ["--train-size", "16", "--val-size", "4", "--test-size", "4", "--image-size", "32", "--epochs", "1", "--quiet"]
TINY = [*TINY_DATA, "--model", "article", "--feature-dim", "8", "--latent-dim", "8", "--num-latents", "4", "--num-heads", "2"]


def cli(*args, check=True, process=False):
    """Run ``python -m latentseg ARGS``: in this process by default (torch's import is paid once for the
    whole suite), in a process of its own with ``process=True``. An exception that escapes ``main``
    fails the test, as a traceback would fail the user."""
    argv = [str(arg) for arg in args]
    if process:
        result = subprocess.run([sys.executable, "-m", "latentseg", *argv], capture_output=True, text=True)
    else:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
            try:
                code = main(argv)
            except SystemExit as stop:  # argparse's refusals and --help
                code = stop.code
        result = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = cli("train", *TINY, "--out", out)
    assert "mIoU" in result.stdout
    return out


def test_train_writes_checkpoint_picture_and_history(trained):
    assert {p.name for p in trained.iterdir()} == {"model.pt", "predictions.png", "history.json"}
    assert len(json.loads((trained / "history.json").read_text())) == 1
    assert Image.open(trained / "predictions.png").size[0] > 100


def test_evaluate_json(trained):
    result = cli("evaluate", trained / "model.pt", "--json", "--num-images", "4", "--seed", "3")
    metrics = json.loads(result.stdout)  # exactly one JSON object
    assert set(metrics) >= {"miou", "pixel_accuracy", "per_class_iou", "class_names", "confusion", "seed"}
    assert metrics["image_size"] == 32 and metrics["seed"] == 3 and len(metrics["per_class_iou"]) == 4
    model, _ = load_checkpoint(trained / "model.pt")
    direct = evaluate(model, synthetic_shapes(4, size=32, seed=3, split="test"))
    assert metrics["miou"] == pytest.approx(direct.miou) and metrics["confusion"] == direct.confusion
    again = json.loads(cli("evaluate", trained / "model.pt", "--json", "--num-images", "4", "--seed", "3").stdout)
    assert again == metrics


def test_predict_png_and_jpeg_of_any_size(trained, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 255, (33, 41, 3), dtype=np.uint8)).save(tmp_path / "b.jpg")
    Image.fromarray(rng.integers(0, 255, (20, 30), dtype=np.uint8)).save(tmp_path / "grey.png")
    out = tmp_path / "masks"
    cli("predict", trained / "model.pt", tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "grey.png",
        "--out", out, "--colour")
    a = np.asarray(Image.open(out / "a.png"))
    assert a.shape == (50, 70) and a.dtype == np.uint8 and a.max() < 4
    assert np.asarray(Image.open(out / "b.png")).shape == (33, 41)
    assert np.asarray(Image.open(out / "grey_colour.png")).shape == (20, 30, 3)


def test_predict_large_image_is_downscaled_but_mask_is_full_size(trained, tmp_path):
    Image.fromarray(np.zeros((300, 200, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    cli("predict", trained / "model.pt", tmp_path / "big.png", "--out", tmp_path / "masks", "--max-size", "64")
    assert np.asarray(Image.open(tmp_path / "masks" / "big.png")).shape == (300, 200)


def test_predict_errors_name_the_file(trained, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = cli("predict", trained / "model.pt", tmp_path / "broken.png", "--out", tmp_path / "o", check=False)
    assert result.returncode == 2 and "broken.png" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
    result = cli("predict", trained / "model.pt", tmp_path / "missing.png", "--out", tmp_path / "o", check=False)
    assert result.returncode == 2 and "missing.png" in result.stderr
    Image.fromarray(np.zeros((3, 3, 3), dtype=np.uint8)).save(tmp_path / "tiny.png")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a_fine.png")
    result = cli("predict", trained / "model.pt", tmp_path / "a_fine.png", tmp_path / "tiny.png", "--out", tmp_path / "o",
                 check=False)
    assert result.returncode == 2 and "H, W ≥ 4" in result.stderr
    assert not (tmp_path / "o").exists(), "a failed predict leaves no folder behind, not even the masks it wrote"


def test_predict_reads_a_folder_in_name_order(trained, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("b.png", "a.jpg", ".hidden.png", "notes.txt"):
        (photos / name).write_bytes(b"")
    rng = np.random.default_rng(0)
    for name, size in (("b.png", (20, 30)), ("a.jpg", (40, 24))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(photos / name)
    (photos / ".hidden.png").unlink()
    result = cli("predict", trained / "model.pt", photos, "--out", tmp_path / "masks")
    assert [line.split(" → ")[0] for line in result.stdout.splitlines()] == [str(photos / "a.jpg"), str(photos / "b.png")]
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a.png", "b.png"]
    assert np.asarray(Image.open(tmp_path / "masks" / "a.png")).shape == (40, 24)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("predict", trained / "model.pt", empty, "--out", tmp_path / "none", check=False)
    assert result.returncode == 2 and f"the folder {empty} holds no images" in result.stderr


def test_evaluate_corrupt_checkpoint(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 100)
    result = cli("evaluate", tmp_path / "bad.pt", "--json", check=False, process=True)  # a real process: its stderr, its status
    assert result.returncode == 2 and "not a readable latentseg checkpoint" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "bench"])
def test_help(command):
    assert "usage:" in cli(command, "--help").stdout


def test_bench_tiny_run_writes_json_and_plot(tmp_path):
    printed = cli("bench", "--steps", "4", "--sizes", "16", "--batch-size", "2", "--repeats", "1", "--image-size", "16",
                  "--train-size", "8", "--val-size", "4", "--test-size", "4", "--val-every", "2", "--attention-sizes", "16",
                  "32", "--dice-weight", "0.5", "--edge-weight", "2", "--optimizer", "adamw", "--muon-momentum", "0.9",
                  "--texture-refill", "0.25", "--texture-energy", "--encoder-blocks", "3", "--rounds", "3", "--out",
                  tmp_path).stdout
    result = json.loads((tmp_path / "bench.json").read_text())
    trunk = {"texture_energy": True, "encoder_blocks": 3, "rounds": 3}  # the article's model and the U-Net have none
    assert result["model_config"] == {"improved": trunk, "experts": trunk}
    assert "improved, experts: texture_energy=True, encoder_blocks=3, rounds=3" in printed
    expected = {name: count_parameters(build_model(name, num_classes=4, **result["model_config"].get(name, {})))
                for name in MODELS}
    params = {name: run["params"] for name, run in result["training"].items()}
    assert params == expected and params["improved"] > count_parameters(build_model("improved", num_classes=4))
    assert result["recipe"] == {**RECIPE.to_dict(), "batch_size": 2, "dice_weight": 0.5, "edge_weight": 2.0, "optimizer": "adamw",
                                "muon_momentum": 0.9, "texture_refill": 0.25}
    attention = result["attention"]
    assert [(r["image_size"], r["tokens"]) for r in attention["ratios"]] == [(16, 16), (32, 64)]
    assert all(r["sdpa_speedup_over_mha"] > 0 and r["full_over_latent"] > 0 for r in attention["ratios"])
    assert {(r["kind"], r["tokens"]) for r in attention["rows"]} == {(k, n) for k in ("latent", "latent_mha", "full")
                                                                      for n in (16, 64)}
    assert set(attention["slopes"]) == {"latent", "latent_mha", "full"}
    assert (tmp_path / "bench.png").stat().st_size > 0
    assert {r["model"] for r in result["rows"]} == {"article", "improved", "experts", "unet"}
    for row in result["rows"]:
        assert row["size"] == 16 and row["params"] > 0
        assert row["train_images_per_s"] > 0 and row["inference_images_per_s"] > 0 and row["activation_memory_mb"] > 0
        assert row["inference_ratio_to_article"] > 0
    assert [r["inference_ratio_to_article"] for r in result["rows"] if r["model"] == "article"] == [1.0]
    for t in result["training"].values():
        present = [v for v in t["test_per_class_iou"] if v is not None]
        assert t["test_miou"] == pytest.approx(sum(present) / len(present)) and len(t["test_per_class_iou"]) == 4
        assert t["steps"] == 4 and t["curve"][-1][0] == t["train_seconds"]
        assert [step for step, _ in t["step_curve"]] == [2, 4], "validated every --val-every steps and at the end"
        assert all(0 <= t[k] <= 1 for k in ("shifted_miou", "greyscale_miou", "texture_miou", "hue_agreement"))
        assert set(t["summary"]) >= {"test_miou", "shifted_miou", "greyscale_miou", "texture_miou", "hue_agreement", "pq",
                                     "shifted_pq"}
        assert 0 <= t["pq"] <= 1 and 0 <= t["shifted_pq"] <= 1 and len(t["per_class_pq"]) == 4
        assert t["seconds_to_target"] is None or t["seconds_to_target"] <= t["train_seconds"]
        assert all(0 <= miou <= 1 for _, miou in t["curve"])
    assert 0.5 < result["baselines"]["oracle_pq"] <= 1 and 0 < result["baselines"]["oracle_shifted_pq"] <= 1
    for name in ("article", "improved", "experts"):
        spec = result["training"][name]["specialisation"]
        assert 0 <= spec["nmi"] <= 1 and 0 <= spec["routing_entropy_ratio"] <= 1 + 1e-6 and spec["duplicate_pairs"] >= 0
    assert "specialisation" not in result["training"]["unet"]
    assert [r["seed"] for r in result["training"]["article"]["runs"]] == [0]
    assert result["training"]["article"]["summary"]["test_miou"]["std"] == 0


def test_bench_several_seeds_report_mean_and_spread(tmp_path):
    out = cli("bench", "--models", "article", "--steps", "2", "--sizes", "16", "--batch-size", "2", "--repeats", "1",
              "--image-size", "16", "--train-size", "8", "--val-size", "4", "--test-size", "4", "--val-every", "2",
              "--attention-sizes", "--seeds", "0", "1", "--out", tmp_path).stdout
    training = json.loads((tmp_path / "bench.json").read_text())["training"]["article"]
    runs = training["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and "article mean ± std" in out
    mean = training["summary"]["test_miou"]["mean"]
    assert mean == pytest.approx((runs[0]["test_miou"] + runs[1]["test_miou"]) / 2)
    assert training["summary"]["nmi"]["std"] == pytest.approx(abs(runs[0]["specialisation"]["nmi"]
                                                                    - runs[1]["specialisation"]["nmi"]) / 2 ** 0.5)


@pytest.mark.parametrize(("model", "optimizer"), [("improved", "muon"), ("unet", "adamw")])
def test_train_each_model_and_reload(tmp_path, model, optimizer):
    cli("train", *TINY_DATA, "--model", model, "--optimizer", optimizer, "--out", tmp_path)
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["model"] == model and payload["metadata"]["model"] == model
    assert payload["metadata"]["optimizer"] == optimizer and payload["metadata"]["lr"] == RECIPE.lr
    assert payload["metadata"]["muon_momentum"] == RECIPE.muon_momentum
    out = json.loads(cli("evaluate", tmp_path / "model.pt", "--json", "--num-images", "2").stdout)
    confusion = torch.tensor(out["confusion"])
    assert confusion.sum() == 2 * 32 * 32 and out["pixel_accuracy"] == pytest.approx(confusion.trace() / confusion.sum())


def test_latent_flags_are_refused_for_the_unet(tmp_path):
    result = cli("train", *TINY_DATA, "--model", "unet", "--feature-dim", "8", "--out", tmp_path, check=False)
    assert result.returncode == 2 and "--feature-dim" in result.stderr and "unet" in result.stderr


def test_bad_config_value_is_reported(tmp_path):
    result = cli("train", *TINY, "--num-heads", "3", "--out", tmp_path, check=False)
    assert result.returncode == 2 and "num_heads" in result.stderr and "divisible" in result.stderr
    assert not (tmp_path / "model.pt").exists()


def test_train_run_in_process_is_the_command_line_run(trained, tmp_path):
    """``latentseg.train_run`` with the arguments the command line was given trains the very same model."""
    from latentseg import RunConfig, TrainOptions, train_run

    config = RunConfig(model="article", train_size=16, val_size=4, test_size=4, image_size=32, epochs=1,
                       model_config=dict(feature_dim=8, latent_dim=8, num_latents=4, num_heads=2))
    run = train_run(tmp_path / "run", config, options=TrainOptions(progress=False))
    saved = torch.load(trained / "model.pt", weights_only=True)
    assert saved["state_dict"].keys() == run.model.state_dict().keys()
    assert all(torch.equal(v, run.model.state_dict()[k]) for k, v in saved["state_dict"].items())
    assert saved["metadata"]["test_metrics"]["miou"] == run.metrics["miou"]
    assert sorted(p.name for p in run.out.iterdir()) == sorted(p.name for p in trained.iterdir())
    def timeless(records):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert timeless(run.history.records) == timeless(json.loads((trained / "history.json").read_text()))


def test_train_evaluate_predict_on_pets_layout(tmp_path):
    from standins import write_pets_layout

    write_pets_layout(tmp_path / "data", num_trainval=20, num_test=6)
    out = tmp_path / "run"
    result = cli("train", "--data", "pets", "--data-root", tmp_path / "data", "--image-size", "32", "--epochs", "1",
                 "--quiet", "--model", "article", "--out", out)
    assert "18 images of Oxford-IIIT Pet" in result.stdout and "IoU pet" in result.stdout
    info = torch.load(out / "model.pt", weights_only=True)
    assert info["class_names"] == ["background", "pet"] and info["metadata"]["data"] == "pets"
    metrics = json.loads(cli("evaluate", out / "model.pt", "--json", "--data-root", tmp_path / "data").stdout)
    assert metrics["data"] == "pets" and metrics["num_images"] == 6 and metrics["image_size"] == 32
    photo = next((tmp_path / "data" / "oxford-iiit-pet" / "images").glob("*.jpg"))
    cli("predict", out / "model.pt", photo, "--out", tmp_path / "masks")
    assert np.asarray(Image.open(tmp_path / "masks" / f"{photo.stem}.png")).shape == Image.open(photo).size[::-1]


def test_train_evaluate_predict_on_the_nuclei_stack(tmp_path):
    from standins import write_nuclei_layout

    root = write_nuclei_layout(tmp_path / "stack", depth=20, size=48)
    out = tmp_path / "run"
    result = cli("train", "--data", "nuclei", "--data-root", root, "--image-size", "32", "--epochs", "1", "--quiet",
                 "--model", "unet", "--out", out)
    assert "z-slices of a fluorescence microscopy stack" in result.stdout and "IoU nucleus" in result.stdout
    info = torch.load(out / "model.pt", weights_only=True)
    assert info["class_names"] == ["background", "nucleus"] and info["metadata"]["data"] == "nuclei"
    metrics = json.loads(cli("evaluate", out / "model.pt", "--json", "--data-root", root).stdout)
    assert metrics["data"] == "nuclei" and metrics["num_images"] == 4 and metrics["image_size"] == 32
    packaged = json.loads(cli("evaluate", out / "model.pt", "--json").stdout)
    assert packaged["num_images"] == 12, "without --data-root: the installed package's test split"
    import tifffile

    slice_png = tmp_path / "slice.png"
    Image.fromarray((tifffile.imread(root / "nuclei.tif")[15] >> 8).astype(np.uint8)).save(slice_png)
    cli("predict", out / "model.pt", slice_png, "--out", tmp_path / "masks")
    assert np.asarray(Image.open(tmp_path / "masks" / "slice.png")).shape == (48, 48)
    bad = cli("train", "--data", "nuclei", "--data-root", tmp_path, "--quiet", check=False)
    assert bad.returncode == 2 and "no file at" in bad.stderr and "Traceback" not in bad.stderr


def test_bench_races_on_the_nuclei_stack(tmp_path):
    result = cli("bench", "--data", "nuclei", "--steps", "2", "--models", "article", "unet", "--sizes", "16",
                 "--batch-size", "2", "--repeats", "1", "--image-size", "32", "--val-every", "1", "--attention-sizes",
                 "--out", tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["data"] == "nuclei" and data["image_size"] == 32 and data["train_size"] == 36
    assert 0.3 < data["baselines"]["all_background_miou"] < 0.5 and data["baselines"]["threshold_nucleus_iou"] > 0.8
    for t in data["training"].values():
        assert t["nucleus_iou"] == t["test_per_class_iou"][1] and "shifted_miou" not in t
        assert set(t["summary"]) >= {"test_miou", "nucleus_iou"}
    assert "z-slices of the nuclei stack" in result.stdout and "one brightness threshold" in result.stdout


def test_train_on_a_folder_and_clear_data_errors(tmp_path):
    from latentseg.data.folder import write_shapes_folder

    root = write_shapes_folder(tmp_path / "mine", num_images=10, size=32)
    result = cli("train", f"--data=folder:{root}", "--image-size", "32", "--epochs", "1", "--quiet", "--model", "unet",
                 "--out", tmp_path / "run")
    assert "8 images of the folder" in result.stdout and "IoU triangle" in result.stdout
    bad = cli("train", "--data", "folder:" + str(tmp_path / "absent"), "--quiet", check=False)
    assert bad.returncode == 2 and "no folder" in bad.stderr
    bad = cli("train", "--data", "imagenet", "--quiet", check=False)
    names = ("'synthetic', 'crowded', 'classic', 'textured', 'shifted', 'shifted-crowded', 'shifted-texture', 'nuclei', "
             "'pets' or 'folder:PATH'")
    assert bad.returncode == 2 and names in bad.stderr


def test_bench_throughput_only(tmp_path):
    result = cli("bench", "--budget", "0", "--models", "article", "--sizes", "16", "--batch-size", "2", "--repeats", "1",
                 "--attention-sizes", "--out", tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["training"] == {} and data["attention"] is None and data["rows"][0]["precision"] == "float32"
    assert "no training" in result.stdout and not (tmp_path / "bench.png").exists()
    bad = cli("bench", "--precision", "fp16", "--budget", "0", "--sizes", "16", "--attention-sizes", "--out", tmp_path,
              check=False)
    assert bad.returncode == 2 and "fp16 autocast needs a CUDA device" in bad.stderr


def test_bench_for_a_fixed_number_of_steps(tmp_path):
    result = cli("bench", "--steps", "3", "--models", "article", "--sizes", "16", "--batch-size", "2", "--repeats", "1",
                 "--image-size", "16", "--train-size", "8", "--val-size", "4", "--test-size", "4", "--shifted-size", "3",
                 "--attention-sizes", "--look", "classic", "--out", tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["steps"] == 3 and data["budget_s"] is None and data["look"] == "classic"
    assert data["training"]["article"]["steps"] == 3 and "training for 3 steps" in result.stdout
    assert "shifted" in result.stdout and "classic look" in result.stdout
    crowded = cli("bench", "--steps", "2", "--models", "experts", "--sizes", "16", "--batch-size", "2", "--repeats", "1",
                  "--image-size", "32", "--train-size", "8", "--val-size", "4", "--test-size", "8", "--shifted-size", "4",
                  "--attention-sizes", "--data", "crowded", "--out", tmp_path / "crowded")
    data = json.loads((tmp_path / "crowded" / "bench.json").read_text())
    assert data["data"] == "crowded" and "crowded synthetic" in crowded.stdout and "every semantic pipeline" in crowded.stdout
    assert data["baselines"]["oracle_pq"] < 0.7, "touching same-class shapes: components of perfect classes fall short"
    run = data["training"]["experts"]["runs"][0]
    assert {"scenes_pq", "mosaic8_pq", "canvas8_pq"} <= set(run) and "canvas 256" in crowded.stdout, "large images by windows"


def test_experts_train_evaluate_and_predict_instances(tmp_path):
    out = tmp_path / "run"
    result = cli("train", *TINY_DATA, "--model", "experts", "--latent-dim", "16", "--num-heads", "2", "--num-latents", "8",
                 "--texture-energy", "--encoder-blocks", "3", "--rounds", "3", "--no-masked-attention", "--mask-points", "512",
                 "--mask-dim", "8", "--out", out)
    assert "PQ " in result.stdout and "over things" in result.stdout
    config = load_checkpoint(out / "model.pt")[0].config  # the trunk's fields travel in the checkpoint
    assert config.texture_energy and config.encoder_blocks == 3 and config.rounds == 3 and not config.masked_attention
    assert config.mask_points == 512 and config.mask_dim == 8
    metrics = json.loads(cli("evaluate", out / "model.pt", "--json", "--num-images", "4").stdout)
    assert {"pq", "sq", "rq", "per_class_pq"} <= set(metrics) and 0 <= metrics["pq"] <= 1
    assert metrics["pq"] == pytest.approx(metrics["sq"] * metrics["rq"]) or metrics["rq"] == 0
    crowded = json.loads(cli("evaluate", out / "model.pt", "--json", "--data", "shifted-crowded", "--num-images", "3").stdout)
    assert crowded["data"] == "shifted-crowded" and "pq" in crowded
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    cli("predict", out / "model.pt", tmp_path / "a.png", "--out", tmp_path / "masks", "--instances")
    ids = np.asarray(Image.open(tmp_path / "masks" / "a_instances.png"))
    classes = np.asarray(Image.open(tmp_path / "masks" / "a.png"))
    found = json.loads((tmp_path / "masks" / "a.json").read_text())["instances"]
    assert ids.shape == classes.shape == (40, 30) and Image.open(tmp_path / "masks" / "a_instances.png").mode == "I;16"
    assert all(o["class"] in ("circle", "square", "triangle") and o["pixels"] == (ids == o["id"]).sum() for o in found)
    assert sorted(set(np.unique(ids)) - {0}) == sorted(o["id"] for o in found)


def test_instances_are_refused_where_there_are_none(trained, tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    result = cli("predict", trained / "model.pt", tmp_path / "a.png", "--out", tmp_path / "o", "--instances", check=False)
    assert result.returncode == 2 and "--instances: expected a model whose experts own objects" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()
    from standins import write_pets_layout

    write_pets_layout(tmp_path / "pets", num_trainval=20, num_test=4)
    result = cli("train", "--data", "pets", "--data-root", tmp_path / "pets", "--model", "experts", "--image-size", "32",
                 "--epochs", "1", "--quiet", "--out", tmp_path / "run", check=False)
    assert result.returncode == 2 and "carry no instance ids" in result.stderr and len(result.stderr.strip().splitlines()) == 1
