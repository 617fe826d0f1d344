"""A generated cover picture for sample races, so a new organizer sees a finished-looking page."""
from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _font(size: int):
    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:  # no DejaVu on this machine: Pillow's own font still draws text
        return ImageFont.load_default(size)


def sample_cover(title: str, width: int = 1600, height: int = 900) -> bytes:
    """A dawn-over-the-hills picture with the race's name, as PNG bytes."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    top, bottom = (255, 183, 94), (11, 110, 79)
    for y in range(height):  # sky: a vertical gradient
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    draw.ellipse([width * 0.62, height * 0.18, width * 0.78, height * 0.46], fill=(255, 236, 179))
    for layer, (color, amplitude, base) in enumerate([((24, 92, 70), 60, 0.62), ((9, 64, 48), 45, 0.74)]):
        points = [(x, height * base + amplitude * math.sin(x / (180 + 60 * layer) + layer)) for x in range(0, width + 20, 20)]
        draw.polygon([(0, height), *points, (width, height)], fill=color)
    draw.line([(0, height * 0.9), (width, height * 0.84)], fill=(245, 245, 240), width=10)  # the road
    font = _font(72)
    text = title if len(title) <= 40 else title[:39] + "…"
    box = draw.textbbox((0, 0), text, font=font)
    x, y = (width - (box[2] - box[0])) / 2, height * 0.08
    draw.text((x + 3, y + 3), text, font=font, fill=(0, 0, 0))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
