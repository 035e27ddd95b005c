"""`local`: the offline video model.

A deterministic renderer that draws each shot from the structured request (never from
the prompt text): the set from the location's palette and time of day, each character
as a stylised figure from its bible (skin, hair colour and style, wardrobe colours,
build), framing by shot type, gentle camera motion, 24 fps H.264. The same request
gives the same frames. It costs nothing, so the whole flow runs with no key and no
network.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFilter
from pydantic import BaseModel, Field

from zipx_core.media import encode_frames
from zipx_core.models import FigureSpec, GenerationRequest, ShotType
from zipx_core.naming import stable_hash

OVERSCAN = 1.15  # the set is drawn larger than the frame so the camera can move
# Height of a standing figure as a share of the frame, by shot type.
FIGURE_SCALE = {
    ShotType.ELS: 0.16, ShotType.LS: 0.55, ShotType.MS: 1.3,
    ShotType.MCU: 2.0, ShotType.CU: 3.2, ShotType.ECU: 5.5,
}
# The same in a 9:16 frame, where the width limits close shots: a close-up's head takes
# about half the width (as on a phone), a medium shot is waist up, and a long shot shows
# a standing figure larger than in 16:9 (the tall frame suits it).
FIGURE_SCALE_PORTRAIT = {
    ShotType.ELS: 0.2, ShotType.LS: 0.6, ShotType.MS: 1.35,
    ShotType.MCU: 1.6, ShotType.CU: 2.0, ShotType.ECU: 3.0,
}
# Several figures in a 9:16 frame stand closer together, every second one a step behind
# (this much smaller, drawn first): an over-the-shoulder two-shot rather than a row.
PORTRAIT_SPREAD = (0.3, 0.7)
PORTRAIT_BEHIND = 0.85
# How far the background is magnified (and softened) behind the figures.
SET_ZOOM = {ShotType.ELS: 1.0, ShotType.LS: 1.0, ShotType.MS: 1.5, ShotType.MCU: 2.0, ShotType.CU: 2.6, ShotType.ECU: 3.0}
BUILD_WIDTH = {"slight": 0.82, "average": 1.0, "broad": 1.3, "tall": 0.95}
BUILD_HEIGHT = {"slight": 0.97, "average": 1.0, "broad": 1.0, "tall": 1.1}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, round(c * factor))) for c in colour)


def _gradient(size: tuple[int, int], top: tuple, bottom: tuple) -> Image.Image:
    column = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize(size, Image.BILINEAR)


class FailureModes(BaseModel):
    """The ways real video models fail, injected on purpose at seeded rates so the
    quality gate can be exercised and measured. Each is the chance that a take shows it;
    at most one is injected per take, decided by (request seed, attempt)."""

    drift: float = Field(0.0, ge=0, le=1, description="wrong hair, wardrobe or skin, or another face")
    colour_cast: float = Field(0.0, ge=0, le=1)
    blur: float = Field(0.0, ge=0, le=1)
    low_resolution: float = Field(0.0, ge=0, le=1, description="rendered at half size")
    black_frames: float = Field(0.0, ge=0, le=1)
    frozen: float = Field(0.0, ge=0, le=1, description="no motion at all")

    def pick(self, seed: int, attempt: int) -> str | None:
        roll = random.Random(stable_hash(seed, attempt, "failure")).random()
        for mode, rate in self.model_dump().items():
            if roll < rate:
                return mode
            roll -= rate
        return None


WRONG_COLOURS = ("#e23b3b", "#3be2d0", "#f2f2f2", "#7a3be2", "#1a1a1a", "#e2a13b")


def _drifted(request: GenerationRequest, rng: random.Random) -> GenerationRequest:
    figures = list(request.figures)
    if not figures:
        return request
    index = rng.randrange(len(figures))
    changes = {
        key: rng.choice([c for c in WRONG_COLOURS if c != getattr(figures[index], key)])
        for key in rng.sample(["hair_color", "top_color", "skin_tone", "bottom_color"], 2)
    }
    figures[index] = figures[index].model_copy(update=changes)
    return request.model_copy(update={"figures": figures})


@dataclass
class RenderResult:
    frames: int
    injected: str | None = None


@dataclass
class LocalRenderer:
    """`local` among the video models (zipx_core.studio.VideoModel): priced and routed like the
    hosted ones, but not `hosted`: the engine renders its takes here, in process, for nothing."""

    hosted: ClassVar[bool] = False
    name: str = "local"
    failures: FailureModes = field(default_factory=FailureModes)

    @property
    def model(self) -> str:
        """The model's identity, failure rates included: a request made with failures
        switched on is another request (and another cache entry) than a clean one."""
        rates = {k: v for k, v in self.failures.model_dump().items() if v}
        return "zipx-local-1" + (f"+failures:{stable_hash(sorted(rates.items())) % 0xFFFFFF:06x}" if rates else "")

    def estimate_cost(self, request: GenerationRequest) -> float:
        return 0.0

    async def aclose(self) -> None:
        """Nothing to close (a hosted model closes its HTTP client here)."""

    def frame_count(self, request: GenerationRequest) -> int:
        return max(1, round(request.duration_s * request.fps))

    def still(self, request: GenerationRequest) -> Image.Image:
        """The shot's first frame, clean: what reference stills are made of."""
        return self.stills(request)[0]

    def stills(self, request: GenerationRequest) -> list[Image.Image]:
        """Clean frames of the set-up from the centre and the four corners of the
        overscanned set: every place a camera move can frame."""
        width, height = request.width, request.height
        canvas = (round(width * OVERSCAN), round(height * OVERSCAN))
        image = self._figures(self._set(request, canvas), request, canvas, mouth_open=False)
        spare_x, spare_y = canvas[0] - width, canvas[1] - height
        corners = [(spare_x // 2, spare_y // 2), (0, 0), (spare_x, 0), (0, spare_y), (spare_x, spare_y)]
        return [image.crop((x, y, x + width, y + height)) for x, y in corners]

    def render(self, request: GenerationRequest, out: Path, attempt: int = 1) -> RenderResult:
        """Writes the clip to `out`."""
        injected = self.failures.pick(request.seed, attempt)
        rng = random.Random(stable_hash(request.seed, attempt, "how"))
        if injected == "drift":
            request = _drifted(request, rng)
        if injected == "low_resolution":
            request = request.model_copy(update={"width": request.width // 2 // 2 * 2, "height": request.height // 2 // 2 * 2})
        width, height = request.width, request.height
        canvas = (round(width * OVERSCAN), round(height * OVERSCAN))
        backdrop = self._set(request, canvas)
        speaking = any(f.speaking for f in request.figures) and injected != "frozen"
        poses = [self._figures(backdrop, request, canvas, mouth_open=False)]
        if speaking:
            poses.append(self._figures(backdrop, request, canvas, mouth_open=True))
        if injected == "blur":
            poses = [p.filter(ImageFilter.GaussianBlur(radius=max(3, width / 160))) for p in poses]
        if injected == "colour_cast":
            gains = rng.choice(((1.35, 1.0, 0.7), (0.7, 1.0, 1.35), (1.0, 1.3, 0.75), (1.3, 0.75, 1.0)))
            poses = [Image.merge("RGB", [band.point(lambda v, g=g: min(255, round(v * g))) for band, g in zip(p.split(), gains)]) for p in poses]
        count = self.frame_count(request)
        black = range(count // 3, count // 3 + max(2, count // 4)) if injected == "black_frames" else range(0)
        movement = "none" if injected == "frozen" else request.camera_movement
        motion = _CameraMotion(movement, canvas, (width, height), count, request.seed)
        darkness = Image.new("RGB", (width, height))
        frames = (
            darkness if index in black else motion.frame(poses[(index // 5) % len(poses)], index) for index in range(count)
        )
        encode_frames(frames, out, width, height, request.fps, label=request.shot_id)
        return RenderResult(frames=count, injected=injected)

    # --- drawing ------------------------------------------------------------------------

    def _set(self, request: GenerationRequest, size: tuple[int, int]) -> Image.Image:
        """The location: the same set for every shot there (seeded by the location)."""
        palette = request.palette
        key, fill, ambient = _rgb(palette.key_color), _rgb(palette.fill_color), _rgb(palette.ambient_color)
        rng = random.Random(stable_hash(request.location_id, "set"))
        w, h = size
        horizon = round(h * (0.55 if request.is_exterior else 0.72))
        image = _gradient((w, horizon), ambient, _shade(key, 0.9) if request.is_exterior else fill)
        ground = _gradient((w, h - horizon), _shade(fill, 0.8), _shade(fill, 0.45))
        base = Image.new("RGB", size)
        base.paste(image, (0, 0))
        base.paste(ground, (0, horizon))
        draw = ImageDraw.Draw(base)
        for _ in range(rng.randint(4, 8)):
            if request.is_exterior:  # skyline: buildings, hills, masts
                bw, bh = rng.randint(w // 14, w // 5), rng.randint(h // 10, h // 3)
                x = rng.randint(-bw // 2, w)
                draw.rectangle([x, horizon - bh, x + bw, horizon], fill=_shade(ambient, rng.uniform(0.35, 0.6)))
            else:  # interior: windows, doors, shelves in the key light
                bw, bh = rng.randint(w // 12, w // 5), rng.randint(h // 8, h // 3)
                x, y = rng.randint(0, w - bw), rng.randint(h // 12, max(h // 12 + 1, horizon - bh))
                draw.rectangle([x, y, x + bw, y + bh], fill=_shade(key, rng.uniform(0.55, 0.95)), outline=_shade(fill, 0.5), width=3)
        zoom = SET_ZOOM[request.shot_type]
        if zoom > 1.0:  # closer shots see less of the set, softer
            cw, ch = round(w / zoom), round(h / zoom)
            box = ((w - cw) // 2, max(0, horizon - round(ch * 0.6)))
            base = base.crop((box[0], box[1], box[0] + cw, box[1] + ch)).resize(size, Image.BILINEAR)
            base = base.filter(ImageFilter.GaussianBlur(radius=zoom * 1.5))
        return base

    def _figures(self, backdrop: Image.Image, request: GenerationRequest, size: tuple[int, int], mouth_open: bool) -> Image.Image:
        image = backdrop.copy()
        draw = ImageDraw.Draw(image)
        w, h = size
        figures = request.figures
        if not figures:
            return image
        portrait = h > w
        unit = h * (FIGURE_SCALE_PORTRAIT if portrait else FIGURE_SCALE)[request.shot_type]
        close = request.shot_type in (ShotType.MS, ShotType.MCU, ShotType.CU, ShotType.ECU)
        count = len(figures)
        left, right = PORTRAIT_SPREAD if portrait else (0.25, 0.75)
        # in 9:16 the figures a step behind are drawn first, so the nearer ones overlap them
        order = sorted(range(count), key=lambda i: -(i % 2)) if portrait else range(count)
        for index in order:
            figure = figures[index]
            x = w * (0.5 if count == 1 else left + (right - left) * index / (count - 1))
            depth = PORTRAIT_BEHIND if portrait and index % 2 else 1.0
            figure_unit = unit * depth * BUILD_HEIGHT.get(figure.build, 1.0)
            if close:
                head_y = h * (0.42 if request.shot_type == ShotType.ECU else 0.36)
                top = head_y - 0.075 * figure_unit
            else:
                top = h * 0.86 - figure_unit
            _draw_figure(draw, figure, x, top, figure_unit, mouth_open and figure.speaking)
        return image


def _draw_figure(draw: ImageDraw.ImageDraw, f: FigureSpec, cx: float, top: float, u: float, mouth_open: bool) -> None:
    """A stylised person, `u` pixels tall, head at the top."""
    widen = BUILD_WIDTH.get(f.build, 1.0)
    skin, hair, shirt, trousers = _rgb(f.skin_tone), _rgb(f.hair_color), _rgb(f.top_color), _rgb(f.bottom_color)
    head_r = 0.065 * u
    head_cy = top + 0.075 * u
    shoulder_y, hip_y, feet_y = top + 0.15 * u, top + 0.53 * u, top + u
    half = 0.12 * u * widen
    # legs, then torso and arms, then the head over the collar
    draw.rectangle([cx - half * 0.85, hip_y, cx - half * 0.1, feet_y], fill=trousers)
    draw.rectangle([cx + half * 0.1, hip_y, cx + half * 0.85, feet_y], fill=trousers)
    draw.polygon([(cx - half, shoulder_y), (cx + half, shoulder_y), (cx + half * 0.85, hip_y), (cx - half * 0.85, hip_y)], fill=shirt)
    arm = 0.045 * u * widen
    draw.rectangle([cx - half - arm, shoulder_y, cx - half, top + 0.5 * u], fill=_shade(shirt, 0.85))
    draw.rectangle([cx + half, shoulder_y, cx + half + arm, top + 0.5 * u], fill=_shade(shirt, 0.85))
    draw.rectangle([cx - head_r * 0.35, head_cy + head_r * 0.8, cx + head_r * 0.35, shoulder_y + 2], fill=_shade(skin, 0.9))
    if f.hair_style == "long":
        draw.rectangle([cx - head_r * 1.15, head_cy - head_r * 0.2, cx + head_r * 1.15, head_cy + head_r * 1.9], fill=hair)
    draw.ellipse([cx - head_r, head_cy - head_r * 1.1, cx + head_r, head_cy + head_r * 1.1], fill=skin)
    if f.hair_style != "bald":
        cap_bottom = head_cy - head_r * (0.05 if f.hair_style in ("curly", "long") else 0.35)
        draw.chord([cx - head_r * 1.08, head_cy - head_r * 1.25, cx + head_r * 1.08, cap_bottom + head_r * 0.9], 180, 360, fill=hair)
        if f.hair_style == "bun":
            draw.ellipse([cx - head_r * 0.4, head_cy - head_r * 1.75, cx + head_r * 0.4, head_cy - head_r * 1.0], fill=hair)
        if f.hair_style == "curly":
            for k in range(-2, 3):
                r = head_r * 0.3
                draw.ellipse([cx + k * r * 1.4 - r, head_cy - head_r * 1.15 - r, cx + k * r * 1.4 + r, head_cy - head_r * 1.15 + r], fill=hair)
    eye = max(1.0, head_r * 0.12)
    for side in (-1, 1):
        ex = cx + side * head_r * 0.38
        draw.ellipse([ex - eye, head_cy - eye, ex + eye, head_cy + eye], fill=(25, 20, 20))
    mouth_h = head_r * (0.22 if mouth_open else 0.05)
    draw.ellipse([cx - head_r * 0.3, head_cy + head_r * 0.5 - mouth_h, cx + head_r * 0.3, head_cy + head_r * 0.5 + mouth_h], fill=(90, 30, 35))


class _CameraMotion:
    """Gentle moves inside the overscanned set: a static frame, a pan, a slow push-in
    or a handheld drift, each eased and seeded."""

    def __init__(self, movement: str, canvas: tuple[int, int], frame: tuple[int, int], count: int, seed: int):
        self.movement, self.canvas, self.frame_size, self.count = movement, canvas, frame, count
        rng = random.Random(seed)
        self.phases = [rng.uniform(0, 2 * math.pi) for _ in range(4)]
        self.direction = rng.choice((-1, 1))

    def frame(self, image: Image.Image, index: int) -> Image.Image:
        (cw, ch), (fw, fh) = self.canvas, self.frame_size
        t = index / max(1, self.count - 1)
        ease = 0.5 - 0.5 * math.cos(math.pi * t)
        spare_x, spare_y = cw - fw, ch - fh
        if self.movement == "slow_push":
            scale = 1.0 - 0.12 * ease  # of the overscanned canvas
            w, h = round(cw * scale), round(ch * scale)
            x, y = (cw - w) // 2, (ch - h) // 2
            return image.resize((fw, fh), Image.BILINEAR, box=(x, y, x + w, y + h))
        if self.movement == "pan":
            offset = ease if self.direction > 0 else 1 - ease
            x, y = round(spare_x * offset), spare_y // 2
        elif self.movement == "handheld":
            seconds = index / 24
            p = self.phases
            x = round(spare_x / 2 + spare_x * 0.18 * (math.sin(1.3 * seconds + p[0]) + 0.5 * math.sin(3.1 * seconds + p[1])))
            y = round(spare_y / 2 + spare_y * 0.18 * (math.sin(1.7 * seconds + p[2]) + 0.5 * math.sin(2.9 * seconds + p[3])))
        elif self.movement == "none":  # a frozen take: every frame the same
            x, y = spare_x // 2, spare_y // 2
        else:  # static: a locked-off camera still breathes a pixel or two
            x = spare_x // 2 + round(2 * math.sin(2 * math.pi * t + self.phases[0]))
            y = spare_y // 2 + round(1 * math.sin(2 * math.pi * t + self.phases[1]))
        return image.crop((x, y, x + fw, y + fh))
