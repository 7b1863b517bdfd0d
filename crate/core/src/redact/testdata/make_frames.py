#!/usr/bin/env python3
"""Writes the text detector's fixtures (redact/detect.rs tests): one PGM sprite (8-bit alpha of
anti-aliased text drawn by Pillow's built-in font, cropped to its ink) per planted line, and
frames.txt, which says on which synthetic background (drawn by the Rust test from a fixed seed:
ultrasound speckle fan, X-ray-like anatomy, noisy gradient, screenshot panels) each sprite is
blended, where and in which grey. Backgrounds are made in Rust because speckle does not compress:
this keeps the committed fixtures to a few tens of KB.

Run from this directory: python3 make_frames.py (Pillow >= 10.1 for load_default(size=N)).
"""
import os

from PIL import Image, ImageDraw, ImageFont

# frame name, width, height, background kind; then its lines: text, font size, bold, x, y, grey.
FRAMES = [
    ("us_header", 640, 480, "fan", [
        ("ST. MARY'S HOSPITAL  LOGIQ E9", 14, False, 8, 6, 255),
        ("DUPONT^HÉLÈNE", 14, False, 8, 26, 255),
        ("ID 4471-23-889", 12, False, 520, 6, 255),
        ("12/03/2024 14:22:07", 12, False, 500, 24, 230),
        ("MI 1.2  TIs 0.4", 10, False, 8, 454, 180),
        ("5C1 Abd", 8, False, 590, 462, 200),
    ]),
    ("us_on_fan", 640, 480, "fan", [
        ("RT KIDNEY LONG", 18, True, 260, 300, 255),
        ("Müller, Jürgen", 16, False, 20, 420, 255),
        ("Acc: 20240312-0077", 11, False, 460, 440, 210),
    ]),
    ("xray", 768, 768, "xray", [
        ("SMITH^JOHN  M  63Y", 24, False, 420, 300, 255),
        ("DOB 1961-07-04", 20, False, 20, 20, 255),
        ("ACC 88123 CHU NANTES", 16, False, 20, 720, 255),
        ("PA ERECT  2024.03.12", 18, False, 300, 560, 20),
    ]),
    ("screen", 640, 480, "screen", [
        ("Patient: Ødegård, Åsa", 16, True, 12, 8, 255),
        ("PID 0012345678  Sex F", 12, False, 12, 34, 235),
        ("Study date 03.12.2024  Dr. Lefèvre", 14, False, 24, 420, 20),
        ("Cardiology - Hôpital Nord", 13, False, 330, 440, 60),
        ("Series 2 of 5", 11, False, 300, 70, 255),
    ]),
    ("gradient", 640, 480, "gradient", [
        ("NGUYEN VAN AN", 22, False, 30, 40, 255),
        ("Reg. 99-55-1201", 15, False, 420, 400, 0),
        ("visit 2024-03-12", 40, True, 170, 200, 250),
        ("tiny id 77321", 9, False, 10, 460, 255),
    ]),
    ("cr_large", 2048, 2048, "xray", [
        ("KOWALSKI^ŁUKASZ", 64, False, 60, 60, 255),
        ("MRN 5550123  1958-11-30", 48, False, 60, 1900, 255),
        ("HOSPITAL CENTRAL", 40, False, 1300, 60, 240),
    ]),
    # text-free frames: every box is a false positive.
    ("us_blank", 640, 480, "fan", []),
    ("xray_blank", 768, 768, "xray", []),
    ("gradient_blank", 640, 480, "gradient", []),
]


def sprite(text, size, bold):
    """The text's alpha, anti-aliased, cropped to its ink."""
    # Pillow's own font has no accented capitals nor ø, å, ü: DejaVu Sans draws the names with
    # diacritics where the system has it (Debian: fonts-dejavu-core).
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if text.isascii() or not os.path.exists(dejavu):
        font = ImageFont.load_default(size=size)
    else:
        font = ImageFont.truetype(dejavu, size)
    stroke = 1 if bold else 0
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    image = Image.new("L", (right + 4, bottom + 4), 0)
    ImageDraw.Draw(image).text((2, 2), text, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    return image.crop(image.getbbox())


def main():
    manifest = ["# frame NAME WIDTH HEIGHT BACKGROUND, then: line SPRITE X Y GREY (text in the comment)"]
    for name, width, height, background, lines in FRAMES:
        manifest.append(f"frame {name} {width} {height} {background}")
        for i, (text, size, bold, x, y, grey) in enumerate(lines):
            alpha = sprite(text, size, bold)
            file = f"{name}_{i}.pgm"
            with open(file, "wb") as out:
                out.write(f"P5\n{alpha.width} {alpha.height}\n255\n".encode() + alpha.tobytes())
            assert x + alpha.width <= width and y + alpha.height <= height, (name, text)
            manifest.append(f"line {file} {x} {y} {grey} # {text}")
    with open("frames.txt", "w", encoding="utf-8") as out:
        out.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
