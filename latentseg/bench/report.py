"""``bench``'s result as text tables: throughput, attention timings, and the race."""

from __future__ import annotations

from typing import Any

from .sizes import GRIDS, SCENES


def throughput_table(result: dict[str, Any]) -> list[str]:
    """Parameters, images/s, the inference ratio to the article's model and activation memory per model and size."""
    precision = result["rows"][0]["precision"] if result["rows"] else "fp32"
    lines = [f"device {result['device']}, {result['threads']} threads, torch {result['torch']}, "
             f"batch {result['recipe']['batch_size']}, {precision}",
             f"{'model':<10}{'size':>6}{'params':>10}{'train img/s':>13}{'infer img/s':>13}{'vs article':>11}{'act. MiB':>10}"]
    for r in result["rows"]:
        ratio = "" if r["inference_ratio_to_article"] is None else f"{r['inference_ratio_to_article']:.2f}×"
        lines.append(f"{r['model']:<10}{r['size']:>6}{r['params']:>10,}{r['train_images_per_s']:>13.1f}"
                     f"{r['inference_images_per_s']:>13.1f}{ratio:>11}{r['activation_memory_mb']:>10.1f}")
    return lines


def attention_table(attention: dict[str, Any]) -> list[str]:
    """Milliseconds per step of one attention layer (SDPA, ``nn.MultiheadAttention``, full) and the slopes."""
    lines = ["", "one attention layer (dim 64, 4 heads, 16 latents), forward + backward, ms per step:",
             f"{'image':>7}{'tokens':>8}{'latent SDPA':>13}{'latent nn.MHA':>15}{'full SDPA':>11}"
             f"{'SDPA speed-up':>15}{'full / latent':>15}"]
    seconds = {(r["kind"], r["tokens"]): r["seconds"] for r in attention["rows"]}
    for r in attention["ratios"]:
        n = r["tokens"]
        lines.append(f"{r['image_size']:>7}{n:>8}{seconds['latent', n] * 1e3:>13.2f}{seconds['latent_mha', n] * 1e3:>15.2f}"
                     f"{seconds['full', n] * 1e3:>11.1f}{r['sdpa_speedup_over_mha']:>14.2f}×{r['full_over_latent']:>14.1f}×")
    slopes = attention["slopes"]
    lines.append("time slope against pixels (log-log): " + ", ".join(f"{k} {v['seconds']:.2f}" for k, v in slopes.items()))
    return lines


def _run_line(label: str, run: dict[str, Any]) -> str:
    reached = "never" if run["seconds_to_target"] is None else f"{run['seconds_to_target']:.1f}"
    if "nucleus_iou" in run:
        robust = f"{run['nucleus_iou']:>9.4f}"
    else:
        robust = (f"{run['shifted_miou']:>9.4f}{run['greyscale_miou']:>8.4f}{run.get('texture_miou', float('nan')):>9.4f}"
                  f"{run['hue_agreement']:>7.3f}")
    spec = run.get("specialisation")
    if spec:
        duplicates = f"{spec['duplicate_pairs']:.1f} ({spec['duplicate_pairs_used']:.1f})"
        experts = f"{spec['routing_entropy_ratio']:>14.2f}{spec['nmi']:>7.3f}{spec['experts_used']:>6}{duplicates:>19}"
    else:
        experts = f"{'–':>14}{'–':>7}{'–':>6}{'–':>19}"
    panoptic = f"{run['pq']:>8.4f}" + (f"{run['shifted_pq']:>12.4f}" if "shifted_pq" in run else "")
    return f"{label:<17}{run['steps']:>7}{run['test_miou']:>11.4f}{robust}{panoptic}{reached:>14}{experts}"


def _summary_line(name: str, summary: dict[str, dict[str, float]]) -> str:
    def pm(key: str, digits: int = 4) -> str:
        return f"{summary[key]['mean']:.{digits}f} ± {summary[key]['std']:.{digits}f}"

    line = f"{name + ' mean ± std':<24}mIoU {pm('test_miou')}, "
    if "nucleus_iou" in summary:
        line += f"nucleus IoU {pm('nucleus_iou')}"
    else:
        line += f"shifted {pm('shifted_miou')}, greyscale {pm('greyscale_miou')}, "
        line += f"texture {pm('texture_miou')}, " if "texture_miou" in summary else ""
        line += f"hue agreement {pm('hue_agreement', 3)}"
    line += f", PQ {pm('pq')}" + (f" (shifted {pm('shifted_pq')})" if "shifted_pq" in summary else "")
    if "nmi" in summary:
        line += (f", entropy/ln M {summary['routing_entropy_ratio']['mean']:.2f} ± "
                 f"{summary['routing_entropy_ratio']['std']:.2f}, NMI {summary['nmi']['mean']:.3f} ± "
                 f"{summary['nmi']['std']:.3f}, dup. {summary['duplicate_pairs']['mean']:.1f} "
                 f"({summary['duplicate_pairs_used']['mean']:.1f} among used)")
    return line


def model_config_text(result: dict[str, Any]) -> str:
    """The config fields bench set, grouped by the models that took the same ones:
    ``"; improved, experts: texture_energy=True, encoder_blocks=4"``; empty when none."""
    groups: dict[str, list[str]] = {}
    for name, config in result.get("model_config", {}).items():
        groups.setdefault(", ".join(f"{k}={v}" for k, v in config.items()), []).append(name)
    return "".join(f"; {', '.join(names)}: {fields}" for fields, names in groups.items())


def race_table(result: dict[str, Any]) -> list[str]:
    """One line per model and seed (steps, test mIoU, seconds to the target, expert figures), and the
    mean ± std over seeds."""
    recipe, size = result["recipe"], result["image_size"]
    momentum = f" momentum {recipe['muon_momentum']:g}" if recipe["optimizer"] == "muon" else ""
    budget = f"{result['steps']} steps" if result.get("steps") else f"{result['budget_s']:g} s"
    nuclei = result.get("data") == "nuclei"
    what = (f"z-slices of the nuclei stack at {size}×{size} (" if nuclei
            else f"{'crowded ' if result.get('data') == 'crowded' else ''}synthetic {size}×{size} images "
                 f"({result.get('look', 'varied')} look; ")
    lines = ["", f"training for {budget} each on {result['train_size']} {what}"
             f"{recipe['optimizer']}{momentum}, lr {recipe['lr']:g}, {recipe['schedule']} schedule, "
             f"batch {recipe['batch_size']}, dice {recipe['dice_weight']:g}, edge weight {recipe['edge_weight']:g}, "
             f"colour jitter {'on' if recipe.get('colour_jitter') else 'off'}"
             f"{', texture refill ' + format(recipe['texture_refill'], 'g') if recipe.get('texture_refill') else ''}"
             f"{model_config_text(result)}):",
             f"{'model (seed)':<17}{'steps':>7}{'test mIoU':>11}"
             + (f"{'nucleus':>9}{'PQ':>8}" if nuclei
                else f"{'shifted':>9}{'grey':>8}{'texture':>9}{'hue':>7}{'PQ':>8}{'shifted PQ':>12}") +
             f"{'to ' + format(result['target_miou'], '.2f') + ' (s)':>14}"
             f"{'entropy/ln M':>14}{'NMI':>7}{'used':>6}{'dup. pairs (used)':>19}"]
    b = result.get("baselines")
    if nuclei and b:
        lines.append(f"{'baselines':<17} everything background: mIoU {b['all_background_miou']:.4f}; one brightness "
                     f"threshold ({b['threshold']:.2f}, chosen on the training slices): nucleus IoU "
                     f"{b['threshold_nucleus_iou']:.4f}, PQ {b['threshold_cc_pq']:.4f} with connected components, "
                     f"{b['threshold_watershed_pq']:.4f} with a watershed (seeds {b['watershed_min_distance']} px apart)")
    elif b:
        lines.append(f"{'baselines':<17} true classes + connected components (every semantic pipeline's ceiling): PQ "
                     f"{b['oracle_pq']:.4f} on the test split, {b['oracle_shifted_pq']:.4f} on the shifted set")
    for name, t in result["training"].items():
        for run in t["runs"]:
            lines.append(_run_line(name if len(t["runs"]) == 1 else f"{name} seed {run['seed']}", run))
        if len(t["runs"]) > 1:
            lines.append(_summary_line(name, t["summary"]))
    return lines + large_image_table(result)


def _ratio(pq: float, scenes: float) -> str:
    return f"{pq / scenes:>6.2f}" if scenes > 0 else f"{'–':>6}"


def large_image_table(result: dict[str, Any]) -> list[str]:
    """PQ per model and seed on crowded test scenes one by one, then as mosaics and as canvases of one
    background read by windows (:func:`~latentseg.bench.sizes.large_image_report`); empty for other data."""
    size = result["image_size"]
    rows = [(name, run) for name, t in result["training"].items() for run in t["runs"] if "scenes_pq" in run]
    if not rows:
        return []
    grids = [g for g in GRIDS if f"mosaic{g}_pq" in rows[0][1]]
    lines = ["", f"objects in large images, read by windows of {size} (overlap {size // 2}): PQ on {SCENES} crowded test "
             "scenes one by one, then as mosaics (each scene its own background) and as canvases of one background "
             "(×: that PQ over the scenes')",
             f"{'model (seed)':<17}{'scenes':>8}" + "".join(f"{f'{kind} {g * size}':>12}{'×':>6}"
                                                           for g in grids for kind in ("mosaic", "canvas"))]
    for name, run in rows:
        cells = "".join(f"{run[f'{kind}{g}_pq']:>12.4f}{_ratio(run[f'{kind}{g}_pq'], run['scenes_pq'])}"
                        for g in grids for kind in ("mosaic", "canvas"))
        lines.append(f"{name + ' seed ' + str(run['seed']):<17}{run['scenes_pq']:>8.4f}{cells}")
    return lines


def bench_report(result: dict[str, Any]) -> str:
    """The whole result of :func:`~latentseg.bench.race.run_bench` as text."""
    lines = throughput_table(result)
    if result["attention"]:
        lines += attention_table(result["attention"])
    if result["training"]:
        lines += race_table(result)
    return "\n".join(lines)
