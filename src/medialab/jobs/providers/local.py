"""Images made on this machine with Pillow: the provider used without a fal key, and add_text.

Its results are plain but real: a prompt gives a gradient seeded by the prompt with the prompt
written on it, an upscale really doubles the pixels, a merge really puts the photos side by side.
Captions use PT Sans Bold (ParaType, SIL OFL 1.1, shipped in medialab/jobs/fonts with its licence),
which has Cyrillic glyphs; Pillow's built-in font draws Russian as empty boxes.
"""

from __future__ import annotations

import asyncio
import hashlib
from functools import lru_cache
from io import BytesIO

from importlib import resources

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from medialab.domain.operations import OperationType
from medialab.jobs.providers.base import ImageRequest, ImageResult, open_image, validate_request

CAPTION_FONT_FILE = "PTSans-Bold.ttf"
MIN_FONT_SIZE = 12
LINE_SPACING = 1.15


class LocalProvider:
    def __init__(self, *, max_side: int = 2048, generate_size: int = 768) -> None:
        self.max_side = max_side
        self.generate_size = generate_size

    async def run(self, request: ImageRequest) -> ImageResult:
        kind = validate_request(request)
        # Pillow holds the CPU for tens of milliseconds per photo; keep the event loop free.
        return await asyncio.to_thread(self.render, kind, request)

    def render(self, kind: OperationType, request: ImageRequest) -> ImageResult:
        photos = [self._load(data, index) for index, data in enumerate(request.images, 1)]
        text = (request.prompt or "").strip()
        if kind is OperationType.GENERATE:
            return encode(self._generate(text), "PNG")
        if kind is OperationType.EDIT:
            result = draw_caption(tint(photos[0], text), text, max_share=0.35)
        elif kind is OperationType.MERGE:
            result = self._merge(photos)
        elif kind is OperationType.FACE_SWAP:
            result = swap_centre(photos[0], photos[1])
        elif kind is OperationType.RETOUCH:
            result = photos[0].filter(ImageFilter.MedianFilter(3)).filter(
                ImageFilter.GaussianBlur(1.5))
        elif kind is OperationType.UPSCALE:
            result = self._upscale(photos[0])
        else:
            result = draw_caption(photos[0], text, max_share=0.9)
        return encode(result, "JPEG")

    def _load(self, data: bytes, index: int) -> Image.Image:
        image = ImageOps.exif_transpose(open_image(data, what=f"photo {index}", retryable=False))
        if image.mode in ("RGBA", "LA", "P"):
            # Transparent stickers and PNGs become a photo on white, not on black.
            canvas = Image.new("RGB", image.size, "white")
            canvas.paste(image, mask=image.convert("RGBA").getchannel("A"))
            image = canvas
        image = image.convert("RGB")
        image.thumbnail((self.max_side, self.max_side), Image.Resampling.LANCZOS)
        return image

    def _generate(self, prompt: str) -> Image.Image:
        digest = hashlib.sha256(prompt.encode()).digest()
        size = (self.generate_size, self.generate_size)
        ramp = Image.linear_gradient("L").rotate(90 * (digest[6] % 4)).resize(size)
        start = Image.new("RGB", size, tuple(digest[0:3]))
        end = Image.new("RGB", size, tuple(digest[3:6]))
        return draw_caption(Image.composite(end, start, ramp), prompt, max_share=0.5)

    def _upscale(self, photo: Image.Image) -> Image.Image:
        factor = min(2.0, self.max_side / max(photo.size))
        if factor <= 1.0:
            return photo
        size = (round(photo.width * factor), round(photo.height * factor))
        return photo.resize(size, Image.Resampling.LANCZOS).filter(ImageFilter.UnsharpMask(2))

    def _merge(self, photos: list[Image.Image]) -> Image.Image:
        height = min(photo.height for photo in photos)
        scaled = [ImageOps.scale(photo, height / photo.height) if photo.height != height else photo
                  for photo in photos]
        canvas = Image.new("RGB", (sum(photo.width for photo in scaled), height))
        left = 0
        for photo in scaled:
            canvas.paste(photo, (left, 0))
            left += photo.width
        canvas.thumbnail((self.max_side, self.max_side), Image.Resampling.LANCZOS)
        return canvas


def tint(photo: Image.Image, instruction: str) -> Image.Image:
    """A colour wash chosen by the instruction: a visible, repeatable stand-in for an edit."""
    colour = tuple(hashlib.sha256(instruction.encode()).digest()[:3])
    return Image.blend(ImageOps.autocontrast(photo), Image.new("RGB", photo.size, colour), 0.35)


def swap_centre(base: Image.Image, donor: Image.Image) -> Image.Image:
    """The donor's central oval, feathered, laid over the centre of the base photo."""
    side = min(base.size) * 2 // 5
    crop = min(donor.size) // 2
    left, top = (donor.width - crop) // 2, (donor.height - crop) // 2
    face = donor.crop((left, top, left + crop, top + crop)).resize((side, side))
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((side // 10, side // 10, side - side // 10, side - side // 10),
                                 fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(side / 30))
    result = base.copy()
    result.paste(face, ((base.width - side) // 2, (base.height - side) // 2), mask)
    return result


@lru_cache(maxsize=32)
def caption_font(size: int) -> ImageFont.FreeTypeFont:
    font_file = resources.files("medialab.jobs") / "fonts" / CAPTION_FONT_FILE
    with resources.as_file(font_file) as path:
        return ImageFont.truetype(str(path), size)


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Lines that each fit `width`; the user's own line breaks are kept, long words are cut."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            for piece in _fitting_pieces(word, font, width):
                candidate = f"{line} {piece}" if line else piece
                if line and font.getlength(candidate) > width:
                    lines.append(line)
                    candidate = piece
                line = candidate
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _fitting_pieces(word: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    pieces = [""]
    for char in word:
        if pieces[-1] and font.getlength(pieces[-1] + char) > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def draw_caption(image: Image.Image, text: str, *, max_share: float) -> Image.Image:
    """`text` in white with a dark outline at the bottom of `image`, wrapped to its width.

    The font shrinks until the block takes at most `max_share` of the height; at the smallest
    size the lines that still do not fit are left out rather than drawn off the picture.
    """
    result = image.copy()
    margin = max(4, image.width // 25)
    size = max(MIN_FONT_SIZE, image.width // 12)
    while True:
        font = caption_font(size)
        stroke = max(1, size // 16)
        lines = wrap_text(text, font, image.width - 2 * (margin + stroke))
        line_height = round(sum(font.getmetrics()) * LINE_SPACING)
        if len(lines) * line_height <= image.height * max_share or size == MIN_FONT_SIZE:
            break
        size = max(MIN_FONT_SIZE, size * 4 // 5)
    lines = lines[: max(1, int((image.height - margin) // line_height))]
    draw = ImageDraw.Draw(result)
    top = image.height - margin - len(lines) * line_height
    for row, line in enumerate(lines):
        left = (image.width - font.getlength(line)) / 2
        draw.text((left, top + row * line_height), line, font=font, fill="white",
                  stroke_width=stroke, stroke_fill="black")
    return result


def encode(image: Image.Image, image_format: str) -> ImageResult:
    buffer = BytesIO()
    if image_format == "JPEG":
        image.save(buffer, "JPEG", quality=92)
    else:
        image.save(buffer, image_format)
    return ImageResult(data=buffer.getvalue(), content_type=Image.MIME[image_format],
                       width=image.width, height=image.height)
