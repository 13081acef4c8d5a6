#!/usr/bin/python3
"""contact_sheet.py — one PNG with thumbnails of a cardgen output folder, each
captioned with its file name and expected status, to look at a set at once.

    python3 tools/cardgen/contact_sheet.py OUT_DIR SHEET.png [--width 320]
        [--cols 4] [--first N] [--count M]

Must never: write anywhere but SHEET.png.
"""
import os
import sys

try:
    from PIL import Image, ImageDraw
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise SystemExit("contact_sheet: needs Pillow (Debian: python3-pil)")

import argparse
import json

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("sheet")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=24)
    a = ap.parse_args()
    with open(os.path.join(a.dir, "truth.jsonl"), encoding="utf-8") as f:
        truths = [json.loads(line) for line in f if line.strip()]
    truths = truths[a.first:a.first + a.count]
    tw = a.width
    th = int(tw * 0.8)
    cap = 22
    rows = (len(truths) + a.cols - 1) // a.cols
    sheet = Image.new("RGB", (a.cols * (tw + 8) + 8, rows * (th + cap + 8) + 8), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    font = render.Fonts().get("sans", 14)
    for i, t in enumerate(truths):
        with Image.open(os.path.join(a.dir, t["file"])) as im:
            im = im.convert("RGB")
            im.thumbnail((tw, th))
        x = 8 + (i % a.cols) * (tw + 8)
        y = 8 + (i // a.cols) * (th + cap + 8)
        sheet.paste(im, (x, y))
        d.text((x, y + th + 2), "%s %s" % (os.path.basename(t["file"]), t["expected_status"]),
               font=font, fill=(0, 0, 0))
    sheet.save(a.sheet)


if __name__ == "__main__":
    main()
