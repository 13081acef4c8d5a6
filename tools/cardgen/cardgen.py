#!/usr/bin/python3
"""cardgen.py — synthetic second-generation resident ID cards with ground
truth, for the OCR tests and the benchmark.

    python3 tools/cardgen/cardgen.py --registry DIR/registry.csv --out OUT
        [--count N] [--seed S] [--set clean|photo|mixed|tests|spoof]
        [--faces PATH] [--scale PX_PER_MM] [--jobs J]

Writes OUT/images/<id>.jpg|png and OUT/truth.jsonl (one JSON object per image,
in file order; see docs/cardgen.md). The persons come from the registry that
`shiming demo-data` writes, so what OCR reads can be checked against it.

Must never: copy a face photo anywhere but into a rendered image (the faces
folder's README forbids redistribution), read the clock, or let the output
depend on anything but the arguments and the input files: the same arguments
and inputs give byte-identical files (each image has its own random stream,
seeded by (seed, set, index), so --jobs does not change the output either).
"""
import os
import sys

try:
    import numpy  # noqa: F401
    from PIL import Image
except ImportError:
    # Debian's python3-pil and python3-numpy live in the system Python; a
    # python3 from elsewhere first on PATH (pyenv, a venv) lacks them.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise SystemExit("cardgen: needs Pillow and numpy (Debian: python3-pil python3-numpy)")

import argparse
import hashlib
import json
import random
import shutil

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import degrade  # noqa: E402
import identity  # noqa: E402
import render  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRONT_FIELDS = ("name", "sex", "ethnicity", "birth", "address", "id_number")
BACK_FIELDS = ("authority", "valid_from", "valid_to")
FACE_EXT = (".jpg", ".jpeg", ".png")


# ------------------------------------------------------------ plans

def _photo_angle(rng, kinds=("small", "small", "small", "small", "small", "small",
                             "upside", "upside", "left", "right")):
    k = rng.choice(kinds)
    base = {"small": 0, "upside": 180, "left": 90, "right": 270}[k]
    return base + rng.uniform(-12.0, 12.0)


def plan_tests():
    """The fixed set the OCR tests use (~22 images). Person slots: 'p0'… in
    registry order, or a person picked for a property."""
    S = lambda **kw: kw  # noqa: E731
    return [
        S(kind="front", person="p0", mode="scan"),
        S(kind="back", person="p0", mode="scan"),
        S(kind="front", person="long_address", mode="scan"),
        S(kind="front", person="minority", mode="scan", fmt="png"),
        S(kind="back", person="long_term", mode="scan"),
        S(kind="front", person="p1", mode="scan", margin=40),
        S(kind="back", person="p1", mode="scan", fmt="png"),
        S(kind="front", person="p2", mode="photo", angle=6.0),
        S(kind="back", person="p2", mode="photo", angle=-9.0),
        S(kind="front", person="p3", mode="photo", angle=-14.0, tilt=0.12, noise=4.0,
          quality=70),
        S(kind="front", person="p4", mode="scan", turn=90),
        S(kind="front", person="p5", mode="scan", turn=180),
        S(kind="front", person="p6", mode="photo", angle=183.0),
        S(kind="back", person="p6", mode="photo", angle=176.0),
        S(kind="front", person="p7", mode="photo", angle=268.0, portrait=True),
        S(kind="front", person="p8", mode="scan", blur=6.0, status="blurred"),
        S(kind="front", person="p9", mode="photo", angle=3.0, exposure=(2.2, 60.0, 0.6),
          status="over_exposure"),
        S(kind="front", person="p10", mode="photo", angle=-4.0, exposure=(0.16, 0.0, 1.3),
          status="over_dark"),
        S(kind="nonface", status="non_idcard"),
        S(kind="nontext", status="non_idcard"),
        S(kind="nontexture", status="non_idcard"),
        S(kind="licence", person="p11", mode="photo", angle=5.0, status="other_type_card"),
        # Printed sex and/or birth date that do not match the number (number_type 4, 3, 2).
        S(kind="front", person="p12", mode="scan", mismatch="sex"),
        S(kind="front", person="p13", mode="scan", mismatch="birth"),
        S(kind="front", person="p14", mode="scan", mismatch="both"),
    ]


def plan_set(name, count, seed):
    rng = random.Random("plan:%s:%s" % (seed, name))
    out = []
    for i in range(count):
        person = "i%d" % (i // 2)
        side = "front" if i % 2 == 0 else "back"
        if name == "clean":
            out.append(dict(kind=side, person=person, mode="scan",
                            fmt="png" if i % 5 == 4 else "jpg", quality=92))
            continue
        if name == "photo":
            out.append(dict(kind=side, person=person, mode="photo", angle=_photo_angle(rng),
                            portrait=rng.random() < 0.2, tilt=rng.uniform(0.02, 0.12),
                            blur=rng.choice([0, 0, 0, 0.6, 1.0]),
                            noise=rng.choice([0, 0, 2.0, 4.0]),
                            quality=rng.randint(65, 95)))
            continue
        if name == "spoof":
            # Fronts in fours: a scan, a photo, a screen recapture, a photocopy.
            person = "i%d" % (i // 4)
            v = i % 4
            if v == 0:
                out.append(dict(kind="front", person=person, mode="scan", quality=92))
            elif v == 1:
                out.append(dict(kind="front", person=person, mode="photo",
                                angle=rng.uniform(-10, 10), tilt=rng.uniform(0.02, 0.1),
                                noise=rng.choice([0, 2.0]), quality=rng.randint(75, 95)))
            elif v == 2:
                out.append(dict(kind="front", person=person, mode="scan", spoof="screen",
                                quality=rng.randint(80, 95)))
            else:
                out.append(dict(kind="front", person=person, mode="scan", spoof="photocopy",
                                quality=rng.randint(80, 95)))
            continue
        # mixed
        r = rng.random()
        if r < 0.30:
            out.append(dict(kind=side, person=person, mode="scan", turn=rng.choice([0, 0, 0, 180]),
                            quality=rng.randint(80, 95)))
        elif r < 0.62:
            out.append(dict(kind=side, person=person, mode="photo", angle=_photo_angle(rng),
                            portrait=rng.random() < 0.2, tilt=rng.uniform(0.02, 0.12),
                            noise=rng.choice([0, 2.0, 4.0]), quality=rng.randint(60, 95)))
        elif r < 0.69:
            out.append(dict(kind=side, person=person, mode=rng.choice(["scan", "photo"]),
                            angle=rng.uniform(-10, 10), blur=rng.uniform(4.5, 7.0),
                            status="blurred"))
        elif r < 0.75:
            out.append(dict(kind=side, person=person, mode="photo", angle=rng.uniform(-10, 10),
                            exposure=(rng.uniform(2.3, 3.0), rng.uniform(30, 60), 1.0),
                            status="over_exposure"))
        elif r < 0.81:
            out.append(dict(kind=side, person=person, mode="photo", angle=rng.uniform(-10, 10),
                            exposure=(rng.uniform(0.10, 0.2), 0.0, rng.uniform(1.1, 1.5)),
                            status="over_dark"))
        elif r < 0.91:
            out.append(dict(kind=rng.choice(["nonface", "nontext", "nontexture"]),
                            status="non_idcard"))
        else:
            out.append(dict(kind=rng.choice(["licence", "bankcard"]), person=person,
                            mode=rng.choice(["scan", "photo"]), angle=rng.uniform(-10, 10),
                            status="other_type_card"))
    return out


def resolve_persons(plan, persons):
    """Slot name -> person dict."""
    n = len(persons)
    picks = {
        "long_address": next((p for p in persons if len(p["address"]) > 22), persons[0]),
        "minority": next((p for p in persons if p["ethnicity"] != "汉"), persons[0]),
        "long_term": next((p for p in persons if p["valid_to"] == "长期"), persons[0]),
    }
    for spec in plan:
        slot = spec.get("person")
        if slot is None:
            spec["_person"] = None
        elif slot in picks:
            spec["_person"] = picks[slot]
        else:
            spec["_person"] = persons[int(slot[1:]) % n]


# ------------------------------------------------------------ rendering

class Context:
    def __init__(self, args):
        self.scale = args.scale
        self.seed = args.seed
        self.set = args.set
        self.fonts = render.Fonts()
        self.faces = []
        if args.faces and os.path.isdir(args.faces):
            self.faces = sorted(os.path.join(args.faces, f) for f in os.listdir(args.faces)
                                if f.lower().endswith(FACE_EXT))
        self._face_cache = {}
        self._desk_cache = {}

    def face_path(self, key):
        """The face photo used for `key` (None without faces)."""
        if not self.faces:
            return None
        h = int(hashlib.sha256(("face:%s:%s" % (self.seed, key)).encode()).hexdigest(), 16)
        return self.faces[h % len(self.faces)]

    def face_for(self, key):
        if not self.faces:
            return None
        path = self.face_path(key)
        if path not in self._face_cache:
            with Image.open(path) as im:
                self._face_cache[path] = im.convert("RGB")
        return self._face_cache[path]

    def desk(self, rng, size):
        variant = rng.randrange(6)
        key = (variant, size)
        if key not in self._desk_cache:
            drng = random.Random("desk:%s:%d:%dx%d" % (self.seed, variant, size[0], size[1]))
            self._desk_cache[key] = render.desk_texture(drng, size[0], size[1])
        im, kind = self._desk_cache[key]
        return im, "desk-%s" % kind


def make_image(ctx, index, spec):
    """Render one planned image; returns (name, bytes, truth dict)."""
    rng = random.Random("image:%s:%s:%d" % (ctx.seed, ctx.set, index))
    kind = spec["kind"]
    p = spec.get("_person")
    status = spec.get("status", "normal")
    deg = {"turn": 0, "rotation": 0.0, "perspective": None, "background": None,
           "blur_sigma": 0.0, "exposure": None, "noise_sigma": 0.0, "jpeg_quality": None}
    side = None
    fields = {}
    quad = None
    photographed = False

    mismatch = spec.get("mismatch")
    if mismatch and p is not None:
        # A card printed with another sex and/or birth year than its number says.
        p = dict(p)
        if mismatch in ("sex", "both"):
            p["sex"] = "女" if p["sex"] == "男" else "男"
        if mismatch in ("birth", "both"):
            day = "28" if p["birth"][4:] == "0229" else p["birth"][6:]
            p["birth"] = "%04d%s%s" % (int(p["birth"][:4]) - 1, p["birth"][4:6], day)
    if kind in ("front", "back", "licence", "bankcard"):
        if kind == "front":
            card = render.render_front(p, ctx.fonts, ctx.scale, ctx.face_for(p["id_number"]))
            side = "front"
            fields = {k: p[k] for k in FRONT_FIELDS}
        elif kind == "back":
            card = render.render_back(p, ctx.fonts, ctx.scale)
            side = "back"
            fields = {k: p[k] for k in BACK_FIELDS}
        elif kind == "licence":
            card = render.render_driving_licence(p, ctx.fonts, ctx.scale,
                                                 ctx.face_for(p["id_number"]))
        else:
            number = "62" + "".join(str(rng.randrange(10)) for _ in range(17))
            card = render.render_bank_card(number, ctx.fonts, ctx.scale)
        if spec.get("mode") == "photo":
            photographed = True
            size = (960, 1280) if spec.get("portrait") else (1280, 960)
            desk, deskname = ctx.desk(rng, size)
            angle = spec.get("angle", 0.0)
            im, quad, info = degrade.photograph(card, rng, desk, angle,
                                                tilt=spec.get("tilt", 0.08))
            deg["rotation"] = round(angle % 360.0, 2)
            deg["turn"] = int(round((angle % 360.0) / 90.0)) % 4 * 90
            deg["perspective"] = {k: info[k] for k in ("foreshortening", "skew", "card_fraction")}
            deg["background"] = deskname
        else:
            turn = spec.get("turn", 0)
            margin = spec.get("margin", 0)
            im, quad = degrade.scan(card, rng, turn=turn, margin=margin)
            deg["turn"] = turn
            deg["rotation"] = float(turn)
            deg["background"] = "scanner" if margin else None
    elif kind == "nonface":
        face = ctx.face_for("nonface:%d" % index)
        im = face.copy() if face is not None else render.silhouette(480, 600)
        if im.width < 400:
            im = im.resize((im.width * 3, im.height * 3), Image.BICUBIC)
    elif kind == "nontext":
        im = render.render_text_page(rng, ctx.fonts)
    elif kind == "nontexture":
        im, deskname = ctx.desk(rng, (1280, 960))
        deg["background"] = deskname
    else:
        raise ValueError(kind)

    spoof = spec.get("spoof")
    spoof_detail = None
    if spoof == "screen":
        # The card shown full screen and photographed: 1.5 x the scan.
        im = im.resize((int(im.width * 1.5), int(im.height * 1.5)), Image.BICUBIC)
        quad = [(x * 1.5, y * 1.5) for x, y in quad] if quad else quad
        im, spoof_detail = degrade.screen(im, rng)
    elif spoof == "photocopy":
        # The card copied onto white paper with a margin.
        m = int(0.08 * im.width)
        paper = Image.new("RGB", (im.width + 2 * m, im.height + 2 * m), (246, 246, 244))
        paper.paste(im, (m, m))
        quad = [(x + m, y + m) for x, y in quad] if quad else quad
        im, spoof_detail = degrade.photocopy(paper, rng)
        deg["background"] = "paper"
    if spec.get("blur"):
        im = degrade.blur(im, spec["blur"])
        deg["blur_sigma"] = round(float(spec["blur"]), 2)
    if spec.get("exposure"):
        gain, offset, gamma = spec["exposure"]
        im = degrade.exposure(im, gain, offset, gamma)
        deg["exposure"] = {"gain": round(gain, 3), "offset": round(offset, 1),
                           "gamma": round(gamma, 3)}
    if spec.get("noise"):
        im = degrade.noise(im, rng, spec["noise"])
        deg["noise_sigma"] = round(float(spec["noise"]), 2)

    fmt = spec.get("fmt", "jpg")
    quality = spec.get("quality", 90)
    if fmt == "jpg":
        deg["jpeg_quality"] = quality
    data = degrade.encode(im, fmt, quality)

    label = kind
    if photographed:
        label += "-photo"
    if spoof:
        label += "-" + spoof
    name = "%04d-%s.%s" % (index, label, fmt)
    readable = status in ("normal",) and side is not None
    truth = {
        "file": "images/" + name,
        "side": side,
        "expected_status": status,
        "readable": readable,
        "fields": fields,
        "identity": p["id_number"] if p and kind in ("front", "back") else None,
        "kind": {"front": "idcard", "back": "idcard", "licence": "driving_licence",
                 "bankcard": "bank_card", "nonface": "face_photo", "nontext": "text_page",
                 "nontexture": "texture"}[kind],
        "degradations": deg,
        "photographed": photographed,
        "mismatch": mismatch,
        "spoof": spoof,
        "spoof_detail": spoof_detail,
        "face": (os.path.basename(ctx.face_path(p["id_number"]))
                 if p and kind in ("front", "licence") and ctx.faces else None),
        "card_quad": [[round(x, 1), round(y, 1)] for x, y in quad] if quad else None,
        "size": [im.width, im.height],
    }
    return name, data, truth


_worker_ctx = None


def _work(job):
    index, spec = job
    return make_image(_worker_ctx, index, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Synthetic resident ID cards with ground truth.")
    ap.add_argument("--registry", required=True, help="registry.csv from `shiming demo-data`")
    ap.add_argument("--out", required=True, help="output folder (images/ and truth.jsonl)")
    ap.add_argument("--count", type=int, default=200,
                    help="images for clean|photo|mixed|spoof (the tests set is fixed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", choices=["clean", "photo", "mixed", "tests", "spoof"],
                    default="mixed")
    ap.add_argument("--faces", default=None,
                    help="folder of face photos for the portrait (read only, never copied)")
    ap.add_argument("--scale", type=float, default=10.0, help="pixels per millimetre (10)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes (the output does not depend on it)")
    ap.add_argument("--data", default=os.path.join(REPO, "data"),
                    help="folder with the GB/T 2260 CSV files (default: the repo's data/)")
    args = ap.parse_args(argv)
    if args.count < 1 or args.count > 100000:
        ap.error("--count wants 1..100000")
    if not 4.0 <= args.scale <= 40.0:
        ap.error("--scale wants 4..40 pixels per millimetre")

    persons = identity.load_persons(args.registry, args.data, args.seed)
    if not persons:
        ap.error("the registry holds no person")
    plan = plan_tests() if args.set == "tests" else plan_set(args.set, args.count, args.seed)
    resolve_persons(plan, persons)

    images = os.path.join(args.out, "images")
    if os.path.isdir(images):
        shutil.rmtree(images)
    os.makedirs(images)

    global _worker_ctx
    _worker_ctx = Context(args)
    jobs = list(enumerate(plan, start=1))
    if args.jobs > 1 and len(jobs) > 8:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            results = pool.map(_work, jobs, chunksize=4)
    else:
        results = [_work(j) for j in jobs]

    lines = []
    for name, data, truth in results:
        with open(os.path.join(images, name), "wb") as f:
            f.write(data)
        lines.append(json.dumps(truth, ensure_ascii=False, sort_keys=False))
    tmp = os.path.join(args.out, "truth.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(args.out, "truth.jsonl"))
    print("cardgen: wrote %d images and truth.jsonl to %s (set %s, seed %d, faces %s)"
          % (len(results), args.out, args.set, args.seed,
             "yes" if _worker_ctx.faces else "silhouette"), file=sys.stderr)


if __name__ == "__main__":
    main()
