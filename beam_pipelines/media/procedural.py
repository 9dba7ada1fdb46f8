"""Procedural training content: many distinct sources from a small spec (pure numpy).

A source is a dict ``spec`` (see ``plan``): ``family`` (what the picture is made of),
``motion`` (how it moves), ``width``/``height``, ``frames``, ``seed`` and camera effects.
``render(spec)`` turns it into ``uint8[N, H, W, 3]`` frames, deterministically: the
same spec gives the same bytes. Nothing is read but scikit-image's bundled data images
(family ``photo``, ``dark`` and the ``composite`` backgrounds); every other family is
drawn here. ffmpeg's own generators (family ``lavfi``) are rendered by ffmpeg itself
(``beam_pipelines.sources``), not here.

Families (``FAMILIES``):
  photo       a scikit-image picture under a random crop, scale, exposure, white balance
              and saturation change
  composite   two pictures blended through a soft random mask
  pinknoise   1/f ("natural statistics") colour noise, random spectral slope
  deadleaves  dead-leaves model: occluding discs, power-law sizes, flat or noisy colours
  text        text-like graphics: lines of glyph-like strokes, boxes and rules on a plain
              page (no font files)
  cartoon     flat animation-like regions: filled ellipses/polygons with dark outlines
              over a flat or gradient background
  gradient    smooth linear/radial colour gradients (banding-prone)
  dark        a picture or texture at very low exposure (low-light scene)
  graphics    screen and diagram content without glyphs: panels with 1-3 px borders,
              line and bar charts over grid lines, hatching, checkerboards, rings,
              scatter dots and small icons on a flat page (``EXTRA_FAMILIES``: drawn
              only when a plan names it, so the recorded source plans are unchanged)
  illustration  skies and line art: smooth multi-stop gradients with faint soft clouds,
              a glow and a horizon silhouette (banding-prone areas beside one sharp
              edge), and/or thin anti-aliased curves, cel fills and hatching on paper
              (``EXTRA_FAMILIES``)
  nature      natural surfaces without pictures: Voronoi stones with dark joints,
              grass/fur strokes along a smooth direction field, sinusoidal water
              ripples with glints, marble bands and wood rings warped by turbulence,
              under a soft light fall-off (``EXTRA_FAMILIES``)
Motions (``MOTIONS``): static, pan, zoom, rotate, objects (sprites moving over the
picture; the background pans slowly).
Camera effects (spec keys): ``noise`` (sensor noise sigma, signal dependent),
``grain`` (temporal film grain sigma), ``blur`` (motion-blur taps along the motion).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage

FAMILIES = ("photo", "composite", "pinknoise", "deadleaves", "text", "cartoon",
            "gradient", "dark")
# Families added after the recorded builds: only plans that name them draw them.
EXTRA_FAMILIES = ("graphics", "illustration", "nature")
MOTIONS = ("static", "pan", "zoom", "rotate", "objects")
# scikit-image data images that ship inside its wheel (cat: the same photo as chelsea).
PICTURES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins",
            "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "moon",
            "clock", "brick", "grass", "gravel", "page", "text")


@functools.cache
def picture(name: str) -> np.ndarray:
    """float32[H, W, 3] in [0, 1] of a scikit-image data image (grey made RGB)."""
    from beam_pipelines.media import samples

    return samples.load_image(name).astype(np.float32) / 255.0


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    zoom = (h / img.shape[0], w / img.shape[1]) + ((1,) if img.ndim == 3 else ())
    out = scipy.ndimage.zoom(img, zoom, order=1, mode="nearest", grid_mode=True)
    return out[:h, :w]


def _grade(img: np.ndarray, rng: np.random.Generator, dark: bool = False) -> np.ndarray:
    """Random exposure, gamma, white balance and saturation (colour and exposure changes)."""
    grey = img.mean(axis=-1, keepdims=True)
    sat = rng.uniform(0.3, 1.6)
    img = grey + (img - grey) * sat
    img = img * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    gain = rng.uniform(0.08, 0.3) if dark else rng.uniform(0.6, 1.4)
    gamma = rng.uniform(0.7, 1.4)
    return np.clip(np.clip(img, 0, 1) ** gamma * gain, 0, 1)


def _photo(rng, h, w, name=None, dark=False):
    name = name or PICTURES[rng.integers(len(PICTURES))]
    img = picture(name)
    ih, iw = img.shape[:2]
    # Random crop of 35-100 % of the picture's short side, at the output's aspect ratio.
    frac = rng.uniform(0.35, 1.0)
    ch = min(ih, int(ih * frac))
    cw = min(iw, int(ch * w / h))
    ch = min(ch, int(cw * h / w))
    y0, x0 = rng.integers(0, ih - ch + 1), rng.integers(0, iw - cw + 1)
    crop = img[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return _grade(_resize(crop, h, w), rng, dark=dark)


def _power_law_field(rng, h, w, slope):
    """float64[h, w]: noise whose power spectrum falls as 1/f^slope, random phases."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-slope / 2)
    amp[0, 0] = 0.0
    return np.fft.irfft2(amp * np.exp(2j * np.pi * rng.random(amp.shape)), s=(h, w))


def _turbulence(rng, h, w, slope=2.0):
    """float32[h, w], zero mean, unit std: a 1/f^slope noise field (fBm)."""
    x = _power_law_field(rng, h, w, slope)
    return ((x - x.mean()) / (x.std() + 1e-8)).astype(np.float32)


def _pinknoise(rng, h, w):
    slope = rng.uniform(1.6, 2.6)  # power spectrum ~ 1/f^slope (natural images ~2)
    out = np.empty((h, w, 3), np.float32)
    mix = rng.normal(size=(3, 3)) * 0.4 + np.eye(3)
    base = [_power_law_field(rng, h, w, slope) for _ in range(3)]
    for c in range(3):
        x = sum(mix[c, k] * base[k] for k in range(3))
        out[..., c] = (x - x.mean()) / (x.std() + 1e-8)
    return np.clip(0.5 + out * rng.uniform(0.1, 0.22) + rng.uniform(-0.15, 0.15, 3), 0, 1)


def _disc_layers(rng, h, w, n, rmin, rmax, alpha):
    """(centres, radii) with a power-law radius distribution (dead-leaves)."""
    u = rng.random(n)
    # Inverse CDF of p(r) ~ r^-alpha on [rmin, rmax].
    a = 1.0 - alpha
    r = (rmin ** a + u * (rmax ** a - rmin ** a)) ** (1.0 / a)
    return rng.uniform(0, w, n), rng.uniform(0, h, n), r


def _deadleaves(rng, h, w):
    img = np.zeros((h, w, 3), np.float32)
    filled = np.zeros((h, w), bool)
    s = min(h, w)
    xs, ys, rs = _disc_layers(rng, h, w, 4000, s * 0.004 + 1, s * 0.25, 3.0)
    noisy = rng.random() < 0.5
    for x, y, r in zip(xs, ys, rs):
        y0, y1 = max(0, int(y - r)), min(h, int(y + r) + 1)
        x0, x1 = max(0, int(x - r)), min(w, int(x + r) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        m = ((yy - y) ** 2 + (xx - x) ** 2 <= r * r) & ~filled[y0:y1, x0:x1]
        if not m.any():
            continue
        colour = rng.random(3).astype(np.float32)
        if noisy:
            colour = colour * rng.uniform(0.85, 1.0)
        img[y0:y1, x0:x1][m] = colour
        filled[y0:y1, x0:x1] |= m
        if filled.all():
            break
    if noisy:
        img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _text(rng, h, w):
    from skimage import draw

    paper = rng.uniform(0.75, 1.0, 3) if rng.random() < 0.7 else rng.uniform(0, 0.25, 3)
    ink = 1.0 - paper + rng.uniform(-0.1, 0.1, 3)
    img = np.ones((h, w, 3), np.float32) * paper.astype(np.float32)
    line_h = int(rng.uniform(0.025, 0.07) * h) + 6
    margin = int(0.05 * w)
    y = margin
    while y + line_h < h - margin:
        if rng.random() < 0.1:  # a rule or a box instead of a text line
            rr, cc = draw.rectangle((y, margin), (y + line_h // 2, w - margin), shape=(h, w))
            img[rr, cc] = rng.random(3)
            y += line_h
            continue
        x = margin + int(rng.integers(0, 3 * line_h))
        end = w - margin - int(rng.integers(0, w // 3))
        thick = max(1, line_h // 10)
        while x + line_h // 2 < end:
            gw = int(line_h * rng.uniform(0.35, 0.7))
            for _ in range(int(rng.integers(2, 4))):  # strokes of one glyph
                y0, x0 = y + rng.integers(0, line_h), x + rng.integers(0, gw + 1)
                y1, x1 = y + rng.integers(0, line_h), x + rng.integers(0, gw + 1)
                for t in range(thick):
                    rr, cc = draw.line(int(y0), int(x0) + t, int(y1), int(x1) + t)
                    ok = (rr < h) & (cc < w)
                    img[rr[ok], cc[ok]] = ink
            x += gw + line_h // 6
            if rng.random() < 0.18:
                x += line_h // 2  # word space
        y += int(line_h * rng.uniform(1.3, 1.8))
    return np.clip(img, 0, 1)


def _shapes(rng, img, n, outline):
    from skimage import draw

    h, w = img.shape[:2]
    for _ in range(n):
        colour = rng.random(3).astype(np.float32)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.03, 0.25) * h, rng.uniform(0.03, 0.25) * w
        if rng.random() < 0.5:
            rr, cc = draw.ellipse(cy, cx, ry, rx, shape=(h, w), rotation=rng.uniform(0, np.pi))
        else:
            k = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rr, cc = draw.polygon(cy + ry * np.sin(ang), cx + rx * np.cos(ang), shape=(h, w))
        if outline and len(rr):
            m = np.zeros((h, w), bool)
            m[rr, cc] = True
            edge = m & ~scipy.ndimage.binary_erosion(m, iterations=max(1, h // 200))
            img[m] = colour
            img[edge] = 0.05
        else:
            img[rr, cc] = colour
    return img


def _gradient_bg(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
    if rng.random() < 0.5:
        ang = rng.uniform(0, 2 * np.pi)
        t = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.sqrt(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2)
    t = (t - t.min()) / (np.ptp(t) + 1e-8)
    return c0 + (c1 - c0) * t[..., None]


def _cartoon(rng, h, w):
    img = (_gradient_bg(rng, h, w) if rng.random() < 0.5
           else np.ones((h, w, 3), np.float32) * rng.random(3).astype(np.float32))
    return _shapes(rng, img, int(rng.integers(6, 30)), outline=rng.random() < 0.7)


def _gradient(rng, h, w):
    img = _gradient_bg(rng, h, w)
    if rng.random() < 0.5:
        img = 0.5 * img + 0.5 * _gradient_bg(rng, h, w)
    return np.clip(img, 0, 1)


def _composite(rng, h, w):
    a, b = _photo(rng, h, w), _photo(rng, h, w)
    m = _pinknoise(rng, h, w)[..., :1]
    m = scipy.ndimage.gaussian_filter(m, (h / 40, w / 40, 0))
    m = np.clip((m - m.mean()) * 8 + 0.5, 0, 1)
    return a * m + b * (1 - m)


def _dark(rng, h, w):
    if rng.random() < 0.7:
        return _photo(rng, h, w, dark=True)
    return np.clip(_pinknoise(rng, h, w) * rng.uniform(0.1, 0.3), 0, 1)


def _chart(rng, img, y0, x0, y1, x1, ink):
    """A line or bar chart with axes and grid lines inside the box (in place)."""
    from skimage import draw

    h, w = y1 - y0, x1 - x0
    grid = ink * 0.25 + img[y0, x0] * 0.75
    step = int(rng.integers(8, 40))
    img[y0:y1:step, x0:x1] = grid
    if rng.random() < 0.6:
        img[y0:y1, x0:x1:step] = grid
    img[y1 - 1, x0:x1] = ink
    img[y0:y1, x0] = ink
    if rng.random() < 0.5:  # bars
        n = int(rng.integers(4, 24))
        bw = max(2, w // (n * 2))
        for k in range(n):
            top = y1 - 1 - int(rng.uniform(0.1, 0.95) * h)
            left = x0 + 2 + k * 2 * bw
            if left + bw >= x1:
                break
            img[top:y1 - 1, left:left + bw] = rng.random(3)
            img[top, left:left + bw] = ink
        return
    for _ in range(int(rng.integers(1, 4))):  # polylines of a random walk
        n = int(rng.integers(8, 80))
        ys = np.clip(np.cumsum(rng.normal(0, h / 12, n)) + h / 2, 1, h - 2) + y0
        xs = np.linspace(x0 + 1, x1 - 2, n)
        colour = rng.random(3)
        aa = rng.random() < 0.5
        for k in range(n - 1):
            if aa:
                rr, cc, val = draw.line_aa(int(ys[k]), int(xs[k]), int(ys[k + 1]), int(xs[k + 1]))
                img[rr, cc] = img[rr, cc] * (1 - val[:, None]) + colour * val[:, None]
            else:
                rr, cc = draw.line(int(ys[k]), int(xs[k]), int(ys[k + 1]), int(xs[k + 1]))
                img[rr, cc] = colour


def _pattern(rng, img, y0, x0, y1, x1, ink):
    """Hatching, a checkerboard, rings, scatter dots or a grid of icons (in place)."""
    from skimage import draw

    h, w = y1 - y0, x1 - x0
    yy, xx = np.mgrid[0:h, 0:w]
    kind = int(rng.integers(5))
    if kind == 0:  # hatching: lines 2-10 px apart at a random angle
        ang, period = rng.uniform(0, np.pi), rng.uniform(2.5, 10)
        t = (np.cos(ang) * xx + np.sin(ang) * yy) % period
        img[y0:y1, x0:x1][t < max(1.0, period / 4)] = ink
    elif kind == 1:  # checkerboard of 1-8 px cells
        c = int(rng.integers(1, 9))
        m = ((yy // c + xx // c) % 2).astype(bool)
        img[y0:y1, x0:x1][m] = ink
    elif kind == 2:  # rings of rising frequency (a resolution chart)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        k = rng.uniform(0.2, 1.0) * np.pi / max(h, w)
        m = np.cos(k * r2) > 0
        img[y0:y1, x0:x1][m] = ink
    elif kind == 3:  # scatter dots
        for _ in range(int(rng.integers(20, 400))):
            r = rng.uniform(1, 4)
            rr, cc = draw.disk((y0 + rng.uniform(0, h), x0 + rng.uniform(0, w)), r,
                               shape=img.shape[:2])
            img[rr, cc] = rng.random(3) if rng.random() < 0.3 else ink
    else:  # a grid of small icons: outlined squares, discs and triangles
        size = int(rng.integers(6, 28))
        gap = size + int(rng.integers(3, 16))
        for cy in range(y0 + gap // 2, y1 - size, gap):
            for cx in range(x0 + gap // 2, x1 - size, gap):
                colour, shape = rng.random(3), int(rng.integers(3))
                if shape == 0:
                    rr, cc = draw.rectangle_perimeter((cy, cx), (cy + size - 1, cx + size - 1),
                                                      shape=img.shape[:2])
                elif shape == 1:
                    rr, cc = draw.disk((cy + size / 2, cx + size / 2), size / 2,
                                       shape=img.shape[:2])
                else:
                    rr, cc = draw.polygon([cy + size, cy + size, cy],
                                          [cx, cx + size, cx + size / 2], shape=img.shape[:2])
                img[rr, cc] = colour


def _graphics(rng, h, w):
    paper = rng.uniform(0.8, 1.0, 3) if rng.random() < 0.6 else rng.uniform(0, 0.2, 3)
    ink = np.clip(1.0 - paper + rng.uniform(-0.15, 0.15, 3), 0, 1)
    img = np.ones((h, w, 3), np.float32) * paper.astype(np.float32)
    # Split the page into panels (a random guillotine layout).
    boxes, panels = [(0, 0, h, w)], []
    while boxes:
        y0, x0, y1, x1 = boxes.pop()
        if (y1 - y0) * (x1 - x0) > 0.08 * h * w and rng.random() < 0.8:
            if (y1 - y0) > (x1 - x0):
                cut = int(rng.uniform(0.3, 0.7) * (y1 - y0)) + y0
                boxes += [(y0, x0, cut, x1), (cut, x0, y1, x1)]
            else:
                cut = int(rng.uniform(0.3, 0.7) * (x1 - x0)) + x0
                boxes += [(y0, x0, y1, cut), (y0, cut, y1, x1)]
        else:
            panels.append((y0, x0, y1, x1))
    unit = max(1, min(h, w) // 100)  # pads and the smallest panel follow the page size
    for y0, x0, y1, x1 in panels:
        pad = int(rng.integers(1, 5)) * unit
        y0, x0, y1, x1 = y0 + pad, x0 + pad, y1 - pad, x1 - pad
        if y1 - y0 < 8 * unit or x1 - x0 < 8 * unit:
            continue
        if rng.random() < 0.4:
            img[y0:y1, x0:x1] = rng.uniform(0, 1, 3) * 0.3 + paper * 0.7
        border = int(rng.integers(0, 4))
        if border:
            img[y0:y0 + border, x0:x1] = ink
            img[y1 - border:y1, x0:x1] = ink
            img[y0:y1, x0:x0 + border] = ink
            img[y0:y1, x1 - border:x1] = ink
        inner = (y0 + border + 2, x0 + border + 2, y1 - border - 2, x1 - border - 2)
        if inner[2] - inner[0] < 6 or inner[3] - inner[1] < 6:
            continue
        if rng.random() < 0.5:
            _chart(rng, img, *inner, ink)
        else:
            _pattern(rng, img, *inner, ink)
    return np.clip(img, 0, 1)


def _sky(rng, h, w):
    """A smooth multi-stop gradient, faint soft clouds, a glow and a horizon silhouette."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tilt = rng.uniform(-0.3, 0.3)
    t = yy / h * np.cos(tilt) + xx / w * np.sin(tilt)
    t = (t - t.min()) / (np.ptp(t) + 1e-8)
    n = int(rng.integers(2, 5))
    stops = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, n - 2)), [1.0]])
    colours = rng.random((n, 3))
    img = np.stack([np.interp(t, stops, colours[:, c]) for c in range(3)], axis=-1)
    if rng.random() < 0.7:  # clouds: low-contrast noise low-passed at 3-12 % of the frame
        small = (max(4, h // 8), max(4, w // 8))
        field = scipy.ndimage.gaussian_filter(rng.normal(size=small),
                                              rng.uniform(0.03, 0.12) * min(small))
        field = _resize(((field - field.mean()) / (field.std() + 1e-8)).astype(np.float32),
                        h, w)
        tint = rng.uniform(0.6, 1.0, 3).astype(np.float32)
        img = img + rng.uniform(0.02, 0.15) * np.clip(field, 0, None)[..., None] * tint
    if rng.random() < 0.5:  # a glow (sun, lamp)
        cy, cx = rng.uniform(0, 0.6) * h, rng.uniform(0, 1) * w
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (rng.uniform(0.05, 0.3) * min(h, w)) ** 2
        img = img + rng.uniform(0.1, 0.5) * np.exp(-r2)[..., None] * rng.uniform(0.7, 1, 3)
    if rng.random() < 0.6:  # a horizon: a smoothed random walk, flat or shaded below
        line = np.cumsum(rng.normal(0, rng.uniform(0.5, 3.0), w))
        line = scipy.ndimage.gaussian_filter1d(line, rng.uniform(1, 20))
        line = rng.uniform(0.55, 0.9) * h + line - line.mean()
        below = yy > line[None, :]
        ground = rng.random(3) * rng.uniform(0.1, 0.6)
        shade = 1.0 - 0.4 * rng.random() * (yy - line[None, :]) / h
        img[below] = (ground[None, :] * shade[below][:, None]).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def _lineart(rng, img):
    """Thin anti-aliased curves, cel-shaded fills and hatching drawn over ``img``."""
    from skimage import draw

    h, w = img.shape[:2]
    s = min(h, w)
    ink = (rng.uniform(0, 0.2, 3) if img.mean() > 0.4 else rng.uniform(0.8, 1, 3))
    for _ in range(int(rng.integers(0, 12))):  # cel fills: a base colour and its shadow
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        k = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.04, 0.2) * s * rng.uniform(0.6, 1.0, k)
        rr, cc = draw.polygon(cy + rad * np.sin(ang), cx + rad * np.cos(ang), shape=(h, w))
        colour = rng.random(3)
        img[rr, cc] = colour
        dark = (rr - cy) * np.cos(ang[0]) + (cc - cx) * np.sin(ang[0]) > 0
        img[rr[dark], cc[dark]] = colour * rng.uniform(0.55, 0.8)
    strokes = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(20, 160))):  # quadratic Bezier strokes
        size = rng.uniform(0.03, 0.4) * s
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        pts = [int(v) for v in (y0, x0, y0 + rng.normal(0, size), x0 + rng.normal(0, size),
                                y0 + rng.normal(0, size), x0 + rng.normal(0, size))]
        rr, cc = draw.bezier_curve(*pts, weight=rng.uniform(0.5, 3), shape=(h, w))
        width = int(rng.choice([1, 1, 1, 2, 3]))
        for dy in range(width):
            strokes[np.clip(rr + dy, 0, h - 1), cc] = 1.0
    if rng.random() < 0.5:  # hatching inside a disc: parallel lines 3-8 px apart
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.3) * s
        a, period = rng.uniform(0, np.pi), rng.uniform(3, 8)
        hatch = ((np.cos(a) * xx + np.sin(a) * yy) % period < 1.0) & \
            ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r)
        strokes[hatch] = 1.0
    alpha = np.clip(scipy.ndimage.gaussian_filter(strokes, rng.uniform(0.4, 0.8)) * 1.6, 0, 1)
    return img * (1 - alpha[..., None]) + ink.astype(np.float32) * alpha[..., None]


def _illustration(rng, h, w):
    kind = int(rng.integers(3))  # 0 sky, 1 line art on paper, 2 line art over a sky
    if kind == 0:
        return _sky(rng, h, w)
    if kind == 1:
        paper = rng.uniform(0.8, 1.0, 3) if rng.random() < 0.7 else rng.uniform(0, 0.2, 3)
        base = np.ones((h, w, 3), np.float32) * paper.astype(np.float32)
    else:
        base = _sky(rng, h, w)
    return np.clip(_lineart(rng, base), 0, 1).astype(np.float32)


def _ramp(t, a, b):
    """float32[h, w, 3]: colours a..b at t in [0, 1]."""
    t = np.clip(t, 0, 1)[..., None]
    return (a * (1 - t) + b * t).astype(np.float32)


def _stones(rng, h, w):
    """A Voronoi mosaic: pebbles or cobbles, each shaded and textured, dark joints."""
    from scipy.spatial import cKDTree

    n = int(rng.integers(30, 400))
    seeds = np.stack([rng.uniform(0, h, n), rng.uniform(0, w, n)], axis=1)
    yy, xx = np.mgrid[0:h, 0:w]
    d, idx = cKDTree(seeds).query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)
    d, idx = d.reshape(h, w, 2), idx[:, 0].reshape(h, w)
    base = rng.uniform(0.25, 0.75, 3)
    colours = np.clip(base + rng.normal(0, rng.uniform(0.03, 0.15), (n, 3)), 0, 1)
    edge = d[..., 1] - d[..., 0]  # distance to the nearest joint (x2)
    joint = rng.uniform(1.0, 4.0)
    rounded = np.clip(edge / (rng.uniform(0.2, 0.6) * np.sqrt(h * w / n)), 0, 1) ** 0.5
    img = colours[idx] * (0.6 + 0.4 * rounded)[..., None]
    strength = rng.uniform(0.03, 0.2)
    img = img * (1 + strength * _turbulence(rng, h, w, rng.uniform(1.0, 2.0)))[..., None]
    img[edge < joint] *= rng.uniform(0.2, 0.6)
    return img


def _fibres(rng, h, w):
    """Grass, fur or hair: thousands of short thin strokes along a smooth direction field."""
    from skimage import draw

    s = min(h, w)
    img = _ramp(0.5 + 0.15 * _turbulence(rng, h, w, 3.0), rng.uniform(0, 0.3, 3),
                rng.uniform(0.2, 0.6, 3))
    field = _turbulence(rng, max(4, h // 16), max(4, w // 16), 3.0)
    theta0, bend = rng.uniform(0, np.pi), rng.uniform(0.2, 1.5)
    hue = rng.uniform(0.2, 0.9, 3)
    length = rng.uniform(0.02, 0.1) * s
    n = int(rng.integers(8000, 30000) * h * w / 1.0e6) + 500
    ys, xs = rng.uniform(0, h, n), rng.uniform(0, w, n)
    ang = theta0 + bend * field[(ys / h * field.shape[0]).astype(int),
                                 (xs / w * field.shape[1]).astype(int)]
    lens = length * rng.uniform(0.5, 1.5, n)
    shades = np.clip(hue * rng.uniform(0.4, 1.3, (n, 1)), 0, 1)
    for y, x, a, ln, c in zip(ys, xs, ang, lens, shades):
        rr, cc, val = draw.line_aa(int(y), int(x), int(y + ln * np.sin(a)),
                                   int(x + ln * np.cos(a)))
        keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr, cc, val = rr[keep], cc[keep], val[keep, None].astype(np.float32)
        img[rr, cc] = img[rr, cc] * (1 - val) + c * val
    return img


def _water(rng, h, w):
    """Ripples: a sum of sinusoidal waves of power-law wavelengths, glints on the crests."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = min(h, w)
    height = np.zeros((h, w), np.float32)
    main = rng.uniform(0, 2 * np.pi)
    for _ in range(int(rng.integers(6, 20))):
        lam = s * rng.uniform(0.01, 0.2) ** 1.5
        a = main + rng.normal(0, 0.6)
        height += np.float32(lam / s) * np.sin(
            2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / lam + rng.uniform(0, 2 * np.pi))
    height = (height - height.mean()) / (height.std() + 1e-8)
    deep, light = rng.uniform(0, 0.35, 3), rng.uniform(0.3, 0.8, 3)
    img = _ramp(0.5 + 0.2 * height, deep, light)
    glint = np.clip((height - rng.uniform(1.2, 2.2)) * 2, 0, 1)
    return img + glint[..., None] * rng.uniform(0.3, 0.9)


def _veins(rng, h, w):
    """Marble or wood: sinusoidal bands or rings warped by turbulence."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = min(h, w)
    turb = _turbulence(rng, h, w, rng.uniform(3.5, 4.5))
    period = s * rng.uniform(0.02, 0.15)
    if rng.random() < 0.5:  # marble: straight bands
        a = rng.uniform(0, np.pi)
        phase = (np.cos(a) * xx + np.sin(a) * yy) / period
    else:  # wood: rings about a centre off the frame's middle
        cy, cx = rng.uniform(-0.5, 1.5) * h, rng.uniform(-0.5, 1.5) * w
        phase = np.sqrt((yy - cy) ** 2 + ((xx - cx) * rng.uniform(0.2, 1)) ** 2) / period
    band = 0.5 + 0.5 * np.sin(2 * np.pi * (phase + rng.uniform(0.3, 1.5) * turb))
    band = band ** rng.uniform(0.5, 4.0)
    return _ramp(band, rng.uniform(0.4, 1.0, 3), rng.uniform(0, 0.6, 3))


def _nature(rng, h, w):
    kind = int(rng.integers(4))  # 0 stones, 1 fibres, 2 water, 3 marble or wood
    img = (_stones, _fibres, _water, _veins)[kind](rng, h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)  # soft light falling off across the frame
    light = 1.0 + rng.uniform(0, 0.4) * ((np.cos(a) * xx / w + np.sin(a) * yy / h) - 0.5)
    return np.clip(img * light[..., None], 0, 1).astype(np.float32)


_DRAW = {"photo": _photo, "composite": _composite, "pinknoise": _pinknoise,
         "deadleaves": _deadleaves, "text": _text, "cartoon": _cartoon,
         "gradient": _gradient, "dark": _dark, "graphics": _graphics,
         "illustration": _illustration, "nature": _nature}


def canvas(spec: dict) -> np.ndarray:
    """float32[Hc, Wc, 3] in [0, 1]: the still picture the motion moves over.

    It is 25 % larger than the frame on each axis so pans, zooms and rotations never show
    its border.
    """
    rng = np.random.default_rng([spec["seed"], 1])
    h, w = int(spec["height"] * 1.25), int(spec["width"] * 1.25)
    kwargs = {"name": spec["picture"]} if spec.get("picture") and spec["family"] == "photo" else {}
    return _DRAW[spec["family"]](rng, h, w, **kwargs).astype(np.float32)


def _sample(img, h, w, cy, cx, scale, angle):
    """Bilinear view [h, w, 3] of ``img`` centred at (cy, cx), zoomed and rotated."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    matrix = np.array([[c, -s], [s, c]])
    offset = np.array([cy, cx]) - matrix @ np.array([(h - 1) / 2, (w - 1) / 2])
    return np.stack([scipy.ndimage.affine_transform(img[..., k], matrix, offset, (h, w),
                                                    order=1, mode="reflect")
                     for k in range(3)], axis=-1)


def _path(spec, rng, hc, wc, n):
    """Per-frame (cy, cx, scale, angle) of the camera for the spec's motion."""
    h, w = spec["height"], spec["width"]
    t = np.linspace(0.0, 1.0, n)
    cy, cx = np.full(n, hc / 2), np.full(n, wc / 2)
    scale, angle = np.ones(n), np.zeros(n)
    speed = spec.get("speed", 1.0)
    motion = spec["motion"]
    if motion in ("pan", "objects"):
        ang = rng.uniform(0, 2 * np.pi)
        dist = 0.1 * min(h, w) * speed * (0.3 if motion == "objects" else 1.0)
        cy = cy + np.sin(ang) * dist * (t - 0.5)
        cx = cx + np.cos(ang) * dist * (t - 0.5)
    elif motion == "zoom":
        z = 1.0 - 0.15 * speed * rng.choice([-1, 1])
        scale = 0.9 * np.exp(np.log(z) * t)
    elif motion == "rotate":
        scale = np.full(n, 0.78)
        angle = rng.choice([-1, 1]) * 0.12 * speed * t
    return cy, cx, scale, angle


def render(spec: dict) -> np.ndarray:
    """uint8[N, H, W, 3]: the frames of one source (see module docstring)."""
    rng = np.random.default_rng([spec["seed"], 2])
    h, w, n = int(spec["height"]), int(spec["width"]), int(spec["frames"])
    img = canvas(spec)
    hc, wc = img.shape[:2]
    cy, cx, scale, angle = _path(spec, rng, hc, wc, n)
    sprites = []
    if spec["motion"] == "objects":
        for _ in range(int(rng.integers(2, 6))):
            r = rng.uniform(0.05, 0.18) * min(h, w)
            sprites.append({
                "r": r, "colour": rng.random(3).astype(np.float32),
                "y": rng.uniform(0, h), "x": rng.uniform(0, w),
                "vy": rng.uniform(-0.25, 0.25) * h, "vx": rng.uniform(-0.35, 0.35) * w,
                "textured": rng.random() < 0.5})
    taps = int(spec.get("blur", 0))
    out = np.empty((n, h, w, 3), np.uint8)
    yy, xx = np.ogrid[0:h, 0:w]
    for j in range(n):
        views = []
        for tap in range(max(1, taps)):
            # Motion blur: average the view over sub-frame positions along the motion.
            jj = min(n - 1, j + tap / max(1, taps))
            lo = int(np.floor(jj))
            f = jj - lo
            hi = min(n - 1, lo + 1)
            par = [(1 - f) * a[lo] + f * a[hi] for a in (cy, cx, scale, angle)]
            views.append(_sample(img, h, w, *par))
        frame = np.mean(views, axis=0)
        tj = j / max(1, n - 1)
        for sp in sprites:
            y, x = sp["y"] + sp["vy"] * tj, sp["x"] + sp["vx"] * tj
            m = (yy - y) ** 2 + (xx - x) ** 2 <= sp["r"] ** 2
            frame[m] = sp["colour"] * (0.8 + 0.2 * np.sin(xx / 3.0 + yy / 5.0))[m][:, None] \
                if sp["textured"] else sp["colour"]
        if spec.get("noise", 0) > 0:  # sensor noise: stronger in the shadows' relative terms
            sigma = spec["noise"] * np.sqrt(np.clip(frame, 0.02, 1))
            frame = frame + rng.normal(0, 1, frame.shape).astype(np.float32) * sigma
        if spec.get("grain", 0) > 0:  # film grain: luma-only, spatially correlated
            g = scipy.ndimage.gaussian_filter(rng.normal(0, 1, (h, w)).astype(np.float32), 0.7)
            frame = frame + g[..., None] * spec["grain"] * 1.8
        out[j] = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    return out
