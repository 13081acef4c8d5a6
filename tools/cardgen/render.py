"""render.py — flat renderings of a second-generation resident ID card
(第二代居民身份证), front and back, and of the things that are not one (another
kind of card, a page of text, a face photo, a plain texture).

Layout: the card is 85.6 × 54 mm; every position below is in millimetres from
the card's top-left corner, converted at `scale` pixels per millimetre
(10 gives 856 × 540). Positions and type sizes follow the published layout
(labels 6号 黑体 in blue ink; the name 5号, other values 小5号 黑体; the number
in a monospaced face with wide spacing; the back's title 4号 and 2号).

Must never: read the clock or the environment, draw anything whose position
depends on anything but the field text and the scale, or copy a face photo
anywhere but into the returned image (the faces folder must not be
redistributed).
"""
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CARD_W_MM = 85.6
CARD_H_MM = 54.0
CORNER_MM = 3.2

LABEL_BLUE = (32, 138, 200)
INK = (22, 22, 24)
EMBLEM_RED = (200, 30, 36)

FONT_DIRS = ["/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto"]


class Fonts:
    """Noto CJK faces from Debian's fonts-noto-cjk, looked up by name inside
    the .ttc collections (face indexes differ between releases)."""

    def __init__(self):
        self._cache = {}
        self._paths = {}

    def _find(self, filename, family):
        key = (filename, family)
        if key in self._paths:
            return self._paths[key]
        for d in FONT_DIRS:
            p = os.path.join(d, filename)
            if not os.path.exists(p):
                continue
            for i in range(12):
                try:
                    f = ImageFont.truetype(p, 12, index=i)
                except OSError:
                    break
                if f.getname()[0] == family:
                    self._paths[key] = (p, i)
                    return p, i
        raise SystemExit("cardgen: font %s (%s) not found; install Debian's fonts-noto-cjk"
                         % (family, filename))

    def get(self, kind, px):
        px = max(6, int(round(px)))
        key = (kind, px)
        f = self._cache.get(key)
        if f is None:
            filename, family = {
                "sans": ("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
                "sans-bold": ("NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
                "mono": ("NotoSansCJK-Regular.ttc", "Noto Sans Mono CJK SC"),
                "serif": ("NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC"),
                "serif-bold": ("NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC"),
            }[kind]
            path, index = self._find(filename, family)
            f = ImageFont.truetype(path, px, index=index)
            self._cache[key] = f
        return f


PT_MM = 25.4 / 72.0  # one typographic point in millimetres
SIZE_6 = 7.5 * PT_MM      # 六号
SIZE_S5 = 9.0 * PT_MM     # 小五号
SIZE_5 = 10.5 * PT_MM     # 五号
SIZE_4 = 14.0 * PT_MM     # 四号
SIZE_2 = 22.0 * PT_MM     # 二号


def text_at(draw, fonts, scale, x_mm, y_mm, text, kind, size_mm, fill, spacing_mm=0.0,
            anchor="ls"):
    """Draw text with its baseline-left (or `anchor`) at (x_mm, y_mm); with
    spacing_mm, character by character with that extra tracking. Returns the
    x (mm) after the last character."""
    font = fonts.get(kind, size_mm * scale)
    x = x_mm * scale
    y = y_mm * scale
    if not spacing_mm:
        draw.text((x, y), text, font=font, fill=fill, anchor=anchor)
        return (x + font.getlength(text)) / scale
    for ch in text:
        draw.text((x, y), ch, font=font, fill=fill, anchor=anchor)
        x += font.getlength(ch) + spacing_mm * scale
    return x / scale


# ------------------------------------------------------------ backgrounds

_bg_cache = {}


def _guilloche(w, h, scale, base, ink_a, ink_b, phase):
    """A light security-print background: two families of interfering
    sine curves over a faint tint gradient."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    xm = x / scale
    ym = y / scale
    f1 = np.sin(xm * 0.9 + 3.0 * np.sin(ym * 0.35 + phase))
    f2 = np.sin(ym * 1.3 + 2.5 * np.sin(xm * 0.22 + phase * 0.7))
    cx, cy = w * 0.45, h * 0.55
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / scale
    f3 = np.sin(r * 1.6 + 1.5 * np.sin(np.arctan2(y - cy, x - cx) * 12))
    lines_a = np.clip(1.0 - np.abs(f1) * 6.0, 0, 1) * 0.55 + np.clip(1.0 - np.abs(f3) * 8.0, 0, 1) * 0.35
    lines_b = np.clip(1.0 - np.abs(f2) * 7.0, 0, 1) * 0.45
    grad = (xm / CARD_W_MM)[..., None]
    img = np.empty((h, w, 3), np.float32)
    base = np.array(base, np.float32)
    img[:] = base
    img += (np.array(ink_a, np.float32) - base) * (lines_a[..., None] * 0.22)
    img += (np.array(ink_b, np.float32) - base) * (lines_b[..., None] * 0.16)
    img += (grad - 0.5) * np.array([-8.0, 2.0, 6.0], np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def background(side, scale):
    key = (side, scale)
    if key not in _bg_cache:
        w, h = card_size(scale)
        if side == "front":
            arr = _guilloche(w, h, scale, (238, 240, 236), (120, 190, 215), (225, 160, 175), 0.3)
        else:
            arr = _guilloche(w, h, scale, (236, 238, 232), (110, 180, 205), (230, 185, 120), 1.7)
            # A faint landscape band (the real back shows the Great Wall).
            ys = np.arange(w, dtype=np.float32) / scale
            ridge = (36.0 + 3.0 * np.sin(ys * 0.21) + 1.5 * np.sin(ys * 0.77 + 1.0)) * scale
            yy = np.arange(h, dtype=np.float32)[:, None]
            band = (yy > ridge[None, :]) & (yy < ridge[None, :] + 1.2 * scale)
            arr[band] = (arr[band] * 0.9 + np.array([150, 170, 200]) * 0.1).astype(np.uint8)
        _bg_cache[key] = Image.fromarray(arr, "RGB")
    return _bg_cache[key].copy()


def card_size(scale):
    return int(round(CARD_W_MM * scale)), int(round(CARD_H_MM * scale))




def card_mask_for(im):
    """The rounded outline of a rendered card of any size (the corner radius
    scales with the width)."""
    w, h = im.size
    m = Image.new("L", (w, h), 0)
    ImageDraw.Draw(m).rounded_rectangle((0, 0, w - 1, h - 1),
                                        radius=CORNER_MM * w / CARD_W_MM, fill=255)
    return m


# ------------------------------------------------------------ portrait

def silhouette(w, h):
    """A neutral head-and-shoulders shape on a pale background."""
    im = Image.new("RGB", (w, h), (232, 236, 240))
    d = ImageDraw.Draw(im)
    grey = (150, 156, 164)
    d.ellipse((w * 0.28, h * 0.14, w * 0.72, h * 0.58), fill=grey)
    d.rectangle((w * 0.42, h * 0.5, w * 0.58, h * 0.68), fill=grey)
    d.ellipse((w * 0.06, h * 0.64, w * 0.94, h * 1.35), fill=grey)
    return im


def portrait(face, w, h):
    """Fit a face photo (PIL image or None) to the portrait box: crop to the
    box's aspect around the centre (the faces are centred), lighten the
    background a little, as a printed ID photo is."""
    if face is None:
        return silhouette(w, h)
    src = face.convert("RGB")
    sw, sh = src.size
    want = w / h
    if sw / sh > want:
        cw = int(sh * want)
        box = ((sw - cw) // 2, 0, (sw - cw) // 2 + cw, sh)
    else:
        ch = int(sw / want)
        top = max(0, (sh - ch) // 3)
        box = (0, top, sw, top + ch)
    im = src.crop(box).resize((w, h), Image.BICUBIC)
    arr = np.asarray(im).astype(np.float32)
    arr = arr * 0.9 + 22.0  # printed photos are slightly washed out
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


# ------------------------------------------------------------ the card

def wrap_address(fonts, scale, text):
    """Lines of at most eleven full-width characters' width, as printed."""
    font = fonts.get("sans", SIZE_S5 * scale)
    limit = font.getlength("国") * 11 + 0.5
    lines, cur = [], ""
    for ch in text:
        if cur and font.getlength(cur + ch) > limit:
            lines.append(cur)
            cur = ""
        cur += ch
    if cur:
        lines.append(cur)
    return lines


def render_front(p, fonts, scale, face=None):
    """The front of the card for person p (dict with the truth fields)."""
    im = background("front", scale)
    d = ImageDraw.Draw(im)
    s = scale
    lab = lambda x, y, t: text_at(d, fonts, s, x, y, t, "sans-bold", SIZE_6, LABEL_BLUE,
                                  spacing_mm=0.55 if len(t) == 2 else 0.0)
    val = lambda x, y, t, size=SIZE_S5: text_at(d, fonts, s, x, y, t, "sans", size, INK)

    # Portrait first, so that nothing printed over it is hidden.
    px0, py0, px1, py1 = 53.0, 6.0, 80.0, 40.0
    pw, ph = int((px1 - px0) * s), int((py1 - py0) * s)
    im.paste(portrait(face, pw, ph), (int(px0 * s), int(py0 * s)))

    lab(6.5, 10.5, "姓名")
    name_size = SIZE_5
    font = fonts.get("sans", name_size * s)
    while font.getlength(p["name"]) > 33.0 * s and name_size > SIZE_6:
        name_size *= 0.92
        font = fonts.get("sans", name_size * s)
    text_at(d, fonts, s, 17.5, 10.7, p["name"], "sans", name_size, INK, spacing_mm=0.25)

    lab(6.5, 17.3, "性别")
    val(17.5, 17.3, p["sex"])
    lab(27.0, 17.3, "民族")
    val(37.0, 17.3, p["ethnicity"])

    lab(6.5, 24.0, "出生")
    b = p["birth"]
    year, month, day = b[:4], str(int(b[4:6])), str(int(b[6:8]))
    val(17.5, 24.0, year)
    lab(26.8, 24.0, "年")
    # Month and day right-aligned in their columns, as printed.
    fnt = fonts.get("sans", SIZE_S5 * s)
    d.text((34.5 * s, 24.0 * s), month, font=fnt, fill=INK, anchor="rs")
    lab(35.3, 24.0, "月")
    d.text((43.0 * s, 24.0 * s), day, font=fnt, fill=INK, anchor="rs")
    lab(43.8, 24.0, "日")

    lab(6.5, 30.8, "住址")
    for i, line in enumerate(wrap_address(fonts, s, p["address"])[:3]):
        val(17.5, 30.8 + i * 4.4, line)

    lab(6.5, 47.6, "公民身份号码")
    text_at(d, fonts, s, 28.5, 47.9, p["id_number"], "mono", SIZE_5 * 1.12, INK,
            spacing_mm=0.42)
    return im


def draw_emblem(d, s, cx, cy, r):
    """A simple red round emblem-like device (not the national emblem)."""
    red = EMBLEM_RED
    d.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), outline=red,
              width=max(2, int(0.7 * s)))
    d.ellipse(((cx - r * 0.78) * s, (cy - r * 0.78) * s, (cx + r * 0.78) * s,
               (cy + r * 0.78) * s), outline=red, width=max(1, int(0.35 * s)))

    def star(x, y, rr, rot=0.0):
        pts = []
        for k in range(10):
            a = rot - math.pi / 2 + k * math.pi / 5
            rad = rr if k % 2 == 0 else rr * 0.4
            pts.append(((x + rad * math.cos(a)) * s, (y + rad * math.sin(a)) * s))
        d.polygon(pts, fill=red)

    star(cx, cy - r * 0.32, r * 0.3)
    for k, ang in enumerate((-0.9, -0.35, 0.35, 0.9)):
        star(cx + math.sin(ang) * r * 0.55, cy - r * 0.32 - math.cos(ang) * r * 0.22 + 0.9,
             r * 0.1, rot=ang)
    # A gate-like building and a cog band.
    d.rectangle(((cx - r * 0.5) * s, (cy + r * 0.12) * s, (cx + r * 0.5) * s,
                 (cy + r * 0.3) * s), fill=red)
    d.rectangle(((cx - r * 0.38) * s, (cy + r * 0.3) * s, (cx + r * 0.38) * s,
                 (cy + r * 0.5) * s), outline=red, width=max(1, int(0.3 * s)))
    d.arc(((cx - r * 0.6) * s, (cy - r * 0.1) * s, (cx + r * 0.6) * s, (cy + r * 0.75) * s),
          20, 160, fill=red, width=max(1, int(0.45 * s)))


def format_period(valid_from, valid_to):
    f = "%s.%s.%s" % (valid_from[:4], valid_from[4:6], valid_from[6:])
    t = "长期" if valid_to == "长期" else "%s.%s.%s" % (valid_to[:4], valid_to[4:6], valid_to[6:])
    return f + "-" + t


def render_back(p, fonts, scale):
    im = background("back", scale)
    d = ImageDraw.Draw(im)
    s = scale
    draw_emblem(d, s, 14.5, 14.0, 9.0)
    text_at(d, fonts, s, 29.5, 13.0, "中华人民共和国", "serif-bold", SIZE_4, INK, spacing_mm=1.55)
    text_at(d, fonts, s, 27.0, 26.0, "居民身份证", "serif-bold", SIZE_2, INK, spacing_mm=3.4)
    lab = lambda x, y, t: text_at(d, fonts, s, x, y, t, "sans-bold", SIZE_6, INK,
                                  spacing_mm=0.25)
    lab(15.0, 43.0, "签发机关")
    auth = p["authority"]
    size = SIZE_S5
    while fonts.get("sans", size * s).getlength(auth) > 52.0 * s and size > SIZE_6:
        size *= 0.93
    text_at(d, fonts, s, 29.5, 43.0, auth, "sans", size, INK)
    lab(15.0, 49.6, "有效期限")
    text_at(d, fonts, s, 29.5, 49.6, format_period(p["valid_from"], p["valid_to"]), "sans",
            SIZE_S5, INK)
    return im


# ------------------------------------------------------------ not an ID card

def render_driving_licence(p, fonts, scale, face=None):
    """A driving-licence-like card: other labels, another layout."""
    w, h = int(88 * scale), int(60 * scale)
    arr = _guilloche(w, h, scale, (236, 232, 238), (170, 140, 200), (140, 190, 160), 2.4)
    im = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(im)
    s = scale
    d.rectangle((0, 0, w, 9 * s), fill=(190, 200, 225))
    text_at(d, fonts, s, 44.0, 6.2, "中华人民共和国机动车驾驶证", "sans-bold", SIZE_4 * 0.92,
            INK, anchor="ms")
    text_at(d, fonts, s, 44.0, 12.0, "Driving License of the People's Republic of China",
            "sans", SIZE_6 * 0.8, INK, anchor="ms")
    rows = [("证号", p["id_number"]), ("姓名 Name", p["name"]),
            ("性别 Sex", p["sex"] + "   国籍 中国"),
            ("住址 Address", p["address"][:11]),
            ("出生日期 Date of Birth", "%s-%s-%s" % (p["birth"][:4], p["birth"][4:6], p["birth"][6:])),
            ("初次领证日期 Issue Date", "%s-%s-%s" % (p["valid_from"][:4], p["valid_from"][4:6],
                                                    p["valid_from"][6:])),
            ("准驾车型 Class", "C1"),
            ("有效期限 Valid Period", "6年")]
    y = 17.5
    for label, value in rows:
        text_at(d, fonts, s, 3.0, y, label, "sans", SIZE_6 * 0.9, (60, 60, 70))
        text_at(d, fonts, s, 30.0, y, value, "sans", SIZE_S5, INK)
        y += 5.2
    im.paste(portrait(face, int(20 * s), int(26 * s)), (int(65 * s), int(16 * s)))
    d.ellipse((60 * s, 42 * s, 82 * s, 58 * s), outline=(200, 40, 40), width=max(1, int(0.4 * s)))
    text_at(d, fonts, s, 71.0, 51.5, "公安交通管理", "sans", SIZE_6 * 0.8, (200, 40, 40), anchor="ms")
    return im


def render_bank_card(number, fonts, scale):
    """A bank-card-like card: dark gradient, chip, grouped number."""
    w, h = card_size(scale)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (x / w * 0.7 + y / h * 0.3)[..., None]
    arr = np.array([20, 50, 110], np.float32) * (1 - t) + np.array([40, 120, 170], np.float32) * t
    arr += 10 * np.sin(x / scale * 0.5 + y / scale * 0.2)[..., None]
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    s = scale
    white = (245, 245, 245)
    text_at(d, fonts, s, 6.0, 10.0, "示范商业银行", "sans-bold", SIZE_4, white)
    text_at(d, fonts, s, 6.0, 14.5, "DEMO COMMERCIAL BANK", "sans", SIZE_6, white)
    d.rounded_rectangle((8 * s, 20 * s, 18 * s, 28 * s), radius=s, fill=(210, 180, 90))
    groups = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    text_at(d, fonts, s, 7.0, 38.0, groups, "mono", SIZE_4, white, spacing_mm=0.3)
    text_at(d, fonts, s, 7.0, 45.0, "VALID THRU 09/31", "mono", SIZE_6, white)
    text_at(d, fonts, s, 62.0, 12.0, "借记卡", "sans-bold", SIZE_5, white)
    for k, col in enumerate(((210, 40, 50), (30, 80, 160), (20, 140, 120))):
        x0 = (62 + k * 5.5) * s
        d.polygon([(x0 + 1.2 * s, 42 * s), (x0 + 6.5 * s, 42 * s), (x0 + 5.3 * s, 50 * s),
                   (x0, 50 * s)], fill=col)
    return im


_TEXT_POOL = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说"
              "产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使"
              "点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明"
              "看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料"
              "象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指")


def render_text_page(rng, fonts, w=1000, h=1300):
    """A page of random Chinese text (not a card)."""
    im = Image.new("RGB", (w, h), (250, 250, 247))
    d = ImageDraw.Draw(im)
    font = fonts.get("sans", 30)
    title = fonts.get("sans-bold", 44)
    d.text((w / 2, 90), "".join(rng.choice(_TEXT_POOL) for _ in range(8)), font=title,
           fill=INK, anchor="ms")
    y = 170
    while y < h - 80:
        n = 28 if rng.random() < 0.85 else rng.randint(5, 27)
        line = "".join(rng.choice(_TEXT_POOL) for _ in range(n))
        line = line[:-1] + ("。" if n < 28 else "，")
        d.text((60, y), line, font=font, fill=INK)
        y += 46
    return im


def desk_texture(rng, w, h):
    """A wood-like or fabric-like desk surface (numpy, deterministic)."""
    nrng = np.random.default_rng(rng.randrange(1 << 32))
    kind = rng.choice(["wood", "wood", "fabric", "stone"])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "wood":
        base = np.array(rng.choice([(150, 105, 70), (185, 140, 95), (110, 75, 50),
                                    (200, 170, 130)]), np.float32)
        lowres = nrng.normal(0, 1, (h // 32 + 2, w // 32 + 2)).astype(np.float32)
        warp = np.asarray(Image.fromarray(lowres).resize((w, h), Image.BICUBIC))
        grain = np.sin((y + warp * 18) * 0.09 + np.sin(x * 0.004) * 6)
        tone = 1.0 + grain[..., None] * 0.08 + warp[..., None] * 0.03
        arr = base * tone
    elif kind == "fabric":
        base = np.array(rng.choice([(70, 80, 95), (120, 125, 130), (60, 90, 70)]), np.float32)
        weave = np.sin(x * 1.3) * np.sin(y * 1.3)
        arr = base * (1.0 + weave[..., None] * 0.06)
    else:
        base = np.array(rng.choice([(200, 200, 195), (90, 90, 92), (170, 160, 150)]), np.float32)
        lowres = nrng.normal(0, 1, (h // 8 + 2, w // 8 + 2)).astype(np.float32)
        blot = np.asarray(Image.fromarray(lowres).resize((w, h), Image.BICUBIC))
        arr = base * (1.0 + blot[..., None] * 0.05)
    arr = arr + nrng.standard_normal((h, w, 1), dtype=np.float32) * 3.0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB"), kind
