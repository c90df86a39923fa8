"""An interactive explorer of a latent model's experts, built on ipywidgets; the drawing is in ``plots``.

Works with ipywidgets 7.7 (Colab's) and 8, wherever core widgets render (JupyterLab 4, Notebook 7,
VS Code, Colab, Voilà). Clicks on the picture come through ``ipyevents`` (a small widget library that
adds DOM events to an existing widget, for ipywidgets 7 and 8; in Colab it needs the custom widget
manager, which the explorer switches on there). Without it, or where its JavaScript does not load,
the probe sliders do the same. Where no widget renders (nbval, an HTML export, GitHub), the
explorer's output falls back to a PNG of its view.
"""

from __future__ import annotations

import base64
import math
import sys
import time
from collections.abc import Sequence

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from ..data.dataset import SegmentationData
from ..data.shapes import SHAPE_CLASSES, Shape, compose_shapes, synthetic_shapes
from ..models.base import Segmenter
from ..training.metrics import ConfusionMatrix
from .plots import EXPLORER_PANELS, ExplorerView, figure_png, plot_explorer
from .probes import expert_assignment, expert_usage
from .specialisation import downsample_mask, expert_class_matrix, normalized_mutual_information, routing_entropy

DIRECTIONS = ("expert → pixels", "pixel → experts")
#: the extra view of a model whose experts own objects: the chosen expert's object mask
OBJECT_MASK = "expert's object"
SOURCES = ("test set", "new image", "composed")
PNG_DPI = 90


def _click_events(widget: W.DOMWidget):
    """An ``ipyevents.Event`` watching clicks on ``widget``, or ``None`` without ipyevents."""
    try:
        from ipyevents import Event
    except ImportError:
        return None
    if "google.colab" in sys.modules:  # third-party widgets need Colab's custom widget manager
        from google.colab import output

        output.enable_custom_widget_manager()
    return Event(source=widget, watched_events=["click"])


def widget_bundle(widget: W.Widget) -> dict:
    """The mimebundle that displays ``widget``, on ipywidgets 8 (``_repr_mimebundle_``) and on 7, whose
    widgets display themselves through ``_ipython_display_`` and publish this same bundle."""
    if hasattr(widget, "_repr_mimebundle_"):
        return widget._repr_mimebundle_() or {}
    return {"text/plain": repr(widget)[:110], "application/vnd.jupyter.widget-view+json": {
        "version_major": 2, "version_minor": 0, "model_id": widget.model_id}}


class ExpertExplorer:
    """Widgets over ``model`` (any latent model: article, improved, experts) and ``data`` (pairs
    ``3×H×W``, ``H×W``).

    Controls: a test-image slider, a "new image" button, three shape rows to compose an image, the
    expert, head and direction of the attention map shown, one checkbox per expert, and the probe: a
    pixel whose attention over the experts (per head and mean) the last panel shows. A click on one of
    the four pictures moves the probe there (on the argmax-expert map it also picks the expert that
    wins there); a click on a bar picks that expert and shows where it looks (:meth:`click`). Every
    change redraws one PNG in place (no stacked plots). ``scores`` shows this image's IoU per class
    with the chosen experts, beside the IoU with all experts on. For a model whose experts own objects,
    the expert map shows each object in the colour of the expert that owns it, a third view shows the
    chosen expert's object (its mask and class), a click on an object picks its expert, and ``scores``
    lists the objects and says which expert owns the probed pixel's.
    """

    def __init__(self, model: Segmenter, data: SegmentationData, class_names: Sequence[str] = SHAPE_CLASSES,
                 seed: int = 0) -> None:
        config = model.config
        if not model.has_experts:
            raise TypeError(f"model: expected a model with experts (article, improved or experts), got {type(model).__name__}, "
                            "which has no experts")
        if len(data) == 0:
            raise ValueError("data: expected at least one image, got an empty data set")
        self.model = model.eval()
        self.data = data
        self.class_names = tuple(class_names)
        self.size = data.images.shape[-1]
        self._next_seed = seed
        self.source = SOURCES[0]
        self.image, self.mask = data[0]
        self.last_redraw_seconds = 0.0
        self._quiet = False
        self.owns_objects = model.owns_objects
        self._make_controls(len(data), config.num_latents, config.num_heads)
        self._listen()
        self.widget = self._layout(config.num_latents)
        self.redraw()

    def _make_controls(self, num_images: int, m: int, heads: int) -> None:
        """Every control: image choice, the composer's shapes, expert, head, direction, experts on, probe."""
        self.index = W.IntSlider(0, min=0, max=num_images - 1, description="test image", continuous_update=False)
        self.new_image = W.Button(description="new image", icon="refresh")
        self.kinds = [W.Dropdown(options=["none", *SHAPE_CLASSES[1:]], value=v, description=f"shape {k + 1}",
                                 layout=W.Layout(width="190px")) for k, v in enumerate(("circle", "square", "none"))]
        self.xs = [self._fraction("x", v) for v in (0.3, 0.65, 0.5)]
        self.ys = [self._fraction("y", v) for v in (0.35, 0.6, 0.5)]
        self.radii = [W.FloatSlider(v, min=0.06, max=0.3, step=0.01, description="size", continuous_update=False,
                                    layout=W.Layout(width="220px")) for v in (0.14, 0.16, 0.12)]
        self.compose = W.Button(description="draw composed image", icon="pencil")
        self.expert = W.IntSlider(0, min=0, max=m - 1, description="expert", continuous_update=False)
        self.head = W.Dropdown(options=[("mean of heads", -1)] + [(f"head {h}", h) for h in range(heads)],
                               value=-1, description="head")
        self.direction = W.ToggleButtons(options=DIRECTIONS + ((OBJECT_MASK,) if self.owns_objects else ()),
                                         value=DIRECTIONS[0])
        self.enabled = [W.Checkbox(True, description=str(k), indent=False, layout=W.Layout(width="48px"))
                        for k in range(m)]
        self.all_on = W.Button(description="all experts on")
        self.probe_x = W.IntSlider(self.size // 2, min=0, max=self.size - 1, description="probe x",
                                   continuous_update=False)
        self.probe_y = W.IntSlider(self.size // 2, min=0, max=self.size - 1, description="probe y",
                                   continuous_update=False)
        self.picture = W.Image(format="png")
        self.scores = W.HTML()
        self._figure = self._view = None
        self.clicks = _click_events(self.picture)  # None without ipyevents

    def _listen(self) -> None:
        """Redraw when a control changes; clicks on the picture where ipyevents is there."""
        if self.clicks is not None:
            self.clicks.on_dom_event(self._on_click)
        self.index.observe(self._on_index, "value")
        self.new_image.on_click(self._on_new_image)
        self.compose.on_click(self._on_compose)
        for control in (self.expert, self.head, self.direction, self.probe_x, self.probe_y, *self.enabled):
            control.observe(lambda _: self.redraw(), "value")
        self.all_on.on_click(self._on_all_on)

    def _layout(self, m: int) -> W.VBox:
        """The controls and the picture, top to bottom."""
        shape_rows = [W.HBox([k, x, y, r]) for k, x, y, r in zip(self.kinds, self.xs, self.ys, self.radii, strict=True)]
        composer = W.Accordion([W.VBox([*shape_rows, self.compose])])
        composer.set_title(0, "compose an image")  # ipywidgets 7 ignores Accordion(titles=...)
        hint = "click the picture to probe a pixel, a bar to pick an expert" if self.clicks else "no ipyevents: use the sliders"
        return W.VBox([
            W.HBox([self.index, self.new_image]),
            composer,
            W.HBox([self.expert, self.head, self.direction]),
            W.HBox([self.probe_x, self.probe_y, W.Label(hint)]),
            W.HBox([W.Label("experts on:"), W.GridBox(self.enabled, layout=W.Layout(
                grid_template_columns=f"repeat({min(m, 16)}, 48px)")), self.all_on]),
            self.picture,
            self.scores,
        ])

    @staticmethod
    def _fraction(name: str, value: float) -> W.FloatSlider:
        return W.FloatSlider(value, min=0.1, max=0.9, step=0.05, description=name, continuous_update=False,
                             layout=W.Layout(width="220px"))

    @property
    def expert_mask(self) -> torch.Tensor:
        """``M`` bools from the checkboxes."""
        return torch.tensor([box.value for box in self.enabled])

    def composed_shapes(self) -> list[Shape]:
        return [Shape(k.value, x.value, y.value, r.value, angle=15.0 * i)
                for i, (k, x, y, r) in enumerate(zip(self.kinds, self.xs, self.ys, self.radii, strict=True))
                if k.value != "none"]

    def _on_index(self, change: dict) -> None:
        self.source = SOURCES[0]
        self.image, self.mask = self.data[change["new"]]
        self.redraw()

    def _on_new_image(self, _: W.Button) -> None:
        self._next_seed += 1
        fresh = synthetic_shapes(1, self.size, seed=10_000 + self._next_seed, split="test")
        self.source = SOURCES[1]
        self.image, self.mask = fresh[0]
        self.redraw()

    def _on_compose(self, _: W.Button) -> None:
        shapes = self.composed_shapes()
        if not shapes:
            self.scores.value = "<b>Choose at least one shape to compose an image.</b>"
            return
        self.source = SOURCES[2]
        self.image, self.mask = compose_shapes(shapes, self.size)
        self.redraw()

    def _on_all_on(self, _: W.Button) -> None:
        self._quiet = True  # one redraw at the end, not one per checkbox
        try:
            for box in self.enabled:
                box.value = True
        finally:
            self._quiet = False
        self.redraw()

    def _iou(self, prediction: torch.Tensor) -> list[float | None]:
        confusion = ConfusionMatrix(len(self.class_names))
        confusion.update(prediction[None], self.mask[None])
        return confusion.compute().per_class_iou

    @torch.no_grad()
    def view(self) -> dict:
        """Everything one redraw shows: ``prediction`` ``H×W``, ``attention`` ``h×w``, ``assignment``
        ``h×w``, ``usage`` ``M``, ``iou`` and ``iou_all_on`` (per class, ``None`` where absent),
        ``routing_entropy`` (nats) and ``nmi`` of the argmax-expert map against the classes."""
        mask = self.expert_mask
        if not mask.any():
            raise ValueError("expert_mask: at least one expert must stay on, got all off")
        x = self.image[None]
        out = self.model.forward_with_attention(x, mask)
        prediction = out.logits.argmax(1)[0]
        maps = out.latent_attention if self.direction.value == DIRECTIONS[0] else out.pixel_attention
        maps = maps[0, :, self.expert.value]  # heads×h×w
        attention = maps.mean(0) if self.head.value < 0 else maps[self.head.value]
        all_on = prediction if mask.all() else self.model(x).argmax(1)[0]
        assignment = expert_assignment(out)  # 1×h×w
        classes = downsample_mask(self.mask[None], tuple(assignment.shape[-2:]), len(self.class_names))
        matrix = expert_class_matrix(assignment, classes, len(mask), len(self.class_names))
        cell = self._feature_cell(*self.probe, tuple(assignment.shape[-2:]))
        view = {"prediction": prediction, "attention": attention, "assignment": assignment[0],
                "usage": expert_usage(out), "iou": self._iou(prediction), "iou_all_on": self._iou(all_on),
                "probe_weights": out.pixel_attention[0, :, :, cell[0], cell[1]],  # heads×M
                "probe_winner": int(assignment[0][cell]),
                "routing_entropy": routing_entropy(out.pixel_attention), "nmi": normalized_mutual_information(matrix)}
        return view | (self._objects(x, mask) if self.owns_objects else {})

    def _objects(self, x: torch.Tensor, mask: torch.Tensor) -> dict:
        """For a model whose experts own objects: ``objects`` (one dict each: ``id``, ``class``, ``score``,
        ``pixels``, ``expert``), ``owners`` ``H×W`` (the expert owning each pixel's object, −1 for none),
        the chosen expert's class probabilities ``expert_classes`` ``K+1`` and ``expert_mask`` ``H×W``."""
        class_logits, mask_logits = self.model.forward_with_extras(x, mask)[1]["objects"][-1]
        _, instances, objects = self.model.merge_objects(class_logits[0], mask_logits[0])
        owners = torch.full(instances.shape, -1, dtype=torch.long)
        for found in objects:
            owners[instances == found["id"]] = found["expert"]
        expert = self.expert.value
        return {"objects": objects, "owners": owners, "expert_classes": class_logits[0, expert].softmax(-1),
                "expert_mask": mask_logits[0, expert].sigmoid()}

    def _feature_cell(self, row: int, col: int, grid: tuple[int, int]) -> tuple[int, int]:
        """The feature position (on the ``h×w`` token grid) that image pixel (row, col) falls in."""
        return row * grid[0] // self.size, col * grid[1] // self.size

    @property
    def probe(self) -> tuple[int, int]:
        """The probed pixel, (row, col) in the image."""
        return self.probe_y.value, self.probe_x.value

    def figure(self, view: dict | None = None) -> Figure:
        """The current view as a matplotlib Figure: what the widget shows, as a static picture."""
        v = view or self.view()
        head = "mean of heads" if self.head.value < 0 else f"head {self.head.value}"
        title = f"expert {self.expert.value}, {head}\n{self.direction.value}"
        if self.direction.value == OBJECT_MASK:
            probs = v["expert_classes"]
            named = "no object" if int(probs.argmax()) == len(self.class_names) else self.class_names[int(probs.argmax())]
            title = f"expert {self.expert.value}'s object:\n{named} ({float(probs.max()):.2f})"
        attention = v["expert_mask"] if self.direction.value == OBJECT_MASK else v["attention"]
        experts = v["owners"] if self.owns_objects else v["assignment"]
        view = ExplorerView(self.image, self.mask, v["prediction"], attention, experts, v["usage"], self.expert_mask,
                            self.probe, v["probe_weights"], title,
                            "objects by owning expert" if self.owns_objects else "argmax expert")
        return plot_explorer(view, self.class_names)

    def redraw(self) -> None:
        """Recompute and redraw in place; times itself in ``last_redraw_seconds``."""
        if self._quiet:
            return
        start = time.perf_counter()
        if not self.expert_mask.any():
            self.scores.value = "<b>At least one expert must stay on.</b>"
            return
        v = self._view = self.view()
        self._figure = self.figure(v)
        self.picture.value = figure_png(self._figure, dpi=PNG_DPI)
        self.scores.value = self._scores_html(v)
        self.last_redraw_seconds = time.perf_counter() - start

    def click(self, x: float, y: float) -> str | None:
        """Act on a click at ``(x, y)``, fractions of the picture's width and height from its top-left
        corner; returns the panel hit (:data:`~latentseg.analysis.plots.EXPLORER_PANELS`) or ``None``."""
        if self._figure is None:
            return None
        fig = self._figure
        point = fig.transFigure.transform((x, 1 - y))
        for name, ax in zip(EXPLORER_PANELS, fig.axes, strict=False):
            if not ax.bbox.contains(*point):
                continue
            col, row = ax.transData.inverted().transform(point)
            if name in ("usage", "probe"):
                expert = round(col)
                if 0 <= expert < len(self.enabled):
                    self._show_expert(expert)
                return name
            row, col = (min(max(round(v), 0), self.size - 1) for v in (row, col))
            self._quiet = True  # one redraw for both sliders
            try:
                self.probe_y.value, self.probe_x.value = row, col
            finally:
                self._quiet = False
            if name == "argmax expert" and self.owns_objects:  # the object there, and the expert that owns it
                owner = int(self._view["owners"][row, col])
                self._show_expert(owner, OBJECT_MASK) if owner >= 0 else self.redraw()
            elif name == "argmax expert":  # the expert that wins there, read off the map just drawn
                assignment = self._view["assignment"]
                self._show_expert(int(assignment[self._feature_cell(row, col, tuple(assignment.shape))]))
            else:
                self.redraw()
            return name
        return None

    def _show_expert(self, expert: int, direction: str = DIRECTIONS[0]) -> None:
        self._quiet = True
        try:
            self.expert.value, self.direction.value = expert, direction
        finally:
            self._quiet = False
        self.redraw()

    def _on_click(self, event: dict) -> None:
        if event.get("type") != "click" or not self.picture.value:
            return
        if "dataX" in event and self._figure is not None:  # pixels of the PNG itself
            width, height = (self._figure.get_size_inches() * PNG_DPI).round()
            self.click(event["dataX"] / width, event["dataY"] / height)
        elif event.get("boundingRectWidth"):
            self.click(event["relativeX"] / event["boundingRectWidth"], event["relativeY"] / event["boundingRectHeight"])

    def _scores_html(self, v: dict) -> str:
        def cell(x: float | None) -> str:
            return "–" if x is None else f"{x:.3f}"

        off = [str(k) for k, on in enumerate(self.expert_mask.tolist()) if not on]
        rows = "".join(f"<tr><td>{name}</td><td>{cell(a)}</td><td>{cell(b)}</td></tr>"
                       for name, a, b in zip(self.class_names, v["iou"], v["iou_all_on"], strict=True))
        present = [a for a in v["iou"] if a is not None]
        present_all = [b for b in v["iou_all_on"] if b is not None]
        miou = sum(present) / len(present)
        miou_all = sum(present_all) / len(present_all)
        entropy = v["routing_entropy"] / math.log(len(self.enabled))
        weights = v["probe_weights"].mean(0)
        top = weights.argsort(descending=True)[:3].tolist()
        probe = (f"<p>probe: pixel ({self.probe_x.value}, {self.probe_y.value}) → experts "
                 + ", ".join(f"{k} ({weights[k]:.2f})" for k in top) + f"; expert {top[0]} wins</p>")
        if self.owns_objects:
            probe += self._objects_html(v)
        return (probe + f"<p>image: {self.source}; experts off: {', '.join(off) or 'none'}; "
                f"routing entropy {entropy:.2f}·ln M; NMI(argmax expert, class) {v['nmi']:.2f} on this image</p>"
                f"<table><tr><th>class</th><th>IoU now</th><th>IoU all on</th></tr>{rows}"
                f"<tr><td><b>mIoU</b></td><td><b>{miou:.3f}</b></td><td><b>{miou_all:.3f}</b></td></tr></table>")

    def _objects_html(self, v: dict) -> str:
        """Which object the probed pixel lies in and which expert owns it; every object, a row each."""
        owner = int(v["owners"][self.probe])
        found = next((o for o in v["objects"] if o["expert"] == owner), None)
        where = (f"<p>pixel ({self.probe_x.value}, {self.probe_y.value}) lies in object {found['id']}, "
                 f"a {self.class_names[found['class']]}, owned by expert {owner}</p>" if found
                 else f"<p>pixel ({self.probe_x.value}, {self.probe_y.value}) lies in no object</p>")
        rows = "".join(f"<tr><td>{o['id']}</td><td>{o['expert']}</td><td>{self.class_names[o['class']]}</td>"
                       f"<td>{o['score']:.2f}</td><td>{o['pixels']}</td></tr>" for o in v["objects"])
        return (where + f"<table><tr><th>object</th><th>expert</th><th>class</th><th>score</th><th>pixels</th></tr>"
                f"{rows}</table>")

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = dict(widget_bundle(self.widget))
        bundle["image/png"] = base64.b64encode(self.picture.value).decode("ascii")
        return bundle
