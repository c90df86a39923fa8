"""How the synthetic shapes look: colours and fills painted over a map of which shape covers each pixel.

Three looks, chosen by name:

- ``varied`` (the default): the background and every shape each draw their appearance on their own,
  from one distribution, whatever the class: any hue, saturation from grey to vivid, dark to light,
  and a fill that is flat, a linear gradient, a smooth texture, pixel noise, stripes or a
  checkerboard, faint or (half the gradients, stripes and checks) between two unrelated colours at
  full strength, so that a background can hold edges as strong as a shape's; some shapes get an
  outline one or two pixels wide in a colour of its own (part of the shape); a quarter of the images
  get black and white specks. The one rule that ties them: each shape's mean luminance, and its
  outline's, differs from the background around it by at least :data:`MIN_CONTRAST`, so that its
  edge stays visible, also in greyscale. Nothing but geometry tells a circle from a square, or a
  shape from the background.
- ``faint``: the varied look as it was before the two-colour patterns, outlines and wider sizes (the
  same images, bit for bit): faint patterns only, radii 8–20 %. Notebooks 01–06 teach the article's
  design on it; on the varied look's bold patterns that design finds hardly any shapes.
- ``classic``: the first look, kept to show a shortcut: saturated shapes on greyish, blotchy
  backgrounds. Colour then tells shape from background, and a model learns that instead of form
  (notebook 10).
- ``texture``: patterns everywhere, so that strong steps of colour mostly lie *inside* regions.
  The background is a two-colour pattern (stripes, checks, dots or a maze of crossing waves) at any
  angle and a period of 5–16 % of the side; each shape is filled with a pattern of its own. Half
  the shapes are the background's *twin*: the same two colours and the same kind of pattern, only
  turned (stripes, 45–135°) or scaled (period ×2 or ÷2), so that only the change of pattern
  outlines them; no colour and no mean brightness tells them apart.
- ``mixed``: each image in the varied look or the texture look, one or the other with even odds,
  on the same shapes; a model trained on it must find edges of colour and edges of pattern.

Painting functions take ``top`` ``n×H×W`` (0 = background, ``s + 1`` = shape ``s``) and return images
``n×3×H×W`` in ``[0, 1]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOOKS = ("varied", "faint", "classic", "texture", "mixed")
#: least difference of mean luminance (Rec. 601, 0–1 scale) between a shape and the background under it
MIN_CONTRAST = 0.2
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def luminance(images: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of RGB along dimension ``-3``: ``…×3×H×W`` → ``…×H×W``."""
    return torch.einsum("...chw,c->...hw", images, _LUMA.to(images))


def _colour_luminance(colours: torch.Tensor) -> torch.Tensor:
    """Luma of colours ``…×3`` → ``…``."""
    return colours @ _LUMA.to(colours)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hue, saturation, value in [0, 1] (any shape) → RGB with a trailing axis of 3."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + h[..., None] * 6) % 6
    return v[..., None] - v[..., None] * s[..., None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def _any_colour(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Colours ``shape×3`` over the whole range a person reads: any hue, grey to vivid, dark to light."""
    return hsv_to_rgb(torch.rand(shape, generator=g), torch.rand(shape, generator=g),
                      0.05 + 0.9 * torch.rand(shape, generator=g))


def _fills(base: torch.Tensor, size: int, g: torch.Generator, bold: bool = True) -> torch.Tensor:
    """Each of ``n`` regions' fill ``n×3×size×size`` around its colour ``base`` ``n×3``, in one of
    six styles (a sixth each): flat, a linear gradient, a smooth texture, pixel noise, stripes, or a
    checkerboard, each in a random direction, scale and strength. Half the gradients, stripes and
    checks run at full strength, from ``base`` to a second colour drawn on its own (none unless ``bold``)."""
    n = base.shape[0]
    style = torch.randint(0, 6, (n,), generator=g)
    strength = 0.25 * torch.rand(n, generator=g)
    angle = 2 * math.pi * torch.rand(n, generator=g)
    period = 0.08 + 0.3 * torch.rand(n, generator=g)  # of the side, for stripes and checks
    offset = F.normalize(torch.randn(n, 3, generator=g), dim=1)  # the direction in colour space a pattern moves
    if bold:  # drawn only here, so that the faint look stays the data it was before the bold patterns
        second = _any_colour((n,), g)
        two_colour = (torch.rand(n, generator=g) < 0.5) & ((style == 1) | (style == 4) | (style == 5))
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    along = cos * coords[None, None, :] + sin * coords[None, :, None]  # n×H×W
    across = -sin * coords[None, None, :] + cos * coords[None, :, None]
    wave = period[:, None, None]
    stripes = (torch.sin(2 * math.pi * along / wave) > 0).float() - 0.5
    checks = ((torch.floor(along / wave) + torch.floor(across / wave)) % 2) - 0.5
    smooth = F.interpolate(torch.rand(n, 3, 4, 4, generator=g) - 0.5, size=(size, size), mode="bicubic",
                           align_corners=False)
    noise = torch.randn(n, 3, size, size, generator=g) * 0.4
    scale = strength[:, None, None, None]
    patterns = [along[:, None] * 2 * offset[:, :, None, None], smooth * 2, noise,
                stripes[:, None] * 2 * offset[:, :, None, None], checks[:, None] * 2 * offset[:, :, None, None]]
    fill = base[:, :, None, None].expand(-1, -1, size, size)
    for k, pattern in enumerate(patterns, start=1):
        fill = fill + (style == k).float()[:, None, None, None] * scale * pattern
    if not bold:
        return fill
    share = torch.where((style == 1)[:, None, None], (along / math.sqrt(2) + 0.5).clamp(0, 1),
                        torch.where((style == 4)[:, None, None], stripes, checks) + 0.5)  # n×H×W: of the second colour
    blend = torch.lerp(base[:, :, None, None], second[:, :, None, None], share[:, None])
    return torch.where(two_colour[:, None, None, None], blend, fill)


def _rims(region: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """The pixels of ``region`` ``n×H×W`` (bool) within ``width`` ``n`` pixels of its outside."""
    outside = (~region).float()[:, None]
    rims = torch.zeros_like(region)
    for w in width.unique().tolist():
        near = F.max_pool2d(outside, 2 * w + 1, 1, w)[:, 0] > 0
        rims = torch.where((width == w)[:, None, None], region & near, rims)
    return rims


def _contrasting(colours: torch.Tensor, under: torch.Tensor, g: torch.Generator, tries: int = 8) -> torch.Tensor:
    """Redraw each colour of ``colours`` ``n×S×3`` whose luminance is within :data:`MIN_CONTRAST` of the
    background's ``under`` ``n×S``, up to ``tries`` times; one still too close becomes a darker or
    lighter copy of the background (a luminance step of at least 0.3)."""
    for _ in range(tries):
        close = (_colour_luminance(colours) - under).abs() < MIN_CONTRAST
        if not close.any():
            return colours
        colours = torch.where(close[..., None], _any_colour(close.shape, g), colours)
    close = (_colour_luminance(colours) - under).abs() < MIN_CONTRAST
    grey = under[..., None].expand_as(colours)
    pushed = torch.where(grey > 0.5, grey * 0.4, grey + 0.6 * (1 - grey))
    return torch.where(close[..., None], pushed, colours)


def paint_varied(top: torch.Tensor, num_shapes: int, g: torch.Generator, bold: bool = True, *,
                 background: torch.Tensor | None = None, grain: bool = True) -> torch.Tensor:
    """The ``varied`` look (``faint`` unless ``bold``): background and shapes drawn apart (see the
    module's docstring). ``background`` ``n×3×H×W`` paints the shapes over a given background instead
    of drawing one; ``grain=False`` leaves out the pixel noise and specks (:func:`add_grain`)."""
    n, size = top.shape[0], top.shape[-1]
    if background is None:
        background = _fills(_any_colour((n,), g), size, g, bold)
    colours = _any_colour((n, num_shapes), g)
    shape_pixels = torch.stack([top == s + 1 for s in range(num_shapes)], 1).float()  # n×S×H×W
    seen = shape_pixels.sum((2, 3)).clamp_min(1)
    under = (luminance(background)[:, None] * shape_pixels).sum((2, 3)) / seen  # n×S: the background behind each shape
    colours = _contrasting(colours, under, g)
    outlined = torch.zeros(n, num_shapes, dtype=torch.bool)
    if bold:
        outlines = _contrasting(_any_colour((n, num_shapes), g), under, g)
        outlined = torch.rand(n, num_shapes, generator=g) < 0.3
        width = torch.randint(1, 3, (n, num_shapes), generator=g) * max(1, round(size / 64))
    image = background
    for s in range(num_shapes):
        region = top == s + 1
        image = torch.where(region[:, None], _fills(colours[:, s], size, g, bold), image)
        if outlined[:, s].any():
            rim = _rims(region, width[:, s]) & outlined[:, s, None, None]
            image = torch.where(rim[:, None], outlines[:, s, :, None, None], image)
    return add_grain(image, g) if grain else image


def add_grain(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The varied look's last touch on images ``n×3×H×W``: pixel noise everywhere and, in a quarter of
    the images, black and white specks; clamped to ``[0, 1]``."""
    n, size = image.shape[0], image.shape[-1]
    image = image + 0.02 * torch.randn(image.shape, generator=g)
    speckled = torch.rand(n, 1, 1, 1, generator=g) < 0.25
    specks = torch.rand(n, 1, size, size, generator=g) < 0.03 * torch.rand(n, 1, 1, 1, generator=g)
    salt = (torch.rand(n, 1, size, size, generator=g) < 0.5).float()
    return torch.where(speckled & specks, salt, image).clamp(0, 1)


def paint_classic(top: torch.Tensor, num_shapes: int, g: torch.Generator) -> torch.Tensor:
    """The ``classic`` look: saturated shapes, hues spread evenly within an image, on greyish backgrounds."""
    n, size = top.shape[0], top.shape[-1]
    base = hsv_to_rgb(torch.rand(n, generator=g), 0.3 * torch.rand(n, generator=g),
                      0.25 + 0.6 * torch.rand(n, generator=g))  # n×3
    blotches = F.interpolate(torch.rand(n, 3, 4, 4, generator=g) - 0.5, size=(size, size), mode="bicubic",
                             align_corners=False)
    background = base[:, :, None, None] + 0.25 * blotches
    hue = torch.rand(n, 1, generator=g) + torch.arange(num_shapes) / num_shapes
    hue = hue + 0.1 / num_shapes * torch.rand(n, num_shapes, generator=g)
    colours = hsv_to_rgb(hue % 1, 0.6 + 0.4 * torch.rand(n, num_shapes, generator=g),
                         0.55 + 0.45 * torch.rand(n, num_shapes, generator=g))  # n×S×3
    paint = torch.gather(torch.cat([torch.zeros(n, 1, 3), colours], 1), 1, top.flatten(1)[..., None].expand(-1, -1, 3))
    paint = paint.transpose(1, 2).reshape(n, 3, size, size)
    images = torch.where((top > 0)[:, None], paint, background)
    return (images + 0.05 * torch.randn(images.shape, generator=g)).clamp(0, 1)


def _pattern_shares(kind: torch.Tensor, angle: torch.Tensor, period: torch.Tensor, size: int) -> torch.Tensor:
    """Share of a pattern's second colour ``n×H×W`` in {0, 1}, per image: ``kind`` 0 stripes, 1 checks,
    2 dots, 3 a maze of three crossing waves; ``angle`` in radians, ``period`` as a fraction of the side."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    wave = period[:, None, None]

    def along(theta: torch.Tensor) -> torch.Tensor:  # n×H×W: position along direction theta, in periods
        return (torch.cos(theta)[:, None, None] * coords[None, None, :]
                + torch.sin(theta)[:, None, None] * coords[None, :, None]) / wave

    u, v = along(angle), along(angle + math.pi / 2)
    stripes = torch.sin(2 * math.pi * u) > 0
    checks = (torch.floor(u) + torch.floor(v)) % 2 > 0
    dots = torch.cos(2 * math.pi * u) + torch.cos(2 * math.pi * v) > 1
    maze = sum(torch.sin(2 * math.pi * along(angle + k * math.pi / 3) + k) for k in range(3)) > 0
    shares = torch.stack([stripes, checks, dots, maze], 1).float()  # n×4×H×W
    return shares.gather(1, kind[:, None, None, None].expand(-1, 1, size, size))[:, 0]


def paint_texture(top: torch.Tensor, num_shapes: int, g: torch.Generator) -> torch.Tensor:
    """The ``texture`` look: two-colour patterns only; half the shapes are the background's twin (see
    the module's docstring)."""
    n, size = top.shape[0], top.shape[-1]

    def pattern() -> tuple[torch.Tensor, ...]:
        return (_any_colour((n,), g), _any_colour((n,), g), torch.randint(0, 4, (n,), generator=g),
                math.pi * torch.rand(n, generator=g), 0.05 + 0.11 * torch.rand(n, generator=g))

    first, second, kind, angle, period = pattern()
    image = torch.lerp(first[:, :, None, None], second[:, :, None, None],
                       _pattern_shares(kind, angle, period, size)[:, None])
    for s in range(num_shapes):
        own = pattern()
        twin = torch.rand(n, generator=g) < 0.5
        turn = (kind == 0) & (torch.rand(n, generator=g) < 0.5)  # stripes turn; any pattern can be rescaled
        twin_angle = angle + torch.where(turn, math.pi / 4 + math.pi / 2 * torch.rand(n, generator=g),
                                         math.pi * torch.rand(n, generator=g))
        rescaled = torch.where(period < 0.1, period * 2, period / 2)
        twin_period = torch.where(turn, period, rescaled)
        a, b, k, theta, wave = (torch.where(twin.view(-1, *[1] * (mine.dim() - 1)), theirs, mine)
                                for mine, theirs in zip(own, (first, second, kind, twin_angle, twin_period), strict=True))
        fill = torch.lerp(a[:, :, None, None], b[:, :, None, None], _pattern_shares(k, theta, wave, size)[:, None])
        image = torch.where((top == s + 1)[:, None], fill, image)
    return (image + 0.02 * torch.randn(image.shape, generator=g)).clamp(0, 1)


def paint(look: str, top: torch.Tensor, num_shapes: int, g: torch.Generator) -> torch.Tensor:
    """Images ``n×3×H×W`` for the shape map ``top`` in the named ``look``."""
    if look not in LOOKS:
        raise ValueError(f"look: expected one of {LOOKS}, got {look!r}")
    if look == "classic":
        return paint_classic(top, num_shapes, g)
    if look == "texture":
        return paint_texture(top, num_shapes, g)
    if look == "mixed":
        textured = torch.rand(top.shape[0], generator=g) < 0.5
        return torch.where(textured[:, None, None, None], paint_texture(top, num_shapes, g),
                           paint_varied(top, num_shapes, g))
    return paint_varied(top, num_shapes, g, bold=look == "varied")
