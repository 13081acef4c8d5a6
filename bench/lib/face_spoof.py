#!/usr/bin/python3
"""face_spoof.py — re-render face photos as the two presentation attacks that
bench/face measures the liveness model on (Pillow + numpy, deterministic):

  screen   the photo shown on a display and photographed again: the picture
           on a dark bezel, an RGB sub-pixel grid, moiré (two slightly
           rotated interfering gratings), a blue-ish display white point and
           raised blacks, a soft specular glare, slight defocus, JPEG again.
  print    the photo printed and photographed again: a CMYK halftone (rotated
           dot screens per ink), ink colour shift and reduced dynamic range,
           paper white margin with fibre noise, warm ambient light, JPEG again.

usage: face_spoof.py OUT_DIR FILE...   writes OUT_DIR/<stem>.screen.jpg and
OUT_DIR/<stem>.print.jpg for each FILE; prints one line per written file.

Must never: write anywhere but OUT_DIR (the inputs are read-only), or use a
random seed that is not derived from the file name (the figures must repeat).
"""
import os
import sys
import zlib

import numpy as np
from PIL import Image, ImageFilter


def rng_for(name, kind):
    return np.random.default_rng(zlib.crc32(f"{name}:{kind}".encode()))


def to_img(a):
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def screen(img, rng):
    w, h = img.size
    a = np.asarray(img, dtype=np.float32)
    # display tone: raised blacks, compressed highlights, blue-ish white point
    a = 18 + a * 0.86
    a *= np.array([0.92, 0.97, 1.06], dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # sub-pixel grid: each column lit in one primary more than the others
    pitch = 3
    phase = (xx.astype(np.int32) % pitch)
    sub = np.stack([(phase == k).astype(np.float32) for k in range(3)], axis=-1)
    a *= 0.82 + 0.28 * sub
    a *= (0.9 + 0.1 * (yy.astype(np.int32) % 3 != 0))[..., None]   # row gaps
    # moiré: the camera's sampling grid beating against the pixel grid
    ang = rng.uniform(3, 12) * np.pi / 180
    f1, f2 = rng.uniform(0.16, 0.24), rng.uniform(0.17, 0.25)
    m = np.sin(2 * np.pi * f1 * (xx * np.cos(ang) + yy * np.sin(ang))) * \
        np.sin(2 * np.pi * f2 * (xx * np.cos(-ang / 2) - yy * np.sin(-ang / 2)))
    a *= (1 + 0.12 * m)[..., None]
    # glare: a soft bright ellipse somewhere in the upper half
    gx, gy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.5) * h
    r = rng.uniform(0.25, 0.45) * max(w, h)
    g = np.exp(-(((xx - gx) / r) ** 2 + ((yy - gy) / (0.6 * r)) ** 2))
    a += 110 * g[..., None]
    img2 = to_img(a).filter(ImageFilter.GaussianBlur(0.8))
    # the screen inside a dark bezel, photographed a little off-centre
    bw = int(0.08 * w) + 2
    canvas = Image.new("RGB", (w + 2 * bw, h + 2 * bw), (22, 22, 26))
    canvas.paste(img2, (bw, bw))
    return canvas.resize((w, h), Image.BILINEAR)


def halftone_channel(c, angle, cell, xx, yy):
    """c: ink coverage 0..1; a rotated dot screen with dots of that area."""
    ca, sa = np.cos(angle), np.sin(angle)
    u = (xx * ca + yy * sa) / cell
    v = (-xx * sa + yy * ca) / cell
    du = u - np.floor(u) - 0.5
    dv = v - np.floor(v) - 0.5
    d = np.sqrt(du * du + dv * dv)              # 0 at a dot's centre, ~0.707 at the corner
    radius = np.sqrt(np.clip(c, 0, 1) / np.pi)  # dot area = coverage
    return np.clip((radius - d) * 6 + 0.5, 0, 1)  # slightly soft edge


def printed(img, rng):
    w, h = img.size
    # printed at a smaller size on paper, then photographed: scale up so that
    # the halftone cells are visible
    s = 2
    big = img.resize((w * s, h * s), Image.BICUBIC)
    a = np.asarray(big, dtype=np.float32) / 255.0
    k = 1 - a.max(axis=-1)
    denom = np.maximum(1 - k, 1e-3)
    cmy = [(1 - a[..., i] - k) / denom for i in range(3)]
    H, W = k.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cell = rng.uniform(3.5, 5.0)
    angles = np.deg2rad([15, 75, 0, 45])          # C, M, Y, K screen angles
    inks = [halftone_channel(cmy[i] * (1 - k), angles[i], cell, xx, yy) for i in range(3)]
    kk = halftone_channel(k, angles[3], cell, xx, yy)
    paper = np.array([0.97, 0.95, 0.90], dtype=np.float32)
    ink_rgb = [np.array([0.10, 0.62, 0.86]), np.array([0.85, 0.20, 0.55]), np.array([0.98, 0.92, 0.12])]
    out = np.ones((H, W, 3), dtype=np.float32) * paper
    for cov, col in zip(inks, ink_rgb):
        out *= 1 - cov[..., None] * (1 - col)       # subtractive mixing
    out *= 1 - 0.85 * kk[..., None]
    out = out * 255
    # paper fibre noise, warm light, lower contrast
    out += rng.normal(0, 4, size=(H, W, 1))
    out = 30 + out * 0.82
    out *= np.array([1.04, 1.0, 0.9])
    img2 = to_img(out).resize((w, h), Image.LANCZOS)
    # white paper margin around the print, on a desk
    m = int(0.06 * w) + 2
    canvas = Image.new("RGB", (w + 2 * m, h + 2 * m), (236, 230, 214))
    canvas.paste(img2, (m, m))
    return canvas.resize((w, h), Image.BILINEAR).filter(ImageFilter.GaussianBlur(0.5))


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        stem = os.path.splitext(os.path.basename(path))[0]
        img = Image.open(path).convert("RGB")
        for kind, fn in (("screen", screen), ("print", printed)):
            dst = os.path.join(out, f"{stem}.{kind}.jpg")
            fn(img, rng_for(stem, kind)).save(dst, quality=88)
            print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
