"""degrade.py — how a flat card becomes the image a client uploads: a scan
(the card alone, maybe turned by 90/180/270°), or a photo (the card on a
desk, at an angle, in perspective, with a shadow and uneven light), then the
optional damage: blur, over- or under-exposure, noise, JPEG quality.

Every function takes a random.Random and returns what it did, so that the
caller can record it in the ground truth; the card's four corners (its own
top-left, top-right, bottom-right, bottom-left) are tracked through every
geometric step.

Must never: use a random source other than the one passed in, or a
non-deterministic encoder setting (JPEG: fixed quality, 4:2:0 subsampling, no
optimisation, baseline).
"""
import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

import render


def _homography(src, dst):
    """Coefficients of the projective map dst -> src (what Pillow's
    PERSPECTIVE transform wants: output pixel -> input pixel)."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return np.linalg.solve(np.array(a, np.float64), np.array(b, np.float64)).tolist()


def scan(card, rng, turn=0, margin=0):
    """The card alone as a scanner crops it; turn in {0, 90, 180, 270}
    (counter-clockwise). margin: white border in pixels (a scanner bed)."""
    w, h = card.size
    mask = render.card_mask_for(card)
    im = Image.new("RGB", (w + 2 * margin, h + 2 * margin), (250, 250, 250))
    im.paste(card, (margin, margin), mask)
    quad = [(margin, margin), (margin + w, margin), (margin + w, margin + h), (margin, margin + h)]
    im, quad = turn_image(im, quad, turn)
    return im, quad


def turn_image(im, quad, turn):
    """Rotate by a multiple of 90° counter-clockwise, moving the corners."""
    w, h = im.size
    if turn == 0:
        return im, quad
    if turn == 90:
        return im.transpose(Image.ROTATE_90), [(y, w - x) for x, y in quad]
    if turn == 180:
        return im.transpose(Image.ROTATE_180), [(w - x, h - y) for x, y in quad]
    if turn == 270:
        return im.transpose(Image.ROTATE_270), [(h - y, x) for x, y in quad]
    raise ValueError(turn)


def photograph(card, rng, desk, angle_deg, tilt=0.08, fill=(0.66, 0.88)):
    """The card lying on `desk` (an RGB image that gives the output size),
    turned by angle_deg (counter-clockwise, any value), seen in perspective
    (each corner displaced by up to `tilt` × the card's width, the far edge
    foreshortened), with a soft shadow and a light gradient."""
    W, H = desk.size
    cw, ch = card.size
    frac = rng.uniform(*fill)
    # Fit the turned card's bounding box into the frame.
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    bw = abs(c) * cw + abs(s) * ch
    bh = abs(s) * cw + abs(c) * ch
    k = min(W * frac / bw, H * frac / bh)
    hw, hh = cw * k / 2, ch * k / 2
    cx = W / 2 + rng.uniform(-0.08, 0.08) * W
    cy = H / 2 + rng.uniform(-0.08, 0.08) * H
    base = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
    # Perspective: the far (top) edge shorter, plus a little jitter per corner.
    fore = rng.uniform(0.0, tilt)
    side = rng.uniform(-tilt, tilt) * 0.5
    pts = []
    for x, y in base:
        x2 = x * (1 - fore) if y < 0 else x
        y2 = y * (1 + side * (x / hw))
        x2 += rng.uniform(-0.015, 0.015) * cw * k
        y2 += rng.uniform(-0.015, 0.015) * cw * k
        pts.append((cx + x2 * c + y2 * s, cy - x2 * s + y2 * c))
    # Keep every corner inside the frame with a margin.
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    dx = max(0, 8 - min(xs)) - max(0, max(xs) - (W - 8))
    dy = max(0, 8 - min(ys)) - max(0, max(ys) - (H - 8))
    pts = [(x + dx, y + dy) for x, y in pts]

    src = [(0, 0), (cw, 0), (cw, ch), (0, ch)]
    coeffs = _homography(src, pts)
    rgba = card.convert("RGBA")
    rgba.putalpha(render.card_mask_for(card))
    warped = rgba.transform((W, H), Image.PERSPECTIVE, coeffs, Image.BICUBIC)

    out = desk.copy()
    # Shadow: the card's outline, offset, blurred, darkening the desk.
    shadow = Image.new("L", (W, H), 0)
    off = rng.uniform(3, 10)
    ImageDraw.Draw(shadow).polygon([(x + off, y + off) for x, y in pts], fill=110)
    shadow = shadow.filter(ImageFilter.BoxBlur(8))
    dark = Image.new("RGB", (W, H), (20, 20, 20))
    out = Image.composite(dark, out, shadow)
    out.paste(warped, (0, 0), warped)

    # Uneven light: a linear gradient over the whole photo.
    gx = rng.uniform(-0.12, 0.12)
    gy = rng.uniform(-0.12, 0.12)
    xx = np.linspace(-1.0, 1.0, W, dtype=np.float32)[None, :]
    yy = np.linspace(-1.0, 1.0, H, dtype=np.float32)[:, None]
    gain = 1.0 + gx * xx + gy * yy
    arr = np.asarray(out).astype(np.float32)
    arr *= gain[..., None]
    np.clip(arr, 0, 255, out=arr)
    out = Image.fromarray(arr.astype(np.uint8), "RGB")
    info = {"angle": round(angle_deg, 2), "foreshortening": round(fore, 3),
            "skew": round(side, 3), "card_fraction": round(frac, 3)}
    return out, [(round(x, 1), round(y, 1)) for x, y in pts], info


def blur(im, sigma):
    return im.filter(ImageFilter.GaussianBlur(sigma))


def exposure(im, gain, offset=0.0, gamma=1.0):
    """out = clip(255 · ((in/255)^gamma) · gain + offset)."""
    arr = np.asarray(im).astype(np.float32) / 255.0
    if gamma != 1.0:
        arr = np.power(arr, gamma)
    arr = arr * 255.0 * gain + offset
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


_NOISE = 1408
_noise_field = None


def _field():
    """One fixed field of unit Gaussian noise (luma + chroma), made once per
    process from a constant seed; images take a random window of it, which
    is much faster than drawing fresh samples for every pixel."""
    global _noise_field
    if _noise_field is None:
        nrng = np.random.default_rng(20240611)
        luma = nrng.standard_normal((_NOISE, _NOISE, 1), dtype=np.float32)
        chroma = nrng.standard_normal((_NOISE, _NOISE, 3), dtype=np.float32) * 0.4
        _noise_field = luma + chroma
    return _noise_field


def noise(im, rng, sigma):
    arr = np.asarray(im).astype(np.float32)
    h, w = arr.shape[:2]
    f = _field()
    if h > _NOISE or w > _NOISE:
        f = np.tile(f, (h // _NOISE + 1, w // _NOISE + 1, 1))
    y0 = rng.randrange(f.shape[0] - h + 1)
    x0 = rng.randrange(f.shape[1] - w + 1)
    arr += f[y0:y0 + h, x0:x0 + w] * sigma
    np.clip(arr, 0, 255, out=arr)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def encode(im, fmt, quality=90):
    """Deterministic bytes of the image: JPEG (baseline, 4:2:0, no
    optimisation) or PNG (fixed compression level)."""
    buf = io.BytesIO()
    if fmt == "jpg":
        im.save(buf, "JPEG", quality=int(quality), subsampling=2, optimize=False,
                progressive=False)
    else:
        im.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


# ------------------------------------------------------- document spoofs

def screen(im, rng):
    """A photo of the image shown on a screen (a recapture): the screen's
    RGB sub-pixel stripes and the black matrix between its pixels, at a
    pitch of 2.6–4.2 camera pixels and turned by a small angle (so the grid
    beats into moiré with the camera's sampling), then the camera's slight
    blur, a specular glare spot, and a brighter, bluer white point.
    Returns (image, info)."""
    arr = np.asarray(im.convert("RGB")).astype(np.float32)
    h, w = arr.shape[:2]
    pitch = rng.uniform(2.6, 4.2)
    angle = math.radians(rng.uniform(-4.0, 4.0))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * math.cos(angle) + yy * math.sin(angle)) / pitch
    v = (-xx * math.sin(angle) + yy * math.cos(angle)) / pitch
    fu = u - np.floor(u)
    fv = v - np.floor(v)
    sub = np.floor(fu * 3.0).astype(np.int32)  # 0 R, 1 G, 2 B stripe
    mask = np.full((h, w, 3), 0.35, np.float32)
    for c in range(3):
        mask[..., c][sub == c] = 1.0
    matrix = np.where((fv > 0.82) | (fu % (1.0 / 3.0) > 0.30), 0.55, 1.0).astype(np.float32)
    mask *= matrix[..., None]
    mask /= mask.mean(axis=(0, 1), keepdims=True)
    out = arr * mask
    # white point of a screen: brighter, slightly blue
    out = out * rng.uniform(0.95, 1.1) + np.array([0.0, 4.0, 12.0], np.float32)
    np.clip(out, 0, 255, out=out)
    img = Image.fromarray(out.astype(np.uint8), "RGB")
    sigma = rng.uniform(0.4, 0.8)
    img = img.filter(ImageFilter.GaussianBlur(sigma))
    # glare: a soft elliptical highlight
    gx, gy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    rx, ry = rng.uniform(0.08, 0.18) * w, rng.uniform(0.06, 0.14) * h
    g = np.exp(-(((xx - gx) / rx) ** 2 + ((yy - gy) / ry) ** 2))
    strength = rng.uniform(90, 170)
    out = np.asarray(img).astype(np.float32) + (g * strength)[..., None]
    np.clip(out, 0, 255, out=out)
    info = {"pitch": round(pitch, 2), "grid_angle": round(math.degrees(angle), 2),
            "blur_sigma": round(sigma, 2), "glare": round(strength, 1)}
    return Image.fromarray(out.astype(np.uint8), "RGB"), info


def photocopy(im, rng):
    """A black-and-white photocopy of the image: grey, high contrast (a
    steep tone curve), toner speckle and streaks, a slight blur, on white
    paper. Returns (image, info)."""
    g = np.asarray(im.convert("L")).astype(np.float32) / 255.0
    h, w = g.shape
    contrast = rng.uniform(2.2, 3.2)
    mid = rng.uniform(0.45, 0.6)
    g = 1.0 / (1.0 + np.exp(-contrast * 4.0 * (g - mid)))
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    speck = nrng.random((h, w)) < rng.uniform(0.002, 0.006)
    g[speck] *= 0.15
    g += nrng.normal(0.0, rng.uniform(0.02, 0.05), (h, w)).astype(np.float32)
    # faint vertical streaks of the drum
    cols = nrng.random(w) < 0.01
    g[:, cols] *= rng.uniform(0.8, 0.92)
    g = np.clip(g, 0.0, 1.0) * 255.0
    img = Image.fromarray(g.astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(0.6))
    info = {"contrast": round(contrast, 2), "midpoint": round(mid, 3)}
    return img.convert("RGB"), info
